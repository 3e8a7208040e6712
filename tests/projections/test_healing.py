"""Healing runs in the projections: what the fold keeps, how healers are judged, and the
producers that write run records with a subject (specs/verdicts.md §7, run-record-v1.md).

The verdict view's contract cases are in specs/verdicts.md (`healing` kind); here are the
fold-level properties behind them: the running sum of a subject's unresolved findings
always equals the sum computed afresh from its finding rows, a healer keeps only its
last HEAL_WINDOW runs, incremental, rebuilt and replayed states agree, and the judgement
of a healer as a pure function of its rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients import Spool, build_run_record, emit_run_record
from clients.retry import RetryPolicy
from conftest import json_lines, run_ledgerctl
from daemon import free_port
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope, RunRecordV1_1, decode_envelope, encode_envelope
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.projections import subjects as subjects_table
from ledger.projections.state import StateReader
from ledger.projections.subjects import (
    HEAL_WINDOW,
    NO_OPEN_FINDINGS,
    HealerRow,
    HealRun,
    OpenFindings,
    finding_digest,
)
from ledger.projections.verdict_rules import STUCK_RUNS, judge_healer
from ledger.store import AppendRequest, LmdbEventLog
from lifecycle_events import (
    finding_reported,
    finding_resolved,
    run_recorded,
    uuid_for,
    waiver_granted,
)

AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
Append = Callable[[LmdbEventLog, Sequence[Envelope]], list[int]]
Digests = Callable[[ProjectionEngine], dict[str, str]]
ReplayDigests = Callable[[ProjectionEngine, int], dict[str, str]]


def healing_run(name: str, subject: str = "pr-7", **kwargs: object) -> Envelope:
    """A schema 1.1 run of `subject` that failed its tests, unless told otherwise."""
    kwargs.setdefault("heal_reason", "test_failed")
    return run_recorded(uuid_for(name), subject=subject, **kwargs)  # type: ignore[arg-type]


def summed_afresh(state: StateReader, subject: str) -> OpenFindings:
    """The subject's unresolved findings summed up from its finding rows (§7.1)."""
    rows = subjects_table.subject_state(state, subject).findings
    unresolved = [row for row in rows if not row.resolved]
    total = sum(finding_digest(row) for row in unresolved) % (1 << 256)
    return OpenFindings(count=len(unresolved), total=total.to_bytes(32, "big"))


# The fold -----------------------------------------------------------------------------------


def test_the_running_sum_equals_the_sum_of_the_finding_rows_after_every_event(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    events = [
        finding_reported("F-1", "pr-7"),
        finding_reported("F-2", "pr-7", severity="P1", line=4),
        finding_reported("F-1", "pr-7", what="still wrong"),  # a re-report changes F-1
        finding_reported("F-2", "pr-8"),  # a conflicting report changes nothing
        finding_resolved("F-1"),
        finding_resolved("F-1", resolution="obsolete"),  # resolved twice: counted off once
        finding_resolved("F-ghost"),
        waiver_granted("W-1", "F-2"),
        finding_reported("F-1", "pr-7", event_id="reopen"),  # reopened: counted again
        finding_reported("F-3", "pr-8"),
        finding_resolved("F-2"),
        finding_resolved("F-1", event_id="again"),
    ]
    counts = {"pr-7": [], "pr-8": []}
    for event in events:
        append(log, [event])
        engine.catch_up()
        with engine.view("verdicts") as view:
            for subject, seen in counts.items():
                stored = subjects_table.subject_state(view.state, subject).open_findings
                assert stored == summed_afresh(view.state, subject), (event.event_id, subject)
                seen.append(stored.count)
    assert counts["pr-7"] == [1, 2, 2, 2, 1, 1, 1, 1, 2, 2, 1, 0]
    assert counts["pr-8"] == [0] * 9 + [1] * 3
    # Back to no unresolved finding: the same row as never having had one.
    with engine.view("verdicts") as view:
        assert subjects_table.subject_state(view.state, "pr-7").open_findings == NO_OPEN_FINDINGS
        assert NO_OPEN_FINDINGS.fingerprint is None


def test_a_healer_keeps_its_last_window_of_runs_and_each_faced_what_was_open(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    append(log, [finding_reported("F-1", "pr-7")])
    seqs = [append(log, [healing_run(f"run-{n}")])[0] for n in range(HEAL_WINDOW + 4)]
    append(log, [finding_resolved("F-1"), healing_run("last", heal_reason="ship")])
    engine.catch_up()
    with engine.view("verdicts") as view:
        state = subjects_table.subject_state(view.state, "pr-7")
    (healer,) = state.healers
    assert healer.agent_name == "fixer-agent"
    assert len(healer.runs) == HEAL_WINDOW
    assert [run.seq for run in healer.runs] == [*seqs[-(HEAL_WINDOW - 1) :], seqs[-1] + 2]
    assert [run.run_id for run in healer.runs[-2:]] == [uuid_for("run-19"), uuid_for("last")]
    faced = {(run.unresolved, run.fingerprint is None) for run in healer.runs[:-1]}
    assert faced == {(1, False)}
    assert (healer.runs[-1].unresolved, healer.runs[-1].fingerprint) == (0, None)
    assert state.last_seq == seqs[-1] + 2


def test_incremental_rebuilt_and_replayed_states_agree_with_healing_runs(
    log: LmdbEventLog,
    engine: ProjectionEngine,
    append: Append,
    digests: Digests,
    replayed: ReplayDigests,
) -> None:
    events = [
        finding_reported("F-1", "pr-7"),
        healing_run("a-1"),
        finding_reported("F-2", "pr-7"),
        healing_run("b-1", agent="healer-b"),
        healing_run("a-2"),
        run_recorded(uuid_for("plain"), heal_reason="ship"),  # 1.0: no subject
        healing_run("a-3", subject="pr-8", heal_reason="stuck"),
        finding_resolved("F-1"),
        healing_run("a-4", heal_reason="ship"),
    ]
    states = []
    for event in events:
        append(log, [event])
        engine.catch_up()
        states.append(digests(engine))
    for seq, seen in enumerate(states):
        assert replayed(engine, seq) == seen, seq
    assert engine.rebuild() == dict.fromkeys(engine.names, len(events))
    assert digests(engine) == states[-1]


def test_a_healing_run_moves_the_verdicts_projection_and_a_plain_run_does_not(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append, digests: Digests
) -> None:
    append(log, [finding_reported("F-1", "pr-7")])
    engine.catch_up()
    before = digests(engine)
    append(log, [run_recorded(uuid_for("plain"), heal_reason="stuck")])
    append(log, [run_recorded(uuid_for("no-reason"), subject="pr-7")])
    engine.catch_up()
    middle = digests(engine)
    assert middle["verdicts"] == before["verdicts"]
    assert middle["runs"] != before["runs"]
    append(log, [healing_run("healing")])
    engine.catch_up()
    assert digests(engine)["verdicts"] != middle["verdicts"]


# Judging a healer ----------------------------------------------------------------------------


def _run(seq: int, fingerprint: str | None, heal_reason: str = "test_failed") -> HealRun:
    return HealRun(
        seq=seq,
        run_id=f"run-{seq}",
        run_status="FAILED",
        heal_reason=heal_reason,
        fingerprint=fingerprint,
        unresolved=0 if fingerprint is None else 1,
        recorded_at="2026-01-01T12:00:00.000000Z",
        producer="fixer-agent",
    )


def _healer(*runs: HealRun) -> HealerRow:
    return HealerRow(agent_name="fixer-agent", runs=runs)


@pytest.mark.parametrize(
    ("fingerprints", "current", "because"),
    [
        (["a", "a", "a"], "a", "repeated_findings"),
        (["b", "a", "a", "a"], "a", "repeated_findings"),
        (["a", "a"], "a", None),  # fewer runs than STUCK_RUNS
        (["a", "b", "a"], "a", None),
        (["a", "a", "a"], "b", None),  # the findings moved after the last run
        (["a", "a", "a"], None, None),  # and were all resolved
        ([None, None, None], None, None),  # nothing to heal is success
    ],
)
def test_stuck_for_repeated_findings(
    fingerprints: list[str | None], current: str | None, because: str | None
) -> None:
    row = _healer(*(_run(seq, f) for seq, f in enumerate(fingerprints)))
    judged = judge_healer(row, current)
    assert judged.stuck_because == because
    assert judged.stuck is (because is not None)
    assert judged.repeated_fingerprint == (current if because else None)
    assert judged.outcome == ("stuck" if because else "test_failed")
    assert judged.considered == row.runs[-STUCK_RUNS:]


def test_a_last_run_that_says_stuck_is_stuck_and_repetition_is_named_first() -> None:
    said = judge_healer(_healer(_run(0, "a"), _run(1, "b", "stuck")), "b")
    assert (said.stuck_because, said.outcome, said.repeated_fingerprint) == (
        "reported",
        "stuck",
        None,
    )
    both = judge_healer(_healer(*(_run(s, "a", "stuck") for s in range(3))), "a")
    assert (both.stuck_because, both.repeated_fingerprint) == ("repeated_findings", "a")
    earlier = judge_healer(_healer(_run(0, "a", "stuck"), _run(1, "a", "ship")), "a")
    assert (earlier.stuck, earlier.outcome) == (False, "ship")


# Run rows -------------------------------------------------------------------------------------


def test_run_objects_carry_the_subject_and_a_1_1_run_replays(
    log: LmdbEventLog, engine: ProjectionEngine, append: Append
) -> None:
    append(log, [run_recorded(uuid_for("old")), healing_run("new", output_refs=["patch-1"])])
    append(log, [run_recorded(uuid_for("next"), input_refs=["patch-1"], subject="pr-7")])
    engine.catch_up()
    queries = ProjectionQueries(engine, log)
    listed = queries.runs()["runs"]
    assert [(r["run_id"], r["subject"]) for r in listed] == [
        (uuid_for("next"), "pr-7"),
        (uuid_for("new"), "pr-7"),
        (uuid_for("old"), None),
    ]
    assert list(listed[0])[14:17] == ["git_head", "subject", "heal_reason"]
    assert queries.run(uuid_for("old"), as_of=0)["run"]["subject"] is None
    replay = queries.replay(uuid_for("next"))
    assert replay["run"]["subject"] == "pr-7"
    assert [link["run_id"] for link in replay["provenance"]["upstream"]] == [uuid_for("new")]


# Producers -------------------------------------------------------------------------------------


def _build(workspace: Path, **kwargs: object) -> Envelope:
    event = build_run_record(
        agent="fixer-agent",
        status="FAILED",
        workspace=workspace,
        heal_reason="test_failed",
        detect_git_head=False,
        **kwargs,  # type: ignore[arg-type]
    )
    return decode_envelope(event.to_json())


def test_the_hook_writes_1_1_with_a_subject_and_1_0_without(
    tmp_path: Path, log: LmdbEventLog, engine: ProjectionEngine
) -> None:
    with_subject = _build(tmp_path, subject="github.com/acme/app/pull/7")
    assert with_subject.schema_version == "1.1"
    assert isinstance(with_subject.data, RunRecordV1_1)
    assert with_subject.data.subject == "github.com/acme/app/pull/7"
    without = _build(tmp_path)
    assert without.schema_version == "1.0"
    assert "subject" not in json.loads(encode_envelope(without))["data"]
    with pytest.raises(InvalidInput) as raised:
        _build(tmp_path, subject="pr-7\nand more")
    assert raised.value.code is ErrorCode.INVALID_EVENT
    assert raised.value.details["field"] == "$.data.subject"

    log.append([AppendRequest(with_subject), AppendRequest(without)])
    engine.catch_up()
    healing = ProjectionQueries(engine, log).verdict("github.com/acme/app/pull/7", at=AT)
    assert healing["known"] is True
    latest = healing["healing"]["latest"]
    assert (latest["seq"], latest["outcome"], latest["unresolved_findings"]) == (
        0,
        "test_failed",
        0,
    )


def test_emit_run_record_passes_the_subject_on_even_into_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    result = emit_run_record(
        agent="fixer-agent",
        status="PARTIAL",
        workspace=tmp_path,
        heal_reason="stuck",
        subject="pr-7",
        detect_git_head=False,
        server=f"127.0.0.1:{free_port()}",
        retry=RetryPolicy(max_attempts=1, overall_deadline_s=1.0, call_timeout_s=1.0),
        spool=spool,
    )
    assert result.outcome == "spooled"
    (kept,) = spool.read().entries
    assert kept.event is not None
    assert (kept.event.schema_version, kept.event.data["subject"]) == ("1.1", "pr-7")


def test_ledgerctl_emit_run_takes_a_subject(tmp_path: Path) -> None:
    env = {"LEDGER_SPOOL": str(tmp_path / "spool")}
    args = [
        "emit",
        "run",
        "--agent",
        "fixer-agent",
        "--status",
        "FAILED",
        "--workspace",
        str(tmp_path),
        "--heal-reason",
        "test_failed",
        "--no-git-head",
        "--server",
        f"127.0.0.1:{free_port()}",
        "--retry-deadline",
        "1",
        "--json",
    ]
    bad = run_ledgerctl(*args, "--subject", "pr-7\u2028more", env=env)
    (refused,) = json_lines(bad.stdout)
    assert (refused["error_code"], refused["details"]["field"]) == (
        "INVALID_EVENT",
        "$.data.subject",
    )
    done = run_ledgerctl(*args, "--subject", "pr-7", env=env)
    assert done.returncode == 0, done.stderr
    (emitted,) = json_lines(done.stdout)
    assert emitted["outcome"] == "spooled"
    (kept,) = Spool(tmp_path / "spool").read().entries
    assert kept.event is not None
    assert (kept.event.schema_version, kept.event.data["subject"]) == ("1.1", "pr-7")
