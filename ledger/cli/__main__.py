"""`python -m ledger.cli`: the same as the `ledgerctl` script."""

from __future__ import annotations

from ledger.cli.main import entry_point

entry_point()
