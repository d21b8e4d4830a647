"""``/v1/operator/scheduler/configuration`` (GET, PUT with Nomad's ``?cas=``) and
``/v1/operator/snapshot`` (GET saves a consistent snapshot as a file download, PUT
restores one through the Raft log), in Nomad's shapes."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    UINT64_MAX,
    endpoint,
    json_response,
    nomad_headers,
    query_int,
    read_body,
    read_object,
)
from gitorch.core.model.operator import SchedulerConfiguration
from gitorch.errors import BadRequestError
from gitorch.server.operator import OperatorService

MAX_SNAPSHOT_BYTES = 1 << 30  # a restore's upload (compressed)
_SERVER_SET = ("CreateIndex", "ModifyIndex")


def decode_config(body: dict[str, Any]) -> SchedulerConfiguration:
    """A PUT body as a configuration; the indexes are the server's to set."""
    fields = {k: v for k, v in body.items() if k not in _SERVER_SET and v is not None}
    if isinstance(fields.get("PreemptionConfig"), dict):
        fields["PreemptionConfig"] = {
            k: v for k, v in fields["PreemptionConfig"].items() if v is not None
        }
    try:
        config = msgspec.convert(fields, SchedulerConfiguration)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"Error parsing scheduler config: {exc}") from exc
    problem = config.problem()
    if problem:
        raise BadRequestError(problem)
    return config


def routes(operator: OperatorService) -> list[BaseRoute]:
    @endpoint
    async def get_config(request: Request) -> Response:
        config, index = await run_in_threadpool(operator.scheduler_config)
        body = {"SchedulerConfig": config, "Index": index, "LastContact": 0, "KnownLeader": True}
        return json_response(body, index=index)

    @endpoint
    async def set_config(request: Request) -> Response:
        config = decode_config(await read_object(request))
        cas = None
        if "cas" in request.query_params:
            raw = request.query_params["cas"]
            if not raw.isdigit():
                raise BadRequestError(f"Error parsing cas value: {raw[:40]!r} is not an index")
            cas = query_int(request, "cas", lo=0, hi=UINT64_MAX)
        updated, index = await run_in_threadpool(operator.set_scheduler_config, config, cas)
        return json_response({"Updated": updated, "Index": index}, index=index)

    @endpoint
    async def save(request: Request) -> Response:
        data, index = await run_in_threadpool(operator.save)
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        headers = nomad_headers(index) | {
            "Digest": f"sha-256={digest}",
            "Content-Disposition": f'attachment; filename="gitorch-{index}.snap"',
        }
        return Response(data, media_type="application/octet-stream", headers=headers)

    @endpoint
    async def restore(request: Request) -> Response:
        data = await read_body(request, limit=MAX_SNAPSHOT_BYTES)
        if not data:
            raise BadRequestError("Request body is empty; expected a snapshot file")
        index = await run_in_threadpool(operator.restore, data)
        return json_response({"Index": index}, index=index)

    path = "/v1/operator/scheduler/configuration"
    return [
        Route(path, get_config, methods=["GET"]),
        Route(path, set_config, methods=["PUT", "POST"]),
        Route("/v1/operator/snapshot", save, methods=["GET"]),
        Route("/v1/operator/snapshot", restore, methods=["PUT", "POST"]),
    ]
