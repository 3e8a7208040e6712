"""Client stubs for agents and gate workers: retrying gRPC clients, the spool and the agent hook.

The gRPC daemon these talk to lands with the daemon issue; until then agents use
the offline `ledgerctl import` path over the same store.
"""
