"""``PUT /v1/system/gc``: purge the finished allocations and evaluations of stopped
jobs, through Raft (Nomad's forced garbage collection). ``?threshold=`` (a Go duration
such as ``1h``) keeps what changed more recently; without it everything eligible goes,
as Nomad's forced GC ignores its thresholds. The answer is empty, as Nomad's is."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import endpoint, nomad_headers
from gitorch.errors import BadRequestError
from gitorch.server.useractions import UserActions

_PART = re.compile(r"(\d+)(ns|us|µs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_NANOS["h"] = 3600 * 10**9


def duration_ns(text: str) -> int:
    """A Go duration of whole units (``90m``, ``1h30m``, ``0``) in nanoseconds."""
    if text == "0":
        return 0
    total, pos = 0, 0
    for part in _PART.finditer(text):
        if part.start() != pos:
            break
        total += int(part.group(1)) * _NANOS[part.group(2)]
        pos = part.end()
    if pos == 0 or pos != len(text) or len(text) > 40:
        raise BadRequestError(f"Invalid threshold {text[:40]!r}: a duration such as 1h or 30m")
    return total


def routes(actions: UserActions) -> list[BaseRoute]:
    @endpoint
    async def gc(request: Request) -> Response:
        threshold = duration_ns(request.query_params.get("threshold", "") or "0")
        index, _, _ = await run_in_threadpool(actions.collect_garbage, threshold)
        return Response(b"", status_code=200, headers=nomad_headers(index))

    return [Route("/v1/system/gc", gc, methods=["POST", "PUT"])]
