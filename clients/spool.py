"""The local durable spool: events kept on disk while the ledger is unreachable, flushed later.

A spool is a directory (mode 0700) holding:

- `entries.spool`: the append-only entry file. Each entry is one frame,
  `magic || u32 length || payload || SHA-256(payload)` (specs/spool.md), whose
  payload is an event's envelope JSON (`Event.to_json()`). Every append is
  fsynced, and the directory too when the file is created.
- `dead-letter.jsonl`: entries the ledger refused for good (invalid, conflicting)
  and damaged bytes, one JSON object per line, each with the reason.
- `append.lock` and `flush.lock`: the two `flock` locks described below.

Reading never trusts the file: a torn last frame (a crash mid-append) and a
corrupt frame in the middle are skipped and reported, and every intact frame
around them is still read.

Concurrency. Appenders hold `append.lock` exclusively only while they write one
frame. A flusher takes `flush.lock` (a second flusher gets SPOOL_LOCKED), then
notes the file's size N under a shared `append.lock` and delivers the frames
in `[0, N)` without holding it, so appenders never wait for the network. To
compact, it writes the frames it could not deliver to a synced temp file,
then takes `append.lock` exclusively only to add the bytes appended after N,
verbatim, and rename the temp file over the entry file; appenders never wait
for work that grows with the spool. An appender opens the file only once it
holds the lock, so it writes either before the compaction (and its frame is
carried over) or into the new file: no entry is lost. A flusher that crashes
before compacting leaves the spool as it was; replaying it is harmless because
event ids are fixed, so an entry delivered twice is a duplicate, not a second
event.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from clients.client import LedgerClient
from clients.event import Event
from ledger.clock import Clock, SystemClock, format_utc
from ledger.errors import (
    Category,
    ErrorCode,
    InvalidInput,
    IoFailure,
    LedgerError,
    StateContention,
)
from ledger.fsutil import fsync_dir

#: The first four bytes of every frame. 0xFF never occurs in UTF-8, so the magic
#: can never appear inside a payload, which makes resynchronising after damage safe.
MAGIC = b"\xffLS1"
_HEADER = struct.Struct(">4sI")
HEADER_SIZE = _HEADER.size
CHECKSUM_SIZE = hashlib.sha256().digest_size
FRAME_OVERHEAD = HEADER_SIZE + CHECKSUM_SIZE
#: The largest payload a frame may carry (4 MiB; events are at most 1 MiB). A bound
#: keeps a corrupt length from making a reader treat megabytes as one frame.
MAX_PAYLOAD = 4 << 20

ENTRIES_FILE = "entries.spool"
DEAD_LETTER_FILE = "dead-letter.jsonl"
APPEND_LOCK_FILE = "append.lock"
FLUSH_LOCK_FILE = "flush.lock"

SPOOL_ENV = "LEDGER_SPOOL"
#: How long an appender waits for another appender or a compaction before giving up.
DEFAULT_LOCK_WAIT_S = 10.0
DEFAULT_BATCH_SIZE = 100

_ENCODER = msgspec.json.Encoder()
#: The state_contention codes that are the entry's own fault: it conflicts with what
#: the log already holds, and always will. The category's other codes (DATA_DIR_LOCKED,
#: SPOOL_LOCKED) are someone else holding a lock for now, which says nothing about
#: the entry, so they are not listed here.
REFUSED_FOR_GOOD_CODES = frozenset(
    {
        ErrorCode.EVENT_ID_CONFLICT,
        ErrorCode.RUN_ALREADY_RECORDED,
        ErrorCode.WRONG_EXPECTED_VERSION,
    }
)


def refused_for_good(error: LedgerError) -> bool:
    """Whether the ledger refused an event in a way no later attempt can change.

    Such an entry goes to the dead-letter file, since keeping it would block the
    entries after it forever; any other failure stops the flush and keeps it.
    """
    return error.category is Category.INVALID_INPUT or error.code in REFUSED_FOR_GOOD_CODES


def default_spool_path() -> Path:
    """$LEDGER_SPOOL, else $XDG_STATE_HOME/ledgerd/spool, else ~/.local/state/ledgerd/spool."""
    explicit = os.environ.get(SPOOL_ENV)
    if explicit:
        return Path(explicit)
    state_home = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    if state_home and os.path.isabs(state_home):
        return Path(state_home) / "ledgerd" / "spool"
    try:
        home = Path.home()
    except RuntimeError:
        raise InvalidInput(
            ErrorCode.INVALID_CONFIG,
            "cannot find a home directory for the default spool",
            hint=f"set {SPOOL_ENV} (or XDG_STATE_HOME) to a writable directory",
        ) from None
    return home / ".local" / "state" / "ledgerd" / "spool"


# --- frames ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One intact frame: where it starts, its whole size on disk, and its payload."""

    offset: int
    size: int
    payload: bytes


DamageReason = Literal["corrupt", "torn"]


@dataclass(frozen=True)
class Damage:
    """Bytes that are not an intact frame, skipped by every reader.

    `torn` is damage that runs to the end of the file (typically an append cut
    short by a crash); `corrupt` is damage with intact frames after it.
    """

    offset: int
    length: int
    reason: DamageReason

    def to_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "length": self.length, "reason": self.reason}


@dataclass(frozen=True)
class FrameScan:
    """Everything a byte string holds: its intact frames and its damaged stretches, in order."""

    frames: tuple[Frame, ...]
    damaged: tuple[Damage, ...]


def encode_frame(payload: bytes) -> bytes:
    """`magic || u32 big-endian length || payload || SHA-256(payload)`."""
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise InvalidInput(
            ErrorCode.REQUEST_TOO_LARGE if payload else ErrorCode.INVALID_ARGUMENT,
            f"a spool entry must be 1 to {MAX_PAYLOAD} bytes, not {len(payload)}",
            hint="events are at most 1 MiB; keep large artefacts outside the ledger",
            details={"limit": MAX_PAYLOAD},
        )
    return _HEADER.pack(MAGIC, len(payload)) + payload + hashlib.sha256(payload).digest()


def _frame_at(data: bytes, offset: int) -> Frame | None:
    """The intact frame starting at `offset`, or None if there is none."""
    if len(data) - offset < FRAME_OVERHEAD:
        return None
    magic, length = _HEADER.unpack_from(data, offset)
    if magic != MAGIC or not 1 <= length <= MAX_PAYLOAD:
        return None
    end = offset + FRAME_OVERHEAD + length
    if end > len(data):
        return None
    start = offset + HEADER_SIZE
    payload = data[start : start + length]
    if hashlib.sha256(payload).digest() != data[start + length : end]:
        return None
    return Frame(offset=offset, size=end - offset, payload=payload)


def decode_frames(data: bytes) -> FrameScan:
    """Read every intact frame; skip and report whatever lies between or after them.

    After damage, reading resumes at the next offset holding an intact frame
    (the next magic whose length and checksum hold), so one bad frame never
    hides the good ones after it.
    """
    frames: list[Frame] = []
    damaged: list[Damage] = []
    offset = 0
    while offset < len(data):
        frame = _frame_at(data, offset)
        if frame is not None:
            frames.append(frame)
            offset += frame.size
            continue
        resume = _next_frame_start(data, offset + 1)
        if resume is None:
            damaged.append(Damage(offset, len(data) - offset, "torn"))
            break
        damaged.append(Damage(offset, resume - offset, "corrupt"))
        offset = resume
    return FrameScan(tuple(frames), tuple(damaged))


def _next_frame_start(data: bytes, start: int) -> int | None:
    candidate = data.find(MAGIC, start)
    while candidate != -1:
        if _frame_at(data, candidate) is not None:
            return candidate
        candidate = data.find(MAGIC, candidate + 1)
    return None


# --- file plumbing --------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_all(fd: int, size: int, start: int = 0) -> bytes:
    """Bytes `[start, size)` of `fd` (fewer if the file is shorter)."""
    chunks: list[bytes] = []
    offset = start
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_failed(path: Path, exc: OSError) -> IoFailure:
    return IoFailure(
        ErrorCode.FILE_WRITE_FAILED,
        f"could not write the spool at {path}: {exc.strerror or exc}",
        hint=f"check that the directory is writable and has free space, or set {SPOOL_ENV}",
    )


def _read_failed(path: Path, exc: OSError) -> IoFailure:
    return IoFailure(
        ErrorCode.FILE_UNREADABLE,
        f"could not read the spool at {path}: {exc.strerror or exc}",
        hint="check the spool directory's permissions",
    )


def _recorded_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None


@contextmanager
def _flock(path: Path, *, exclusive: bool, wait_s: float, what: str, hint: str) -> Iterator[int]:
    """Hold an flock on `path` (created 0600 if absent) for the `with` block.

    Waits up to `wait_s` (0: not at all), then raises SPOOL_LOCKED saying `what`
    held it, with the caller's `hint` (only the caller knows what waiting for
    means), and the holder's pid when the lock file records one. Closing the
    descriptor releases the lock, also when the process dies.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _write_failed(path, exc) from None
    try:
        operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, operation)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _recorded_pid(fd)
                    raise StateContention(
                        ErrorCode.SPOOL_LOCKED,
                        f"the spool {path.parent} is busy: {what}",
                        hint=hint,
                        details={"holder_pid": holder} if holder is not None else None,
                    ) from None
                time.sleep(0.005)
        yield fd
    finally:
        os.close(fd)


# --- the spool ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolEntry:
    """One intact frame and the event it holds (`error` says why it holds none)."""

    frame: Frame
    event: Event | None
    error: LedgerError | None


@dataclass(frozen=True)
class SpoolScan:
    """A snapshot of the entry file: its entries and damage, and the bytes it covered."""

    entries: tuple[SpoolEntry, ...]
    damaged: tuple[Damage, ...]
    size: int


@dataclass(frozen=True)
class SpoolStatus:
    """What `ledgerctl spool status` reports."""

    path: Path
    entries: int
    size: int
    #: The earliest `occurred_at` among the entries, as written.
    oldest_occurred_at: str | None
    #: Intact frames whose payload is not an event (dead-lettered by the next flush).
    undecodable: int
    damaged: int
    damaged_bytes: int
    dead_letters: int

    def to_dict(self) -> dict[str, object]:
        return {
            "spool": str(self.path),
            "entries": self.entries,
            "bytes": self.size,
            "oldest_occurred_at": self.oldest_occurred_at,
            "undecodable": self.undecodable,
            "damaged": self.damaged,
            "damaged_bytes": self.damaged_bytes,
            "dead_letters": self.dead_letters,
        }


@dataclass(frozen=True)
class DeadLetter:
    """An entry (or damaged stretch) moved to the dead-letter file, and why."""

    event_id: str | None
    error_code: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"event_id": self.event_id, "error_code": self.error_code, "error": self.message}


@dataclass
class FlushReport:
    """What one flush did. `remaining` counts the entries left in the spool afterwards."""

    delivered: int = 0
    duplicates: int = 0
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    remaining: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "dead_lettered": [letter.to_dict() for letter in self.dead_lettered],
            "damaged": [damage.to_dict() for damage in self.damaged],
            "remaining": self.remaining,
        }


class Spool:
    """A spool directory. Cheap to make; nothing is created until the first append."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else default_spool_path()
        self.entries_path = self.path / ENTRIES_FILE
        self.dead_letter_path = self.path / DEAD_LETTER_FILE
        self.lock_wait_s = lock_wait_s
        self._append_lock = self.path / APPEND_LOCK_FILE
        self._flush_lock = self.path / FLUSH_LOCK_FILE
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"Spool({str(self.path)!r})"

    # Writing ----------------------------------------------------------------------------

    def append(self, event: Event) -> None:
        """Append one event durably: synced to disk before this returns."""
        if event.expected_version is not None:
            # A spooled event is sent later, after its stream has moved on: a version
            # guard taken now could not mean what the caller meant by it.
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                "an event with an expected_version cannot be spooled",
                hint="spool only unguarded events, or retry the guarded append yourself",
                details={"event_id": event.event_id},
            )
        frame = encode_frame(event.to_json())
        self._ensure_dir()
        with _flock(
            self._append_lock,
            exclusive=True,
            wait_s=self.lock_wait_s,
            what=f"its append lock was held by another process for over {self.lock_wait_s:g} s",
            hint="another append or a flush's compaction is slow (a stalled disk?); "
            "try again, or wait longer with Spool(lock_wait_s=...)",
        ):
            self._append_frame(frame)

    def _append_frame(self, frame: bytes) -> None:
        created = not self.entries_path.exists()
        try:
            fd = os.open(
                self.entries_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except OSError as exc:
            raise _write_failed(self.entries_path, exc) from None
        try:
            size = os.fstat(fd).st_size
            try:
                _write_all(fd, frame)
                os.fsync(fd)
            except OSError as exc:
                # Leave no partial frame behind when we can (a full disk, say).
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise _write_failed(self.entries_path, exc) from None
        finally:
            os.close(fd)
        if created:
            try:
                fsync_dir(self.path)
            except OSError as exc:
                raise _write_failed(self.path, exc) from None

    def _ensure_dir(self) -> None:
        if self.path.is_dir():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self.path.mkdir(mode=0o700)
            fsync_dir(self.path.parent)
        except OSError as exc:
            raise _write_failed(self.path, exc) from None

    # Reading ----------------------------------------------------------------------------

    def _snapshot(self, start: int = 0) -> bytes:
        """The entry file's bytes from `start` on, as of now: whole appends, never one half-done."""
        if not self.path.is_dir():
            return b""
        with _flock(
            self._append_lock,
            exclusive=False,
            wait_s=self.lock_wait_s,
            what=f"its append lock was held for over {self.lock_wait_s:g} s",
            hint="an append or a flush's compaction is slow (a stalled disk?); try again",
        ):
            try:
                fd = os.open(self.entries_path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return b""
            except OSError as exc:
                raise _read_failed(self.entries_path, exc) from None
            try:
                size = os.fstat(fd).st_size
            except OSError as exc:
                os.close(fd)
                raise _read_failed(self.entries_path, exc) from None
        # Read outside the lock: appends only add bytes past `size`, and a compaction
        # replaces the file by rename, which leaves the inode we opened untouched.
        try:
            return _read_all(fd, size, start)
        except OSError as exc:
            raise _read_failed(self.entries_path, exc) from None
        finally:
            os.close(fd)

    def read(self) -> SpoolScan:
        """Every entry and every damaged stretch, as of now."""
        data = self._snapshot()
        return _scan(data)

    def status(self) -> SpoolStatus:
        scan = self.read()
        events = [entry.event for entry in scan.entries if entry.event is not None]
        oldest = min(events, key=_occurred, default=None)
        return SpoolStatus(
            path=self.path,
            entries=len(scan.entries),
            size=scan.size,
            oldest_occurred_at=oldest.occurred_at if oldest is not None else None,
            undecodable=len(scan.entries) - len(events),
            damaged=len(scan.damaged),
            damaged_bytes=sum(damage.length for damage in scan.damaged),
            dead_letters=len(self._dead_letter_keys()),
        )

    def dead_letters(self) -> list[dict[str, object]]:
        """The dead-letter records, oldest first (a torn last line is skipped)."""
        records: list[dict[str, object]] = []
        for line in self._dead_letter_lines():
            with contextlib.suppress(msgspec.DecodeError):
                record = msgspec.json.decode(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def _dead_letter_lines(self) -> list[bytes]:
        try:
            data = self.dead_letter_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _read_failed(self.dead_letter_path, exc) from None
        return [line for line in data.split(b"\n") if line.strip()]

    def _dead_letter_keys(self) -> set[str]:
        keys: set[str] = set()
        for record in self.dead_letters():
            key = record.get("sha256")
            if isinstance(key, str):
                keys.add(key)
        return keys

    # Flushing ---------------------------------------------------------------------------

    def flush(
        self,
        client: LedgerClient,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        on_batch: Callable[[FlushReport], None] | None = None,
    ) -> FlushReport:
        """Deliver every entry through `client`, then compact the spool atomically.

        Entries the ledger refuses for good (`refused_for_good`: invalid_input, or
        a conflict with the log such as a reused event or run id) and damaged
        bytes go to the dead-letter file and are reported; they never block the
        others. Any other failure (the daemon unreachable after the
        client's retries, say) stops the flush: what was delivered is compacted
        away, the rest stays, and that error is raised with the counts so far
        in its details. `on_batch` is called after each delivered batch.

        A second flush of the same spool at the same time gets SPOOL_LOCKED.
        """
        if batch_size < 1:
            raise InvalidInput(
                ErrorCode.INVALID_ARGUMENT,
                f"batch_size must be at least 1, not {batch_size}",
                hint="use a batch size from 1 to 10,000",
            )
        report = FlushReport()
        if not self.path.is_dir():
            return report
        with _flock(
            self._flush_lock,
            exclusive=True,
            wait_s=0,
            what="another process is flushing it",
            hint="wait for the other flush to finish, then run it again",
        ) as lock_fd:
            try:
                # The pid only names the holder in a rival's SPOOL_LOCKED; the lock is the
                # flock, but a lock file we cannot write is a spool we cannot trust to write.
                os.ftruncate(lock_fd, 0)
                os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as exc:
                raise _write_failed(self._flush_lock, exc) from None
            try:
                return self._flush_locked(client, batch_size, on_batch, report)
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(lock_fd, 0)

    def _flush_locked(
        self,
        client: LedgerClient,
        batch_size: int,
        on_batch: Callable[[FlushReport], None] | None,
        report: FlushReport,
    ) -> FlushReport:
        data = self._snapshot()
        scan = _scan(data)
        seen = self._dead_letter_keys()
        for damage in scan.damaged:
            chunk = data[damage.offset : damage.offset + damage.length]
            self._dead_letter_damage(damage, chunk, seen)
            report.damaged.append(damage)
        queue: list[tuple[SpoolEntry, Event]] = []
        for entry in scan.entries:
            if entry.event is not None:
                queue.append((entry, entry.event))
            elif entry.error is not None:
                self._dead_letter_entry(entry, entry.error, seen, report)

        position = 0
        # After a batch is refused for one bad entry, its entries go one by one up to here,
        # so the culprit is found and the others still land.
        singles_until = 0
        stop: LedgerError | None = None
        while position < len(queue):
            size = 1 if position < singles_until else batch_size
            batch = queue[position : position + size]
            try:
                outcome = client.append_batch([event for _, event in batch])
            except LedgerError as exc:
                if not refused_for_good(exc):
                    stop = exc
                    break
                if len(batch) > 1:
                    singles_until = position + len(batch)
                else:
                    self._dead_letter_entry(batch[0][0], exc, seen, report)
                    position += 1
                continue
            for result in outcome.results:
                if result.duplicate:
                    report.duplicates += 1
                else:
                    report.delivered += 1
            position += len(batch)
            if on_batch is not None:
                on_batch(report)

        if position > 0 or report.dead_lettered or report.damaged:
            kept = [_frame_bytes(data, entry.frame) for entry, _ in queue[position:]]
            tail = self._compact(data, kept)
            report.remaining = len(kept) + len(decode_frames(tail).frames)
        else:
            # Nothing to remove, so nothing was rewritten: every entry of the snapshot is
            # still there. Only what was appended since needs reading to be counted.
            tail = self._snapshot(start=len(data))
            report.remaining = len(scan.entries) + len(decode_frames(tail).frames)
        if stop is not None:
            counts = report.to_dict()
            raise stop.add_context(
                where="flush stopped",
                hint="; the undelivered entries stay in the spool: flush again later",
                spool=str(self.path),
                delivered=counts["delivered"],
                duplicates=counts["duplicates"],
                remaining=counts["remaining"],
            )
        return report

    def _compact(self, snapshot: bytes, kept: list[bytes]) -> bytes:
        """Replace the entry file by `kept` and whatever was appended after `snapshot`.

        Returns those later bytes. Appenders wait at most `lock_wait_s` for the
        append lock, and an agent's hook fails if the spool cannot take its
        record, so the lock is held only for work that does not grow with the
        spool. Before taking it: check that the file still starts with
        `snapshot` (appends only add bytes after it, so reading it unlocked is
        safe) and write and sync the kept frames into the replacement. Under it:
        check the file is still the one checked (same inode, not shorter), read
        the bytes appended during the flush, add them to the replacement, sync
        it and rename it into place. An appender holds the lock while it opens
        the file, so its frame lands either in the tail or in the new file.
        """
        # A compaction that crashed before its rename leaves its temp file behind; we
        # hold the flush lock, so no other flusher's temp file can be in progress.
        for stale in self.path.glob(f".{ENTRIES_FILE}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        checked = self._check_prefix(snapshot)
        try:
            temp_fd, temp_name = tempfile.mkstemp(
                prefix=f".{ENTRIES_FILE}.", suffix=".tmp", dir=self.path
            )
        except OSError as exc:
            raise _write_failed(self.entries_path, exc) from None
        renamed = False
        try:
            os.fchmod(temp_fd, 0o600)
            _write_all(temp_fd, b"".join(kept))
            # Synced now, so the sync under the lock has only the tail left to write out.
            os.fsync(temp_fd)
            with _flock(
                self._append_lock,
                exclusive=True,
                wait_s=self.lock_wait_s,
                what=f"an append held its append lock for over {self.lock_wait_s:g} s",
                hint="an append is slow (a stalled disk?); nothing was lost: flush again "
                "(the entries already delivered come back as duplicates)",
            ):
                tail = self._tail_since(snapshot, checked)
                _write_all(temp_fd, tail)
                os.fsync(temp_fd)
                os.replace(temp_name, self.entries_path)
                renamed = True
                fsync_dir(self.path)
        except OSError as exc:
            raise _write_failed(self.entries_path, exc) from None
        finally:
            os.close(temp_fd)
            if not renamed:
                with contextlib.suppress(OSError):
                    os.unlink(temp_name)
        return tail

    def _check_prefix(self, snapshot: bytes) -> os.stat_result:
        """Check, without the append lock, that the entry file still starts with `snapshot`.

        Returns the file's stat, so that the locked part can tell it is the same file.
        """
        try:
            fd = os.open(self.entries_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise self._changed_by_hand() from None
        except OSError as exc:
            raise _read_failed(self.entries_path, exc) from None
        try:
            checked = os.fstat(fd)
            prefix = _read_all(fd, len(snapshot))
        except OSError as exc:
            raise _read_failed(self.entries_path, exc) from None
        finally:
            os.close(fd)
        if prefix != snapshot:
            raise self._changed_by_hand()
        return checked

    def _tail_since(self, snapshot: bytes, checked: os.stat_result) -> bytes:
        """Under the append lock: the bytes appended after `snapshot` to the checked file."""
        try:
            fd = os.open(self.entries_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise self._changed_by_hand() from None
        except OSError as exc:
            raise _read_failed(self.entries_path, exc) from None
        try:
            current = os.fstat(fd)
            # Only a flusher replaces the file or makes it shorter, and we hold the flush
            # lock. (An in-place edit of the prefix since `_check_prefix` goes unseen, as
            # any edit would if made a moment later; the spool is not for editing.)
            if (current.st_dev, current.st_ino) != (checked.st_dev, checked.st_ino) or (
                current.st_size < len(snapshot)
            ):
                raise self._changed_by_hand()
            return _read_all(fd, current.st_size, len(snapshot))
        except OSError as exc:
            raise _read_failed(self.entries_path, exc) from None
        finally:
            os.close(fd)

    def _changed_by_hand(self) -> IoFailure:
        # Only a flusher rewrites the file, and we hold the flush lock: someone edited it
        # by hand. Leave it alone; replaying it later is harmless.
        return IoFailure(
            ErrorCode.FILE_WRITE_FAILED,
            f"{self.entries_path} changed during the flush other than by appends",
            hint="do not edit the spool by hand; flush again (replays are harmless)",
        )

    # Dead letters -----------------------------------------------------------------------

    def _dead_letter_entry(
        self, entry: SpoolEntry, error: LedgerError, seen: set[str], report: FlushReport
    ) -> None:
        payload = entry.frame.payload
        key = hashlib.sha256(payload).hexdigest()
        event_id = entry.event.event_id if entry.event is not None else None
        report.dead_lettered.append(DeadLetter(event_id, str(error.code), error.message))
        if key in seen:
            return
        record: dict[str, object] = {
            "kind": "entry",
            "dead_lettered_at": format_utc(self._clock.now()),
            "sha256": key,
            "event_id": event_id,
            "error": {k: v for k, v in error.to_dict().items() if k != "ok"},
        }
        if entry.event is not None:
            record["event"] = msgspec.Raw(payload)
        else:
            record["payload_b64"] = base64.b64encode(payload).decode("ascii")
        self._write_dead_letter(record)
        seen.add(key)

    def _dead_letter_damage(self, damage: Damage, chunk: bytes, seen: set[str]) -> None:
        key = hashlib.sha256(chunk).hexdigest()
        if key in seen:
            return
        self._write_dead_letter(
            {
                "kind": "damaged",
                "dead_lettered_at": format_utc(self._clock.now()),
                "sha256": key,
                **damage.to_dict(),
                "bytes_b64": base64.b64encode(chunk).decode("ascii"),
            }
        )
        seen.add(key)

    def _write_dead_letter(self, record: dict[str, object]) -> None:
        line = _ENCODER.encode(record) + b"\n"
        created = not self.dead_letter_path.exists()
        try:
            fd = os.open(
                self.dead_letter_path,
                os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                0o600,
            )
            try:
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path)
        except OSError as exc:
            raise _write_failed(self.dead_letter_path, exc) from None


def _frame_bytes(data: bytes, frame: Frame) -> bytes:
    return data[frame.offset : frame.offset + frame.size]


def _scan(data: bytes) -> SpoolScan:
    frames = decode_frames(data)
    entries: list[SpoolEntry] = []
    for frame in frames.frames:
        try:
            entries.append(SpoolEntry(frame, Event.from_json(frame.payload), None))
        except LedgerError as exc:
            entries.append(SpoolEntry(frame, None, exc))
    return SpoolScan(tuple(entries), frames.damaged, len(data))


_LAST = datetime.max.replace(tzinfo=UTC)


def _occurred(event: Event) -> datetime:
    # Spooled text is unvalidated: a time that does not parse sorts last, not fails status.
    try:
        instant = datetime.fromisoformat(event.occurred_at)
    except ValueError:
        return _LAST
    return instant if instant.tzinfo is not None else _LAST
