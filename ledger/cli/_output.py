"""How commands print: one JSON document (or line) under `--json`, readable text otherwise."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

_ENCODER = msgspec.json.Encoder()

# Markup and emoji codes are off: origins, paths and messages are data and may
# contain `[...]` or `:name:` (a valid origin like `log:smile:x` would print an emoji).
stdout = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)

_json_mode: ContextVar[bool | None] = ContextVar("ledgerctl_json_mode", default=None)


def remember_json_mode(value: bool) -> bool:
    """Record what the parsed `--json` flag said, for the error handler."""
    _json_mode.set(value)
    return value


def json_mode(args: list[str]) -> bool:
    """Whether errors go out as JSON: the parsed flag, or a plain scan if parsing failed."""
    parsed = _json_mode.get()
    return parsed if parsed is not None else "--json" in args


def b64(value: bytes) -> str:
    """Standard base64 text, as the proof and checkpoint JSON uses for hashes."""
    return base64.b64encode(value).decode("ascii")


def write_json(document: Mapping[str, Any]) -> None:
    """One compact JSON document on its own line of standard output."""
    sys.stdout.write(_ENCODER.encode(document).decode("utf-8") + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(label: str, *, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress callback `(done, total)`; draws on a terminal's stderr, silent elsewhere."""
    if not enabled or not stderr.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
