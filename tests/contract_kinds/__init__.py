"""Checkers for contract-spec kinds that live beside the code they test.

Each module here exports `CHECKERS` (kind -> checker) and `NEEDS_TMP` (the kinds
whose checker takes a `tmp_path` too); tests/test_spec_contracts.py merges them.
A kind defined twice is an error, so two modules can never shadow each other.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any


def discover() -> tuple[dict[str, Callable[..., Any]], set[str]]:
    checkers: dict[str, Callable[..., Any]] = {}
    needs_tmp: set[str] = set()
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for kind, checker in module.CHECKERS.items():
            if kind in checkers:
                raise ValueError(f"contract kind {kind!r} is defined twice")
            checkers[kind] = checker
        needs_tmp |= set(getattr(module, "NEEDS_TMP", ()))
    return checkers, needs_tmp
