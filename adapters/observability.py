"""What operators see: Prometheus metrics, one JSON log line per request, and readiness."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from jobstore.adapters.core.watch import WatchHub
from jobstore.adapters.operations import view_status
from jobstore.adapters.runtime import Services

access_log = logging.getLogger("jobstore.access")
READY_MAX_LAG_SECONDS = 10.0


class StoreCollector(Collector):
    """Figures read at scrape time: the views' positions and lag, and conflicts the service retried."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        conflicts = CounterMetricFamily("jobstore_conflicts_retried", "Version conflicts a command reloaded "
                                                                      "and decided again")
        conflicts.add_metric([], self.services.jobs.conflicts_retried)
        yield conflicts
        try:
            statuses = view_status(self.services)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is away
            return
        position = GaugeMetricFamily("jobstore_view_position", "Global log position a view has reached",
                                     labels=["view"])
        head = GaugeMetricFamily("jobstore_log_head", "Global position of the newest event")
        lag_events = GaugeMetricFamily("jobstore_view_lag_events", "Events a view has yet to apply", labels=["view"])
        lag_seconds = GaugeMetricFamily("jobstore_view_lag_seconds", "Age of the oldest event a view has yet to "
                                                                     "apply", labels=["view"])
        for s in statuses:
            position.add_metric([s.view.value], s.position)
            lag_events.add_metric([s.view.value], s.lag_events)
            lag_seconds.add_metric([s.view.value], s.lag_seconds)
        head.add_metric([], statuses[0].head if statuses else 0)
        yield from (position, head, lag_events, lag_seconds)
        yield from self._replication()

    def _replication(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        backend = self.services.backend
        server = GaugeMetricFamily("jobstore_read_server", "1 for the server that answers reads now (standby, "
                                                           "primary, or none)", labels=["server"])
        now = backend.read_server()
        for name in ("standby", "primary", "none"):
            server.add_metric([name], 1 if name == now else 0)
        yield server
        if backend.read_route is not None:
            statements = CounterMetricFamily("jobstore_read_statements", "Read statements answered, by server",
                                             labels=["server"])
            for name, answered in backend.read_route.answered.items():
                statements.add_metric([name], answered)
            yield statements
        try:
            standbys = backend.standbys()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database is away
            return
        lag_bytes = GaugeMetricFamily("jobstore_standby_replay_lag_bytes", "WAL a standby has yet to replay",
                                      labels=["standby", "address", "sync_state"])
        lag_seconds = GaugeMetricFamily("jobstore_standby_replay_lag_seconds", "How long a standby's replay "
                                        "trails a commit on the primary", labels=["standby", "address", "sync_state"])
        for standby in standbys:
            labels = [standby.name, standby.address, standby.sync_state]
            lag_bytes.add_metric(labels, standby.lag_bytes)
            lag_seconds.add_metric(labels, standby.lag_seconds)
        yield from (lag_bytes, lag_seconds)


class WatchCollector(Collector):
    """The watches of this process: how many are open, how far their tail has read, how many were cut off."""

    def __init__(self, watches: WatchHub) -> None:
        self.watches = watches

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        open_watches = GaugeMetricFamily("jobstore_watches_open", "Watches (SSE streams and gRPC WatchJobs) open")
        open_watches.add_metric([], self.watches.open_watches)
        position = GaugeMetricFamily("jobstore_watch_tail_position", "Global log position the watches' tail has "
                                                                     "read (-1 before the first watch)")
        position.add_metric([], self.watches.position)
        cut_off = CounterMetricFamily("jobstore_watches_cut_off", "Watches ended because their client fell "
                                                                  "too far behind")
        cut_off.add_metric([], self.watches.cut_off)
        yield from (open_watches, position, cut_off)


@dataclass
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    command_seconds: Histogram
    events_appended: Counter
    grpc_requests: Counter
    grpc_request_seconds: Histogram

    @classmethod
    def create(cls, services: Services) -> Metrics:
        registry = CollectorRegistry()
        registry.register(StoreCollector(services))
        return cls(
            registry=registry,
            requests=Counter("jobstore_http_requests", "HTTP requests by route and status code",
                             ["route", "code"], registry=registry),
            request_seconds=Histogram("jobstore_http_request_seconds", "HTTP request latency by route",
                                      ["route"], registry=registry),
            command_seconds=Histogram("jobstore_command_seconds", "Latency of JobManager commands",
                                      ["command"], registry=registry),
            events_appended=Counter("jobstore_events_appended", "Events appended to the log", registry=registry),
            grpc_requests=Counter("jobstore_grpc_requests", "gRPC calls by method and status code",
                                  ["method", "code"], registry=registry),
            grpc_request_seconds=Histogram("jobstore_grpc_request_seconds", "gRPC call latency by method",
                                           ["method"], registry=registry),
        )

    def observe_command(self, command: str, seconds: float, appended: bool) -> None:
        self.command_seconds.labels(command).observe(seconds)
        if appended:
            self.events_appended.inc()


def log_request(request_id: str, server_request_id: str, method: str, route: str, status: int,
                seconds: float) -> None:
    access_log.info(json.dumps({"requestId": request_id, "serverRequestId": server_request_id, "method": method,
                                "route": route, "status": status, "latencyMs": round(seconds * 1000, 3)},
                               separators=(",", ":")))


def readiness(services: Services) -> str | None:
    """None when ready; else why not (the database is unreachable, a view is too far behind, or no server may
    answer reads)."""
    try:
        statuses = view_status(services)
    except Exception as error:  # noqa: BLE001 - any failure to reach the store means not ready
        return f"the database is unreachable: {error}"
    late = [f"{s.view.value} is {s.lag_seconds:.1f} s behind" for s in statuses
            if s.lag_seconds > READY_MAX_LAG_SECONDS]
    if services.backend.read_server() == "none":
        late.append("no standby answers reads, and JOBSTORE_READ_FALLBACK=none keeps them off the primary")
    return "; ".join(late) or None


def read_server_note(services: Services) -> str:
    """Which server answers reads, for people (/readyz, `jobstore status`)."""
    backend = services.backend
    server = backend.read_server()
    route = backend.read_route
    if route is None:
        return "primary"
    if server == "standby":
        return f"standby ({route.describe})"
    return f"{server} (the standby {route.describe} does not answer)"



