"""Services (Nomad's native service discovery): the list (name, namespace, tags, how
many instances, their checks by status) and one service's page (each instance's
address, node and allocation, and each of its checks with status and output).

Instances come from ``/v1/service/:name?all=true`` (every instance, failing ones too);
checks from ``/v1/allocation/:id/checks``, once per allocation, keeping those of this
service. A check's ``success`` is passing, ``warning`` a warning, ``failure`` critical,
as Consul's UI names them; ``pending`` has not run yet.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.render import page
from gitorch.ui.view import failure_page, view

HEALTH = {"success": "passing", "warning": "warning", "failure": "critical"}


def health(status: object) -> str:
    return HEALTH.get(str(status), "pending")


def instance_health(checks: list[dict[str, Any]]) -> str:
    """An instance is critical if any check is, else warning, else pending, else
    passing (an instance without checks passes)."""
    seen = {c["health"] for c in checks}
    for worst in ("critical", "warning", "pending"):
        if worst in seen:
            return worst
    return "passing"


async def instances(api: UiApi, name: str, ns: str) -> list[dict[str, Any]]:
    """Every instance of the service, each with its checks (sorted by name)."""
    regs = await api.get(f"/v1/service/{seg(name)}", namespace=ns, all="true")
    alloc_ids = sorted({str(r.get("AllocID", "")) for r in regs})
    answers = await asyncio.gather(
        *(api.get_or(f"/v1/allocation/{seg(a)}/checks", {}) for a in alloc_ids)
    )
    by_alloc = dict(zip(alloc_ids, answers, strict=True))
    out = []
    for reg in regs:
        results = (by_alloc.get(str(reg.get("AllocID", ""))) or {}).values()
        checks = sorted(
            ({**c, "health": health(c.get("Status"))} for c in results if c.get("Service") == name),
            key=lambda c: (str(c.get("Check", "")), str(c.get("ID", ""))),
        )
        out.append({**reg, "checks": checks, "health": instance_health(checks)})
    out.sort(key=lambda r: (str(r.get("NodeID", "")), str(r.get("AllocID", ""))))
    return out


@view
async def service_list(request: Request) -> Response:
    async with UiApi(request) as api:
        listed = await api.get("/v1/services", namespace="*")
        rows = [
            {"namespace": group.get("Namespace", ""), **svc}
            for group in listed
            for svc in group.get("Services") or []
        ]
        found = await asyncio.gather(
            *(instances(api, str(r.get("ServiceName", "")), str(r["namespace"])) for r in rows)
        )
    for row, insts in zip(rows, found, strict=True):
        row["instances"] = len(insts)
        row["checks"] = Counter(c["health"] for i in insts for c in i["checks"])
    rows.sort(key=lambda r: (str(r.get("ServiceName", "")), str(r["namespace"])))
    return page(request, "services.html", {"title": "Services", "services": rows})


@view
async def service_page(request: Request) -> Response:
    name = request.path_params["name"]
    ns = request.query_params.get("namespace", "default") or "default"
    async with UiApi(request) as api:
        found = await instances(api, name, ns)
    if not found:
        return failure_page(request, 404, f"no service {name!r} in namespace {ns!r}")
    tags = sorted({t for i in found for t in i.get("Tags") or []})
    return page(
        request,
        "service.html",
        {
            "title": f"Service {name}",
            "name": name,
            "namespace": ns,
            "tags": tags,
            "instances": found,
            "counts": Counter(i["health"] for i in found),
        },
    )
