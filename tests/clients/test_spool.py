"""The durable spool: framing, damage, flushing exactly once, dead letters and locking.

Everything runs on real files and, for flushes, a real daemon; the only thing
"simulated" is a crash, by cutting or restoring the spool's bytes as a crash
would leave them.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from clients.client import LedgerClient
from clients.event import Event
from clients.retry import RetryPolicy
from clients.spool import (
    ENTRIES_FILE,
    FLUSH_LOCK_FILE,
    MAGIC,
    MAX_PAYLOAD,
    FlushReport,
    Spool,
    decode_frames,
    encode_frame,
)
from daemon import REPO, DaemonProcess, free_port
from ledger.errors import (
    ErrorCode,
    InvalidInput,
    IoFailure,
    LedgerError,
    NetworkTransient,
    StateContention,
)
from ledger.samples import sample_run
from refusing_ledger import refusing_ledger

FAST = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, overall_deadline_s=2.0)


def run_event(index: int) -> Event:
    return Event.from_envelope(sample_run(index))


def logged_ids(client: LedgerClient) -> Counter[str]:
    return Counter(entry.event.event_id for entry in client.read())


def spool_with(tmp_path: Path, count: int, first: int = 1) -> tuple[Spool, list[Event]]:
    spool = Spool(tmp_path / "spool")
    events = [run_event(first + i) for i in range(count)]
    for event in events:
        spool.append(event)
    return spool, events


# --- frames ---------------------------------------------------------------------------


def test_frames_round_trip() -> None:
    payloads = [b"{}", b"x", b'{"a":"\xc3\xa9"}', b"{" + b"7" * 100_000 + b"}"]
    data = b"".join(encode_frame(p) for p in payloads)
    scan = decode_frames(data)
    assert [f.payload for f in scan.frames] == payloads
    assert scan.damaged == ()
    sizes = [len(p) + 40 for p in payloads]
    assert [f.offset for f in scan.frames] == [sum(sizes[:i]) for i in range(len(sizes))]
    assert [f.size for f in scan.frames] == sizes
    assert all(data[f.offset : f.offset + 4] == MAGIC for f in scan.frames)


def test_frames_of_no_bytes_or_too_many_are_refused() -> None:
    with pytest.raises(InvalidInput) as empty:
        encode_frame(b"")
    assert empty.value.code is ErrorCode.INVALID_ARGUMENT
    with pytest.raises(InvalidInput) as large:
        encode_frame(b"x" * (MAX_PAYLOAD + 1))
    assert large.value.code is ErrorCode.REQUEST_TOO_LARGE
    assert len(encode_frame(b"x" * MAX_PAYLOAD)) == MAX_PAYLOAD + 40


def test_event_json_round_trip() -> None:
    event = run_event(3)
    assert Event.from_json(event.to_json()) == event
    assert Event.from_json(event.to_json()).to_json() == event.to_json()
    with pytest.raises(InvalidInput) as unknown:
        Event.from_json(event.to_json()[:-1] + b',"colour":"blue"}')
    assert unknown.value.details["field"] == "$.colour"


# --- the spool file -------------------------------------------------------------------


def test_appends_are_read_back_with_private_modes(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "state" / "ledgerd" / "spool")
    assert spool.read().entries == ()  # nothing is created by reading
    assert not spool.path.exists()
    events = [run_event(i) for i in (5, 2, 9)]
    for event in events:
        spool.append(event)
    assert [entry.event for entry in spool.read().entries] == events
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(spool.entries_path.stat().st_mode) == 0o600
    status = spool.status()
    assert (status.entries, status.damaged, status.undecodable) == (3, 0, 0)
    assert status.size == spool.entries_path.stat().st_size
    assert status.oldest_occurred_at == min(e.occurred_at for e in events)


def test_guarded_events_are_not_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    guarded = Event.from_envelope(sample_run(1), expected_version=0)
    with pytest.raises(InvalidInput) as refused:
        spool.append(guarded)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert not spool.entries_path.exists()


def test_a_torn_last_entry_never_spoils_the_others(tmp_path: Path) -> None:
    spool, events = spool_with(tmp_path, 3)
    data = spool.entries_path.read_bytes()
    last = decode_frames(data).frames[-1]
    # A crash can stop an append after any byte of its frame.
    for cut in range(last.offset, len(data)):
        spool.entries_path.write_bytes(data[:cut])
        scan = spool.read()
        assert [entry.event for entry in scan.entries] == events[:2], cut
        torn = [(d.offset, d.length, d.reason) for d in scan.damaged]
        assert torn == ([] if cut == last.offset else [(last.offset, cut - last.offset, "torn")])
    # Appends after the crash are still read; the torn bytes become a corrupt stretch.
    spool.entries_path.write_bytes(data[: last.offset + 30])
    later = run_event(50)
    spool.append(later)
    scan = spool.read()
    assert [entry.event for entry in scan.entries] == [*events[:2], later]
    assert [(d.offset, d.length, d.reason) for d in scan.damaged] == [(last.offset, 30, "corrupt")]


@pytest.mark.parametrize(
    ("where", "offset"),
    [("magic", 0), ("length", 6), ("payload", 60), ("checksum", -3)],
)
def test_a_corrupt_middle_entry_is_skipped_and_reported(
    tmp_path: Path, where: str, offset: int
) -> None:
    spool, events = spool_with(tmp_path, 3)
    data = bytearray(spool.entries_path.read_bytes())
    middle = decode_frames(bytes(data)).frames[1]
    position = middle.offset + offset if offset >= 0 else middle.offset + middle.size + offset
    data[position] ^= 0x20
    spool.entries_path.write_bytes(bytes(data))
    scan = spool.read()
    assert [entry.event for entry in scan.entries] == [events[0], events[2]], where
    assert [(d.offset, d.length, d.reason) for d in scan.damaged] == [
        (middle.offset, middle.size, "corrupt")
    ]
    status = spool.status()
    assert (status.entries, status.damaged, status.damaged_bytes) == (2, 1, middle.size)


def test_an_appender_waits_for_the_lock_then_gives_up(tmp_path: Path) -> None:
    spool, _ = spool_with(tmp_path, 1)
    spool.lock_wait_s = 0.05
    holder = os.open(spool.path / "append.lock", os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(StateContention) as busy:
            spool.append(run_event(2))
        assert busy.value.code is ErrorCode.SPOOL_LOCKED
        # The wait was an append's, not a flush's: the hint must not send the caller
        # looking for a flush that may not exist.
        assert "append lock" in busy.value.message
        assert "flush to finish" not in busy.value.hint
        assert "lock_wait_s" in busy.value.hint
    finally:
        os.close(holder)
    spool.append(run_event(2))
    assert len(spool.read().entries) == 2


# --- flushing -------------------------------------------------------------------------


def test_flush_delivers_and_compacts(tmp_path: Path, client: LedgerClient) -> None:
    spool, events = spool_with(tmp_path, 3)
    report = spool.flush(client)
    assert (report.delivered, report.duplicates, report.remaining) == (3, 0, 0)
    assert spool.entries_path.read_bytes() == b""
    assert stat.S_IMODE(spool.entries_path.stat().st_mode) == 0o600
    ids = logged_ids(client)
    assert all(ids[event.event_id] == 1 for event in events)
    assert spool.flush(client).to_dict() == FlushReport().to_dict()


def test_a_replayed_flush_still_makes_one_event(tmp_path: Path, client: LedgerClient) -> None:
    spool, events = spool_with(tmp_path, 3)
    before = spool.entries_path.read_bytes()
    assert spool.flush(client).delivered == 3
    # A flusher that died after delivering but before compacting leaves this behind.
    spool.entries_path.write_bytes(before)
    report = spool.flush(client)
    assert (report.delivered, report.duplicates, report.remaining) == (0, 3, 0)
    ids = logged_ids(client)
    assert [ids[event.event_id] for event in events] == [1, 1, 1]


def test_flush_with_the_daemon_down_keeps_everything(tmp_path: Path) -> None:
    spool, events = spool_with(tmp_path, 3)
    before = spool.entries_path.read_bytes()
    port = free_port()
    with (
        LedgerClient(f"127.0.0.1:{port}", retry=FAST) as down,
        pytest.raises(NetworkTransient) as caught,
    ):
        spool.flush(down)
    assert caught.value.code is ErrorCode.SERVER_UNAVAILABLE
    assert caught.value.details["remaining"] == 3
    assert caught.value.details["delivered"] == 0
    assert spool.entries_path.read_bytes() == before
    with (
        DaemonProcess(tmp_path / "served", port=port) as daemon,
        LedgerClient(daemon.address) as up,
    ):
        assert spool.flush(up).delivered == 3
        assert all(logged_ids(up)[event.event_id] == 1 for event in events)


def test_a_daemon_dying_mid_flush_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    spool, events = spool_with(tmp_path, 3)
    daemon = DaemonProcess(tmp_path / "served").start()
    try:
        with LedgerClient(daemon.address, retry=FAST) as client:
            with pytest.raises(LedgerError) as caught:
                spool.flush(client, batch_size=1, on_batch=lambda _report: daemon.kill())
            assert caught.value.retryable
            assert (caught.value.details["delivered"], caught.value.details["remaining"]) == (1, 2)
            assert [e.event for e in spool.read().entries] == events[1:]
        daemon.restart()
        with LedgerClient(daemon.address) as client:
            assert spool.flush(client).delivered == 2
            ids = logged_ids(client)
            assert [ids[event.event_id] for event in events] == [1, 1, 1]
    finally:
        daemon.kill()


def test_refused_and_damaged_entries_go_to_the_dead_letter_file(
    tmp_path: Path, client: LedgerClient
) -> None:
    good, also_good = run_event(1), run_event(2)
    invalid = Event.create(
        stream="runs/x", type="run.recorded", data={"nonsense": 1}, producer="x", event_id="bad-1"
    )
    stored = run_event(3)
    client.append(stored)
    conflicting = Event.from_envelope(sample_run(3, notes="other content, same event id"))
    spool = Spool(tmp_path / "spool")
    spool.append(good)
    spool.append(invalid)
    with spool.entries_path.open("ab") as raw:
        raw.write(encode_frame(b"not json at all"))
        raw.write(b"\x00garbage\x00")
    spool.append(conflicting)
    spool.append(also_good)
    before = spool.entries_path.read_bytes()
    status = spool.status()
    assert (status.entries, status.undecodable) == (5, 1)
    assert (status.damaged, status.damaged_bytes) == (1, 9)

    report = spool.flush(client, batch_size=10)
    assert (report.delivered, report.remaining) == (2, 0)
    assert sorted((d.event_id or "-", d.error_code) for d in report.dead_lettered) == [
        ("-", "INVALID_JSON"),
        ("bad-1", "INVALID_EVENT"),
        ("run-3", "EVENT_ID_CONFLICT"),
    ]
    assert [(d.length, d.reason) for d in report.damaged] == [(9, "corrupt")]
    assert spool.read().entries == ()
    letters = spool.dead_letters()
    kinds = sorted(str(letter["kind"]) for letter in letters)
    assert kinds == ["damaged", "entry", "entry", "entry"]
    by_id = {letter.get("event_id"): letter for letter in letters if letter["kind"] == "entry"}
    assert by_id["bad-1"]["event"] == json.loads(invalid.to_json())
    assert by_id["run-3"]["error"]["error_code"] == "EVENT_ID_CONFLICT"  # type: ignore[index]
    assert "payload_b64" in by_id[None]
    assert stat.S_IMODE(spool.dead_letter_path.stat().st_mode) == 0o600
    ids = logged_ids(client)
    assert (ids["run-1"], ids["run-2"], ids["run-3"], ids["bad-1"]) == (1, 1, 1, 0)

    # Replaying the same spool (a crash before compaction) adds no second dead letters.
    spool.entries_path.write_bytes(before)
    again = spool.flush(client, batch_size=10)
    assert (again.delivered, again.duplicates, len(again.dead_lettered)) == (0, 2, 3)
    assert len(spool.dead_letters()) == 4
    assert spool.status().dead_letters == 4


def test_a_second_flusher_gets_spool_locked(tmp_path: Path, client: LedgerClient) -> None:
    spool, _ = spool_with(tmp_path, 2)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import fcntl, os, sys
                fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, f"{os.getpid()}\\n".encode())
                print("locked", flush=True)
                sys.stdin.read()
                """
            ),
            str(spool.path / FLUSH_LOCK_FILE),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(StateContention) as busy:
            spool.flush(client)
        assert busy.value.code is ErrorCode.SPOOL_LOCKED
        assert busy.value.details["holder_pid"] == holder.pid
        assert "wait for the other flush to finish" in busy.value.hint
        assert len(spool.read().entries) == 2
    finally:
        holder.communicate(b"", timeout=30)
    assert spool.flush(client).delivered == 2


def test_appends_during_a_flush_are_kept(tmp_path: Path, client: LedgerClient) -> None:
    spool, events = spool_with(tmp_path, 3)
    appender = Spool(spool.path)  # another handle, as another process would have
    late = [run_event(40), run_event(41)]

    def append_one(_report: FlushReport) -> None:
        if late:
            appender.append(late.pop(0))

    report = spool.flush(client, batch_size=1, on_batch=append_one)
    assert (report.delivered, report.remaining) == (3, 2)
    assert [e.event for e in spool.read().entries] == [run_event(40), run_event(41)]
    assert spool.flush(client).delivered == 2
    ids = logged_ids(client)
    assert all(ids[e.event_id] == 1 for e in [*events, run_event(40), run_event(41)])


def test_a_concurrent_appender_process_loses_nothing(tmp_path: Path, client: LedgerClient) -> None:
    spool = Spool(tmp_path / "spool")
    count = 60
    script = textwrap.dedent(
        """
        import sys
        from clients.event import Event
        from clients.spool import Spool
        from ledger.samples import sample_run
        spool = Spool(sys.argv[1])
        for index in range(100, 100 + int(sys.argv[2])):
            spool.append(Event.from_envelope(sample_run(index)))
        """
    )
    appender = subprocess.Popen(
        [sys.executable, "-c", script, str(spool.path), str(count)], cwd=REPO
    )
    delivered = 0
    try:
        while appender.poll() is None:
            report = spool.flush(client, batch_size=7)
            delivered += report.delivered
    finally:
        assert appender.wait(timeout=120) == 0
    delivered += spool.flush(client).delivered
    assert delivered == count
    assert spool.read().entries == ()
    ids = logged_ids(client)
    assert [ids[f"run-{index}"] for index in range(100, 100 + count)] == [1] * count


def test_flush_of_a_spool_that_was_never_written(tmp_path: Path, client: LedgerClient) -> None:
    spool = Spool(tmp_path / "nothing")
    assert spool.flush(client).to_dict() == FlushReport().to_dict()
    assert not spool.path.exists()
    assert spool.status().entries == 0
    assert not (tmp_path / "nothing" / ENTRIES_FILE).exists()


@pytest.mark.parametrize(
    "refusal",
    [
        StateContention(ErrorCode.DATA_DIR_LOCKED, "data directory busy", hint="wait"),
        StateContention(ErrorCode.SPOOL_LOCKED, "a spool is busy", hint="wait"),
    ],
    ids=["DATA_DIR_LOCKED", "SPOOL_LOCKED"],
)
def test_a_lock_held_elsewhere_stops_the_flush_and_keeps_every_entry(
    tmp_path: Path, refusal: StateContention
) -> None:
    # state_contention, like a conflict, but about a lock held for now, not the entry:
    # dead-lettering on it would throw good entries away for good.
    spool, events = spool_with(tmp_path, 3)
    before = spool.entries_path.read_bytes()
    with (
        refusing_ledger(refusal) as address,
        LedgerClient(address, retry=FAST) as busy,
        pytest.raises(StateContention) as stopped,
    ):
        spool.flush(busy, batch_size=2)
    assert stopped.value.code is refusal.code
    assert (stopped.value.details["delivered"], stopped.value.details["remaining"]) == (0, 3)
    assert spool.entries_path.read_bytes() == before
    assert spool.dead_letters() == []
    assert not spool.dead_letter_path.exists()
    with (
        DaemonProcess(tmp_path / "served") as daemon,
        LedgerClient(daemon.address) as up,
    ):
        assert spool.flush(up).delivered == 3
        assert all(logged_ids(up)[event.event_id] == 1 for event in events)


def test_a_conflict_with_the_log_is_still_dead_lettered(
    tmp_path: Path, client: LedgerClient
) -> None:
    stored = run_event(7)
    client.append(stored)
    # The same run under a new event id: not a duplicate, a second record of one run.
    reused_run = Event.from_envelope(
        msgspec.structs.replace(sample_run(7, notes="recorded twice"), event_id="run-7-again")
    )
    spool = Spool(tmp_path / "spool")
    spool.append(reused_run)
    spool.append(run_event(8))
    report = spool.flush(client)
    assert [(d.event_id, d.error_code) for d in report.dead_lettered] == [
        ("run-7-again", "RUN_ALREADY_RECORDED")
    ]
    assert (report.delivered, report.remaining) == (1, 0)


def test_an_unwritable_flush_lock_is_a_classified_failure(tmp_path: Path) -> None:
    spool, _ = spool_with(tmp_path, 1)
    # A FIFO can be opened and flocked, but not truncated or written at an offset:
    # a real file that fails exactly where the flusher records its pid.
    os.mkfifo(spool.path / FLUSH_LOCK_FILE, 0o600)
    with (
        LedgerClient(f"127.0.0.1:{free_port()}", retry=FAST) as never_called,
        pytest.raises(IoFailure) as failed,
    ):
        spool.flush(never_called)
    assert failed.value.code is ErrorCode.FILE_WRITE_FAILED
    assert FLUSH_LOCK_FILE in failed.value.message
    assert len(spool.read().entries) == 1


def test_a_hand_edit_during_a_flush_leaves_the_spool_alone(
    tmp_path: Path, client: LedgerClient
) -> None:
    spool, events = spool_with(tmp_path, 3)

    def edit(_report: FlushReport) -> None:
        data = bytearray(spool.entries_path.read_bytes())
        data[-1] ^= 0x01  # in place: same file, same size, a different last frame
        with spool.entries_path.open("r+b") as raw:
            raw.write(bytes(data))

    with pytest.raises(IoFailure) as changed:
        spool.flush(client, batch_size=1, on_batch=edit)
    assert changed.value.code is ErrorCode.FILE_WRITE_FAILED
    assert "changed during the flush" in changed.value.message
    # Untouched (the delivered entries replay as duplicates), and no temp file is left.
    assert len(spool.read().entries) == 2
    assert sorted(p.name for p in spool.path.iterdir()) == sorted(
        ["append.lock", "flush.lock", ENTRIES_FILE]
    )
    assert logged_ids(client)[events[0].event_id] == 1


def test_a_spool_rewritten_with_its_own_bytes_during_a_flush_is_compacted(
    tmp_path: Path, client: LedgerClient
) -> None:
    spool, _ = spool_with(tmp_path, 2)
    stray = run_event(60)

    def replace(report: FlushReport) -> None:
        if report.delivered != 1:
            return
        # Same bytes under a new inode, as an editor's save-by-rename leaves it, plus
        # one frame that was never appended through the lock.
        data = spool.entries_path.read_bytes() + encode_frame(stray.to_json())
        (spool.path / "edited").write_bytes(data)
        os.replace(spool.path / "edited", spool.entries_path)

    report = spool.flush(client, batch_size=1, on_batch=replace)
    # The replacement kept the snapshot's bytes, so the compaction may go ahead: the
    # frame added by the "editor" is carried over like any append.
    assert (report.delivered, report.remaining) == (2, 1)
    assert [e.event for e in spool.read().entries] == [stray]


def test_compaction_removes_a_crashed_compactions_temp_file(
    tmp_path: Path, client: LedgerClient
) -> None:
    spool, _ = spool_with(tmp_path, 2)
    stale = spool.path / f".{ENTRIES_FILE}.abc123.tmp"
    stale.write_bytes(b"half a compaction")
    assert spool.flush(client).delivered == 2
    assert not stale.exists()
    assert spool.entries_path.read_bytes() == b""
    assert stat.S_IMODE(spool.entries_path.stat().st_mode) == 0o600
