"""Client stubs for agents and gate workers: retrying gRPC clients, the spool and the agent hook.

Agents record runs with `emit_run_record` (or `ledgerctl emit run`), which
never fails a run because the ledger is down: the record waits in a `Spool`
until `Spool.flush` (or `ledgerctl spool flush`) lands it, exactly once.
"""

from __future__ import annotations

from clients.aio import AsyncLedgerClient
from clients.client import LedgerClient
from clients.event import Event
from clients.hook import EmitResult, build_run_record, emit_event, emit_run_record
from clients.retry import NO_RETRY, RetryPolicy
from clients.spool import Spool, default_spool_path

__all__ = [
    "NO_RETRY",
    "AsyncLedgerClient",
    "EmitResult",
    "Event",
    "LedgerClient",
    "RetryPolicy",
    "Spool",
    "build_run_record",
    "default_spool_path",
    "emit_event",
    "emit_run_record",
]
