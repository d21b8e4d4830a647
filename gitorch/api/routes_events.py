"""``GET /v1/event/stream``: Nomad's event stream as NDJSON frames.

Each line is ``{"Index": N, "Events": [...]}`` or, after ``heartbeat`` seconds without
one, ``{}``. ``?topic=Topic:Key`` (repeatable; ``*`` for any topic or key, a bare
``Topic`` for every key; the key may also be one of the event's ``FilterKeys``, such
as an allocation's job ID) chooses events, ``?namespace=`` (``*`` for all) their
namespace, ``?index=N`` replays the frames from index N still in the ring. With ACLs
on, the gate asks for ``read-job`` in the namespace asked (anywhere, for ``*``), and
each event is then shown only to a token that may read it: ``namespace:read-job`` in
the event's namespace, ``node:read`` for Node events, ``operator:read`` for GitOps
events (gitorch's own topic: a sync recorded, a fetch failure, a suspension),
``management`` for the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gitorch.api.authz import HOW_TO_PASS
from gitorch.api.http import UINT64_MAX, endpoint, nomad_headers, query_int
from gitorch.core.acl import Capability
from gitorch.errors import BadRequestError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.events import Encoded, EventBroker, Frame
from gitorch.server.eventsource import TOPICS

NAMESPACED = frozenset({"Job", "Allocation", "Evaluation", "Deployment", "Service"})
READ_JOB = Capability("namespace", "read-job")
NODE_READ = Capability("node", "read")
OPERATOR_READ = Capability("operator", "read")  # as GET /v1/gitops/status


def parse_topics(values: list[str]) -> dict[str, frozenset[str]]:
    """``["Job:web", "Node"]`` as ``{"Job": {"web"}, "Node": {"*"}}``; none is all."""
    if not values:
        return {"*": frozenset({"*"})}
    out: dict[str, set[str]] = {}
    for value in values:
        topic, _, key = value.partition(":")
        if topic != "*" and topic not in TOPICS:
            raise BadRequestError(f"Invalid topic {topic!r}: one of {', '.join(TOPICS)} or *")
        out.setdefault(topic, set()).add(key or "*")
    return {t: frozenset(k) for t, k in out.items()}


class Reader:
    """Which events one subscriber sees."""

    def __init__(
        self, topics: dict[str, frozenset[str]], namespace: str, identity: Identity | None
    ) -> None:
        self.topics = topics
        self.namespace = namespace
        self.identity = identity

    def wants(self, event: Encoded) -> bool:
        keys = self.topics.get(event.topic, frozenset()) | self.topics.get("*", frozenset())
        if "*" not in keys and event.key not in keys and keys.isdisjoint(event.filter_keys):
            return False
        if event.namespace and self.namespace not in ("*", event.namespace):
            return False
        return self.may_read(event)

    def may_read(self, event: Encoded) -> bool:
        if self.identity is None:  # ACLs off
            return True
        now = time.time_ns()  # a token that expires mid-stream sees nothing after
        if event.topic in NAMESPACED:
            return self.identity.allows(READ_JOB, event.namespace or "default", now)
        if event.topic == "Node":
            return self.identity.allows(NODE_READ, now=now)
        if event.topic == "GitOps":
            return self.identity.allows(OPERATOR_READ, now=now)
        token = self.identity.token
        return self.identity.management and token is not None and not token.expired(now)

    def frame(self, frame: Frame) -> bytes:
        kept = [e.json for e in frame.events if self.wants(e)]
        if not kept:
            return b""
        return b'{"Index":%d,"Events":[%s]}\n' % (frame.index, b",".join(kept))


def routes(broker: EventBroker) -> list[BaseRoute]:
    @endpoint
    async def stream(request: Request) -> Response:
        topics = parse_topics(request.query_params.getlist("topic"))
        namespace = request.query_params.get("namespace") or "default"
        start = query_int(request, "index", lo=0, hi=UINT64_MAX)
        identity: Identity | None = request.scope.get("state", {}).get("acl_identity")
        if identity is not None and (identity.problem or not _reads_anything(identity)):
            why = identity.problem or "this request needs namespace:read-job or node:read"
            raise PermissionDeniedError(f"{why}; {HOW_TO_PASS}")
        reader = Reader(topics, namespace, identity)
        after = start - 1 if start > 0 else broker.latest()
        return StreamingResponse(
            _frames(broker, reader, after),
            media_type="application/json",
            headers=nomad_headers(),
        )

    return [Route("/v1/event/stream", stream, methods=["GET"])]


def _reads_anything(identity: Identity) -> bool:
    return identity.allows_somewhere("read-job") or identity.allows(NODE_READ)


async def _frames(broker: EventBroker, reader: Reader, after: int) -> AsyncIterator[bytes]:
    clock = asyncio.get_running_loop().time
    # the first line goes out at once, so a client knows the stream is open
    yield b"{}\n"
    sent = clock()
    while True:
        left = broker.heartbeat_s - (clock() - sent)
        frames = await broker.wait(after, left) if left > 0 else []
        lines = []
        for frame in frames:
            after = frame.index
            line = reader.frame(frame)
            if line:
                lines.append(line)
        if lines:
            yield b"".join(lines)
            sent = clock()
        elif clock() - sent >= broker.heartbeat_s:
            yield b"{}\n"
            sent = clock()
