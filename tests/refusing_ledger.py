"""A stand-in gRPC server that refuses every Append with a given ledgerd error.

The real daemon cannot be made to answer DATA_DIR_LOCKED (it holds its directory
from start to stop), so this stands in for it on a real port, encoding the
refusal with the daemon's own status code, message and details trailer
(ledger/server/service.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import grpc

from ledger.errors import LedgerError
from ledger.v1 import ledger_pb2 as pb
from ledger.wire.status import DETAILS_KEY, status_code_for, status_details, wire_message


@contextmanager
def refusing_ledger(error: LedgerError) -> Iterator[str]:
    """Serve a refusing Append on a free loopback port; yields its address."""

    def append(_request: pb.AppendRequest, context: grpc.ServicerContext) -> pb.AppendResponse:
        context.set_trailing_metadata(((DETAILS_KEY, status_details(error)),))
        context.abort(status_code_for(error), wire_message(error))
        raise AssertionError("abort returns only by raising")

    handler = grpc.method_handlers_generic_handler(
        "ledger.v1.Ledger",
        {
            "Append": grpc.unary_unary_rpc_method_handler(
                append,
                request_deserializer=pb.AppendRequest.FromString,
                response_serializer=pb.AppendResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)
