"""What the projections read of each payload: small, unchecked views of `data`.

Each view names only the members some fold reads, as the model spells them;
the log validated every event on append, so nothing is checked again here.
One reader per view, shared by every projection, so a fact several projections
fold (a run record feeds both `runs` and `health`) is decoded once.
"""

from __future__ import annotations

import msgspec

from ledger.projections.facts import PayloadReader


class Reported(msgspec.Struct, frozen=True, gc=False):
    finding_id: str
    subject: str
    severity: str
    evidence: str
    category: str
    file: str
    line: int | None
    what: str
    why: str
    when: str
    proposed_fix: str
    rule_id: str
    stage: str
    run_id: str


class Resolved(msgspec.Struct, frozen=True, gc=False):
    finding_id: str
    resolution: str
    resolved_by: str
    note: str = ""


class Granted(msgspec.Struct, frozen=True, gc=False):
    waiver_id: str
    finding_id: str
    risk: str
    owner: str
    justification: str
    mitigation: str
    expiry: str


class Revoked(msgspec.Struct, frozen=True, gc=False):
    waiver_id: str
    finding_id: str
    reason: str
    revoked_by: str


class Edit(msgspec.Struct, frozen=True, gc=False):
    type: str
    severity: str
    file: str
    line: int | None
    evidence: str


class Inspected(msgspec.Struct, frozen=True, gc=False):
    subject: str
    verdict: str
    automated: bool
    diff_sha256: str
    edits: list[Edit]
    summary: str
    allowed: list[Edit] = []


class Executed(msgspec.Struct, frozen=True, gc=False):
    subject: str
    probe: str
    command: str
    status: str
    exit_code: int | None
    duration_ms: int
    stdout_stderr_summary: str


class Evaluated(msgspec.Struct, frozen=True, gc=False):
    subject: str
    production_readiness: str
    correctness: str
    isolation: str
    blast_radius: str
    required_fixes_before_merge: list[str]
    evaluated_at: str
    strict: bool
    passed: bool


class Registered(msgspec.Struct, frozen=True, gc=False):
    source_id: str
    tier: str
    expected_interval_s: int
    failure_budget: float
    description: str = ""


class Checked(msgspec.Struct, frozen=True, gc=False):
    source_id: str
    ok: bool
    latency_ms: int
    error_code: str | None


class Suppression(msgspec.Struct, frozen=True, gc=False):
    suppression_id: str
    target: str
    reason: str
    owner: str
    expiry: str | None = None


class Recorded(msgspec.Struct, frozen=True, gc=False):
    run_id: str
    agent_name: str
    run_status: str
    status_before: str
    status_after: str
    started_at: str
    ended_at: str
    mode: str
    exit_code: int
    config_fingerprint: str
    git_head: str | None
    input_refs: list[str]
    output_refs: list[str]
    heal_reason: str | None = None
    #: Only in schema 1.1 and later; a 1.0 record names no subject.
    subject: str | None = None


REPORTED = PayloadReader(Reported)
RESOLVED = PayloadReader(Resolved)
GRANTED = PayloadReader(Granted)
REVOKED = PayloadReader(Revoked)
INSPECTED = PayloadReader(Inspected)
EXECUTED = PayloadReader(Executed)
EVALUATED = PayloadReader(Evaluated)
REGISTERED = PayloadReader(Registered)
CHECKED = PayloadReader(Checked)
SUPPRESSION = PayloadReader(Suppression)
RECORDED = PayloadReader(Recorded)
