"""Running one probe: a configured command, its outcome, and a redacted summary of its output.

`run_probe` starts the probe's argv (never through a shell) in its own session,
with an allow-listed environment, in a directory inside the work tree; enforces
its timeout by signalling the whole process group; reads its merged stdout and
stderr with bounded memory; and returns a `ProbeResult` whose command line and
summary are redacted (gate.redact), ready to record as `command.executed`.
specs/probes.md is the contract: statuses, exit codes, the summary's format.

POSIX only: process groups, `os.killpg` and `os.waitid` have no Windows analogue.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gate.config import ProbeDefaults, ProbeSpec
from gate.redact import Redactor
from ledger.errors import ErrorCode, InvalidInput
from ledger.model.gate_records import CommandExecutedV1, CommandStatus

#: After SIGTERM, how long the process group has to exit before SIGKILL.
KILL_GRACE_S = 2.0
#: `Text`'s limit (ledger/model/_rules.py): no summary is longer, whatever the cap.
SUMMARY_MAX_CHARS = 16_384
#: `TextLine`'s limit: the display command line is cut to it.
COMMAND_MAX_CHARS = 512
#: Smallest allowed output cap (gate/config.py): room for the markers and notes.
MIN_OUTPUT_CAP_BYTES = 256

# Once the probe exited, how long processes it left behind may hold the pipe
# open before its group is killed, and how long reading goes on after that (a
# process that left the group with setsid cannot be killed through it).
_DRAIN_S = 0.2
_ABANDON_S = 1.0
# How often the runner checks whether the probe exited while no output arrives.
_POLL_S = 0.02
_READ_CHUNK = 1 << 16
# Room kept in the summary for the `[… N bytes omitted …]` line and its newlines.
_MARKER_ROOM = 48
_ELLIPSIS = "…"

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC: titles, hyperlinks
    r"|\x1b[ -/]+[0-~]"  # nF: character set selection
    r"|\x1b[0-~]"  # any other two-character escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_SUMMARY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WHITESPACE = re.compile(rb"[ \t\r\n\x0b\x0c]")


@dataclass(frozen=True)
class ProbeResult:
    """How one probe ended, with its command line and output summary already redacted."""

    name: str
    #: The argv as configured (not redacted: it never leaves the process; `command` does).
    argv: tuple[str, ...]
    #: The display line: the redacted argv, shell-quoted, on one line of at most 512 chars.
    command: str
    status: CommandStatus
    #: The exit status; 128 + N when killed by signal N; None for `timed_out` and `error`.
    exit_code: int | None
    duration_ms: int
    #: Merged stdout and stderr: cleaned, redacted, head and tail when over the cap.
    summary: str
    #: How many bytes the probe wrote in all (stdout and stderr together).
    output_bytes: int
    #: Whether part of the output is not in the summary.
    truncated: bool

    def to_payload(self, subject: str, run_id: str | None) -> CommandExecutedV1:
        """The `command.executed` payload recording this result (INVALID_ARGUMENT if unfit)."""
        fields = {
            "subject": subject,
            "probe": self.name,
            "command": self.command,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "stdout_stderr_summary": self.summary,
            "run_id": run_id,
        }
        try:
            return msgspec.convert(fields, CommandExecutedV1)
        except msgspec.ValidationError as exc:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"probe {self.name!r} cannot be recorded as command.executed: {exc}",
                hint="the subject must be one line of text and the run id a UUID",
                details={"probe": self.name},
            ) from None


def display_command(argv: Sequence[str], redactor: Redactor) -> str:
    """The command line shown for `argv`: redacted, shell-quoted, escaped and cut to fit.

    Control characters become visible escapes (`\\n`, `\\x1b`); a line longer than
    512 characters is cut and ends with `…`.
    """
    line = shlex.join(redactor.redact_argv(argv))
    line = _LINE_CONTROL.sub(_escape, line)
    if len(line) > COMMAND_MAX_CHARS:
        line = line[: COMMAND_MAX_CHARS - len(_ELLIPSIS)] + _ELLIPSIS
    return line


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _LINE_ESCAPES:
        return _LINE_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def probe_environment(
    spec: ProbeSpec, defaults: ProbeDefaults, environ: Mapping[str, str]
) -> dict[str, str]:
    """The probe's whole environment: allow-listed variables present in `environ`, then `env`."""
    child = {
        name: environ[name]
        for name in dict.fromkeys((*defaults.env_allow, *spec.env_allow))
        if name in environ
    }
    child.update(spec.env)
    return child


def probe_directory(spec: ProbeSpec, workdir: Path) -> Path:
    """The directory the probe runs in: `spec.cwd` inside `workdir` (INVALID_CONFIG otherwise)."""

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"probe {spec.name!r}: cwd {spec.cwd!r} {why}",
            hint="set `cwd` to a directory inside the repository, relative to its root",
            details={"probe": spec.name, "cwd": spec.cwd},
        )

    if os.path.isabs(spec.cwd):
        raise refuse("must be relative to the repository, not absolute")
    try:
        root = workdir.resolve()
        target = (root / spec.cwd).resolve()
        is_dir = target.is_dir()
    except (OSError, ValueError, RuntimeError) as exc:
        raise refuse(f"cannot be resolved: {exc}") from None
    if not target.is_relative_to(root):
        raise refuse("resolves outside the repository")
    if not is_dir:
        raise refuse("is not a directory")
    return target


def _search_path(environment: Mapping[str, str], cwd: Path) -> str:
    """The probe's PATH, with relative entries made relative to its directory, as exec sees them."""
    entries = environment.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(entry if os.path.isabs(entry) else str(cwd / entry) for entry in entries)


def _resolve_program(program: str, environment: Mapping[str, str], cwd: Path) -> str | None:
    if "/" in program:
        candidate = cwd / program
        return str(candidate) if os.path.lexists(candidate) else None
    return shutil.which(program, path=_search_path(environment, cwd))


class _Capture:
    """The first `keep` bytes and the last `keep + 1` bytes of a stream, and its length.

    Everything between is counted and dropped, so memory stays bounded however
    much the probe writes. The extra tail byte tells whether the tail starts at a
    line boundary.
    """

    def __init__(self, keep: int) -> None:
        self.total = 0
        self._keep = keep
        self._head = bytearray()
        self._tail = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._keep - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            excess = len(self._tail) - (self._keep + 1)
            if excess > 0:
                del self._tail[:excess]

    def slice(self, start: int, end: int) -> bytes:
        """Bytes `start:end` of the stream; callers ask only for kept ones."""
        tail_start = self.total - len(self._tail)
        front = bytes(self._head[start : min(end, len(self._head))])
        back = bytes(self._tail[max(start, tail_start) - tail_start : end - tail_start])
        return front + back if end > tail_start else front


def _clean(data: bytes) -> str:
    """Output bytes as display text: UTF-8 (invalid bytes as U+FFFD), no terminal controls."""
    text = _ANSI.sub("", data.decode("utf-8", "replace"))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SUMMARY_CONTROL.sub("\ufffd", text)


def _head_edge(window: bytes) -> bytes:
    """The head without its last, partial line (or word, in output without newlines)."""
    cut = window.rfind(b"\n")
    if cut < 0:
        spaces = list(_WHITESPACE.finditer(window))
        cut = spaces[-1].start() if spaces else -1
    return window[: cut + 1]


def _tail_edge(window: bytes) -> bytes:
    """The tail without its first, partial line (or word); `window[0]` is the byte before it."""
    cut = window.find(b"\n")
    if cut < 0:
        space = _WHITESPACE.search(window)
        if space is None:
            return b""
        cut = space.start()
    return window[cut + 1 :]


def _with_note(body: str, note: str) -> str:
    if not note:
        return body
    if not body:
        return note
    return body + ("" if body.endswith("\n") else "\n") + note


def _summarize(capture: _Capture, budget: int, redactor: Redactor, note: str) -> tuple[str, bool]:
    """The summary of the captured output, at most `budget` characters, and whether it was cut.

    Output longer than the budget keeps its head and its tail; the partial line at
    each cut is dropped too, so no secret that straddles a cut shows a piece of
    itself, and head and tail are redacted separately (specs/probes.md, "Summary").
    """
    room = budget - (len(note) + 1 if note else 0)
    total = capture.total
    if total <= room:
        whole = redactor.redact(_clean(capture.slice(0, total)))
        if len(whole) <= room:
            return _with_note(whole, note), False
    head_size = (room - _MARKER_ROOM) // 2
    tail_size = room - _MARKER_ROOM - head_size
    if head_size + tail_size >= total:  # only redaction made it too long: split it in two
        head_size, tail_size = total // 2, total - total // 2
    head, head_text = _fit_head(_head_edge(capture.slice(0, head_size)), head_size, redactor)
    tail_start = max(head_size, total - tail_size)
    tail = _tail_edge(capture.slice(tail_start - 1, total)) if tail_start > 0 else b""
    tail, tail_text = _fit_tail(tail, tail_size, redactor)
    if head_text and not head_text.endswith("\n"):
        head_text += "\n"
    omitted = total - len(head) - len(tail)
    body = f"{head_text}[… {omitted} bytes omitted …]\n{tail_text}"
    return _with_note(body, note), True


def _fit_head(raw: bytes, size: int, redactor: Redactor) -> tuple[bytes, str]:
    """The longest line-trimmed prefix of `raw` whose redacted text fits in `size` characters.

    Redaction can lengthen text (`[REDACTED]` is 10 characters); rather than cut
    the redacted text, whole lines are given back to the omitted middle, so the
    omitted byte count stays exact.
    """
    while True:
        text = redactor.redact(_clean(raw))
        if len(text) <= size:
            return raw, text
        # Keep about the share that fits; each round drops at least one line or word.
        keep = min(len(raw) - 1, len(raw) * size // len(text))
        raw = _head_edge(raw[:keep])


def _fit_tail(raw: bytes, size: int, redactor: Redactor) -> tuple[bytes, str]:
    """Like `_fit_head`, for the longest line-trimmed suffix."""
    while True:
        text = redactor.redact(_clean(raw))
        if len(text) <= size:
            return raw, text
        start = max(1, len(raw) - len(raw) * size // len(text))
        raw = _tail_edge(raw[start - 1 :])


class _StatusLost(Exception):
    """The probe was reaped by someone else, so its exit status is unknown."""


def _has_exited(pid: int) -> bool:
    """Whether the probe exited, without reaping it: its pid (the group id) stays reserved."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        # The kernel reaps children itself when SIGCHLD is ignored; `Popen.wait` would
        # then report 0, and a failed probe must never read as passed.
        raise _StatusLost from None


def _signal_group(pid: int, signum: signal.Signals) -> None:
    """Signal the probe's process group, or the probe alone if it left the group."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            return
    except PermissionError:
        return


@dataclass(frozen=True)
class _Ending:
    #: None when the exit status was lost.
    returncode: int | None
    timed_out: bool
    killed: bool


def _supervise(
    process: subprocess.Popen[bytes], timeout_s: float, grace_s: float, capture: _Capture
) -> _Ending:
    """Read the probe's output until it ended, enforcing the timeout; reap it."""
    if process.stdout is None:
        raise TypeError("the probe's output must be a pipe")
    lost = timed_out = killed = False
    try:
        timed_out, killed = _watch(
            process.pid, process.stdout.fileno(), timeout_s, grace_s, capture
        )
    except _StatusLost:
        # Reaped elsewhere, its pid may be another process's by now: signal nothing.
        lost = True
    except BaseException:
        # Interrupted (Ctrl-C, a bug): never leave the probe running behind us.
        _signal_group(process.pid, signal.SIGKILL)
        raise
    finally:
        process.stdout.close()
        process.wait()
    return _Ending(None if lost else process.returncode, timed_out, killed)


def _watch(
    pid: int, pipe: int, timeout_s: float, grace_s: float, capture: _Capture
) -> tuple[bool, bool]:
    """The supervision loop: (timed out, SIGKILL needed after the grace)."""
    now = time.monotonic()
    deadline = now + timeout_s
    kill_at: float | None = None
    timed_out = killed = False
    exited_at: float | None = None
    stop_at: float | None = None
    reading = True
    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)
        while True:
            if exited_at is None and _has_exited(pid):
                exited_at = now
            if exited_at is None:
                if not timed_out and now >= deadline:
                    timed_out = True
                    _signal_group(pid, signal.SIGTERM)
                    kill_at = now + grace_s
                elif kill_at is not None and now >= kill_at:
                    _signal_group(pid, signal.SIGKILL)
                    kill_at, killed = None, True
            else:
                if stop_at is None and (not reading or now >= exited_at + _DRAIN_S):
                    # Whatever the probe left behind in its group goes with it.
                    _signal_group(pid, signal.SIGKILL)
                    stop_at = now + _ABANDON_S
                if stop_at is not None and (not reading or now >= stop_at):
                    return timed_out, killed
            if reading:
                for _ in selector.select(_POLL_S):
                    chunk = os.read(pipe, _READ_CHUNK)
                    if chunk:
                        capture.feed(chunk)
                    else:
                        reading = False
                        selector.unregister(pipe)
            else:
                time.sleep(_POLL_S)
            now = time.monotonic()


def _outcome(
    ending: _Ending, timeout_s: float, grace_s: float
) -> tuple[CommandStatus, int | None, str]:
    """Status, exit code and a note for the summary, from how the probe ended."""
    if ending.timed_out:
        then = f", then SIGKILL after {grace_s:g} s" if ending.killed else ""
        return "timed_out", None, f"[timed out after {timeout_s:g} s: sent SIGTERM{then}]"
    code = ending.returncode
    if code is None:
        return (
            "error",
            None,
            "[exit status lost: the probe was reaped elsewhere (SIGCHLD ignored?)]",
        )
    if code == 0:
        return "passed", 0, ""
    if code > 0:
        return "failed", code, ""
    signum = -code
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return "failed", 128 + signum, f"[killed by {name} ({signum}): exit code 128 + {signum}]"


def _settings(spec: ProbeSpec, defaults: ProbeDefaults) -> tuple[float, int]:
    """The probe's timeout and output cap, checked (structs built in code skip config checks)."""
    timeout_s = defaults.timeout_s if spec.timeout_s is None else spec.timeout_s
    cap = defaults.output_cap_bytes if spec.output_cap_bytes is None else spec.output_cap_bytes
    if not timeout_s > 0 or cap < MIN_OUTPUT_CAP_BYTES:
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            f"probe {spec.name!r}: the timeout must be positive and the output cap at least "
            f"{MIN_OUTPUT_CAP_BYTES} bytes (got {timeout_s} s, {cap} bytes)",
            hint="fix `timeout_s` / `output_cap_bytes` in the gate config",
            details={"probe": spec.name},
        )
    return timeout_s, cap


def _elapsed_ms(started: int) -> int:
    return (time.monotonic_ns() - started) // 1_000_000


def run_probe(
    spec: ProbeSpec,
    defaults: ProbeDefaults,
    *,
    workdir: Path,
    environ: Mapping[str, str],
    kill_grace_s: float = KILL_GRACE_S,
) -> ProbeResult:
    """Run one probe in `workdir` and say how it went.

    `environ` is the gate's own environment: the probe gets only its allow-listed
    variables (plus the config's fixed `env`), and the values of its secret-looking
    variables are redacted from the result whether the probe got them or not.
    Raises INVALID_CONFIG, before running anything, for a `cwd` outside `workdir`
    or not a directory, or an unusable timeout or cap; every failure of the probe
    itself is a result (`failed`, `timed_out`, or `error` when it could not start).
    """
    timeout_s, cap = _settings(spec, defaults)
    cwd = probe_directory(spec, workdir)
    redactor = Redactor.from_environ({**environ, **spec.env}, defaults.redact)
    with tempfile.TemporaryDirectory(
        prefix="ledgerd-probe-home-", ignore_cleanup_errors=True
    ) as home:
        # A home of its own, unless the config passes one: a probe runs the change's
        # code, which must not read ~/.netrc or tokens into a permanent ledger.
        environment = {"HOME": home, **probe_environment(spec, defaults, environ)}
        return _run(
            spec, environment, cwd, redactor, min(cap, SUMMARY_MAX_CHARS), timeout_s, kill_grace_s
        )


def _run(
    spec: ProbeSpec,
    environment: dict[str, str],
    cwd: Path,
    redactor: Redactor,
    budget: int,
    timeout_s: float,
    kill_grace_s: float,
) -> ProbeResult:
    argv = tuple(spec.argv)
    command = display_command(argv, redactor)
    started = time.monotonic_ns()
    program = _resolve_program(argv[0], environment, cwd)
    if program is None:
        where = "does not exist" if "/" in argv[0] else "is not on the probe's PATH"
        reason = f"program not found: {argv[0]!r} {where}"
    else:
        try:
            # An argv list and no shell; `executable` keeps argv[0] as configured.
            process = subprocess.Popen(  # noqa: S603
                list(argv),
                executable=program,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            reason = f"cannot start {argv[0]!r}: {why}"
        else:
            capture = _Capture(budget)
            ending = _supervise(process, timeout_s, kill_grace_s, capture)
            duration_ms = _elapsed_ms(started)
            status, code, note = _outcome(ending, timeout_s, kill_grace_s)
            summary, cut = _summarize(capture, budget, redactor, note)
            return ProbeResult(
                spec.name, argv, command, status, code, duration_ms, summary, capture.total, cut
            )
    summary = redactor.redact(reason)
    if len(summary) > budget:
        summary = summary[: budget - len(_ELLIPSIS)] + _ELLIPSIS
    return ProbeResult(
        spec.name, argv, command, "error", None, _elapsed_ms(started), summary, 0, False
    )
