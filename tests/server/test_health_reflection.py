"""Stock tooling against the daemon: gRPC health checking and server reflection.

The reflection test builds the Append request from the descriptors the daemon
serves, in a fresh descriptor pool, without any of our generated code: what
`grpcurl` or any dynamic client does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from clients.client import LedgerClient
from clients.event import Event
from daemon import DaemonProcess
from ledger.samples import sample_run
from ledger.v1 import ledger_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def channel(daemon: DaemonProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(daemon.address) as opened:
        yield opened


# Health --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", "ledger.v1.Ledger"])
def test_health_is_serving(channel: grpc.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    assert response.status == SERVING


def test_health_of_an_unknown_service_is_not_found(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_health_turns_not_serving_on_shutdown(daemon: DaemonProcess, channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    statuses: queue.Queue[int | None] = queue.Queue()

    def watch() -> None:
        try:
            for response in stub.Watch(
                health_pb2.HealthCheckRequest(service="ledger.v1.Ledger"), timeout=30
            ):
                statuses.put(response.status)
        except grpc.RpcError:
            pass
        statuses.put(None)

    threading.Thread(target=watch, daemon=True).start()
    assert statuses.get(timeout=10) == SERVING
    assert daemon.stop() == 0
    seen = []
    while (status := statuses.get(timeout=30)) is not None:
        seen.append(status)
    assert seen == [NOT_SERVING]


# Reflection ----------------------------------------------------------------------------


def reflect(
    channel: grpc.Channel, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    return response


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    response = reflect(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {service.name for service in response.list_services_response.service}
    assert names == {
        "ledger.v1.Ledger",
        "ledger.v1.Projections",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def fresh_pool(channel: grpc.Channel, symbol: str) -> descriptor_pool.DescriptorPool:
    """A descriptor pool holding only what the daemon described for `symbol`."""
    response = reflect(
        channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    )
    assert response.WhichOneof("message_response") == "file_descriptor_response"
    pool = descriptor_pool.DescriptorPool()
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(blob)
        for blob in response.file_descriptor_response.file_descriptor_proto
    ]
    assert [f.name for f in files] == ["ledger/v1/ledger.proto"]  # it imports nothing
    for file in files:
        pool.Add(file)
    return pool


def test_a_dynamic_client_can_call_append_from_reflection_alone(
    channel: grpc.Channel, daemon: DaemonProcess
) -> None:
    pool = fresh_pool(channel, "ledger.v1.Ledger")
    service = pool.FindServiceByName("ledger.v1.Ledger")
    assert [m.name for m in service.methods] == [
        "Append",
        "Read",
        "Subscribe",
        "GetEvent",
        "GetCheckpoint",
        "GetInclusionProof",
        "GetConsistencyProof",
    ]
    append = service.FindMethodByName("Append")
    assert (append.input_type.full_name, append.output_type.full_name) == (
        "ledger.v1.AppendRequest",
        "ledger.v1.AppendResponse",
    )
    request_class = message_factory.GetMessageClass(append.input_type)
    response_class = message_factory.GetMessageClass(append.output_type)
    # Nothing of ledger.v1's generated code is in play: these are new classes.
    assert request_class is not ledger_pb2.AppendRequest
    assert request_class.DESCRIPTOR.file.pool is pool

    event = Event.from_envelope(sample_run(1))
    request = request_class()
    item = request.items.add()
    item.expected_version = 0
    for name in (
        "event_id",
        "stream",
        "type",
        "schema_version",
        "occurred_at",
        "producer",
        "correlation_id",
        "data_json",
    ):
        setattr(item.event, name, getattr(event, name) or "")
    call = channel.unary_unary(
        f"/{service.full_name}/{append.name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    response = call(request, timeout=10)
    assert [(r.seq, r.stream_version, r.duplicate) for r in response.results] == [(1, 1, False)]
    assert response.tree_size == 2
    # And it is the very event our own client would have written.
    with LedgerClient(daemon.address) as client:
        assert client.get_event(seq=1).event == event


def test_reflection_describes_a_message_and_refuses_an_unknown_symbol(
    channel: grpc.Channel,
) -> None:
    pool = fresh_pool(channel, "ledger.v1.LogEntry")
    entry = pool.FindMessageTypeByName("ledger.v1.LogEntry")
    assert [(f.name, f.number) for f in entry.fields] == [
        ("seq", 1),
        ("prev", 2),
        ("recorded_at", 3),
        ("event", 4),
        ("leaf", 5),
        ("leaf_hash", 6),
    ]
    response = reflect(
        channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol="ledger.v1.Nope")
    )
    assert response.WhichOneof("message_response") == "error_response"
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
