"""Generated gRPC and protobuf code for `proto/ledger/v1/ledger.proto` (package `ledger.v1`).

Do not edit the `*_pb2*` modules: `python scripts/gen_proto.py` regenerates them,
and a test fails when they are stale against `proto/`.
"""
