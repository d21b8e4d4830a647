"""An allocation's page: status, each task's events as a timeline, and the task's log
(the tail rendered into the page; with JavaScript, streamed live from there on)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import ApiFailure, UiApi, seg
from gitorch.ui.logs import KINDS, log_query
from gitorch.ui.render import page
from gitorch.ui.view import view


def timeline(alloc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every task's events, oldest first, each tagged with its task."""
    events = [
        {"task": task, **ev}
        for task, state in sorted((alloc.get("TaskStates") or {}).items())
        for ev in (state or {}).get("Events") or []
    ]
    return sorted(events, key=lambda e: e.get("Time", 0))


def task_names(alloc: dict[str, Any], job: dict[str, Any] | None) -> list[str]:
    names = sorted((alloc.get("TaskStates") or {}).keys())
    if names or job is None:
        return names
    for group in job.get("TaskGroups") or []:
        if group.get("Name") == alloc.get("TaskGroup"):
            return [t.get("Name", "") for t in group.get("Tasks") or []]
    return []


@view
async def alloc_page(request: Request) -> Response:
    alloc_id = request.path_params["alloc_id"]
    q = request.query_params
    async with UiApi(request) as api:
        alloc = await api.get(f"/v1/allocation/{seg(alloc_id)}")
        tasks = task_names(alloc, alloc.get("Job"))
        task = q.get("task", "") if q.get("task", "") in tasks else (tasks[0] if tasks else "")
        kind = q.get("type", "stdout") if q.get("type") in KINDS else "stdout"
        log_text, log_error = "", ""
        if task:
            try:
                log_text = await api.text(
                    f"/v1/client/fs/logs/{seg(alloc['ID'])}", **log_query(task, kind, follow=False)
                )
            except ApiFailure as exc:
                log_error = exc.message
        checks = await api.get_or(f"/v1/allocation/{seg(alloc['ID'])}/checks", {})
    return page(
        request,
        "alloc.html",
        {
            "title": f"Allocation {alloc.get('Name', alloc_id)}",
            "alloc": alloc,
            "events": timeline(alloc),
            "tasks": tasks,
            "task": task,
            "kind": kind,
            "kinds": KINDS,
            "log_text": log_text,
            "log_error": log_error,
            "checks": checks,
        },
    )
