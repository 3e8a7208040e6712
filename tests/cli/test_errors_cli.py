"""How `ledgerctl` reports failures: the `--json` envelope on stdout, text on stderr, exit codes."""

from __future__ import annotations

import json

import pytest

import ledger

ENVELOPE_KEYS = {"ok", "error", "error_code", "error_category", "retryable", "hint"}

USAGE_ERRORS = {
    "unknown_command": (["frobnicate"], "frobnicate"),
    "unknown_option": (["tail", "--data-dir", "d", "--bogus"], "--bogus"),
    "unknown_proof_kind": (["proof", "exclusion"], "exclusion"),
    "missing_required_option": (["tail"], "--data-dir"),
    "missing_argument": (["import", "--data-dir", "d"], "SOURCE"),
    "not_an_integer": (["tail", "--data-dir", "d", "--from", "abc"], "--from"),
    "nested_unknown_option": (["proof", "inclusion", "--data-dir", "d", "--leaf", "1"], "--leaf"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_error_with_json_is_the_envelope_on_stdout(ledgerctl, case):
    args, named = USAGE_ERRORS[case]
    proc = ledgerctl(*args, "--json")
    assert proc.returncode == 2
    assert proc.stderr == b""
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert set(doc) == ENVELOPE_KEYS
    assert doc["ok"] is False
    assert doc["error_category"] == "invalid_input"
    assert doc["error_code"] == "INVALID_ARGUMENT"
    assert doc["retryable"] is False
    assert named in doc["error"]
    assert "--help" in doc["hint"]


@pytest.mark.parametrize("case", ["unknown_command", "unknown_option", "missing_required_option"])
def test_usage_error_without_json_goes_to_stderr(ledgerctl, case):
    args, named = USAGE_ERRORS[case]
    proc = ledgerctl(*args)
    assert proc.returncode == 2
    assert proc.stdout == b""
    stderr = proc.stderr.decode()
    assert stderr.startswith("error: ")
    assert named in stderr
    assert "invalid_input / INVALID_ARGUMENT" in stderr
    assert "hint: " in stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(stderr)


def test_json_flag_anywhere_on_the_line_selects_the_envelope(ledgerctl):
    proc = ledgerctl("--json", "frobnicate")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error_code"] == "INVALID_ARGUMENT"


NEEDS_A_LEDGER = {
    "tail": ["tail"],
    "verify": ["verify"],
    "proof_inclusion": ["proof", "inclusion", "--seq", "0"],
    "proof_consistency": ["proof", "consistency", "--from", "1"],
}


@pytest.mark.parametrize("where", ["missing", "empty"])
@pytest.mark.parametrize("command", sorted(NEEDS_A_LEDGER))
def test_data_dir_without_a_ledger(ledgerctl, tmp_path, error, command, where):
    data_dir = tmp_path / "data"
    if where == "empty":
        data_dir.mkdir()
    proc = ledgerctl(*NEEDS_A_LEDGER[command], "--data-dir", str(data_dir), "--json")
    doc = error(proc, "invalid_input", "DATA_DIR_NOT_FOUND")
    assert str(data_dir) in doc["error"]
    # Read-only commands never create the directory or anything in it.
    if where == "missing":
        assert not data_dir.exists()
    else:
        assert list(data_dir.iterdir()) == []


def test_checkpoint_needs_a_ledger_too(ledgerctl, tmp_path, error, populated_log):
    proc = ledgerctl(
        "checkpoint",
        "--data-dir",
        str(tmp_path / "data"),
        "--key",
        str(populated_log.key_file),
        "--json",
    )
    error(proc, "invalid_input", "DATA_DIR_NOT_FOUND")


def test_data_dir_error_without_json_goes_to_stderr(ledgerctl, tmp_path):
    proc = ledgerctl("tail", "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert "invalid_input / DATA_DIR_NOT_FOUND" in proc.stderr.decode()


def test_bad_clock_setting_is_reported_not_crashed(ledgerctl, tmp_path, error, populated_log):
    proc = ledgerctl(
        "import",
        str(populated_log.source),
        "--data-dir",
        str(tmp_path / "data"),
        "--json",
        env={"LEDGERD_CLOCK": "tomorrow"},
    )
    doc = error(proc, "invalid_input", "INVALID_ARGUMENT")
    assert "LEDGERD_CLOCK" in doc["error"]
    assert not (tmp_path / "data").exists()


def test_version(ledgerctl):
    proc = ledgerctl("--version")
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert proc.stdout.decode() == f"ledgerctl, version {ledger.__version__}\n"


def test_help_lists_every_command(ledgerctl):
    proc = ledgerctl("--help")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for command in ("keygen", "import", "tail", "checkpoint", "proof", "verify"):
        assert command in text
