"""The `ledgerd` daemon: a thin gRPC edge over the event log."""
