"""`python -m ledger.server`: the same as the `ledgerd` command."""

from ledger.server.main import entry_point

entry_point()
