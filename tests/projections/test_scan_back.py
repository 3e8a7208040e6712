"""`scan_back`: the newest-first read both state backends offer, against a plain reference."""

from __future__ import annotations

from pathlib import Path

import lmdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.projections.state import LmdbState, MemoryState

# Short keys over a small alphabet (with the key separator and 0xff) so prefixes collide.
_KEYS = st.lists(st.binary(min_size=0, max_size=4).map(lambda b: bytes(x % 4 for x in b)).map(
    lambda b: b.replace(b"\x03", b"\xff").replace(b"\x02", b"\x1f")
), max_size=30, unique=True)  # fmt: skip
_PART = st.binary(max_size=3).map(lambda b: bytes((0, 1, 0x1F, 0xFF)[x % 4] for x in b))


def _reference(keys: list[bytes], prefix: bytes, below: bytes | None) -> list[bytes]:
    return sorted(
        (k for k in keys if k.startswith(prefix) and (below is None or k < below)), reverse=True
    )


@settings(max_examples=200, deadline=None)
@given(keys=_KEYS, prefix=_PART, below=st.none() | _PART)
def test_memory_state_scans_back_like_the_reference(
    keys: list[bytes], prefix: bytes, below: bytes | None
) -> None:
    state = MemoryState()
    for key in keys:
        state.put(key, key + b"!")
    found = list(state.scan_back(prefix, below))
    assert [k for k, _ in found] == _reference(keys, prefix, below)
    assert all(v == k + b"!" for k, v in found)


@settings(max_examples=60, deadline=None)
@given(keys=_KEYS, prefix=_PART, below=st.none() | _PART)
def test_lmdb_state_scans_back_like_the_reference(
    tmp_path_factory: object, keys: list[bytes], prefix: bytes, below: bytes | None
) -> None:
    directory = Path(tmp_path_factory.mktemp("scan"))  # type: ignore[attr-defined]
    env = lmdb.open(str(directory), max_dbs=2, map_size=1 << 20)
    try:
        db = env.open_db(b"t")
        with env.begin(write=True, db=db) as txn:
            # LMDB refuses empty keys; the projections never write one.
            for key in (k for k in keys if k):
                txn.put(key, key + b"!", db=db)
        with env.begin(db=db) as txn:
            found = list(LmdbState(txn, db).scan_back(prefix, below))
    finally:
        env.close()
    assert [k for k, _ in found] == _reference([k for k in keys if k], prefix, below)
