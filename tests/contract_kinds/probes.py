"""Checkers for specs/probes.md: `redaction` (the redactor) and `probe_run` (running a probe).

`redaction` cases give `text` (expected: `expect`) or `argv` (expected: the display
`command`), with an optional `environ` and `extra` patterns. `probe_run` cases give
an `argv` where `{python}` stands for the interpreter running the tests, optional
probe keys (`timeout_s`, `output_cap_bytes`, `env_allow`, `env`, `cwd`), `defaults`
(the `[probes]` table), the gate's `environ` (default empty) and `dirs` to create
in the work tree; `expect` holds `status`, `exit_code`, `summary` (exact),
`contains` / `absent` (substrings), `truncated`, or `error_code` when the probe is
refused before it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gate.config import ProbeDefaults, ProbeSpec
from gate.probes import display_command, run_probe
from gate.redact import Redactor
from ledger.errors import LedgerError

_PROBE_KEYS = ("timeout_s", "output_cap_bytes", "env_allow", "env", "cwd")


def check_redaction(case: Any) -> None:
    c = case.case
    redactor = Redactor.from_environ(c.get("environ") or {}, c.get("extra") or ())
    if "argv" in c:
        assert display_command(c["argv"], redactor) == c["command"]
    else:
        assert redactor.redact(c["text"]) == c["expect"]


def check_probe_run(case: Any, tmp_path: Path) -> None:
    c = case.case
    expect = c["expect"]
    workdir = tmp_path / "repo"
    workdir.mkdir()
    for directory in c.get("dirs") or []:
        (workdir / directory).mkdir(parents=True)
    argv = [arg.replace("{python}", sys.executable) for arg in c["argv"]]
    table = {"name": "probe", "argv": argv, **{k: c[k] for k in _PROBE_KEYS if k in c}}
    spec = msgspec.convert(table, ProbeSpec)
    defaults = msgspec.convert(c.get("defaults") or {}, ProbeDefaults)
    environ = c.get("environ") or {}
    if "error_code" in expect:
        with pytest.raises(LedgerError) as caught:
            run_probe(spec, defaults, workdir=workdir, environ=environ)
        assert caught.value.code == expect["error_code"], caught.value
        return
    result = run_probe(spec, defaults, workdir=workdir, environ=environ)
    assert (result.status, result.exit_code) == (expect["status"], expect["exit_code"]), result
    if "summary" in expect:
        assert result.summary == expect["summary"]
    for text in expect.get("contains") or []:
        assert text in result.summary, (text, result.summary)
    for text in expect.get("absent") or []:
        assert text not in result.summary, (text, result.summary)
        assert text not in result.command, (text, result.command)
    if "truncated" in expect:
        assert result.truncated is expect["truncated"]
    payload = result.to_payload("contract", None)
    assert (payload.status, payload.exit_code) == (result.status, result.exit_code)


CHECKERS: dict[str, Callable[..., None]] = {
    "redaction": check_redaction,
    "probe_run": check_probe_run,
}
NEEDS_TMP = {"probe_run"}
