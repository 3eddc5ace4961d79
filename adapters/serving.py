"""`jobstore serve`: the HTTP API and, beside it in the same event loop, the gRPC services, both over one core;
the projections; and a shutdown that drains both (in-flight requests and calls finish) before the store closes."""
from __future__ import annotations

import asyncio
import signal
import socket
import sys

import uvicorn
from fastapi import FastAPI

from jobstore.adapters.core.access import Role
from jobstore.adapters.grpc.server import GrpcServer, PortTaken
from jobstore.adapters.http.app import create_app
from jobstore.adapters.http.connections import limited_protocol
from jobstore.adapters.operations import build_log_tree
from jobstore.adapters.runtime import Services
from jobstore.adapters.transparency import SigningKeyProblem
from jobstore.adapters.worker import KeyChangeListener

GRACEFUL_SECONDS = 10


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which on shutdown also drains the gRPC server, alongside its own connections; the app
    closes the store only after both (create_app's lifespan awaits app.state.draining)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, grpc_server: GrpcServer | None) -> None:
        super().__init__(config)
        self.app = app
        self.grpc_server = grpc_server

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.app.state.core.queries.watches.close()  # each watch ends with a last bookmark
        if self.grpc_server is not None:
            self.app.state.draining.append(asyncio.ensure_future(self.grpc_server.stop(GRACEFUL_SECONDS)))
        await super().shutdown(sockets)


def serve(services: Services, host: str, port: int, grpc_port: int, projections: bool = True) -> int:
    """Serve until SIGTERM or SIGINT; 0 once stopped, 2 when the gRPC port cannot be had."""
    if not services.keys.any_active():
        name, key = services.keys.create(Role.ADMIN, "admin")
        print(f"No API key existed, so an admin key named {name!r} was created. It is shown only this once:",
              flush=True)
        print(key, flush=True)
    try:
        print(f"The log's checkpoints are signed by {services.transparency.verifier} "
              f"(key file {services.settings.signing_key_path})", flush=True)
    except SigningKeyProblem as problem:
        print(f"jobstore: warning: this process will refuse to sign checkpoints: {problem.message}", flush=True)
    if projections:
        build_log_tree(services)
    app = create_app(services)
    settings = services.settings
    # The protocol is named, not left to uvicorn's choice, so that an installed httptools cannot bypass the limits;
    # the loop is asyncio's, which grpcio's asyncio server runs on.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", loop="asyncio",
                            timeout_graceful_shutdown=GRACEFUL_SECONDS,
                            http=limited_protocol(settings.http_request_timeout, settings.http_max_connections),
                            timeout_keep_alive=settings.http_keep_alive_timeout)

    async def run() -> int:
        grpc_server = None
        if grpc_port:
            grpc_server = GrpcServer(app.state.core, app.state.metrics)
            try:
                bound = await grpc_server.start(host, grpc_port)
            except PortTaken as taken:
                print(f"jobstore: {taken}", file=sys.stderr, flush=True)
                return 2
        if projections:
            services.start_projections()
        grpc_line = f" and gRPC on {host}:{bound}" if grpc_server else " (gRPC off)"
        print(f"jobstore serving HTTP on http://{host}:{port}{grpc_line} (store: {services.backend.description}); "
              "stop with Ctrl-C", flush=True)
        await DrainingServer(config, app, grpc_server).serve()
        return 0

    key_changes = KeyChangeListener(services.backend, services.keys)
    key_changes.start()
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (in-flight requests finish), then raises the signal again
    # under the handlers it found: these let the process go on to close the projections and pools, and exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        status = asyncio.run(run())
    finally:
        key_changes.close()
    if status == 0:
        print("jobstore stopped: in-flight requests and calls finished, projections stopped between batches",
              flush=True)
    return status
