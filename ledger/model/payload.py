"""The base class every typed event payload derives from."""

from __future__ import annotations

import msgspec


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A frozen, strictly decoded event payload; fields encode in declaration order.

    `gc=False`: a frozen payload cannot take part in a reference cycle, and keeping
    100,000s of them out of the cycle collector makes bulk imports markedly faster.
    """
