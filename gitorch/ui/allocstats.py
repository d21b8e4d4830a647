"""An allocation's resource use: CPU (MHz, percent of a core) and memory (RSS) per task,
as small inline SVG sparklines drawn here, on the server, from a short history.

The history lives in the browser, not in the agent: the fragment carries it in its
``data-history`` attribute, ``alloc.js`` sends it back as ``?h=`` on its next poll
(every 2 s while the tab is visible), and this route appends the current sample from
``/v1/client/allocation/:id/stats`` and draws the charts again. The agent keeps nothing
per viewer. With JavaScript off the page shows the current figures as text (and a chart
of one point). The SVG is plain elements and attributes, coloured by classes in
``ui.css``: no inline style, no script.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import ApiFailure, UiApi, seg
from gitorch.ui.render import page
from gitorch.ui.view import view

POINTS = 60  # two minutes at one sample every 2 s
MAX_TASKS = 32
MAX_HISTORY_CHARS = 64 * 1024
WIDTH, HEIGHT = 160, 36
MIB = 1024 * 1024
LIVE = ("pending", "running")

History = dict[str, dict[str, list[float]]]


def parse_history(raw: str, tasks: list[str]) -> History:
    """The browser's history for ``tasks``: ``{"task": {"c": [MHz...], "m": [RSS...]}}``.
    Anything malformed, unknown, negative or not finite is dropped, never an error."""
    out: History = {t: {"c": [], "m": []} for t in tasks}
    if not raw or len(raw) > MAX_HISTORY_CHARS:
        return out
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        return out
    if not isinstance(value, dict):
        return out
    for task in tasks:
        series = value.get(task)
        if not isinstance(series, dict):
            continue
        for key in ("c", "m"):
            points = series.get(key)
            if isinstance(points, list):
                out[task][key] = [
                    float(p)
                    for p in points[-POINTS:]
                    if isinstance(p, int | float)
                    and not isinstance(p, bool)
                    and math.isfinite(p)
                    and p >= 0
                ]
    return out


def reservations(alloc: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each task's reserved (CPU MHz, memory MB), from the job the allocation runs."""
    job = alloc.get("Job") or {}
    for group in job.get("TaskGroups") or []:
        if group.get("Name") == alloc.get("TaskGroup"):
            out = {}
            for task in group.get("Tasks") or []:
                res = task.get("Resources") or {}
                out[str(task.get("Name", ""))] = (
                    int(res.get("CPU") or 0),
                    int(res.get("MemoryMB") or 0),
                )
            return out
    return {}


def spark(values: list[float], ceiling: float) -> dict[str, Any]:
    """A sparkline's geometry: polyline points, the newest point, the scale's top.
    Right-aligned, so the newest sample is always at the right edge."""
    top = max([ceiling, *values, 1e-9])
    step = WIDTH / (POINTS - 1)
    start = WIDTH - step * (len(values) - 1)
    pts = [
        (round(start + i * step, 1), round(HEIGHT - 1 - v / top * (HEIGHT - 2), 1))
        for i, v in enumerate(values)
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y in pts),
        "last": pts[-1] if pts else None,
        "top": top,
        "width": WIDTH,
        "height": HEIGHT,
    }


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB / 10 else f"{int(n / 1024)} KiB"


def charts(
    usage: dict[str, Any], alloc: dict[str, Any], history: History
) -> tuple[list[dict[str, Any]], History]:
    """One row per task (figures now, two sparklines) and the history to hand back."""
    reserved = reservations(alloc)
    rows, kept = [], {}
    tasks = usage.get("Tasks") or {}
    for name in sorted(tasks)[:MAX_TASKS]:
        res = (tasks[name] or {}).get("ResourceUsage") or {}
        cpu, mem = res.get("CpuStats") or {}, res.get("MemoryStats") or {}
        mhz, rss = float(cpu.get("TotalTicks") or 0), float(mem.get("RSS") or 0)
        past = history.get(name) or {"c": [], "m": []}
        c = [*past["c"], round(mhz, 1)][-POINTS:]
        m = [*past["m"], rss][-POINTS:]
        kept[name] = {"c": c, "m": m}
        cpu_mhz, mem_mb = reserved.get(name, (0, 0))
        rows.append(
            {
                "task": name,
                "mhz": mhz,
                "percent": float(cpu.get("Percent") or 0),
                "cpu_reserved": cpu_mhz,
                "rss": mib(rss),
                "mem_reserved": mem_mb,
                "cpu_chart": spark(c, float(cpu_mhz)),
                "mem_chart": spark(m, float(mem_mb) * MIB),
            }
        )
    return rows, kept


async def stats_context(api: UiApi, alloc: dict[str, Any], raw_history: str) -> dict[str, Any]:
    """What ``alloc_stats.html`` shows: the rows, or why there are none."""
    alloc_id = str(alloc.get("ID", ""))
    context: dict[str, Any] = {
        "stats_src": f"/ui/allocation/{seg(alloc_id)}/stats",
        "stats_rows": [],
        "stats_error": "",
        "stats_history": "{}",
        "stats_live": alloc.get("ClientStatus") in LIVE,
    }
    if not context["stats_live"]:
        context["stats_error"] = f"The allocation is {alloc.get('ClientStatus', 'not running')}."
        return context
    try:
        usage = await api.get(f"/v1/client/allocation/{seg(alloc_id)}/stats")
    except ApiFailure as exc:
        context["stats_error"] = exc.message
        return context
    tasks = sorted((usage.get("Tasks") or {}).keys())
    rows, kept = charts(usage, alloc, parse_history(raw_history, tasks))
    context["stats_rows"] = rows
    context["stats_history"] = json.dumps(kept, separators=(",", ":"))
    return context


@view
async def fragment(request: Request) -> Response:
    """``/ui/allocation/:id/stats?h=``: the charts fragment, for ``alloc.js`` to swap in."""
    alloc_id = request.path_params["alloc_id"]
    async with UiApi(request) as api:
        alloc = await api.get(f"/v1/allocation/{seg(alloc_id)}")
        context = await stats_context(api, alloc, request.query_params.get("h", ""))
    response = page(request, "alloc_stats.html", {"alloc": alloc, **context})
    response.headers["Cache-Control"] = "no-store"
    return response
