"""The overview, ``/ui/``: what Git says next to what runs.

The repository, branch and synced commit (its subject, author, age, and a link to it on
the web host), the last syncs with their results, every job file with its status, health
and detail (suspended, "degraded at commit C", each broken file's error with file:line),
and the cluster's counts: servers and leader, nodes by status, allocations by client
status.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi
from gitorch.ui.caps import token_caps
from gitorch.ui.githost import commit_url
from gitorch.ui.render import page
from gitorch.ui.view import view

HISTORY_SHOWN = 8


def job_files(status: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per job file: synced/out-of-sync jobs, then files that failed, by path."""
    rows: list[dict[str, Any]] = [
        {
            "file": j.get("File", ""),
            "job": j.get("ID", ""),
            "status": j.get("Status", ""),
            "health": j.get("Health", ""),
            "suspended": bool(j.get("Suspended")),
            "detail": j.get("Detail", ""),
            "version": j.get("Version", 0),
            "commit": j.get("Commit", ""),
        }
        for j in status.get("Jobs") or []
    ]
    by_file = {r["file"]: r for r in rows}
    for err in status.get("Errors") or []:
        row = by_file.get(err.get("File", ""))
        if row is None:
            row = {"file": err.get("File", ""), "job": "", "status": "error"}
            rows.append(row)
            by_file[row["file"]] = row
        else:
            row["status"] = "error"  # the job keeps its last good version; the file is broken
        row.setdefault("errors", []).append(err)
    return sorted(rows, key=lambda r: (r["status"] != "error", r["file"]))


def node_counts(nodes: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(str(n.get("Status", "")) for n in nodes)
    counts["draining"] = sum(1 for n in nodes if n.get("Drain"))
    counts["ineligible"] = sum(1 for n in nodes if n.get("SchedulingEligibility") == "ineligible")
    return dict(counts)


def recent_syncs(history: list[dict[str, Any]], repo: str) -> list[dict[str, Any]]:
    """The newest HISTORY_SHOWN syncs, each with a link to its commit where there is one."""
    return [
        {**h, "link": commit_url(repo, str(h.get("Commit", "")))}
        for h in (history or [])[:HISTORY_SHOWN]
    ]


@view
async def overview(request: Request) -> Response:
    async with UiApi(request) as api:
        gitops = await api.get_or("/v1/gitops/status", None)
        history = await api.get_or("/v1/gitops/history", []) if gitops else []
        nodes = await api.get("/v1/nodes")
        allocs = await api.get("/v1/allocations")
        leader = await api.get_or("/v1/status/leader", "")
        members = await api.get_or("/v1/agent/members", {"Members": []})
        caps = await token_caps(api)
    servers = members.get("Members") or []
    return page(
        request,
        "overview.html",
        {
            "title": "Overview",
            "gitops": gitops,
            "commit_link": commit_url(gitops.get("Repo", ""), gitops.get("Commit", ""))
            if gitops
            else "",
            "syncs": recent_syncs(history, gitops.get("Repo", "") if gitops else ""),
            "files": job_files(gitops) if gitops else [],
            "servers": servers,
            "servers_alive": sum(1 for m in servers if m.get("Status") == "alive"),
            "leader": leader,
            "nodes": node_counts(nodes),
            "node_total": len(nodes),
            "allocs": dict(Counter(str(a.get("ClientStatus", "")) for a in allocs)),
            "alloc_total": len(allocs),
            "may_sync": caps.scope("operator", "write"),
        },
    )
