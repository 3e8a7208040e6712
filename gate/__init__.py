"""Gate workers: the honesty guard, command probes, gate runs and their reports.

Gate workers write findings through the client stubs once those land; the event
types they record (`finding.reported`) are defined in `ledger.model` already.
"""
