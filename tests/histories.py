"""Real logs that a verifier must tell apart: one honest history and its dishonest rivals.

Every rival is a real `ledgerd` over its own data directory, with a real history
appended through the client. Forks and the cut-back log are signed with the
honest log's own key, as a server holding that key could do; one log is signed
by another key. A verifier that pinned the honest log must reject each rival.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from clients.client import LedgerClient
from clients.event import Event
from daemon import DaemonProcess
from ledger.model import Envelope
from ledger.samples import sample_finding, sample_run

ORIGIN = "ledger.test/online"

#: The honest log: ledger.started, then these.
HONEST = [sample_run(i) for i in range(5)]


def serve(data_dir: Path, key_file: Path, *, port: int | None = None) -> DaemonProcess:
    """A started ledgerd over `data_dir`, signing checkpoints with `key_file`."""
    return DaemonProcess(data_dir, port=port, args=("--signing-key", str(key_file))).start()


def append_all(address: str, envelopes: Sequence[Envelope]) -> int:
    """Append `envelopes` in one batch; returns the tree size after it."""
    with LedgerClient(address) as client:
        return client.append_batch([Event.from_envelope(e) for e in envelopes]).tree_size


@dataclass(frozen=True)
class Rivals:
    """Daemons serving the honest log and its rivals, all running at once."""

    honest: DaemonProcess
    #: Same key, other events, more of them: no consistency proof can connect it.
    longer_fork: DaemonProcess
    #: Same key, other events, the same size: a second root signed for one size.
    same_size_fork: DaemonProcess
    #: Same key, fewer entries than the honest log: a rollback.
    shorter: DaemonProcess
    #: The honest history, but signed by another key.
    other_key: DaemonProcess


@contextmanager
def serve_rivals(root: Path, key_file: Path, other_key_file: Path) -> Iterator[Rivals]:
    """Start every daemon of `Rivals` under `root`; kills them all on exit."""
    with ExitStack() as stack:

        def started(name: str, key: Path, events: Sequence[Envelope]) -> DaemonProcess:
            process = serve(root / name, key)
            stack.callback(process.kill)
            append_all(process.address, events)
            return process

        yield Rivals(
            honest=started("honest", key_file, HONEST),
            longer_fork=started("longer", key_file, [sample_finding(i) for i in range(9)]),
            same_size_fork=started("same-size", key_file, [sample_finding(i) for i in range(5)]),
            shorter=started("shorter", key_file, HONEST[:2]),
            other_key=started("other-key", other_key_file, HONEST),
        )
