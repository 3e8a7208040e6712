"""`LmdbEventLog.leaf_bytes`: the bulk read behind the projections, leaf for leaf as stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ledger.samples import sample_events
from ledger.store import AppendRequest, LmdbEventLog, lmdb_store


def test_leaf_bytes_are_the_stored_leaves_in_any_window(
    tmp_path: Path, open_log: Callable[..., LmdbEventLog], monkeypatch: object
) -> None:
    log = open_log(tmp_path / "log")
    log.append([AppendRequest(event) for event in sample_events(70)])
    # Windows across the read-chunk boundary as well as inside one chunk.
    monkeypatch.setattr(lmdb_store, "_READ_CHUNK", 16)  # type: ignore[attr-defined]
    everything = [(leaf.seq, leaf.leaf_bytes) for leaf in log.leaves()]
    assert list(log.leaf_bytes()) == everything
    for start, end in ((0, 1), (5, 40), (15, 17), (69, 70), (30, None), (0, 200)):
        expected = [
            item for item in everything if item[0] >= start and (end is None or item[0] < end)
        ]
        assert list(log.leaf_bytes(start, end)) == expected
    assert list(log.leaf_bytes(70)) == []
    assert list(log.leaf_bytes(-3, 2)) == everything[:2]
