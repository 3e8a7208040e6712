"""The base class every typed event payload derives from."""

from __future__ import annotations

import msgspec


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A frozen, strictly decoded event payload; fields encode in declaration order."""
