"""What crosses the gRPC boundary: error statuses and proto <-> model conversions.

Shared by the daemon and the client stubs, so both sides read the same contract
(specs/grpc-api.md) the same way.
"""
