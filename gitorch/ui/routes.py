"""The UI's URL map, mounted by the agent next to ``/v1``: ``/`` and ``/ui`` redirect to
``/ui/``; pages are gzip-compressed (slow edge links); the log stream is not (it must
reach the browser as it is written)."""

from __future__ import annotations

from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gitorch.ui import (
    actions,
    allocfiles,
    allocs,
    allocstats,
    cluster,
    events,
    execrelay,
    jobs,
    jobsource,
    logs,
    overview,
    services,
    sync,
    topology,
    variables,
)
from gitorch.ui.view import failure_page

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/ui"


async def to_ui(request: Request) -> Response:
    return RedirectResponse(PREFIX + "/", status_code=307)


async def not_found(request: Request) -> Response:
    return failure_page(request, 404, f"no page at {request.url.path}")


def routes() -> list[BaseRoute]:
    pages = Router(
        routes=[
            Route("/", overview.overview, methods=["GET"]),
            Route("/sync", sync.dry_run, methods=["POST"]),
            Route("/sync/apply", sync.apply, methods=["POST"]),
            Route("/jobs", jobs.job_list, methods=["GET"]),
            Route("/job/{job_id:path}/diff", jobsource.diff_page, methods=["GET"]),
            Route("/job/{job_id:path}", jobs.job_page, methods=["GET"]),
            Route("/allocation/{alloc_id:str}", allocs.alloc_page, methods=["GET"]),
            Route("/allocation/{alloc_id:str}/stats", allocstats.fragment, methods=["GET"]),
            Route("/allocation/{alloc_id:str}/fs", allocfiles.files, methods=["GET"]),
            WebSocketRoute("/allocation/{alloc_id:str}/exec", execrelay.ExecRelay()),
            Route("/nodes", cluster.node_list, methods=["GET"]),
            Route("/node/{node_id:str}", cluster.node_page, methods=["GET"]),
            Route("/evaluations", cluster.eval_list, methods=["GET"]),
            Route("/topology", topology.topology, methods=["GET"]),
            Route("/services", services.service_list, methods=["GET"]),
            Route("/service/{name:str}", services.service_page, methods=["GET"]),
            Route("/variables", variables.var_list, methods=["GET"]),
            Route("/variable/{path:path}", variables.var_page, methods=["GET"]),
            Route("/variable/{path:path}", variables.var_reveal, methods=["POST"]),
            Route(
                "/deployment/{dep_id:str}/{action:str}",
                actions.deployment_action,
                methods=["POST"],
            ),
            Route("/token", actions.token_form, methods=["GET"]),
            Route("/token", actions.token_save, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
            Route("/{rest:path}", not_found),
        ]
    )
    return [
        Route("/", to_ui, methods=["GET"]),
        Route(PREFIX, to_ui, methods=["GET"]),
        Route(PREFIX + "/allocation/{alloc_id:str}/logs/stream", logs.stream, methods=["GET"]),
        Route(PREFIX + "/events", events.stream, methods=["GET"]),  # SSE: not gzipped
        Mount(PREFIX, app=GZipMiddleware(pages, minimum_size=600)),
    ]
