"""The base class every typed event payload derives from."""

from __future__ import annotations

import msgspec


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A frozen, strictly decoded event payload; fields encode in declaration order.

    `gc=False` keeps 100,000s of them out of the cycle collector, which makes bulk
    imports markedly faster. Payloads hold only strings, numbers and containers of
    those, so a cycle would need someone to put a payload inside its own list; even
    then the cost is a leak, not wrong data.
    """
