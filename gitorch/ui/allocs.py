"""An allocation's page: status, each task's events as a timeline, resource use as
small charts (``gitorch.ui.allocstats``), a link to its files (``gitorch.ui.allocfiles``),
an exec terminal (``gitorch.ui.execrelay``, with JavaScript) and the task's log (the tail
rendered into the page, ``?q=`` keeping only the lines that contain the text; with
JavaScript, streamed live from there on and searched in the browser)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.allocstats import stats_context
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


MAX_QUERY = 200


def search(text: str, query: str) -> tuple[list[list[tuple[str, bool]]], int]:
    """The lines of ``text`` that contain ``query`` (case-insensitive), each cut into
    (part, is_match) pieces for highlighting; and how many lines there were."""
    lines = text.splitlines()
    needle = query.lower()
    hits = []
    for line in lines:
        low = line.lower()
        at = low.find(needle)
        if at < 0:
            continue
        parts, pos = [], 0
        while at >= 0:
            if at > pos:
                parts.append((line[pos:at], False))
            parts.append((line[at : at + len(needle)], True))
            pos = at + len(needle)
            at = low.find(needle, pos)
        if pos < len(line):
            parts.append((line[pos:], False))
        hits.append(parts)
    return hits, len(lines)


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
        query = q.get("q", "")[:MAX_QUERY]
        log_text, log_error = "", ""
        if task:
            try:
                log_text = await api.text(
                    f"/v1/client/fs/logs/{seg(alloc['ID'])}", **log_query(task, kind, follow=False)
                )
            except ApiFailure as exc:
                log_error = exc.message
        checks = await api.get_or(f"/v1/allocation/{seg(alloc['ID'])}/checks", {})
        stats = await stats_context(api, alloc, "")
    hits, line_count = search(log_text, query) if query else ([], 0)
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
            "query": query,
            "hits": hits,
            "line_count": line_count,
            "running": alloc.get("ClientStatus") == "running",
            **stats,
        },
    )
