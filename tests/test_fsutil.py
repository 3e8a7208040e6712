"""Atomic file writes: modes from the first byte, no torn files, no silent overwrites."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ledger.errors import ErrorCode, InvalidInput, IoFailure
from ledger.fsutil import read_file, write_file_atomic


def test_writes_the_bytes_with_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_file_atomic(target, b"key material", mode=0o600)
    assert target.read_bytes() == b"key material"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [target], "no temp file is left behind"


def test_replaces_by_default(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_file_atomic(target, b"old")
    write_file_atomic(target, b"new")
    assert target.read_bytes() == b"new"


def test_exclusive_write_refuses_an_existing_file_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_bytes(b"the original")
    with pytest.raises(InvalidInput) as caught:
        write_file_atomic(target, b"a replacement", overwrite=False)
    assert caught.value.code is ErrorCode.INVALID_ARGUMENT
    assert target.read_bytes() == b"the original"
    assert list(tmp_path.iterdir()) == [target]


def test_a_missing_directory_is_an_io_failure(tmp_path: Path) -> None:
    with pytest.raises(IoFailure) as caught:
        write_file_atomic(tmp_path / "nope" / "f", b"x")
    assert caught.value.code is ErrorCode.FILE_WRITE_FAILED


def test_reading_a_missing_file_names_what_it_was(tmp_path: Path) -> None:
    with pytest.raises(IoFailure) as caught:
        read_file(tmp_path / "absent", what="checkpoint")
    assert caught.value.code is ErrorCode.FILE_UNREADABLE
    assert caught.value.message.startswith("checkpoint ")
