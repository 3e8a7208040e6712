"""`ledgerctl verify --server`: pinned key, pinned checkpoint, inclusion spot checks.

Honest daemons pass and the state file pins what was verified. The rivals of
tests/histories.py (forks and a cut-back log signed with the honest log's own
key, the honest log signed by another key) and a daemon serving an altered leaf
must each fail with exit 3, naming the broken rule, and leave the pin alone.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clients.client import LedgerClient
from clients.event import Event
from conftest import run_ledgerctl
from histories import HONEST, ORIGIN, Rivals, append_all, serve, serve_rivals
from ledger.cli.verify import spot_check_seqs
from ledger.samples import sample_events, sample_run
from tamper import flip_byte_in_leaf


@dataclass(frozen=True)
class Keys:
    key_file: Path
    pub_file: Path
    other_key_file: Path
    other_pub_file: Path


def _keygen(path: Path) -> Path:
    result = run_ledgerctl("keygen", "--origin", ORIGIN, "--out", str(path))
    assert result.returncode == 0, result.stderr
    return path.with_name(path.name + ".pub")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    root = tmp_path_factory.mktemp("keys")
    pub = _keygen(root / "log.key")
    other_pub = _keygen(root / "other.key")
    return Keys(root / "log.key", pub, root / "other.key", other_pub)


@pytest.fixture(scope="module")
def rivals(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Rivals]:
    root = tmp_path_factory.mktemp("rivals")
    with serve_rivals(root, keys.key_file, keys.other_key_file) as served:
        yield served


def _verify(address: str, pub: Path, *extra: str) -> Any:
    return run_ledgerctl("verify", "--server", address, "--vkey", str(pub), *extra, "--json")


def _pinned(rivals: Rivals, keys: Keys, ok, state: Path) -> dict[str, Any]:
    """Verify the honest daemon with a fresh state file: the checkpoint it pinned."""
    return ok(_verify(rivals.honest.address, keys.pub_file, "--state", str(state)))


# Honest daemons --------------------------------------------------------------------------


def test_first_use_verifies_pins_and_spot_checks_every_small_log(rivals, keys, ok, tmp_path):
    state = tmp_path / "state.json"
    doc = _pinned(rivals, keys, ok, state)
    size = 1 + len(HONEST)
    assert doc["server"] == rivals.honest.address
    assert doc["tree_size"] == size
    assert doc["checkpoint"] == {"origin": ORIGIN, "tree_size": size, "root": doc["root"]}
    assert doc["pinned"] is None
    assert doc["first_use"] is True
    assert doc["state"] == str(state)
    assert doc["spot_checks"] == list(range(size))
    saved = json.loads(state.read_text())
    assert saved["tree_size"] == size
    assert saved["root_hash"] == doc["root"]

    again = ok(_verify(rivals.honest.address, keys.pub_file, "--state", str(state)))
    assert again["pinned"] == doc["checkpoint"]
    assert again["first_use"] is False


def test_a_growing_log_is_proven_consistent_with_the_pin(daemon, ok, tmp_path):
    pub = daemon.data_dir / "checkpoint.key.pub"
    state = tmp_path / "state.json"
    first = ok(_verify(daemon.address, pub, "--state", str(state)))
    assert first["tree_size"] == 1
    append_all(daemon.address, sample_events(40))
    grown = ok(_verify(daemon.address, pub, "--state", str(state)))
    assert grown["pinned"]["tree_size"] == 1
    assert grown["tree_size"] == 41
    checked = grown["spot_checks"]
    assert len(checked) == 16
    assert checked == sorted(set(checked))
    assert checked[0] == 0
    assert checked[-1] == 40
    # Seeded by the verified root: the same checkpoint gives the same sample.
    repeat = ok(_verify(daemon.address, pub, "--state", str(state)))
    assert repeat["spot_checks"] == checked
    few = ok(_verify(daemon.address, pub, "--state", str(state), "--spot-checks", "3"))
    assert len(few["spot_checks"]) == 3
    assert {0, 40} <= set(few["spot_checks"])
    assert ok(_verify(daemon.address, pub, "--spot-checks", "0"))["spot_checks"] == []


def test_spot_checks_are_proven_under_the_one_checkpoint_reported(daemon, ok, tmp_path):
    # The log grows while verify runs. Every spot check must be proven under the
    # checkpoint the sample was seeded from, and that checkpoint is what is reported
    # and pinned: so the report reproduces its own sample, and the state file holds it.
    pub = daemon.data_dir / "checkpoint.key.pub"
    state = tmp_path / "state.json"
    append_all(daemon.address, sample_events(200))
    stop = threading.Event()

    def grow() -> None:
        with LedgerClient(daemon.address) as client:
            index = 10_000
            while not stop.is_set():
                client.append(Event.from_envelope(sample_run(index)))
                index += 1

    grower = threading.Thread(target=grow)
    grower.start()
    try:
        doc = ok(_verify(daemon.address, pub, "--state", str(state), "--spot-checks", "64"))
    finally:
        stop.set()
        grower.join(timeout=30)
    assert doc["tree_size"] >= 201
    root = base64.b64decode(doc["root"])
    assert doc["spot_checks"] == spot_check_seqs(doc["tree_size"], 64, root)
    saved = json.loads(state.read_text())
    assert (saved["tree_size"], saved["root_hash"]) == (doc["tree_size"], doc["root"])


def test_without_a_state_file_nothing_is_pinned(rivals, keys, ok, tmp_path):
    doc = ok(_verify(rivals.honest.address, keys.pub_file))
    assert doc["state"] is None
    assert doc["pinned"] is None
    assert doc["first_use"] is True
    assert list(tmp_path.iterdir()) == []


def test_text_output(rivals, keys, tmp_path):
    state = tmp_path / "state.json"
    args = ["verify", "--server", rivals.honest.address, "--vkey", str(keys.pub_file)]
    first = run_ledgerctl(*args, "--state", str(state))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.decode().splitlines()
    assert lines[0].startswith(f"ok: checkpoint by {ORIGIN} at size 6 is signed by the pinned key")
    assert lines[1] == f"trusted on first use: pinned size 6 in {state}"
    assert lines[2] == "ok: 6 inclusion spot checks passed: seqs [0, 1, 2, 3, 4, 5]"
    second = run_ledgerctl(*args, "--state", str(state))
    assert f"ok: it extends the checkpoint at size 6 pinned in {state}" in second.stdout.decode()
    bare = run_ledgerctl(*args, "--spot-checks", "1")
    assert "without --state" in bare.stdout.decode()
    assert "seqs [5]" in bare.stdout.decode()


# Dishonest daemons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rival", "code"),
    [
        ("longer_fork", "CONSISTENCY_PROOF_INVALID"),
        ("same_size_fork", "CONSISTENCY_PROOF_INVALID"),
        ("shorter", "CHECKPOINT_ROLLBACK"),
    ],
)
def test_a_rewritten_history_under_the_same_key_fails(
    rivals, keys, ok, error, tmp_path, rival, code
):
    state = tmp_path / "state.json"
    pinned = _pinned(rivals, keys, ok, state)
    before = state.read_bytes()
    address = getattr(rivals, rival).address
    # The rival's checkpoint alone is well signed: only the pin gives it away.
    assert ok(_verify(address, keys.pub_file))["first_use"] is True
    doc = error(_verify(address, keys.pub_file, "--state", str(state)), "verification_failed", code)
    assert doc["error"].startswith(f"checkpoint of {address}: ")
    assert doc["details"]["stage"] == "checkpoint"
    assert doc["details"]["trusted_size"] == pinned["tree_size"]
    assert state.read_bytes() == before, "a failed verify must not move the pin"


def test_a_checkpoint_signed_by_another_key_fails(rivals, keys, error, tmp_path):
    state = tmp_path / "state.json"
    doc = error(
        _verify(rivals.other_key.address, keys.pub_file, "--state", str(state)),
        "verification_failed",
        "CHECKPOINT_SIGNATURE_INVALID",
    )
    assert doc["details"]["stage"] == "checkpoint"
    assert not state.exists(), "nothing unverified is ever pinned"


def test_a_state_file_pinned_under_another_key_fails(rivals, keys, ok, error, tmp_path):
    state = tmp_path / "state.json"
    _pinned(rivals, keys, ok, state)
    doc = error(
        _verify(rivals.other_key.address, keys.other_pub_file, "--state", str(state)),
        "verification_failed",
        "CHECKPOINT_SIGNATURE_INVALID",
    )
    assert doc["error"].startswith(f"state file {state}: ")
    assert doc["details"]["stage"] == "state"


def test_a_malformed_state_file_is_invalid_input(rivals, keys, error, tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"tree_size": "many"}\n')
    error(
        _verify(rivals.honest.address, keys.pub_file, "--state", str(state)),
        "invalid_input",
        "INVALID_CHECKPOINT",
    )


def test_a_history_replaced_behind_the_same_address_fails(keys, ok, error, tmp_path):
    """The brief's scenario end to end: pin daemon A, then B with the same key takes its port."""
    state = tmp_path / "state.json"
    first = serve(tmp_path / "dir1", keys.key_file)
    try:
        append_all(first.address, [sample_run(i) for i in range(6)])
        ok(_verify(first.address, keys.pub_file, "--state", str(state)))
    finally:
        first.stop()
    second = serve(tmp_path / "dir2", keys.key_file, port=first.port)
    try:
        append_all(second.address, [sample_run(i) for i in range(6, 14)])
        result = run_ledgerctl(
            "verify",
            "--server",
            second.address,
            "--vkey",
            str(keys.pub_file),
            "--state",
            str(state),
        )
        assert result.returncode == 3
        assert result.stdout == b""
        assert b"verification_failed / CONSISTENCY_PROOF_INVALID" in result.stderr
        assert b"does not extend the verified log at 7" in result.stderr
        error(
            _verify(second.address, keys.pub_file, "--state", str(state)),
            "verification_failed",
            "CONSISTENCY_PROOF_INVALID",
        )
    finally:
        second.kill()


def test_an_altered_event_fails_its_spot_check(keys, ok, error, tmp_path):
    state = tmp_path / "state.json"
    process = serve(tmp_path / "data", keys.key_file)
    try:
        append_all(process.address, [sample_run(i, notes="TARGET-NOTE-TEXT") for i in range(4)])
        ok(_verify(process.address, keys.pub_file, "--state", str(state)))
        process.stop()
        flip_byte_in_leaf(process.data_dir, 3, b"TARGET-NOTE-TEXT", offset=3)
        process.restart()
        doc = error(
            _verify(process.address, keys.pub_file, "--state", str(state), "--spot-checks", "99"),
            "verification_failed",
            "SERVED_EVENT_MISMATCH",
        )
        assert doc["details"]["seq"] == 3
        assert doc["details"]["stage"] == "spot_check"
        assert doc["error"].startswith("spot check: seq 3: ")
        # The checkpoint itself is still consistent: the pin moved to the daemon's new size.
        assert json.loads(state.read_text())["tree_size"] == 6
    finally:
        process.kill()
