"""Sources v1.0: the evidence sources a gate watches, their health and their suppressions.

`source.registered` declares a source and how much failure it may have;
`source.checked` records one observation of it; `suppression.added` and
`suppression.lifted` mute a source's failures for a while, with an owner.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ledger.model._rules import Identifier, Label, RequiredText, Text, UtcTime, parse_utc
from ledger.model.payload import Payload

SourceTier = Literal["required", "standard", "best_effort"]

#: Seconds between expected observations: 1 second to 365 days.
IntervalSeconds = Annotated[int, msgspec.Meta(ge=1, le=31_536_000)]
#: A fraction in [0, 1]. JSON integers are accepted (and stored as floats); the bounds
#: refuse NaN and infinities, which JSON cannot spell anyway.
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
#: Milliseconds an observation took: at most a day.
LatencyMs = Annotated[int, msgspec.Meta(ge=0, le=86_400_000)]


class SourceRegisteredV1(Payload, frozen=True):
    """`source.registered` schema 1.0: a source, its tier, cadence and failure budget."""

    source_id: Label
    tier: SourceTier
    expected_interval_s: IntervalSeconds
    #: The fraction of the source's last 20 observations allowed to fail.
    failure_budget: Fraction
    description: Text = ""


class SourceCheckedV1(Payload, frozen=True):
    """`source.checked` schema 1.0: one observation of a source, ok or with an error code."""

    source_id: Label
    ok: bool
    latency_ms: LatencyMs
    error_code: Label | None

    def __post_init__(self) -> None:
        if self.ok and self.error_code is not None:
            raise ValueError("`error_code` must be null when `ok` is true")
        if not self.ok and self.error_code is None:
            raise ValueError("`error_code` is required when `ok` is false")


class SuppressionAddedV1(Payload, frozen=True):
    """`suppression.added` schema 1.0: a source's failures muted until `expiry`."""

    suppression_id: Identifier
    target: Label
    reason: RequiredText
    owner: Label
    expiry: UtcTime

    def __post_init__(self) -> None:
        parse_utc(self.expiry, "expiry")


class SuppressionLiftedV1(Payload, frozen=True):
    """`suppression.lifted` schema 1.0: a suppression ended before its expiry."""

    suppression_id: Identifier
    target: Label
    reason: RequiredText
    owner: Label
