"""Running probes: statuses, timeouts and process groups, output caps, environment, redaction."""

from __future__ import annotations

import _thread
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gate.config import ProbeDefaults, ProbeSpec
from gate.probes import (
    COMMAND_MAX_CHARS,
    SUMMARY_MAX_CHARS,
    ProbeResult,
    display_command,
    run_probe,
)
from gate.redact import REDACTED, Redactor
from ledger.errors import ErrorCode, InvalidInput
from ledger.model import CommandExecutedV1

PY = sys.executable
RUN_ID = "01890a5d-ac96-774b-bcce-b302099a8057"
GHP = "ghp_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0PpOoNn"
_MARKER = re.compile(r"^\[… (\d+) bytes omitted …\]$", re.MULTILINE)


def run(
    tmp_path: Path,
    argv: list[str],
    *,
    environ: dict[str, str] | None = None,
    defaults: ProbeDefaults | None = None,
    **spec: Any,
) -> ProbeResult:
    return run_probe(
        ProbeSpec(name="probe", argv=tuple(argv), **spec),
        defaults or ProbeDefaults(),
        workdir=tmp_path,
        environ=environ if environ is not None else {"PATH": os.environ["PATH"]},
    )


def python(tmp_path: Path, code: str, **kwargs: Any) -> ProbeResult:
    return run(tmp_path, [PY, "-c", code], **kwargs)


def printing(data: str) -> str:
    """A one-liner that writes `data` to stdout exactly."""
    return f"import sys; sys.stdout.write({data!r})"


def split_summary(summary: str) -> tuple[str, int, str]:
    """(head, omitted bytes, tail) of a cut summary."""
    match = _MARKER.search(summary)
    assert match is not None, summary
    return summary[: match.start()], int(match.group(1)), summary[match.end() + 1 :]


def gone(pid: int) -> bool:
    """Whether `pid` ended (absent or a zombie), waiting a little for its killer to act."""
    for _ in range(250):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


# --- statuses and exit codes ---------------------------------------------------------------


def test_a_passing_probe(tmp_path: Path) -> None:
    result = python(tmp_path, "print('all good')")
    assert (result.status, result.exit_code, result.truncated) == ("passed", 0, False)
    assert result.summary == "all good\n"
    assert result.output_bytes == len(b"all good\n")
    assert result.name == "probe"
    assert result.argv == (PY, "-c", "print('all good')")
    assert result.command == f"{PY} -c 'print('\"'\"'all good'\"'\"')'"
    assert result.duration_ms >= 0


def test_a_failing_probe_merges_stdout_and_stderr_in_order(tmp_path: Path) -> None:
    code = (
        "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); "
        "print('out again', flush=True); sys.exit(3)"
    )
    result = python(tmp_path, code)
    assert (result.status, result.exit_code) == ("failed", 3)
    assert result.summary == "out\nerr\nout again\n"


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGKILL, "SIGKILL"), (signal.SIGTERM, "SIGTERM")]
)
def test_death_by_signal_is_failed_with_128_plus_the_signal(
    tmp_path: Path, signum: signal.Signals, name: str
) -> None:
    result = python(tmp_path, f"import os; os.kill(os.getpid(), {int(signum)})")
    assert (result.status, result.exit_code) == ("failed", 128 + signum)
    assert result.summary == f"[killed by {name} ({int(signum)}): exit code 128 + {int(signum)}]"


def test_stdin_is_empty(tmp_path: Path) -> None:
    result = python(tmp_path, "import sys; print(repr(sys.stdin.read()))")
    assert result.summary == "''\n"


# --- timeouts and process groups -------------------------------------------------------------


def test_a_probe_over_its_timeout_is_stopped(tmp_path: Path) -> None:
    result = python(
        tmp_path, "import time; print('started', flush=True); time.sleep(60)", timeout_s=0.5
    )
    assert (result.status, result.exit_code) == ("timed_out", None)
    assert result.summary.endswith("[timed out after 0.5 s: sent SIGTERM]")


def test_the_default_timeout_applies_when_the_probe_sets_none(tmp_path: Path) -> None:
    result = python(tmp_path, "import time; time.sleep(60)", defaults=ProbeDefaults(timeout_s=0.5))
    assert result.status == "timed_out"


def test_a_probe_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ignoring', flush=True); time.sleep(60)"
    )
    result = run_probe(
        ProbeSpec(name="stubborn", argv=(PY, "-c", code), timeout_s=1.0),
        ProbeDefaults(),
        workdir=tmp_path,
        environ={},
        kill_grace_s=0.2,
    )
    assert (result.status, result.exit_code) == ("timed_out", None)
    assert (
        result.summary == "ignoring\n[timed out after 1 s: sent SIGTERM, then SIGKILL after 0.2 s]"
    )


_GRANDCHILD = (
    "import subprocess, sys; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']{session}); "
    "print(child.pid, flush=True){then}"
)


def test_a_grandchild_holding_the_pipe_does_not_hang_the_runner(tmp_path: Path) -> None:
    result = python(tmp_path, _GRANDCHILD.format(session="", then=""))
    assert (result.status, result.exit_code) == ("passed", 0)
    grandchild = int(result.summary)
    assert gone(grandchild), "the probe's leftover process was not killed"


def test_a_timed_out_probe_takes_its_grandchildren_with_it(tmp_path: Path) -> None:
    code = _GRANDCHILD.format(session="", then="; import time; time.sleep(60)")
    result = python(tmp_path, code, timeout_s=0.5)
    assert result.status == "timed_out"
    assert gone(int(result.summary.splitlines()[0]))


def test_a_grandchild_that_left_the_group_is_abandoned(tmp_path: Path) -> None:
    result = python(tmp_path, _GRANDCHILD.format(session=", start_new_session=True", then=""))
    escaped = int(result.summary)
    try:
        assert (result.status, result.exit_code) == ("passed", 0)
    finally:
        os.kill(escaped, signal.SIGKILL)


# --- output cap and summary ------------------------------------------------------------------


def test_huge_output_is_counted_and_summarised_in_bounded_memory(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "line = b'x' * 1023 + b'\\n'\n"
        "block = line * 1024\n"
        "sys.stdout.buffer.write(b'first line\\n')\n"
        "for _ in range(50): sys.stdout.buffer.write(block)\n"
        "sys.stdout.buffer.write(b'last line\\n')\n"
    )
    result = python(tmp_path, code)
    total = 50 * 1024 * 1024 + len(b"first line\n") + len(b"last line\n")
    assert result.output_bytes == total
    assert result.truncated
    assert len(result.summary) <= 16_384
    head, omitted, tail = split_summary(result.summary)
    assert head.startswith("first line\n")
    assert tail.endswith("x\nlast line\n")
    # ASCII output: the shown bytes and the omitted ones add up to the total.
    assert len(head.encode()) + omitted + len(tail.encode()) == total


@pytest.mark.parametrize("cap", [256, 1000, 4096])
def test_the_cap_bounds_the_summary_and_cuts_at_whole_lines(tmp_path: Path, cap: int) -> None:
    code = "for i in range(20000): print(f'line {i}')"
    result = python(tmp_path, code, output_cap_bytes=cap)
    assert result.truncated
    assert len(result.summary) <= cap
    head, omitted, tail = split_summary(result.summary)
    head_lines, tail_lines = head.splitlines(), tail.splitlines()
    assert head_lines[0] == "line 0"
    assert tail_lines[-1] == "line 19999"
    assert all(re.fullmatch(r"line \d+", line) for line in head_lines + tail_lines)
    shown = len(head.encode()) + len(tail.encode())
    assert shown + omitted == result.output_bytes
    # Roughly half the room on each side of the cut.
    assert len(head) > cap // 4
    assert len(tail) > cap // 4


def test_caps_above_the_text_limit_still_fit_the_event(tmp_path: Path) -> None:
    # 200,000 bytes: within a 1 MiB cap, but not within the event's 16384 characters.
    result = python(tmp_path, "for _ in range(2000): print('z' * 99)", output_cap_bytes=1 << 20)
    assert result.output_bytes == 200_000
    assert result.truncated
    # Lines are 100 bytes: up to one is lost at each cut, besides the marker line.
    assert SUMMARY_MAX_CHARS - 300 <= len(result.summary) <= SUMMARY_MAX_CHARS


def test_output_within_the_cap_is_shown_whole(tmp_path: Path) -> None:
    data = "".join(f"row {i}\n" for i in range(30))
    result = python(tmp_path, printing(data), output_cap_bytes=256)
    assert (result.summary, result.truncated) == (data, False)


def test_output_without_newlines_is_cut_at_words(tmp_path: Path) -> None:
    result = python(tmp_path, "import sys; sys.stdout.write('word ' * 1000)", output_cap_bytes=256)
    head, omitted, tail = split_summary(result.summary)
    assert set(head.split()) == {"word"}
    assert set(tail.split()) == {"word"}
    # The head ends at a blank, so the summary adds a line feed of its own.
    assert head.endswith(" \n")
    assert len(head.encode()) - 1 + omitted + len(tail.encode()) == 5000


def test_one_endless_word_shows_only_the_marker(tmp_path: Path) -> None:
    result = python(tmp_path, "import sys; sys.stdout.write('x' * 100000)", output_cap_bytes=256)
    assert result.summary == "[… 100000 bytes omitted …]\n"


def test_terminal_controls_and_invalid_utf8_are_cleaned(tmp_path: Path) -> None:
    data = b"\x1b[31mred\x1b[0m \x1b]0;title\x07x\x00y\r\nz\xff\tq\rr\x1b(Bs\x07"
    result = python(tmp_path, f"import sys; sys.stdout.buffer.write({data!r})")
    assert result.summary == "red x\ufffdy\nz\ufffd\tq\nrs\ufffd"


def test_redaction_that_lengthens_the_output_keeps_the_summary_in_bounds(tmp_path: Path) -> None:
    # 200 bytes, each 4-character secret becomes 10 characters: 440 > 256.
    result = python(
        tmp_path, printing("abcd\n" * 40), environ={"A_TOKEN": "abcd"}, output_cap_bytes=256
    )
    assert result.truncated
    assert len(result.summary) <= 256
    head, omitted, tail = split_summary(result.summary)
    assert "abcd" not in result.summary
    assert head.count(REDACTED) + tail.count(REDACTED) + omitted // 5 == 40


# --- secrets at the cut ----------------------------------------------------------------------


def _pieces(secret: str) -> list[str]:
    return [secret[i : i + 6] for i in range(len(secret) - 5)]


def _assert_hidden(summary: str, *secrets: str) -> None:
    for secret in secrets:
        for piece in _pieces(secret):
            assert piece not in summary, (piece, summary)


def test_a_token_straddling_either_cut_shows_no_piece_of_itself(tmp_path: Path) -> None:
    # cap 1024: head and tail get 488 bytes each. Put a token across each cut.
    second = "ghs_" + "Mm1Nn2Oo3Pp4Qq5Rr6Ss7Tt8Uu9Vv0WwXx"
    env_secret = "s3cr3t-" + "q" * 30
    data = (
        "a" * 470
        + "\n"
        + GHP
        + " "
        + env_secret
        + "\n"
        + "middle\n" * 300
        + second
        + " "
        + env_secret
        + "\n"
        + "b" * 440
        + "\n"
    )
    result = python(
        tmp_path, printing(data), environ={"DEPLOY_TOKEN": env_secret}, output_cap_bytes=1024
    )
    assert result.truncated
    _assert_hidden(result.summary, GHP, second, env_secret)
    head, _, tail = split_summary(result.summary)
    assert head == "a" * 470 + "\n"
    assert tail == "b" * 440 + "\n"


def test_a_token_straddling_a_cut_in_one_long_line(tmp_path: Path) -> None:
    # cap 1024: the head's 488 bytes end 8 bytes into the first token, the tail's start
    # 27 bytes before the end of the second.
    data = "w " * 240 + GHP + " " + "w " * 1000 + GHP + " " + "w " * 230
    result = python(tmp_path, printing(data), output_cap_bytes=1024)
    _assert_hidden(result.summary, GHP)
    head, _, tail = split_summary(result.summary)
    assert set(head.split()) == {"w"}
    assert set(tail.split()) == {"w"}


def test_a_private_key_straddling_either_cut_is_hidden(tmp_path: Path) -> None:
    body = [f"{i:02d}" + "K" * 62 for i in range(12)]
    block = (
        "-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END EC PRIVATE KEY-----\n"
    )
    data = "start\n" + block + "filler\n" * 400 + block + "done\n"
    result = python(tmp_path, printing(data), output_cap_bytes=1024)
    assert result.truncated
    assert "KKKK" not in result.summary
    head, _, tail = split_summary(result.summary)
    assert head == f"start\n{REDACTED}\n"
    assert tail == f"{REDACTED}\ndone\n"


def test_secrets_in_the_environment_are_redacted_even_when_not_passed(tmp_path: Path) -> None:
    environ = {"PATH": os.environ["PATH"], "SERVICE_PASSWORD": "pa55w0rd-xyz"}
    result = python(tmp_path, "print('leaked pa55w0rd-xyz and " + GHP + "')", environ=environ)
    assert result.summary == f"leaked {REDACTED} and {REDACTED}\n"
    assert "pa55w0rd-xyz" not in result.command
    assert GHP not in result.command


def test_extra_patterns_from_the_config_apply(tmp_path: Path) -> None:
    defaults = ProbeDefaults(redact=(r"INTERNAL-[0-9]{4}",))
    result = python(tmp_path, "print('ref INTERNAL-1234')", defaults=defaults)
    assert result.summary == f"ref {REDACTED}\n"


def test_results_are_deterministic(tmp_path: Path) -> None:
    code = "for i in range(5000): print(f'n={i} token=t{i}')"
    first = python(tmp_path, code, output_cap_bytes=512)
    second = python(tmp_path, code, output_cap_bytes=512)
    assert {**first.__dict__, "duration_ms": 0} == {**second.__dict__, "duration_ms": 0}


# --- the command line ------------------------------------------------------------------------


def test_the_command_line_is_redacted_escaped_and_cut() -> None:
    redactor = Redactor.from_environ({"NPM_TOKEN": "npm-secret-1"})
    argv = ["tool", "--password", "two words", "npm-secret-1", "a\nb\x1bc\u2028"]
    assert display_command(argv, redactor) == (
        f"tool --password '{REDACTED}' '{REDACTED}' 'a\\nb\\x1bc\\u2028'"
    )
    long_line = display_command(["echo", "x" * 2000], redactor)
    assert len(long_line) == COMMAND_MAX_CHARS
    assert long_line.endswith("…")


# --- environment -----------------------------------------------------------------------------


def test_the_environment_is_exactly_the_allow_list_plus_fixed_values(tmp_path: Path) -> None:
    env_program = shutil.which("env")
    assert env_program is not None
    environ = {
        "PATH": os.environ["PATH"],
        "HOME": "/home/probe",
        "LANG": "C.UTF-8",
        "EXTRA_ALLOWED": "yes",
        "SECRET_THING": "do-not-pass",
        "UNLISTED": "nope",
    }
    result = run(
        tmp_path, [env_program], environ=environ, env_allow=("EXTRA_ALLOWED",), env={"FIXED": "1"}
    )
    seen = dict(line.split("=", 1) for line in result.summary.splitlines())
    home = seen.pop("HOME")
    assert seen == {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "EXTRA_ALLOWED": "yes",
        "FIXED": "1",
    }
    # HOME is not passed by default: the probe gets an empty home of its own, removed after.
    assert home != "/home/probe"
    assert Path(home).name.startswith("ledgerd-probe-home-")
    assert not Path(home).exists()


def test_home_is_passed_when_the_config_allows_it(tmp_path: Path) -> None:
    result = python(
        tmp_path,
        "import os; print(os.environ['HOME'])",
        environ={"HOME": "/home/probe", "PATH": os.environ["PATH"]},
        env_allow=("HOME",),
    )
    assert result.summary == "/home/probe\n"


def test_fixed_values_override_passed_ones(tmp_path: Path) -> None:
    result = python(
        tmp_path,
        "import os; print(os.environ['HOME'])",
        environ={"HOME": "/from/gate"},
        env={"HOME": "/fixed"},
    )
    assert result.summary == "/fixed\n"


def _tool(directory: Path, name: str = "tool") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f"#!{PY}\nimport os\nprint('tool ran in', os.getcwd())\n")
    script.chmod(0o755)
    return script


def test_the_program_is_found_on_the_probes_path_not_the_gates(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    _tool(tools)
    gate_only = {"PATH": str(tools)}
    hidden = run(tmp_path, ["tool"], environ=gate_only, defaults=ProbeDefaults(env_allow=()))
    assert (hidden.status, hidden.exit_code) == ("error", None)
    assert hidden.summary == "program not found: 'tool' is not on the probe's PATH"
    found = run(tmp_path, ["tool"], environ={}, env={"PATH": str(tools)})
    assert (found.status, found.summary) == ("passed", f"tool ran in {tmp_path.resolve()}\n")


def test_relative_paths_are_relative_to_the_probes_directory(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _tool(sub / "bin")
    on_path = run(tmp_path, ["tool"], environ={}, env={"PATH": "bin"}, cwd="sub")
    assert on_path.summary == f"tool ran in {sub.resolve()}\n"
    by_path = run(tmp_path, ["./bin/tool"], environ={}, cwd="sub")
    assert by_path.summary == f"tool ran in {sub.resolve()}\n"
    assert by_path.command == "./bin/tool"


# --- programs that cannot start --------------------------------------------------------------


def test_a_missing_program_path_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, ["./missing", "arg"])
    assert (result.status, result.exit_code, result.output_bytes) == ("error", None, 0)
    assert result.summary == "program not found: './missing' does not exist"


def test_a_file_without_execute_permission_is_an_error(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    result = run(tmp_path, ["./script"])
    assert result.status == "error"
    assert result.summary == "cannot start './script': Permission denied"


def test_a_file_that_is_not_a_program_is_an_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01 not a program")
    junk.chmod(0o755)
    result = run(tmp_path, ["./junk"])
    assert result.status == "error"
    assert result.summary == "cannot start './junk': Exec format error"


def test_an_argument_with_a_nul_byte_is_an_error(tmp_path: Path) -> None:
    result = run(tmp_path, [PY, "-c", "print(1)\x00"])
    assert result.status == "error"
    assert result.summary.startswith(f"cannot start {PY!r}: ")


# --- the working directory -------------------------------------------------------------------


def _refused(tmp_path: Path, cwd: str) -> InvalidInput:
    marker = tmp_path / "ran"
    with pytest.raises(InvalidInput) as caught:
        python(tmp_path / "repo", f"open({str(marker)!r}, 'w').close()", cwd=cwd)
    assert not marker.exists(), "the probe ran although its cwd was refused"
    assert caught.value.code == ErrorCode.INVALID_CONFIG
    assert caught.value.details == {"probe": "probe", "cwd": cwd}
    return caught.value


def test_the_probe_runs_in_its_cwd(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    result = python(tmp_path, "import os; print(os.getcwd())", cwd="pkg/sub")
    assert result.summary == f"{(tmp_path / 'pkg' / 'sub').resolve()}\n"


@pytest.mark.parametrize(
    ("cwd", "why"),
    [
        ("..", "resolves outside the repository"),
        ("inside/../../outside", "resolves outside the repository"),
        ("escape", "resolves outside the repository"),
        ("/tmp", "must be relative to the repository, not absolute"),
        ("missing", "is not a directory"),
        ("file.txt", "is not a directory"),
        ("bad\x00name", "cannot be resolved"),
    ],
)
def test_a_cwd_outside_the_repository_or_not_a_directory_is_refused(
    tmp_path: Path, cwd: str, why: str
) -> None:
    repo = tmp_path / "repo"
    (repo / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (repo / "escape").symlink_to(tmp_path / "outside")
    (repo / "file.txt").write_text("x")
    assert why in _refused(tmp_path, cwd).message


def test_a_symlink_inside_the_repository_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = python(tmp_path, "import os; print(os.getcwd())", cwd="link")
    assert result.summary == f"{(tmp_path / 'real').resolve()}\n"


def test_unusable_settings_from_code_are_config_errors(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').close()"
    for settings in ({"output_cap_bytes": 10}, {"timeout_s": 0.0}, {"timeout_s": -1.0}):
        with pytest.raises(InvalidInput) as caught:
            python(tmp_path, code, **settings)
        assert caught.value.code == ErrorCode.INVALID_CONFIG
        assert caught.value.details == {"probe": "probe"}
    assert not marker.exists()


# --- the command.executed payload ------------------------------------------------------------


def _round_trip(payload: CommandExecutedV1) -> dict[str, Any]:
    decoded = msgspec.json.decode(msgspec.json.encode(payload), type=CommandExecutedV1)
    assert decoded == payload
    return json.loads(msgspec.json.encode(payload))


def test_payloads_for_every_status(tmp_path: Path) -> None:
    passed = python(tmp_path, "print('ok')")
    failed = python(tmp_path, "raise SystemExit(2)")
    killed = python(tmp_path, "import os; os.kill(os.getpid(), 9)")
    error = run(tmp_path, ["./missing"])
    expected = [("passed", 0), ("failed", 2), ("failed", 137), ("error", None)]
    for result, (status, code) in zip([passed, failed, killed, error], expected, strict=True):
        doc = _round_trip(result.to_payload("repo@abc123", RUN_ID))
        assert doc == {
            "subject": "repo@abc123",
            "probe": "probe",
            "command": result.command,
            "status": status,
            "exit_code": code,
            "duration_ms": result.duration_ms,
            "stdout_stderr_summary": result.summary,
            "run_id": RUN_ID,
        }
    assert error.to_payload("s", None).run_id is None


def test_a_timed_out_payload(tmp_path: Path) -> None:
    result = python(tmp_path, "import time; time.sleep(60)", timeout_s=0.5)
    doc = _round_trip(result.to_payload("subject", None))
    assert (doc["status"], doc["exit_code"]) == ("timed_out", None)


@pytest.mark.parametrize(
    ("subject", "run_id"), [("", None), ("two\nlines", None), ("s", "not-a-uuid")]
)
def test_an_unfit_subject_or_run_id_is_refused(
    tmp_path: Path, subject: str, run_id: str | None
) -> None:
    result = python(tmp_path, "print('ok')")
    with pytest.raises(InvalidInput) as caught:
        result.to_payload(subject, run_id)
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT


# --- the runner's own failures ---------------------------------------------------------------


def test_an_interrupted_runner_kills_the_probe(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"

    def interrupt_once_started() -> None:
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.01)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_once_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        python(tmp_path, code)
    assert gone(int(pid_file.read_text()))


def test_a_lost_exit_status_is_an_error_not_a_pass(tmp_path: Path) -> None:
    # With SIGCHLD ignored the kernel reaps children itself: the exit status is gone,
    # and `Popen.wait` would report 0.
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        result = python(tmp_path, "print('about to fail'); raise SystemExit(1)")
    finally:
        signal.signal(signal.SIGCHLD, previous)
    assert (result.status, result.exit_code) == ("error", None)
    assert result.summary.endswith(
        "[exit status lost: the probe was reaped elsewhere (SIGCHLD ignored?)]"
    )
