"""The agent hook against a real daemon (or none at all), in real workspaces and git repositories.

Expected digests are computed here from the spec's formulas with hashlib, not
with the ledger's own helpers, so the hook is checked against the spec.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from clients import EmitResult, Spool, build_run_record, emit_event, emit_run_record
from clients.client import LedgerClient
from clients.retry import RetryPolicy
from clients.spool import decode_frames
from daemon import DaemonProcess, free_port
from ledger.errors import (
    ErrorCode,
    InvalidInput,
    IoFailure,
    NetworkTransient,
    StateContention,
)
from ledger.model import RunRecordV1, decode_leaf
from refusing_ledger import refusing_ledger

FAST = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, overall_deadline_s=2.0)
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
GIT = shutil.which("git")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def composite(files: dict[str, bytes]) -> str:
    """input_context_sha as specs/run-record-v1.md defines it, written from the spec."""
    lines = b"".join(
        path.encode() + b"\x00" + sha(files[path]).encode() + b"\n"
        for path in sorted(files, key=lambda p: p.encode())
    )
    return sha(lines)


def make_workspace(root: Path, files: dict[str, bytes]) -> Path:
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


def git(workspace: Path, *args: str) -> str:
    assert GIT is not None
    done = subprocess.run(
        [GIT, "-C", str(workspace), *args],
        capture_output=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(workspace)},
    )
    return done.stdout.decode().strip()


def stored_record(client: LedgerClient, event_id: str) -> RunRecordV1:
    leaf = decode_leaf(client.get_event(event_id=event_id).leaf)
    assert isinstance(leaf.envelope.data, RunRecordV1)
    return leaf.envelope.data


def logged_ids(client: LedgerClient) -> Counter[str]:
    return Counter(entry.event.event_id for entry in client.read())


INPUTS = {"src/app.py": b"print('hi')\n", "pyproject.toml": b"[project]\nname='x'\n"}
OUTPUTS = {"out/patch.diff": b"--- a\n+++ b\n"}


def test_the_agent_survives_a_down_daemon_and_the_record_lands_later_exactly_once(
    tmp_path: Path,
) -> None:
    """Done-when: the daemon down, the agent continues, the spool holds the record, a later
    flush lands it exactly once; a spool with a torn last entry still flushes the rest."""
    workspace = make_workspace(tmp_path / "ws", {**INPUTS, **OUTPUTS})
    spool = Spool(tmp_path / "spool")
    port = free_port()
    results: list[EmitResult] = []
    for status in ("SUCCESS", "FAILED"):
        results.append(
            emit_run_record(
                server=f"127.0.0.1:{port}",
                retry=FAST,
                spool=spool.path,
                agent="fixer-agent",
                status=status,  # type: ignore[arg-type]
                workspace=workspace,
                inputs=list(INPUTS),
                outputs=list(OUTPUTS),
            )
        )
    first, second = results
    assert [r.outcome for r in results] == ["spooled", "spooled"]
    assert first.spool_path == spool.path
    assert first.seq is None
    assert not first.verified
    assert isinstance(first.error, NetworkTransient)
    assert first.error.code is ErrorCode.SERVER_UNAVAILABLE
    assert [e.event for e in spool.read().entries] == [first.event, second.event]

    # The machine crashes while the second record is being written: its frame is torn.
    data = spool.entries_path.read_bytes()
    torn_at = decode_frames(data).frames[1].offset + 100
    spool.entries_path.write_bytes(data[:torn_at])
    assert spool.status().damaged == 1

    with (
        DaemonProcess(tmp_path / "served", port=port) as daemon,
        LedgerClient(daemon.address) as client,
    ):
        report = spool.flush(client)
        assert (report.delivered, report.duplicates, report.remaining) == (1, 0, 0)
        assert [(d.reason, d.length) for d in report.damaged] == [("torn", 100)]
        assert spool.flush(client).delivered == 0
        # Replaying it (as after a crash before compaction) and emitting it again change nothing.
        spool.append(first.event)
        assert spool.flush(client).duplicates == 1
        again = emit_event(first.event, client=client, spool=spool)
        assert again.outcome == "duplicate"
        assert again.verified
        ids = logged_ids(client)
        assert ids[first.event_id] == 1
        assert ids[second.event_id] == 0
        record = stored_record(client, first.event_id)
        assert record.input_context_sha == composite(INPUTS)
        assert record.run_status == "SUCCESS"
    assert spool.read().entries == ()
    assert [letter["kind"] for letter in spool.dead_letters()] == ["damaged"]


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_a_recorded_run_reads_back_with_its_digests_and_git_head(
    tmp_path: Path, client: LedgerClient
) -> None:
    workspace = make_workspace(tmp_path / "repo", INPUTS)
    git(workspace, "init", "--quiet")
    git(workspace, "add", ".")
    git(workspace, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    head = git(workspace, "rev-parse", "HEAD")
    make_workspace(workspace, OUTPUTS)
    spool = Spool(tmp_path / "spool")

    result = emit_run_record(
        server=client.target,
        spool=spool,
        agent="fixer-agent",
        status="SUCCESS",
        workspace=workspace,
        inputs=["src/app.py", workspace / "pyproject.toml"],
        outputs=["out/patch.diff"],
        status_before="failing",
        status_after="passing",
        started_at="2026-01-01T10:00:00Z",
        ended_at="2026-01-01T10:05:00Z",
        config={"model": "m", "temperature": 0},
        exit_code=0,
        notes="fixed it",
    )
    assert result.outcome == "recorded"
    assert result.verified
    assert result.error is None
    assert result.seq is not None
    assert result.seq >= 1
    assert not spool.path.exists()  # nothing was spooled

    record = stored_record(client, result.event_id)
    assert msgspec.to_builtins(record.input_files) == [
        {"path": "src/app.py", "sha256": sha(INPUTS["src/app.py"])},
        {"path": "pyproject.toml", "sha256": sha(INPUTS["pyproject.toml"])},
    ]
    assert msgspec.to_builtins(record.output_files) == [
        {"path": "out/patch.diff", "sha256": sha(OUTPUTS["out/patch.diff"])}
    ]
    assert record.input_context_sha == composite(INPUTS)
    assert record.git_head == head
    assert record.config_fingerprint == sha(b'{"model":"m","temperature":0}')
    assert (record.agent_name, record.status_before, record.status_after) == (
        "fixer-agent",
        "failing",
        "passing",
    )
    assert (record.started_at, record.ended_at, record.notes) == (
        "2026-01-01T10:00:00Z",
        "2026-01-01T10:05:00Z",
        "fixed it",
    )
    entry = client.get_event(event_id=result.event_id)
    assert entry.seq == result.seq
    assert (entry.event.stream, entry.event.producer) == ("runs/fixer-agent", "fixer-agent")
    assert result.to_dict()["git_head"] == head


def test_defaults_outside_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = make_workspace(tmp_path / "plain", {"a.txt": b"a"})
    if GIT is not None:
        # A hook run from inside a git hook inherits GIT_DIR; it must not report that repo.
        other = make_workspace(tmp_path / "other", {"b.txt": b"b"})
        git(other, "init", "--quiet")
        git(other, "add", ".")
        git(other, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
        monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    event = build_run_record(agent="docs-agent", status="SKIPPED", workspace=workspace)
    data = event.data
    assert data["git_head"] is None
    assert data["input_files"] == []
    assert data["input_context_sha"] == EMPTY_SHA
    assert data["config_fingerprint"] == sha(b"{}")
    assert data["started_at"] == data["ended_at"]
    assert (data["status_before"], data["status_after"]) == ("unknown", "unknown")
    assert event.stream == "runs/docs-agent"
    overridden = build_run_record(
        agent="docs-agent", status="SKIPPED", workspace=workspace, head="a" * 40
    )
    assert overridden.data["git_head"] == "a" * 40


def test_the_callers_mistakes_raise_and_nothing_is_spooled(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", {"a.txt": b"a"})
    (tmp_path / "outside.txt").write_bytes(b"x")
    spool = Spool(tmp_path / "spool")
    down = f"127.0.0.1:{free_port()}"

    def emit(**fields: object) -> EmitResult:
        return emit_run_record(  # type: ignore[misc]
            server=down,
            retry=FAST,
            spool=spool,
            **{"agent": "fixer-agent", "status": "SUCCESS", "workspace": workspace, **fields},
        )

    with pytest.raises(InvalidInput) as outside:
        emit(outputs=[tmp_path / "outside.txt"])
    assert outside.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(InvalidInput) as climbing:
        emit(inputs=["../outside.txt"])
    assert climbing.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(IoFailure) as missing:
        emit(inputs=["nope.txt"])
    assert missing.value.code is ErrorCode.FILE_UNREADABLE
    with pytest.raises(InvalidInput) as bad_agent:
        emit(agent="fixer agent")
    assert bad_agent.value.details["field"] == "$.data.agent_name"
    with pytest.raises(InvalidInput) as twice:
        emit(inputs=["a.txt", str(workspace / "a.txt")])
    assert twice.value.details["field"] == "$.data.input_files"
    with pytest.raises(InvalidInput) as strict:
        emit(best_effort={"entropy_sources": [], "seeds": {}})
    assert strict.value.details["field"] == "$.data.best_effort"
    with pytest.raises(InvalidInput):
        emit(config={"a": 1}, config_fingerprint="0" * 64)
    with pytest.raises(InvalidInput) as lone:
        emit(inputs="a.txt")
    assert lone.value.code is ErrorCode.INVALID_ARGUMENT
    assert not spool.path.exists()


def test_a_reused_run_id_raises_and_a_reemitted_event_is_a_duplicate(
    tmp_path: Path, client: LedgerClient
) -> None:
    workspace = make_workspace(tmp_path / "ws", {"a.txt": b"a"})
    spool = Spool(tmp_path / "spool")
    fields: dict[str, object] = {
        "agent": "test-agent",
        "status": "PARTIAL",
        "workspace": workspace,
        "run_id": "0190d4a2-7b1e-7c3a-9f00-1a2b3c4d5e6f",
    }
    event = build_run_record(**fields)  # type: ignore[arg-type]
    first = emit_event(event, client=client, spool=spool)
    assert first.outcome == "recorded"
    again = emit_event(event, client=client, spool=spool)
    assert (again.outcome, again.seq, again.verified) == ("duplicate", first.seq, True)
    with pytest.raises(StateContention) as reused:
        emit_run_record(client=client, spool=spool, **fields)  # type: ignore[arg-type]
    assert reused.value.code is ErrorCode.RUN_ALREADY_RECORDED
    assert not spool.path.exists()


def test_a_record_that_can_be_kept_nowhere_is_not_dropped_silently(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", {"a.txt": b"a"})
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(IoFailure) as nowhere:
        emit_run_record(
            server=f"127.0.0.1:{free_port()}",
            retry=FAST,
            spool=tmp_path / "a-file" / "spool",
            agent="fixer-agent",
            status="SUCCESS",
            workspace=workspace,
        )
    assert nowhere.value.code is ErrorCode.FILE_WRITE_FAILED
    assert "SERVER_UNAVAILABLE" in nowhere.value.message
    assert nowhere.value.details["ledger_error_code"] == "SERVER_UNAVAILABLE"


def test_a_busy_ledger_is_not_usable_now_so_the_record_is_spooled(tmp_path: Path) -> None:
    # DATA_DIR_LOCKED is state_contention, like a reused run id, but it says the ledger
    # cannot write now, not that the record is wrong: the agent must not fail for it.
    workspace = make_workspace(tmp_path / "ws", {"a.txt": b"a"})
    spool = Spool(tmp_path / "spool")
    busy = StateContention(ErrorCode.DATA_DIR_LOCKED, "data directory busy", hint="wait")
    with refusing_ledger(busy) as address:
        result = emit_run_record(
            server=address,
            retry=FAST,
            spool=spool,
            agent="fixer-agent",
            status="SUCCESS",
            workspace=workspace,
            inputs=["a.txt"],
        )
    assert (result.outcome, result.verified, result.seq) == ("spooled", False, None)
    assert result.error is not None
    assert result.error.code is ErrorCode.DATA_DIR_LOCKED
    assert [entry.event for entry in spool.read().entries] == [result.event]
    with (
        DaemonProcess(tmp_path / "served") as daemon,
        LedgerClient(daemon.address) as up,
    ):
        assert spool.flush(up).delivered == 1
        assert logged_ids(up)[result.event_id] == 1
