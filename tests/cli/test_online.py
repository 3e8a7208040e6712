"""`ledgerctl` against a running daemon: `--server` / `$LEDGER_SERVER` in place of `--data-dir`.

A module-wide daemon serves a log imported through the CLI. Because the daemon's
data directory can be read offline while it runs, every read command is run both
ways on the same log, and the JSON must be identical: the online CLI is the
offline one with another source. Unreachable servers, both or neither target,
and options that belong to one target are errors in the usual envelope.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import json_lines, run_ledgerctl
from daemon import DaemonProcess, free_port
from ledger.model import encode_envelope
from ledger.samples import sample_events

ORIGIN = "ledger.test/online-cli"
EVENTS = sample_events(12)


@dataclass(frozen=True)
class Served:
    daemon: DaemonProcess
    key_file: Path
    pub_file: Path
    source: Path

    @property
    def server(self) -> list[str]:
        return ["--server", self.daemon.address]

    @property
    def offline(self) -> list[str]:
        return ["--data-dir", str(self.daemon.data_dir)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("online")
    key_file = root / "log.key"
    assert run_ledgerctl("keygen", "--origin", ORIGIN, "--out", str(key_file)).returncode == 0
    source = root / "events.jsonl"
    source.write_bytes(b"".join(encode_envelope(e) + b"\n" for e in EVENTS))
    process = DaemonProcess(root / "data", args=("--signing-key", str(key_file))).start()
    try:
        imported = run_ledgerctl("import", str(source), "--server", process.address, "--json")
        assert imported.returncode == 0, imported.stdout
        yield Served(process, key_file, key_file.with_name("log.key.pub"), source)
    finally:
        process.kill()


def _unreachable() -> str:
    """A loopback address nothing listens on (a port just freed)."""
    return f"127.0.0.1:{free_port()}"


# The same log, online and offline ------------------------------------------------------

READS = [
    ["tail"],
    ["tail", "--from", "4", "--limit", "3"],
    ["get", "--seq", "5"],
    ["get", "--event-id", EVENTS[7].event_id],
    ["proof", "inclusion", "--seq", "4"],
    ["proof", "inclusion", "--seq", "2", "--tree-size", "9"],
    ["proof", "consistency", "--from", "3"],
    ["proof", "consistency", "--from", "3", "--to", "10"],
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_reads_print_the_same_json_online_and_offline(served, args):
    online = run_ledgerctl(*args, *served.server, "--json")
    offline = run_ledgerctl(*args, *served.offline, "--json")
    assert online.returncode == offline.returncode == 0, (online.stdout, offline.stdout)
    assert online.stderr == offline.stderr == b""
    assert json_lines(online.stdout) == json_lines(offline.stdout)
    assert online.stdout == offline.stdout


def test_tail_online_is_every_entry_with_its_leaf_bytes(served):
    lines = json_lines(run_ledgerctl("tail", *served.server, "--json").stdout)
    assert [line["seq"] for line in lines] == list(range(1 + len(EVENTS)))
    assert lines[0]["event"]["type"] == "ledger.started"
    for line, envelope in zip(lines[1:], EVENTS, strict=True):
        assert line["event"]["event_id"] == envelope.event_id
        leaf = base64.b64decode(line["leaf_b64"])
        assert line["leaf_hash"] == hashlib.sha256(b"\x00" + leaf).hexdigest()


def test_get_is_one_tail_line_with_ok(served, ok):
    tail = json_lines(run_ledgerctl("tail", *served.server, "--json").stdout)
    by_seq = ok(run_ledgerctl("get", "--seq", "3", *served.server, "--json"))
    by_id = ok(run_ledgerctl("get", "--event-id", EVENTS[2].event_id, *served.server, "--json"))
    assert by_seq == by_id == {"ok": True, **tail[3]}


def test_checkpoint_online_is_the_note_the_key_signs_offline(served, ok):
    online = ok(
        run_ledgerctl("checkpoint", *served.server, "--vkey", str(served.pub_file), "--json")
    )
    assert online.pop("verified") is True
    # Ed25519 is deterministic: the daemon and ledgerctl sign the same body identically.
    offline = ok(
        run_ledgerctl("checkpoint", *served.offline, "--key", str(served.key_file), "--json")
    )
    assert online == offline
    assert online["origin"] == ORIGIN
    assert online["tree_size"] == 1 + len(EVENTS)


def test_checkpoint_online_of_a_past_size_without_verifying(served, ok):
    doc = ok(run_ledgerctl("checkpoint", *served.server, "--size", "4", "--json"))
    assert doc["verified"] is False
    assert doc["tree_size"] == 4
    assert doc["note"].startswith(f"{ORIGIN}\n4\n{doc['root']}\n\n— {ORIGIN} ")
    inclusion = ok(
        run_ledgerctl(
            "proof", "inclusion", "--seq", "0", "--tree-size", "4", *served.server, "--json"
        )
    )
    assert inclusion["root"] == doc["root"]


# Text output online --------------------------------------------------------------------


def test_text_output_online(served):
    tail = run_ledgerctl("tail", *served.server, "--from", "1", "--limit", "2")
    assert tail.returncode == 0
    header, first, second = tail.stdout.decode().splitlines()
    assert header.split("\t")[0] == "seq"
    assert first.split("\t")[0] == "1"
    assert first.split("\t")[-1] == EVENTS[0].event_id
    assert second.split("\t")[-1] == EVENTS[1].event_id

    got = run_ledgerctl("get", "--seq", "1", *served.server)
    assert got.returncode == 0
    text = got.stdout.decode()
    assert text.startswith("seq: 1\n")
    assert f'"event_id": "{EVENTS[0].event_id}"' in text

    note = run_ledgerctl("checkpoint", *served.server)
    assert note.returncode == 0
    assert note.stdout.decode().startswith(f"{ORIGIN}\n")
    assert note.stderr == b""
    verified = run_ledgerctl("checkpoint", *served.server, "--vkey", str(served.pub_file))
    assert verified.stdout == note.stdout
    assert b"ok: signed by the pinned key" in verified.stderr

    proof = run_ledgerctl("proof", "consistency", "--from", "2", *served.server)
    assert proof.returncode == 0
    assert proof.stdout.decode().startswith("first_size: 2\nsecond_size: 13\n")


# Choosing the target -------------------------------------------------------------------


def test_ledger_server_env_selects_the_daemon(served):
    by_env = run_ledgerctl("tail", "--json", env={"LEDGER_SERVER": served.daemon.address})
    by_flag = run_ledgerctl("tail", "--json", *served.server)
    assert by_env.returncode == 0, by_env.stdout
    assert by_env.stdout == by_flag.stdout


def test_an_explicit_data_dir_wins_over_ledger_server(served):
    result = run_ledgerctl("tail", *served.offline, "--json", env={"LEDGER_SERVER": _unreachable()})
    assert result.returncode == 0, result.stdout
    assert len(json_lines(result.stdout)) == 1 + len(EVENTS)


def test_an_explicit_server_wins_over_ledger_server(served):
    result = run_ledgerctl(
        "get", "--seq", "0", *served.server, "--json", env={"LEDGER_SERVER": _unreachable()}
    )
    assert result.returncode == 0, result.stdout


COMMANDS = [
    ["tail"],
    ["get", "--seq", "0"],
    ["append", "--event", "{}"],
    ["import", "-"],
    ["checkpoint"],
    ["proof", "inclusion", "--seq", "0"],
    ["proof", "consistency", "--from", "1"],
    ["verify"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_both_targets_is_a_usage_error(served, error, args):
    doc = error(
        run_ledgerctl(*args, *served.offline, *served.server, "--json"),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert "--data-dir and --server exclude each other" in doc["error"]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_target_is_a_usage_error(error, args):
    # An empty LEDGER_SERVER counts as unset (and shields the test from the caller's).
    doc = error(
        run_ledgerctl(*args, "--json", env={"LEDGER_SERVER": ""}),
        "invalid_input",
        "INVALID_ARGUMENT",
    )
    assert "--data-dir or --server" in doc["error"]


def test_target_errors_as_text_go_to_stderr(served):
    result = run_ledgerctl("tail", *served.offline, *served.server)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"exclude each other" in result.stderr
    assert b"INVALID_ARGUMENT" in result.stderr


# An unreachable daemon -----------------------------------------------------------------


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_an_unreachable_server_is_server_unavailable_quickly(served, error, tmp_path, args):
    # Inputs are valid, so each command gets as far as calling the daemon.
    valid = {
        ("append", "--event", "{}"): ["append", str(served.source)],
        ("import", "-"): ["import", str(served.source)],
        ("verify",): ["verify", "--vkey", str(served.pub_file), "--state", str(tmp_path / "s")],
    }
    command = valid.get(tuple(args), args)
    started = time.monotonic()
    result = run_ledgerctl(*command, "--server", _unreachable(), "--retry-deadline", "1", "--json")
    elapsed = time.monotonic() - started
    doc = error(result, "network_transient", "SERVER_UNAVAILABLE")
    assert "ledgerd is running" in doc["hint"]
    assert elapsed < 15, elapsed
    assert not (tmp_path / "s").exists()


def test_the_retry_deadline_can_come_from_the_environment(error):
    started = time.monotonic()
    result = run_ledgerctl(
        "tail", "--json", env={"LEDGER_SERVER": _unreachable(), "LEDGER_RETRY_DEADLINE_S": "0.5"}
    )
    error(result, "network_transient", "SERVER_UNAVAILABLE")
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("args", [["get", "--seq", "0"], ["tail"], ["tail", "--follow"]])
def test_unreachable_as_text_leaves_stdout_empty(args):
    result = run_ledgerctl(*args, "--server", _unreachable(), "--retry-deadline", "1")
    assert result.returncode == 9
    assert result.stdout == b"", "not even tail's header"
    assert b"network_transient / SERVER_UNAVAILABLE" in result.stderr


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan"])
def test_a_malformed_retry_deadline_variable_is_invalid_config(error, value):
    error(
        run_ledgerctl(
            "tail",
            "--json",
            env={"LEDGER_SERVER": _unreachable(), "LEDGER_RETRY_DEADLINE_S": value},
        ),
        "invalid_input",
        "INVALID_CONFIG",
    )


def test_a_non_positive_retry_deadline_flag_is_a_usage_error(error):
    error(
        run_ledgerctl("tail", "--server", _unreachable(), "--retry-deadline", "0", "--json"),
        "invalid_input",
        "INVALID_ARGUMENT",
    )


# What the daemon refuses, and options that belong to one target -------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["get", "--seq", "999"], "NOT_FOUND"),
        (["get", "--event-id", "no-such-event"], "NOT_FOUND"),
        (["proof", "inclusion", "--seq", "999"], "INVALID_PROOF_REQUEST"),
        (["proof", "consistency", "--from", "999"], "INVALID_PROOF_REQUEST"),
        (["checkpoint", "--size", "999"], "INVALID_PROOF_REQUEST"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_the_daemons_errors_come_out_as_offline_ones(served, error, args, code):
    online = error(run_ledgerctl(*args, *served.server, "--json"), "invalid_input", code)
    if args[0] != "checkpoint":  # offline, checkpoint needs --key
        offline = error(run_ledgerctl(*args, *served.offline, "--json"), "invalid_input", code)
        assert online["error_code"] == offline["error_code"]


def test_tail_from_beyond_the_end_online_is_empty_like_offline(served):
    for target in (served.server, served.offline):
        result = run_ledgerctl("tail", "--from", "500", *target, "--json")
        assert result.returncode == 0
        assert result.stdout == b""


def test_checkpoint_with_the_wrong_verifier_key_fails_verification(served, error, tmp_path):
    other = tmp_path / "other.key"
    assert run_ledgerctl("keygen", "--origin", ORIGIN, "--out", str(other)).returncode == 0
    doc = error(
        run_ledgerctl("checkpoint", *served.server, "--vkey", str(other) + ".pub", "--json"),
        "verification_failed",
        "CHECKPOINT_SIGNATURE_INVALID",
    )
    assert ORIGIN in doc["error"]


@pytest.mark.parametrize(
    ("args", "online", "message"),
    [
        (["checkpoint", "--key", "{key}"], True, "--key signs a checkpoint of a data directory"),
        (["checkpoint", "--vkey", "{pub}"], False, "--vkey checks a daemon's signature"),
        (["checkpoint"], False, "--key is required with --data-dir"),
        (["verify"], True, "--vkey is required with --server"),
        (["verify", "--vkey", "{pub}", "--checkpoint", "{key}"], True, "--checkpoint checks"),
        (["verify", "--state", "{key}"], False, "--state and --spot-checks"),
        (["verify", "--spot-checks", "3"], False, "--state and --spot-checks"),
        (["get"], True, "exactly one of --seq and --event-id"),
        (["get", "--seq", "1", "--event-id", "x"], False, "exactly one of --seq and --event-id"),
    ],
)
def test_options_of_the_other_target_are_usage_errors(served, error, args, online, message):
    filled = [a.format(key=served.key_file, pub=served.pub_file) for a in args]
    target = served.server if online else served.offline
    doc = error(run_ledgerctl(*filled, *target, "--json"), "invalid_input", "INVALID_ARGUMENT")
    assert message in doc["error"]


def test_help_documents_the_target_options():
    text = run_ledgerctl("tail", "--help").stdout.decode()
    for option in ("--data-dir", "--server", "--retry-deadline", "--follow", "LEDGER_SERVER"):
        assert option in text
    assert "Wins over $LEDGER_SERVER" in " ".join(text.split())
