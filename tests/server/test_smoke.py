from __future__ import annotations

from clients.client import LedgerClient
from clients.event import Event
from ledger.samples import sample_run


def test_an_appended_event_reads_back(client: LedgerClient) -> None:
    result = client.append(Event.from_envelope(sample_run(1)))
    assert result.seq == 1  # seq 0 is the daemon's ledger.started
    assert [entry.event.type for entry in client.read()] == ["ledger.started", "run.recorded"]
