"""`ledgerctl`: the command line for people, CI steps and auditors."""
