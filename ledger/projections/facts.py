"""Stored leaves read cheaply for folding: the envelope members plus `data` left raw.

Projections re-read the whole log on every rebuild, so they cannot afford the
full validation an append pays (pattern checks, run-record digests). The log
validated every event when it was appended and `ledgerctl verify` audits it, so
here a leaf is decoded without constraints and each projection decodes only the
payload members it reads, through its own small view struct.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from ledger.clock import format_utc
from ledger.errors import ErrorCode, VerificationFailed


class Fact(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One stored event as a projection sees it: where and when it landed, and what it is."""

    seq: int
    recorded_at: str
    event_id: str
    stream: str
    type: str
    schema_version: str
    occurred_at: str
    producer: str
    data: msgspec.Raw


_FACT = msgspec.json.Decoder(Fact)
_View = TypeVar("_View", bound=msgspec.Struct)


def read_fact(seq: int, leaf_bytes: bytes) -> Fact:
    """Decode the envelope members of stored leaf bytes; damage is named by seq."""
    try:
        fact = _FACT.decode(leaf_bytes)
    except (msgspec.MsgspecError, RecursionError) as exc:
        raise _unreadable(seq, str(exc)) from None
    if fact.seq != seq:
        raise _unreadable(seq, f"it says seq {fact.seq}")
    return fact


class PayloadReader(Generic[_View]):
    """Decodes `data` into one view struct; build one per view type and reuse it."""

    def __init__(self, view: type[_View]) -> None:
        self._decoder: msgspec.json.Decoder[_View] = msgspec.json.Decoder(view)
        # Projections fold each fact in turn, so the last one read is the one asked again.
        self._last: tuple[Fact, _View] | None = None

    def read(self, fact: Fact) -> _View:
        last = self._last
        if last is not None and last[0] is fact:
            return last[1]
        try:
            view = self._decoder.decode(fact.data)
        except (msgspec.MsgspecError, RecursionError) as exc:
            raise _unreadable(fact.seq, f"its {fact.type} data: {exc}") from None
        self._last = (fact, view)
        return view


def _unreadable(seq: int, why: str) -> VerificationFailed:
    return VerificationFailed(
        ErrorCode.LEAF_UNREADABLE,
        f"seq {seq}: stored leaf does not parse for projection: {why}",
        hint="the data directory is damaged; run `ledgerctl verify` and restore it",
        details={"seq": seq},
    )


def effective_at(fact: Fact) -> str:
    """When an event takes effect: the producer's time, but never after the ledger's.

    An observation, a waiver or a suppression counts from then. Capped by
    `recorded_at`, so a producer whose clock runs ahead can neither keep its
    source fresh nor grant a waiver for later; normalised to six fractional
    digits, so times compare as text.
    """
    return min(normalised_time(fact.occurred_at), fact.recorded_at)


def normalised_time(value: str) -> str:
    """A stored `UtcTime` (`...:SS[.f{1,6}]Z`) with exactly six fractional digits."""
    # The log only holds times matching the UtcTime pattern, so padding is exact.
    if len(value) == 20:
        return value[:-1] + ".000000Z"
    if len(value) < 27 and value[19] == ".":
        return value[:-1].ljust(26, "0") + "Z"
    return format_utc(datetime.fromisoformat(value))
