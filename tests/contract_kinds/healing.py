"""The `healing` contract kind (specs/verdicts.md §7): healing outcomes in the verdict view.

Each case appends its short-hand `events` (as the `verdict` kind does,
tests/projection_cases.py), folds them, and reads the verdict on `subject`
(default `pr-7`). Whatever the case expects, the checker also holds the document
to the rules of §7 that need no case of their own:

- every projection replayed in memory equals its stored state, and the view as
  of the last seq equals the current one;
- healers are listed by agent name; `stuck` is set exactly when `stuck_because`
  is, `outcome` is `stuck` for a stuck healer and its last run's `heal_reason`
  otherwise, and `repeated_fingerprint` is set exactly when the healer is stuck
  for repeated findings; `stuck_runs` is the documented N;
- `latest` is the healing run with the highest seq, with its healer's outcome;
- the latest healing run faced the findings the verdict as of the seq before it
  lists as not resolved: its `unresolved_findings` counts them, and its
  `findings_fingerprint` is computed here from those finding objects by §7.1 as
  written, not by the ledger's code.

`expect` may name `latest` (null, or members it must have), `healers` (one
mapping of members per healer, in order), `known`, `last_seq` and `verdict`
(members of the verdict object, to show the quintet is untouched).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import projection_cases as pc
from ledger.projections.verdict_rules import STUCK_RUNS

_EXPECT = {"latest", "healers", "known", "last_seq", "verdict"}
_AT = "2026-03-01T00:00:00Z"
_UNRESOLVED = ("open", "waived", "expired_waiver")
_DOMAIN = b"ledgerd-findings-fingerprint/1\n"


def _field(text: str) -> bytes:
    raw = text.encode("utf-8")
    return len(raw).to_bytes(4, "big") + raw


def fingerprint(findings: Sequence[Mapping[str, Any]]) -> str | None:
    """§7.1 from finding objects: null for none, else SHA-256 of the count and the sum."""
    if not findings:
        return None
    total = 0
    for f in findings:
        line = "" if f["line"] is None else str(f["line"])
        parts = (f["finding_id"], f["severity"], f["rule_id"], f["file"], line, f["what"])
        digest = hashlib.sha256(b"".join(_field(part) for part in parts)).digest()
        total = (total + int.from_bytes(digest, "big")) % (1 << 256)
    body = len(findings).to_bytes(8, "big") + total.to_bytes(32, "big")
    return hashlib.sha256(_DOMAIN + body).hexdigest()


def _unresolved(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for status in _UNRESOLVED for f in document["findings"][status]]


def _check_invariants(healing: Mapping[str, Any]) -> None:
    assert healing["stuck_runs"] == STUCK_RUNS
    healers = healing["healers"]
    assert [h["agent_name"] for h in healers] == sorted(h["agent_name"] for h in healers)
    for healer in healers:
        stuck = healer["stuck"]
        assert stuck is (healer["stuck_because"] is not None), healer
        assert healer["outcome"] == ("stuck" if stuck else healer["heal_reason"]), healer
        repeated = healer["stuck_because"] == "repeated_findings"
        assert repeated is (healer["repeated_fingerprint"] is not None), healer
        assert healer["runs_considered"] == len(healer["run_ids"]) <= STUCK_RUNS
    latest = healing["latest"]
    if not healers:
        assert latest is None
        return
    newest = max(healers, key=lambda h: h["last_seq"])
    assert latest is not None
    assert (latest["seq"], latest["agent_name"]) == (newest["last_seq"], newest["agent_name"])
    assert latest["outcome"] == newest["outcome"]
    assert latest["run_id"] == newest["run_ids"][-1]


def check_healing(case: Any, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    assert set(expect) <= _EXPECT, set(expect) - _EXPECT
    at = pc.parse_time(c.get("at", case.block.get("at", _AT)))
    subject = c.get("subject", pc.SUBJECT)
    with pc.ledger(tmp_path / "data", c["events"]) as ledger:
        ledger.assert_replay_agrees()
        doc = ledger.queries.verdict(subject, at=at)
        replayed = ledger.queries.verdict(subject, at=at, as_of=ledger.last_seq)
        assert pc.without(replayed, "as_of") == pc.without(doc, "as_of")
        latest = doc["healing"]["latest"]
        if latest is not None:
            # What the latest healing run faced: the findings as of the seq before it.
            seq = latest["seq"]
            before = ledger.queries.verdict(subject, at=at, as_of=seq - 1) if seq > 0 else None
            found = _unresolved(before) if before is not None else []
            assert latest["unresolved_findings"] == len(found)
            assert latest["findings_fingerprint"] == fingerprint(found)
    healing = doc["healing"]
    _check_invariants(healing)
    for key, value in expect.items():
        if key == "latest":
            if value is None:
                assert latest is None
            else:
                assert latest is not None
                pc.assert_subset(value, latest, "healing.latest")
        elif key == "healers":
            assert len(healing["healers"]) == len(value), healing["healers"]
            for index, (wanted, got) in enumerate(zip(value, healing["healers"], strict=True)):
                pc.assert_subset(wanted, got, f"healing.healers[{index}]")
        elif key == "verdict":
            pc.assert_subset(value, doc["verdict"], "verdict")
        else:
            assert doc[key] == value, key


CHECKERS: dict[str, Callable[..., None]] = {"healing": check_healing}
NEEDS_TMP = {"healing"}
