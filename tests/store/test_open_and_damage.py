"""Opening, closing and reading damaged stores: every failure is classified and leaks nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lmdb
import pytest

from conftest import json_lines
from ledger.errors import (
    ErrorCode,
    InternalFailure,
    InvalidInput,
    VerificationFailed,
)
from ledger.samples import sample_events, sample_run
from ledger.store import AppendRequest, LmdbEventLog
from ledger.store._layout import DB_NAMES
from tamper import edit, u64


def _foreign_lmdb(path: Path) -> None:
    env = lmdb.open(str(path))
    with env.begin(write=True) as txn:
        txn.put(b"somebody-elses-key", b"value")
    env.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_an_lmdb_directory_that_is_not_a_ledger_is_refused_and_left_alone(
    tmp_path: Path, open_log: Callable[..., LmdbEventLog], readonly: bool
) -> None:
    _foreign_lmdb(tmp_path)
    before = (tmp_path / "data.mdb").read_bytes()
    for _ in range(2):  # twice: a failed open must release everything it took
        with pytest.raises(InvalidInput) as caught:
            open_log(tmp_path, readonly=readonly)
        assert caught.value.code is ErrorCode.DATA_DIR_NOT_FOUND
        assert "not a ledger" in caught.value.message
    assert (tmp_path / "data.mdb").read_bytes() == before


def _half_created_by_an_older_ledgerd(path: Path, databases: int) -> None:
    """What ledgerd before the one-transaction creation left when killed while creating a
    ledger: its first `databases` named databases, each made in its own transaction, and
    never the format marker."""
    env = lmdb.open(str(path), max_dbs=len(DB_NAMES))
    for name in DB_NAMES[:databases]:
        env.open_db(name.encode(), create=True)
    env.close()


@pytest.mark.parametrize("databases", [1, len(DB_NAMES) - 1, len(DB_NAMES)])
@pytest.mark.parametrize("readonly", [False, True])
def test_a_ledger_an_older_ledgerd_half_created_is_still_refused_and_left_alone(
    tmp_path: Path, open_log: Callable[..., LmdbEventLog], databases: int, readonly: bool
) -> None:
    # It holds no events, but telling it from damage would take guessing: it stays refused.
    _half_created_by_an_older_ledgerd(tmp_path, databases)
    before = (tmp_path / "data.mdb").read_bytes()
    with pytest.raises(InvalidInput) as caught:
        open_log(tmp_path, readonly=readonly)
    assert caught.value.code is ErrorCode.DATA_DIR_NOT_FOUND
    expected = "no format" if databases == len(DB_NAMES) else "not a ledger"
    assert expected in caught.value.message
    assert (tmp_path / "data.mdb").read_bytes() == before


def test_a_read_only_open_of_an_empty_environment_is_not_found(
    tmp_path: Path, open_log: Callable[..., LmdbEventLog]
) -> None:
    lmdb.open(str(tmp_path)).close()
    with pytest.raises(InvalidInput) as caught:
        open_log(tmp_path, readonly=True)
    assert caught.value.code is ErrorCode.DATA_DIR_NOT_FOUND


def test_a_closed_log_says_so(log: LmdbEventLog) -> None:
    log.append([AppendRequest(sample_run(0))])
    log.close()
    log.close()
    for action in (log.size, lambda: log.append([AppendRequest(sample_run(1))])):
        with pytest.raises(InvalidInput) as caught:
            action()
        assert "closed" in caught.value.message


def test_closing_releases_the_directory_for_a_new_open(
    log: LmdbEventLog, open_log: Callable[..., LmdbEventLog], data_dir: Path
) -> None:
    log.append([AppendRequest(sample_run(0))])
    log.close()
    assert open_log(data_dir).size() == 1


@pytest.mark.timeout(30)
def test_growing_the_map_under_the_same_threads_snapshot_is_refused_not_hung(
    open_log: Callable[..., LmdbEventLog], data_dir: Path
) -> None:
    log = open_log(data_dir, map_size=256 << 10)
    with log.snapshot(), pytest.raises(InternalFailure) as caught:
        log.append([AppendRequest(e) for e in sample_events(2000)])
    assert "snapshot" in caught.value.message
    assert log.size() == 0
    log.append([AppendRequest(e) for e in sample_events(2000)])
    assert log.size() == 2000


# A leaf nested deeper than the decoder follows made it crash (RecursionError) instead.
UNREADABLE_LEAVES = {
    "not-json": b"{not json",
    "nested-too-deeply": b'{"seq":2,"data":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
}


@pytest.mark.parametrize("stored", UNREADABLE_LEAVES.values(), ids=UNREADABLE_LEAVES.keys())
def test_an_unreadable_leaf_is_reported_as_damage_not_as_bad_input(
    log: LmdbEventLog, data_dir: Path, open_log: Callable[..., LmdbEventLog], ledgerctl, stored
) -> None:
    log.append([AppendRequest(e) for e in sample_events(4)])
    log.close()
    edit(data_dir, "leaves", u64(2), stored)
    reader = open_log(data_dir, readonly=True)
    with pytest.raises(VerificationFailed) as caught:
        reader.get(2)
    assert caught.value.code is ErrorCode.LEAF_UNREADABLE
    assert caught.value.details["seq"] == 2
    reader.close()
    result = ledgerctl("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 3, result.stdout
    (error,) = json_lines(result.stdout)
    assert error["error_code"] == "LEAF_UNREADABLE"


def test_a_malformed_index_value_is_classified_by_verify(
    log: LmdbEventLog, data_dir: Path, ledgerctl
) -> None:
    log.append([AppendRequest(e) for e in sample_events(4)])
    log.close()
    edit(data_dir, "event_ids", b"run-1", b"12345")
    result = ledgerctl("verify", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 3
    (error,) = json_lines(result.stdout)
    assert error["error_code"] == "INDEX_MISMATCH"
