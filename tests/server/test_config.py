"""Daemon configuration: precedence, validation, the fingerprint, the signing key and start-up.

`load_config` is tested directly (with an explicit environment, never the
test process's); everything about starting and refusing to start runs the real
`python -m ledger.server serve` in a child process.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clients.client import LedgerClient
from clients.event import Event
from daemon import REPO, DaemonProcess, free_port
from ledger import __version__
from ledger.checkpoint import SignerKey, VerifierKey
from ledger.errors import Category, ErrorCode, LedgerError
from ledger.samples import sample_run
from ledger.server.config import DaemonConfig, load_config

DEFAULTS: dict[str, object] = {
    "listen": "127.0.0.1:7700",
    "origin": "",
    "signing_key_file": "",
    "max_message_bytes": 16 << 20,
    "max_batch_events": 10_000,
    "max_event_bytes": 1 << 20,
    "group_commit_max_events": 20_000,
    "shutdown_grace_s": 10.0,
    "projection_chunk_events": 4096,
}


def load(
    tmp_path: Path,
    *,
    file: str | None = None,
    env: dict[str, str] | None = None,
    flags: dict[str, object] | None = None,
) -> DaemonConfig:
    config_file = None
    if file is not None:
        config_file = tmp_path / "ledgerd.toml"
        config_file.write_text(file, encoding="utf-8")
    return load_config(config_file=config_file, overrides=flags or {}, environ=env or {})


def refused(tmp_path: Path, **layers: Any) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        load(tmp_path, **layers)
    assert caught.value.code == ErrorCode.INVALID_CONFIG, caught.value
    assert caught.value.category is Category.INVALID_INPUT
    assert caught.value.exit_code == 2
    return caught.value


def as_dict(config: DaemonConfig) -> dict[str, object]:
    return msgspec.structs.asdict(config)


# Precedence ----------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    assert as_dict(load(tmp_path, flags={"data_dir": "/d"})) == {"data_dir": "/d", **DEFAULTS}


LAYERS = {
    "file": 'data_dir = "/from-file"\nlisten = "127.0.0.1:1001"\nmax_batch_events = 11\n',
    "env": {"LEDGERD_LISTEN": "127.0.0.1:1002", "LEDGERD_MAX_BATCH_EVENTS": "12"},
    "flags": {"listen": "127.0.0.1:1003", "data_dir": "/from-flags"},
}


@pytest.mark.parametrize(
    ("present", "listen", "batch", "data_dir"),
    [
        ((), None, 10_000, "/only"),
        (("file",), "127.0.0.1:1001", 11, "/from-file"),
        (("env",), "127.0.0.1:1002", 12, "/only"),
        (("file", "env"), "127.0.0.1:1002", 12, "/from-file"),
        (("flags",), "127.0.0.1:1003", 10_000, "/from-flags"),
        (("file", "flags"), "127.0.0.1:1003", 11, "/from-flags"),
        (("env", "flags"), "127.0.0.1:1003", 12, "/from-flags"),
        (("file", "env", "flags"), "127.0.0.1:1003", 12, "/from-flags"),
    ],
)
def test_precedence_is_defaults_file_env_flags(
    tmp_path: Path, present: tuple[str, ...], listen: str | None, batch: int, data_dir: str
) -> None:
    file = LAYERS["file"] if "file" in present else None
    env = dict(LAYERS["env"]) if "env" in present else {}  # type: ignore[arg-type]
    flags = dict(LAYERS["flags"]) if "flags" in present else {}  # type: ignore[arg-type]
    if file is None and "data_dir" not in flags:
        env["LEDGERD_DATA_DIR"] = "/only"
    config = load(tmp_path, file=file, env=env, flags=flags)
    assert config.listen == (listen or DEFAULTS["listen"])
    assert config.max_batch_events == batch
    assert config.data_dir == data_dir


def test_a_flag_left_unset_does_not_override(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        env={"LEDGERD_DATA_DIR": "/e", "LEDGERD_ORIGIN": "a.example/log"},
        flags={"data_dir": None, "origin": None, "listen": None},
    )
    assert (config.data_dir, config.origin, config.listen) == (
        "/e",
        "a.example/log",
        "127.0.0.1:7700",
    )


def test_every_setting_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "LEDGERD_DATA_DIR": "/srv/ledger",
        "LEDGERD_LISTEN": "unix:/run/ledgerd.sock",
        "LEDGERD_ORIGIN": "ledger.example.com/prod",
        "LEDGERD_SIGNING_KEY_FILE": "/etc/ledgerd/key",
        "LEDGERD_MAX_MESSAGE_BYTES": "2048",
        "LEDGERD_MAX_BATCH_EVENTS": "7",
        "LEDGERD_MAX_EVENT_BYTES": "300",
        "LEDGERD_GROUP_COMMIT_MAX_EVENTS": "9",
        "LEDGERD_SHUTDOWN_GRACE_S": "2.5",
        "LEDGERD_PROJECTION_CHUNK_EVENTS": "64",
        # Not settings: ignored.
        "LEDGERD_CLOCK": "fixed:2026-01-01T00:00:00Z",
        "LEDGERD_DEBUG": "1",
        "DATA_DIR": "/elsewhere",
    }
    assert as_dict(load(tmp_path, env=env)) == {
        "data_dir": "/srv/ledger",
        "listen": "unix:/run/ledgerd.sock",
        "origin": "ledger.example.com/prod",
        "signing_key_file": "/etc/ledgerd/key",
        "max_message_bytes": 2048,
        "max_batch_events": 7,
        "max_event_bytes": 300,
        "group_commit_max_events": 9,
        "shutdown_grace_s": 2.5,
        "projection_chunk_events": 64,
    }


FLAT = """
data_dir = "/d"
listen = "127.0.0.1:9000"
max_event_bytes = 4096
shutdown_grace_s = 3
"""
TABLE = """
# settings of ledgerd
[ledgerd]
data_dir = "/d"
listen = "127.0.0.1:9000"
max_event_bytes = 4096
shutdown_grace_s = 3.0
"""


def test_a_file_with_a_ledgerd_table_or_flat_reads_the_same(tmp_path: Path) -> None:
    flat = load(tmp_path, file=FLAT)
    table = load(tmp_path, file=TABLE)
    assert flat == table
    assert as_dict(table) == {
        **DEFAULTS,
        "data_dir": "/d",
        "listen": "127.0.0.1:9000",
        "max_event_bytes": 4096,
        "shutdown_grace_s": 3.0,
    }
    assert isinstance(flat.shutdown_grace_s, float)
    assert flat.fingerprint() == table.fingerprint()


# Validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        'data_dir = "/d"\nlisten_on = ":1"\n',
        '[ledgerd]\ndata_dir = "/d"\ncolour = "blue"\n',
        '[ledgerd]\ndata_dir = "/d"\n[ledgerd.extra]\nx = 1\n',
        # A key above the table would otherwise be silently ignored.
        'listen = "127.0.0.1:1"\n[ledgerd]\ndata_dir = "/d"\n',
        '[ledgerd]\ndata_dir = "/d"\n[other]\nx = 1\n',
        'ledgerd = 5\ndata_dir = "/d"\n',
        "ledgerd = 5\n",
        '[ledgrd]\ndata_dir = "/d"\n',
    ],
    ids=[
        "unknown-flat",
        "unknown-in-table",
        "nested-table",
        "key-outside-table",
        "other-table",
        "ledgerd-not-a-table",
        "ledgerd-scalar-only",
        "misspelt-table",
    ],
)
def test_unknown_or_misplaced_keys_are_refused(tmp_path: Path, file: str) -> None:
    refused(tmp_path, file=file)


@pytest.mark.parametrize(
    "file",
    [
        'data_dir = "/d"\nmax_batch_events = "many"\n',
        'data_dir = "/d"\nmax_batch_events = 10.5\n',
        'data_dir = "/d"\nmax_batch_events = true\n',
        'data_dir = "/d"\nlisten = 7700\n',
        "data_dir = 5\n",
        'data_dir = ["/d"]\n',
        'data_dir = "/d"\nshutdown_grace_s = "soon"\n',
        'data_dir = "/d"\norigin = 1\n',
    ],
)
def test_values_of_the_wrong_type_are_refused(tmp_path: Path, file: str) -> None:
    refused(tmp_path, file=file)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_batch_events", 0),
        ("max_batch_events", 10_001),
        ("max_message_bytes", 1023),
        ("max_message_bytes", (256 << 20) + 1),
        ("max_event_bytes", 255),
        ("max_event_bytes", (1 << 20) + 1),
        ("group_commit_max_events", 0),
        ("shutdown_grace_s", -0.5),
        ("shutdown_grace_s", 3600.5),
        ("projection_chunk_events", 0),
        ("projection_chunk_events", 10_001),
        ("data_dir", ""),
        ("listen", ""),
        ("origin", "has spaces/log"),
        ("origin", "a+b"),
        ("origin", "ledger~example/log"),
        ("origin", "-leading-dash"),
        ("origin", "x" * 201),
    ],
)
def test_values_out_of_range_are_refused(tmp_path: Path, setting: str, value: object) -> None:
    flags: dict[str, object] = {"data_dir": "/d", setting: value}
    refused(tmp_path, flags=flags)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEDGERD_MAX_BATCH_EVENTS", "ten"),
        ("LEDGERD_MAX_BATCH_EVENTS", "1.5"),
        ("LEDGERD_MAX_BATCH_EVENTS", ""),
        ("LEDGERD_MAX_MESSAGE_BYTES", "16MiB"),
        ("LEDGERD_SHUTDOWN_GRACE_S", "soon"),
        ("LEDGERD_SHUTDOWN_GRACE_S", "nan"),
        ("LEDGERD_SHUTDOWN_GRACE_S", "inf"),
        ("LEDGERD_DATA_DIR", ""),
        ("LEDGERD_ORIGIN", "two words"),
    ],
)
def test_bad_environment_values_are_refused(tmp_path: Path, name: str, value: str) -> None:
    error = refused(tmp_path, env={"LEDGERD_DATA_DIR": "/d", name: value})
    assert name in error.message or name.removeprefix("LEDGERD_").lower() in error.message


def test_no_data_dir_anywhere_is_refused(tmp_path: Path) -> None:
    refused(tmp_path, file='listen = "127.0.0.1:1"\n')


@pytest.mark.parametrize(
    "content", [b"data_dir = \n", b"[ledgerd\n", b'data_dir = "/d"\ndata_dir = "/e"\n', b"\xff\xfe"]
)
def test_a_file_that_is_not_toml_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(LedgerError) as caught:
        load_config(config_file=path, environ={})
    assert caught.value.code == ErrorCode.INVALID_CONFIG


def test_a_missing_config_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as caught:
        load_config(config_file=tmp_path / "nope.toml", environ={})
    assert caught.value.code == ErrorCode.FILE_UNREADABLE


# The fingerprint -----------------------------------------------------------------------


def test_the_fingerprint_is_sha256_of_the_sorted_compact_json(tmp_path: Path) -> None:
    config = load(tmp_path, flags={"data_dir": "/var/lib/ledgerd"})
    canonical = json.dumps(
        {
            "data_dir": "/var/lib/ledgerd",
            **{k: v for k, v in DEFAULTS.items() if k != "signing_key_file"},
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert canonical.endswith('"projection_chunk_events":4096,"shutdown_grace_s":10.0}')
    assert config.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()


def test_equal_configs_have_equal_fingerprints_however_they_are_given(tmp_path: Path) -> None:
    via_flags = load(
        tmp_path, flags={"data_dir": "/d", "max_batch_events": 20, "shutdown_grace_s": 2}
    )
    via_env = load(
        tmp_path,
        env={
            "LEDGERD_DATA_DIR": "/d",
            "LEDGERD_MAX_BATCH_EVENTS": "20",
            "LEDGERD_SHUTDOWN_GRACE_S": "2",
        },
    )
    via_file = load(
        tmp_path, file='[ledgerd]\ndata_dir = "/d"\nmax_batch_events = 20\nshutdown_grace_s = 2\n'
    )
    assert via_flags == via_env == via_file
    assert len({via_flags.fingerprint(), via_env.fingerprint(), via_file.fingerprint()}) == 1
    assert (
        via_flags.fingerprint()
        == load(
            tmp_path, flags={"data_dir": "/d", "max_batch_events": 20, "shutdown_grace_s": 2.0}
        ).fingerprint()
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("data_dir", "/other"),
        ("listen", "127.0.0.1:7701"),
        ("origin", "ledger.example.com/prod"),
        ("max_message_bytes", 2048),
        ("max_batch_events", 9_999),
        ("max_event_bytes", 1 << 19),
        ("group_commit_max_events", 1),
        ("shutdown_grace_s", 10.5),
    ],
)
def test_every_behaviour_setting_changes_the_fingerprint(
    tmp_path: Path, setting: str, value: object
) -> None:
    base = load(tmp_path, flags={"data_dir": "/d"})
    changed = load(tmp_path, flags={"data_dir": "/d", setting: value})
    assert getattr(changed, setting) == value
    assert changed.fingerprint() != base.fingerprint()


def test_the_signing_key_path_does_not_change_the_fingerprint(tmp_path: Path) -> None:
    base = load(tmp_path, flags={"data_dir": "/d"})
    keyed = load(tmp_path, flags={"data_dir": "/d", "signing_key_file": "/etc/ledgerd/secret.key"})
    other = load(tmp_path, env={"LEDGERD_DATA_DIR": "/d", "LEDGERD_SIGNING_KEY_FILE": "/k2"})
    assert keyed.signing_key_file == "/etc/ledgerd/secret.key"
    assert base.fingerprint() == keyed.fingerprint() == other.fingerprint()


# The real CLI --------------------------------------------------------------------------


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ledger.server serve ARGS` expected to exit by itself (it failed to start)."""
    return subprocess.run(
        [sys.executable, "-m", "ledger.server", "serve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LEDGERD_CLOCK": "fixed:2026-01-01T12:00:00Z", **(env or {})},
        cwd=REPO,
        timeout=60,
        check=False,
    )


def assert_failed(
    result: subprocess.CompletedProcess[str], exit_code: int, code: ErrorCode
) -> None:
    assert result.returncode == exit_code, result.stderr
    assert result.stdout == ""  # no announcement: it never served
    assert f"/ {code}" in result.stderr, result.stderr


def listen() -> tuple[str, str]:
    return ("--listen", f"127.0.0.1:{free_port()}")


def test_an_explicit_signing_key_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = serve(
        "--data-dir",
        str(tmp_path / "data"),
        *listen(),
        "--signing-key",
        str(tmp_path / "missing.key"),
    )
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    assert "missing.key does not exist" in result.stderr
    assert not (tmp_path / "missing.key").exists()
    assert not (tmp_path / "data" / "checkpoint.key").exists()


def test_bad_configuration_exits_2_before_touching_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = serve("--data-dir", str(data_dir), *listen(), env={"LEDGERD_MAX_BATCH_EVENTS": "ten"})
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    assert "LEDGERD_MAX_BATCH_EVENTS" in result.stderr
    result = serve("--data-dir", str(data_dir), *listen(), "--origin", "ledger~example/log")
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    assert not data_dir.exists()
    config = tmp_path / "ledgerd.toml"
    config.write_text('[ledgerd]\nmax_batch_events = 5\nlisten_on = "x"\n')
    assert_failed(
        serve("--data-dir", str(data_dir), "--config", str(config)), 2, ErrorCode.INVALID_CONFIG
    )
    assert not data_dir.exists()


def test_first_start_creates_the_key_and_later_starts_reuse_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir) as process:
        first = process.announcement
        assert process.stop() == 0
    key_file, pub_file = data_dir / "checkpoint.key", data_dir / "checkpoint.key.pub"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_file.stat().st_mode) == 0o644
    key = SignerKey.load(key_file)
    assert key.name == first["origin"] == "ledgerd.local/log"
    assert pub_file.read_text() == f"{first['verifier_key']}\n"
    assert key.verifier() == VerifierKey.parse(str(first["verifier_key"]))
    key_text = key_file.read_bytes()
    with DaemonProcess(data_dir) as process:
        assert process.announcement["verifier_key"] == first["verifier_key"]
        process.stop()
    assert key_file.read_bytes() == key_text


def test_first_start_names_the_key_after_the_configured_origin(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir, args=("--origin", "ledger.example.com/prod")) as process:
        assert process.announcement["origin"] == "ledger.example.com/prod"
        with LedgerClient(process.address) as client:
            assert client.checkpoint().origin == "ledger.example.com/prod"
            assert client.get_event(seq=0).event.data["origin"] == "ledger.example.com/prod"
    assert SignerKey.load(data_dir / "checkpoint.key").name == "ledger.example.com/prod"


def test_an_origin_that_does_not_match_the_key_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir) as process:
        assert process.stop() == 0
    result = serve("--data-dir", str(data_dir), *listen(), "--origin", "other.example/log")
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    assert "does not match the signing key's name 'ledgerd.local/log'" in result.stderr
    # The same origin as the key's name is fine.
    with DaemonProcess(data_dir, args=("--origin", "ledgerd.local/log")) as process:
        assert process.announcement["origin"] == "ledgerd.local/log"


def test_an_explicit_key_from_ledgerctl_keygen(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "log.key"
    key_file.parent.mkdir()
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "keygen",
            "--origin",
            "ledger.example.com/ci",
            "--out",
            str(key_file),
            "--json",
        ],
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    verifier = json.loads(made.stdout)["verifier_key"]
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir, args=("--signing-key", str(key_file))) as process:
        assert process.announcement["verifier_key"] == verifier
        assert process.announcement["origin"] == "ledger.example.com/ci"
    assert not (data_dir / "checkpoint.key").exists()
    # An explicit origin must match it too.
    result = serve(
        "--data-dir",
        str(data_dir),
        *listen(),
        "--signing-key",
        str(key_file),
        "--origin",
        "x.example/log",
    )
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    # A key others can read is refused.
    key_file.chmod(0o644)
    result = serve("--data-dir", str(data_dir), *listen(), "--signing-key", str(key_file))
    assert_failed(result, 2, ErrorCode.INVALID_KEY)


def test_a_lost_key_with_its_pub_left_is_not_silently_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir) as process:
        assert process.stop() == 0
    pub = (data_dir / "checkpoint.key.pub").read_text()
    (data_dir / "checkpoint.key").unlink()
    result = serve("--data-dir", str(data_dir), *listen())
    assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
    assert not (data_dir / "checkpoint.key").exists()
    assert (data_dir / "checkpoint.key.pub").read_text() == pub


def test_the_started_event_records_the_announced_fingerprint_and_version(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    address = f"127.0.0.1:{free_port()}"
    expected = load_config(overrides={"data_dir": str(data_dir), "listen": address}, environ={})
    process = DaemonProcess(data_dir, port=int(address.rsplit(":", 1)[1])).start()
    try:
        announced = process.announcement
        assert announced["config_fingerprint"] == expected.fingerprint()
        assert announced["version"] == __version__
        assert announced["tree_size"] == 1
        with LedgerClient(process.address) as client:
            client.append(Event.from_envelope(sample_run(1)))
            started = client.get_event(seq=0).event
            assert started.event_id == "ledger.started:0"
            assert started.data == {
                "daemon_version": __version__,
                "config_fingerprint": expected.fingerprint(),
                "origin": "ledgerd.local/log",
            }
        assert process.stop() == 0
        # Restarted with another setting: a second record, with the new fingerprint.
        changed = load_config(
            overrides={"data_dir": str(data_dir), "listen": address},
            environ={"LEDGERD_MAX_BATCH_EVENTS": "5"},
        )
        process = DaemonProcess(
            data_dir, port=process.port, env={"LEDGERD_MAX_BATCH_EVENTS": "5"}
        ).start()
        assert (
            process.announcement["config_fingerprint"]
            == changed.fingerprint()
            != expected.fingerprint()
        )
        assert process.announcement["tree_size"] == 3
        with LedgerClient(process.address) as client:
            restarted = client.get_event(event_id="ledger.started:2")
            assert restarted.seq == 2
            assert restarted.event.data["config_fingerprint"] == changed.fingerprint()
    finally:
        process.kill()


def test_a_config_file_is_used_and_fingerprinted(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config_file = tmp_path / "ledgerd.toml"
    config_file.write_text(f'[ledgerd]\ndata_dir = "{data_dir}"\nmax_batch_events = 2\n')
    port = free_port()
    expected = load_config(
        config_file=config_file,
        overrides={"data_dir": str(data_dir), "listen": f"127.0.0.1:{port}"},
        environ={},
    )
    assert expected.max_batch_events == 2
    with DaemonProcess(data_dir, port=port, args=("--config", str(config_file))) as process:
        assert process.announcement["config_fingerprint"] == expected.fingerprint()
        with LedgerClient(process.address) as client, pytest.raises(LedgerError) as caught:
            client.append_batch([Event.from_envelope(sample_run(i)) for i in range(3)])
        assert caught.value.code == ErrorCode.REQUEST_TOO_LARGE
        assert dict(caught.value.details) == {"limit": 2}


def test_a_second_daemon_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(data_dir) as first:
        result = serve("--data-dir", str(data_dir), *listen())
        assert_failed(result, 8, ErrorCode.DATA_DIR_LOCKED)
        assert f"process {first.process.pid}" in result.stderr  # type: ignore[union-attr]
        with LedgerClient(first.address) as client:
            assert client.append(Event.from_envelope(sample_run(1))).seq == 1
            assert client.checkpoint().tree_size == 2
        assert first.process.poll() is None  # type: ignore[union-attr]


def test_a_listen_address_in_use_is_refused(tmp_path: Path) -> None:
    with DaemonProcess(tmp_path / "first") as first:
        result = serve("--data-dir", str(tmp_path / "second"), "--listen", first.address)
        assert_failed(result, 2, ErrorCode.INVALID_CONFIG)
        assert f"cannot listen on '{first.address}'" in result.stderr
        with LedgerClient(first.address) as client:
            assert client.append(Event.from_envelope(sample_run(1))).seq == 1
    # A port held by something that is not ledgerd at all.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        result = serve("--data-dir", str(tmp_path / "third"), "--listen", taken)
        assert_failed(result, 2, ErrorCode.INVALID_CONFIG)


def test_a_start_that_cannot_bind_records_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DaemonProcess(tmp_path / "other") as holder:
        assert_failed(
            serve("--data-dir", str(data_dir), "--listen", holder.address),
            2,
            ErrorCode.INVALID_CONFIG,
        )
    with DaemonProcess(data_dir) as process, LedgerClient(process.address) as client:
        assert [e.event.event_id for e in client.read()] == ["ledger.started:0"]


def test_version_and_usage_errors() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "ledger.server", "--version"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert version.returncode == 0
    assert __version__ in version.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "ledger.server", "serve", "--colour"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert usage.returncode == 2
    assert "/ INVALID_ARGUMENT" in usage.stderr
