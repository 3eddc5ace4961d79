"""The gRPC server beside the HTTP one, in the same event loop and over the same core: rime.JobManager,
rime.JobReader, jobstore.v1.Audit and jobstore.v1.Health, the standard grpc.health.v1 service and server
reflection (so that grpcurl needs no .proto file)."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from jobstore.adapters.core.service import Core
from jobstore.adapters.grpc.audit import AUDIT, AUDIT_METHODS, HEALTH, HEALTH_METHODS
from jobstore.adapters.grpc.calls import service_handler
from jobstore.adapters.grpc.jobs import JOB_MANAGER, JOB_MANAGER_METHODS, JOB_READER, JOB_READER_METHODS
from jobstore.adapters.grpc.watch import WATCH, WATCH_METHODS
from jobstore.adapters.observability import Metrics

MAX_MESSAGE_BYTES = 1024 * 1024  # as the REST API's bodies; a larger request is RESOURCE_EXHAUSTED
DRAIN_SECONDS = 10.0  # as the HTTP server's graceful shutdown
SERVICES = {JOB_MANAGER: JOB_MANAGER_METHODS, JOB_READER: JOB_READER_METHODS, AUDIT: AUDIT_METHODS,
            WATCH: WATCH_METHODS, HEALTH: HEALTH_METHODS}
OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),  # a port another process holds is an error here, not a port shared with it
]


class PortTaken(RuntimeError):
    pass


class GrpcServer:
    def __init__(self, core: Core, metrics: Metrics) -> None:
        self.server = grpc.aio.server(options=OPTIONS)
        self.health = health.aio.HealthServicer()
        for name, methods in SERVICES.items():
            self.server.add_generic_rpc_handlers([service_handler(name, methods, core, metrics)])
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (port 0: any free one) and serve; returns the port."""
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as error:
            raise PortTaken(f"cannot serve gRPC on {address}: {error}; choose another --grpc-port, or "
                            "--grpc-port 0 to serve HTTP only") from None
        await self.server.start()
        for name in ("", *SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self, grace: float = DRAIN_SECONDS) -> None:
        """Refuse new calls and let those in flight finish (at most `grace` seconds)."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
