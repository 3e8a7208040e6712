"""Contract kinds of specs/gate.md: the gate configuration and the gate's pass rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from gate.config import parse_gate_config
from gate.run import passes
from ledger.errors import LedgerError


def _member(document: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        document = document[int(part)] if isinstance(document, list | tuple) else document[part]
    return document


def check_gate_config(case: Any) -> None:
    spec = case.case
    if "error" in spec:
        with pytest.raises(LedgerError) as raised:
            parse_gate_config(spec["toml"])
        assert raised.value.code == spec["error"]
        assert spec.get("message", "") in raised.value.message
        return
    document = msgspec.to_builtins(parse_gate_config(spec["toml"]))
    for dotted, expected in spec["expect"].items():
        assert _member(document, dotted) == expected, dotted


def check_gate_decision(case: Any) -> None:
    spec = case.case
    assert passes(spec["readiness"], strict=spec["strict"]) is spec["passed"]


CHECKERS: dict[str, Callable[..., None]] = {
    "gate_config": check_gate_config,
    "gate_decision": check_gate_decision,
}
NEEDS_TMP: set[str] = set()
