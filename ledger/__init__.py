"""ledgerd: a tamper-evident, event-sourced ledger for automated software pipelines."""

from __future__ import annotations

__version__ = "0.1.0"
