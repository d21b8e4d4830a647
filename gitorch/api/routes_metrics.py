"""``GET /v1/metrics``: Nomad's metrics summary (``Timestamp``, ``Gauges``,
``Counters``, ``Samples``) or, with ``?format=prometheus``, the Prometheus text
exposition format (version 0.0.4, written here: no client library needed for a
handful of gauges and counters).

Gauges are read when asked: the Raft applied index, the eval broker's queues, the
nodes under heartbeat timers, jobs by status, allocations by client status, the event
ring. Counters are totals since the agent started (``gitorch.server.metrics``): FSM
applies by command, plans applied, events published, HTTP requests by method and code.
"""

from __future__ import annotations

import datetime
import re
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitorch.api.http import endpoint, json_response, nomad_headers
from gitorch.errors import BadRequestError
from gitorch.server.backend import Backend
from gitorch.server.broker import EvalBroker
from gitorch.server.events import EventBroker
from gitorch.server.heartbeat import Heartbeats
from gitorch.server.metrics import Counters, Labels, Metrics

JOB_STATUSES = ("pending", "running", "dead")
ALLOC_STATUSES = ("pending", "running", "complete", "failed", "lost", "unknown")
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Gauge = tuple[str, Labels, float]


def gauges(backend: Backend) -> list[Gauge]:
    state = backend.state
    out: list[Gauge] = [("nomad.raft.appliedIndex", (), float(state.index))]
    broker = getattr(backend, "broker", None)
    if isinstance(broker, EvalBroker):
        stats = broker.stats()
        for key, name in (
            ("TotalReady", "total_ready"),
            ("TotalUnacked", "total_unacked"),
            ("TotalWaiting", "total_waiting"),
            ("TotalDelayed", "total_delayed"),
        ):
            out.append((f"nomad.nomad.broker.{name}", (), float(stats.get(key, 0))))
    heartbeats = getattr(backend, "heartbeats", None)
    if isinstance(heartbeats, Heartbeats):
        out.append(("nomad.nomad.heartbeat.active", (), float(heartbeats.timed())))
    jobs = Counter(state.job_status(j) for j in list(state.jobs.values()))
    out.extend((f"nomad.nomad.job_status.{s}", (), float(jobs.get(s, 0))) for s in JOB_STATUSES)
    allocs: Counter[str] = Counter(a.client_status for a in list(state.allocs.values()))
    out.extend(
        (f"nomad.nomad.allocations.{s}", (), float(allocs.get(s, 0))) for s in ALLOC_STATUSES
    )
    nodes = Counter(n.status for n in list(state.nodes.values()))
    out.extend((f"nomad.nomad.nodes.{s}", (), float(nodes.get(s, 0))) for s in ("ready", "down"))
    return out


def counters(backend: Backend, metrics: Metrics) -> list[tuple[str, Labels, int]]:
    out = metrics.counters.items()
    events = getattr(backend, "events", None)
    if isinstance(events, EventBroker):
        out.append(("nomad.nomad.event_stream.published", (), events.published))
    return out


def summary(backend: Backend, metrics: Metrics) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "Timestamp": now.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "Gauges": [
            {"Name": n, "Value": v, "Labels": dict(labels)} for n, labels, v in gauges(backend)
        ],
        "Counters": [
            {
                "Name": n,
                "Count": v,
                "Rate": 0.0,
                "Sum": float(v),
                "Min": 1.0,
                "Max": 1.0,
                "Mean": 1.0,
                "Stddev": 0.0,
                "Labels": dict(labels),
            }
            for n, labels, v in counters(backend, metrics)
        ],
        "Samples": [],
        "Points": [],
    }


_UNSAFE = re.compile(r"[^a-zA-Z0-9_:]")


def prom_name(name: str) -> str:
    return _UNSAFE.sub("_", name)


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    parts = []
    for key, value in labels:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{prom_name(key)}="{escaped}"')
    return "{" + ",".join(parts) + "}"


def prometheus(backend: Backend, metrics: Metrics) -> str:
    lines: list[str] = []
    typed: set[str] = set()

    def add(kind: str, name: str, labels: Labels, value: float) -> None:
        if name not in typed:
            typed.add(name)
            lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{_labels(labels)} {value:g}")

    for name, labels, value in gauges(backend):
        add("gauge", prom_name(name), labels, value)
    for name, labels, count in counters(backend, metrics):
        add("counter", prom_name(name) + "_total", labels, float(count))
    return "\n".join(lines) + "\n"


def routes(backend: Backend, metrics: Metrics) -> list[BaseRoute]:
    @endpoint
    async def read(request: Request) -> Response:
        fmt = request.query_params.get("format", "")
        if fmt == "prometheus":
            text = prometheus(backend, metrics)
            return Response(text, media_type=PROMETHEUS_TYPE, headers=nomad_headers())
        if fmt:
            raise BadRequestError(f"Unsupported metrics format {fmt!r}: only prometheus")
        return json_response(summary(backend, metrics))

    return [Route("/v1/metrics", read, methods=["GET"])]


class RequestCounter:
    """ASGI middleware: count HTTP requests by method and status code."""

    def __init__(self, app: ASGIApp, counters: Counters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                code = str(message.get("status", 0))
                self.counters.inc("nomad.http.requests", {"method": method, "code": code})
            await send(message)

        await self.app(scope, receive, counted)
