"""ProjectionQueries over a real log and engine: a few focused behaviours of each question.

Offline, as `ledgerctl` runs them: append to the log, `catch_up`, then ask. Times that
judge waivers and suppressions are passed explicitly (`AT`, the pinned clock's instant).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.errors import ErrorCode, InvalidInput
from ledger.model import Envelope
from ledger.projections import ProjectionEngine, ProjectionQueries
from ledger.store import LmdbEventLog
from lifecycle_events import (
    finding_reported,
    finding_resolved,
    run_recorded,
    source_checked,
    source_registered,
    suppression_added,
    suppression_lifted,
    uuid_for,
    waiver_granted,
    waiver_revoked,
)

AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
#: Two weeks on: after W-2 expired, before W-1 does.
LATER = datetime(2026, 1, 15, 0, 0, 0, tzinfo=UTC)
Append = Callable[[LmdbEventLog, list[Envelope]], list[int]]


@pytest.fixture
def queries(log: LmdbEventLog, engine: ProjectionEngine) -> ProjectionQueries:
    return ProjectionQueries(engine, log)


def refused(call: Callable[[], object], code: ErrorCode) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        call()
    assert raised.value.code is code, raised.value
    return raised.value


# Verdicts and findings ----------------------------------------------------------------------


def test_an_appended_finding_is_seen_once_the_engine_caught_up(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    assert queries.verdict("pr-7", at=AT)["known"] is False
    append(log, [finding_reported("F-1", "pr-7", severity="P0", category="security")])

    stale = queries.verdict("pr-7", at=AT)
    assert (stale["log_position"], stale["known"]) == (0, False)

    engine.catch_up()
    verdict = queries.verdict("pr-7", at=AT)
    assert verdict["log_position"] == 1
    assert verdict["as_of"] is None
    assert verdict["evaluated_at"] == "2026-01-01T12:00:00.000000Z"
    assert (verdict["known"], verdict["last_seq"]) == (True, 0)
    assert verdict["verdict"]["production_readiness"] == "not_ready"
    assert verdict["explanation"]["production_readiness"]["rule"] == "READY-1"
    assert [f["finding_id"] for f in verdict["findings"]["open"]] == ["F-1"]


def test_as_of_gives_the_verdict_from_before_a_later_resolution(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    append(log, [finding_reported("F-1", "pr-7", severity="P0", category="security")])
    append(log, [finding_resolved("F-1")])
    engine.catch_up()

    now = queries.verdict("pr-7", at=AT)
    assert now["verdict"]["production_readiness"] == "ready"
    assert [f["finding_id"] for f in now["findings"]["resolved"]] == ["F-1"]

    then = queries.verdict("pr-7", at=AT, as_of=0)
    assert (then["as_of"], then["log_position"]) == (0, 1)
    assert then["verdict"]["production_readiness"] == "not_ready"
    assert [f["finding_id"] for f in then["findings"]["open"]] == ["F-1"]
    assert then["findings"]["resolved"] == []

    # As of the last seq it is the current verdict.
    last = queries.verdict("pr-7", at=AT, as_of=1)
    assert {**last, "as_of": None} == now

    refused(lambda: queries.verdict("pr-7", at=AT, as_of=2), ErrorCode.INVALID_ARGUMENT)
    refused(lambda: queries.findings(at=AT, as_of=-1), ErrorCode.INVALID_ARGUMENT)


@pytest.fixture
def five_findings(log: LmdbEventLog, engine: ProjectionEngine, append: Append) -> None:
    """At LATER: F-open P1 open, F-waived P0 waived, F-expired P2 expired_waiver,
    F-resolved P0 resolved, F-revoked P3 open (its only waiver revoked); F-other on pr-8."""
    append(
        log,
        [
            finding_reported("F-open", "pr-7", severity="P1"),
            finding_reported("F-waived", "pr-7", severity="P0"),
            waiver_granted("W-1", "F-waived"),
            finding_reported("F-expired", "pr-7", severity="P2"),
            waiver_granted("W-2", "F-expired", expiry="2026-01-10T00:00:00Z"),
            finding_reported("F-resolved", "pr-7", severity="P0"),
            finding_resolved("F-resolved"),
            finding_reported("F-revoked", "pr-7", severity="P3"),
            waiver_granted("W-3", "F-revoked"),
            waiver_revoked("W-3", "F-revoked"),
            finding_reported("F-other", "pr-8", severity="P0"),
        ],
    )
    engine.catch_up()


def _ids(answer: dict[str, Any]) -> list[str]:
    return [finding["finding_id"] for finding in answer["findings"]]


@pytest.mark.usefixtures("five_findings")
def test_findings_are_filtered_by_status_severity_and_subject(
    queries: ProjectionQueries,
) -> None:
    every = queries.findings(at=LATER, subject="pr-7")
    statuses = {f["finding_id"]: f["status"] for f in every["findings"]}
    assert statuses == {
        "F-expired": "expired_waiver",
        "F-open": "open",
        "F-resolved": "resolved",
        "F-revoked": "open",
        "F-waived": "waived",
    }
    assert every["counts"] == {"open": 2, "waived": 1, "expired_waiver": 1, "resolved": 1}

    assert _ids(queries.findings(at=LATER, subject="pr-7", statuses=["open"])) == [
        "F-open",
        "F-revoked",
    ]
    assert _ids(queries.findings(at=LATER, severities=["P0"])) == [
        "F-resolved",
        "F-waived",
        "F-other",
    ]
    both = queries.findings(at=LATER, statuses=["open", "resolved"], severities=["P0", "P3"])
    assert _ids(both) == ["F-resolved", "F-revoked", "F-other"]
    assert both["counts"] == {"open": 2, "waived": 0, "expired_waiver": 0, "resolved": 1}
    # At the expiry instant W-2 no longer counts; a moment before, it does.
    before = datetime(2026, 1, 9, 23, 59, 59, tzinfo=UTC)
    assert _ids(queries.findings(at=before, statuses=["waived"])) == ["F-expired", "F-waived"]
    expiry = datetime(2026, 1, 10, 0, 0, 0, tzinfo=UTC)
    assert _ids(queries.findings(at=expiry, statuses=["waived"])) == ["F-waived"]
    assert queries.findings(at=LATER, subject="pr-unknown")["findings"] == []


@pytest.mark.usefixtures("five_findings")
@pytest.mark.parametrize(
    ("statuses", "severities", "field"),
    [(["closed"], [], "status"), (["open", "Open"], [], "status"), ([], ["P4"], "severity")],
)
def test_an_unknown_finding_filter_is_an_invalid_argument(
    queries: ProjectionQueries, statuses: list[str], severities: list[str], field: str
) -> None:
    error = refused(
        lambda: queries.findings(at=LATER, statuses=statuses, severities=severities),
        ErrorCode.INVALID_ARGUMENT,
    )
    assert error.details["field"] == field


# Health and suppressions --------------------------------------------------------------------


def test_health_of_an_unknown_source_is_not_found(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    append(log, [source_registered("ci-lint", expected_interval_s=7200), source_checked("ci-lint")])
    engine.catch_up()
    known = queries.health(at=AT, source="ci-lint")
    assert [s["source_id"] for s in known["sources"]] == ["ci-lint"]
    assert known["sources"][0]["status"] == "healthy"
    refused(lambda: queries.health(at=AT, source="no-such-source"), ErrorCode.NOT_FOUND)
    refused(lambda: queries.suppressions("no-such-source", at=AT), ErrorCode.NOT_FOUND)
    # A producer is a source too, known from its first event.
    assert [s["source_id"] for s in queries.health(at=AT)["sources"]] == ["ci-lint"]


def test_a_suppression_added_again_after_a_lift_is_active_in_every_view(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    """Lifting S-1 ends that suppression; adding S-1 again later starts a new one, which
    both the health view and the suppression history must show as active."""
    append(
        log,
        [
            source_registered("ci-lint"),
            suppression_added("S-1", "ci-lint", event_id="add-1"),
            suppression_lifted("S-1", "ci-lint"),
            suppression_added("S-1", "ci-lint", event_id="add-2", reason="migrating again"),
        ],
    )
    engine.catch_up()
    health = queries.health(at=AT, source="ci-lint")["sources"][0]
    assert health["suppressed_by"]["seq"] == 3
    history = queries.suppressions("ci-lint", at=AT)
    assert history["active"] == "S-1"
    assert [(e["seq"], e["action"]) for e in history["history"]] == [
        (1, "added"),
        (2, "lifted"),
        (3, "added"),
    ]
    added = [e["status_now"] for e in history["history"] if e["action"] == "added"]
    assert added == ["lifted", "active"]


# Runs, provenance and history ---------------------------------------------------------------


def test_runs_are_paged_newest_first_with_next_before_seq(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    runs = [
        run_recorded(
            uuid_for(f"page-{n}"),
            agent=("agent-a", "agent-b")[n % 2],
            status=("SUCCESS", "FAILED")[n % 3 == 2],
        )
        for n in range(7)
    ]
    seqs = append(log, runs)
    append(log, [finding_reported("F-1")])  # not a run: never listed
    engine.catch_up()
    newest_first = [uuid_for(f"page-{n}") for n in reversed(range(7))]

    pages: list[list[str]] = []
    before: int | None = None
    while True:
        page = queries.runs(limit=3, before_seq=before)
        assert page["log_position"] == 8
        pages.append([run["run_id"] for run in page["runs"]])
        before = page["next_before_seq"]
        if before is None:
            break
        assert before == page["runs"][-1]["seq"]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [run_id for page in pages for run_id in page] == newest_first

    agent_b = queries.runs(agent="agent-b", limit=2)
    assert [r["run_id"] for r in agent_b["runs"]] == [uuid_for("page-5"), uuid_for("page-3")]
    assert agent_b["next_before_seq"] == seqs[3]
    rest = queries.runs(agent="agent-b", limit=2, before_seq=agent_b["next_before_seq"])
    assert [r["run_id"] for r in rest["runs"]] == [uuid_for("page-1")]
    assert rest["next_before_seq"] is None
    failed = queries.runs(status="FAILED")
    assert [r["run_id"] for r in failed["runs"]] == [uuid_for("page-5"), uuid_for("page-2")]

    refused(lambda: queries.runs(status="BROKEN"), ErrorCode.INVALID_ARGUMENT)
    refused(lambda: queries.runs(limit=0), ErrorCode.INVALID_ARGUMENT)


def test_runs_of_a_subject_are_paged_from_its_own_index_and_agree_with_a_replay(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    runs = [
        run_recorded(
            uuid_for(f"subject-{n}"),
            agent=("healer", "gate")[n % 2],
            subject=(None, "pr-1", "pr-2")[n % 3],
            status=("SUCCESS", "FAILED")[n % 4 == 3],
        )
        for n in range(12)
    ]
    append(log, runs)
    engine.catch_up()
    of_pr1 = [uuid_for(f"subject-{n}") for n in reversed(range(12)) if n % 3 == 1]

    pages: list[str] = []
    before: int | None = None
    while True:
        page = queries.runs(subject="pr-1", limit=2, before_seq=before)
        assert all(run["subject"] == "pr-1" for run in page["runs"])
        pages.extend(run["run_id"] for run in page["runs"])
        before = page["next_before_seq"]
        if before is None:
            break
    assert pages == of_pr1
    # The stored index (read backwards from LMDB) and a replay (in memory) agree, filters too.
    for filters in ({"subject": "pr-2"}, {"subject": "pr-2", "agent": "gate"}, {"agent": "healer"},
                    {"subject": "pr-1", "status": "FAILED"}, {"before_seq": 7}):  # fmt: skip
        stored = queries.runs(limit=50, **filters)  # type: ignore[arg-type]
        replayed = queries.runs(limit=50, as_of=11, **filters)  # type: ignore[arg-type]
        assert stored["runs"] == replayed["runs"], filters
        assert stored["runs"], filters
    assert queries.runs(subject="pr-9")["runs"] == []


def test_provenance_follows_refs_and_run_ids_back_through_three_runs(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    first, second, third = (uuid_for(f"chain-{n}") for n in range(3))
    append(
        log,
        [
            run_recorded(first, agent="extractor", output_refs=["ref-a"]),  # seq 0
            run_recorded(second, agent="fixer", input_refs=["ref-a"], output_refs=["ref-b"]),
            finding_reported("F-1"),  # seq 2: not a run
            run_recorded(third, agent="tester", input_refs=["ref-b", first, "external"]),
            # Later producers of the same refs are not upstream of earlier runs.
            run_recorded(uuid_for("late"), output_refs=["ref-a", "ref-b", "external"]),
        ],
    )
    engine.catch_up()

    assert queries.run(third)["run"]["seq"] == 3
    answer = queries.replay(third)
    assert answer["run"]["seq"] == 3
    assert answer["run"]["input_refs"] == ["ref-b", first, "external"]
    assert answer["record"]["seq"] == 3
    assert answer["record"]["input_files"][0]["path"] == "src/app.py"
    provenance = answer["provenance"]
    assert provenance["unresolved_refs"] == ["external"]
    assert provenance["truncated"] is False
    upstream = provenance["upstream"]
    assert [(u["run_id"], u["via_ref"], u["depth"]) for u in upstream] == [
        (second, "ref-b", 1),
        (first, first, 1),
    ]
    via_second = upstream[0]["upstream"]
    assert [(u["run_id"], u["via_ref"], u["depth"], u["seq"]) for u in via_second] == [
        (first, "ref-a", 2, 0)
    ]
    assert via_second[0]["upstream"] == []
    assert upstream[1]["upstream"] == []

    assert queries.replay(first)["provenance"] == {
        "upstream": [],
        "unresolved_refs": [],
        "truncated": False,
    }


def test_provenance_is_cut_below_depth_16_and_says_so(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    """specs/projections.md §6.7: links go down to depth 16; one at depth 17 is left out
    and the provenance says `truncated: true`."""
    chain = [uuid_for(f"deep-{n}") for n in range(20)]
    append(
        log,
        [
            run_recorded(run_id, input_refs=[chain[n - 1]] if n else [])
            for n, run_id in enumerate(chain)
        ],
    )
    engine.catch_up()

    def depths(links: list[dict[str, Any]]) -> list[int]:
        found: list[int] = []
        while links:
            assert len(links) == 1
            found.append(links[0]["depth"])
            links = links[0]["upstream"]
        return found

    exactly = queries.replay(chain[16])["provenance"]  # 16 runs upstream of it
    assert depths(exactly["upstream"]) == list(range(1, 17))
    assert exactly["truncated"] is False
    deeper = queries.replay(chain[17])["provenance"]
    assert depths(deeper["upstream"]) == list(range(1, 17))
    assert deeper["truncated"] is True
    assert deeper["unresolved_refs"] == []


def test_run_of_an_unknown_id_is_not_found(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    refused(lambda: queries.run(uuid_for("nothing yet")), ErrorCode.NOT_FOUND)
    append(log, [run_recorded(uuid_for("known"))])
    refused(lambda: queries.run(uuid_for("known")), ErrorCode.NOT_FOUND)  # not folded yet
    engine.catch_up()
    assert queries.run(uuid_for("known"))["run"]["seq"] == 0
    refused(lambda: queries.run(uuid_for("unknown")), ErrorCode.NOT_FOUND)
    refused(lambda: queries.replay(uuid_for("unknown")), ErrorCode.NOT_FOUND)
    refused(lambda: queries.run(""), ErrorCode.INVALID_ARGUMENT)


def test_history_pages_a_stream_in_version_order(
    log: LmdbEventLog, queries: ProjectionQueries, append: Append
) -> None:
    stream = "waivers/F-1"
    events: list[Envelope] = []
    for n in range(5):
        events.append(waiver_granted(f"W-{n}", "F-1", stream=stream))
        events.append(source_checked("ci-lint", event_id=f"other-{n}"))  # another stream
    seqs = append(log, events)
    in_stream = seqs[0::2]

    pages: list[list[dict[str, Any]]] = []
    version = 1
    while True:
        page = queries.history(stream, from_version=version, limit=2)
        assert (page["stream"], page["log_position"], page["as_of"]) == (stream, 10, None)
        pages.append(page["events"])
        if page["next_version"] is None:
            break
        version = page["next_version"]
    assert [[e["version"] for e in page] for page in pages] == [[1, 2], [3, 4], [5]]
    flat = [event for page in pages for event in page]
    assert [e["seq"] for e in flat] == in_stream
    assert [e["type"] for e in flat] == ["waiver.granted"] * 5
    assert flat[0]["event_id"] == events[0].event_id
    assert flat[0]["recorded_at"] == "2026-01-01T12:00:00.000000Z"

    cut = queries.history(stream, as_of=in_stream[2], limit=2, from_version=3)
    assert [e["version"] for e in cut["events"]] == [3]
    assert cut["next_version"] is None
    assert queries.history("no/such/stream")["events"] == []
    refused(lambda: queries.history(stream, from_version=0), ErrorCode.INVALID_ARGUMENT)
    refused(lambda: queries.history(stream, limit=0), ErrorCode.INVALID_ARGUMENT)


def test_sources_are_listed_by_id_even_when_long_ids_are_stored_by_digest(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    # Ids over 160 bytes are keyed by their digest, which sorts apart from the id.
    long_id = "z" * 190
    append(log, [source_checked(long_id), source_checked("a-src"), source_checked("m-src")])
    engine.catch_up()
    listed = [s["source_id"] for s in queries.health(at=AT)["sources"]]
    assert listed == ["a-src", "m-src", long_id]
    replayed = [s["source_id"] for s in queries.health(at=AT, as_of=log.size() - 1)["sources"]]
    assert replayed == listed


def test_damaged_projection_state_is_a_storage_failure_and_a_rebuild_mends_it(
    log: LmdbEventLog, engine: ProjectionEngine, queries: ProjectionQueries, append: Append
) -> None:
    from ledger.errors import IoFailure
    from ledger.projections.state import state_key

    append(log, [source_checked("ci-lint")])
    engine.catch_up()
    good = queries.health(at=AT)
    # Overwrite the source's row with bytes that are no row.
    db = engine._dbs["health"]
    with engine._env.begin(write=True) as txn:
        txn.put(state_key("R", "ci-lint"), b"\xc1 not a row", db=db)
    with pytest.raises(IoFailure) as raised:
        queries.health(at=AT)
    assert raised.value.code is ErrorCode.STORAGE_FAILURE
    assert "rebuild" in raised.value.hint
    engine.rebuild(["health"])
    assert queries.health(at=AT) == good


def test_a_replay_input_path_with_a_nul_is_missing_not_a_crash(tmp_path: Any) -> None:
    from ledger.projections.replay import check_inputs

    (tmp_path / "a").write_text("x")
    checked = check_inputs([{"path": "a\x00b", "sha256": "0" * 64}], tmp_path)
    assert checked[0]["status"] == "missing"
    assert "NUL" in checked[0]["reason"]
