"""How full each node is: the bin-packing picture (CPU and memory bars, each live
allocation a segment sized by what it reserved) shared by the nodes list, a node's page
and the topology page, ``/ui/topology`` (every node a box, grouped by datacenter).

Sizes are SVG attributes (``x``/``width`` in a 1000-wide ``viewBox``) and colours are
classes, so the CSP needs no inline style. A page of nodes costs two in-process reads
whatever its size: the node list with each node's resources and pool
(``/v1/nodes?resources=true``) and every allocation the token may read with its
resources (``/v1/allocations?namespace=*&resources=true&task_states=false``). Pages
still take ``PAGE`` nodes at a time (``?page=``) to keep the HTML small.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import ApiFailure, UiApi
from gitorch.ui.render import page
from gitorch.ui.view import view

WIDTH = 1000  # the bars' viewBox width
TERMINAL = ("complete", "failed", "lost")
PAGE = 200  # topology boxes per page


def live(alloc: dict[str, Any]) -> bool:
    """Whether an allocation holds its resources (Nomad's non-terminal)."""
    return alloc.get("DesiredStatus") == "run" and alloc.get("ClientStatus") not in TERMINAL


def _num(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def capacity(node: dict[str, Any]) -> tuple[int, int]:
    """What the scheduler may hand out: (CPU MHz, memory MB), reserved taken off."""
    res = node.get("NodeResources") or {}
    rsv = node.get("ReservedResources") or {}
    cpu = _num((res.get("Cpu") or {}).get("CpuShares")) - _num(
        (rsv.get("Cpu") or {}).get("CpuShares")
    )
    mem = _num((res.get("Memory") or {}).get("MemoryMB")) - _num(
        (rsv.get("Memory") or {}).get("MemoryMB")
    )
    return max(cpu, 0), max(mem, 0)


def usage(alloc: dict[str, Any]) -> tuple[int, int]:
    res = alloc.get("Resources") or {}
    return _num(res.get("CPU")), _num(res.get("MemoryMB"))


def packing(node: dict[str, Any], allocs: list[dict[str, Any]]) -> dict[str, Any]:
    """The node's bars: capacity, what live allocations reserve, and one segment per
    allocation (largest first) with its place on each bar."""
    cpu_cap, mem_cap = capacity(node)
    held = sorted(
        (a for a in allocs if live(a)), key=lambda a: (-usage(a)[1], -usage(a)[0], a.get("ID"))
    )
    cpu_used = sum(usage(a)[0] for a in held)
    mem_used = sum(usage(a)[1] for a in held)
    cpu_scale = WIDTH / max(cpu_cap, cpu_used, 1)
    mem_scale = WIDTH / max(mem_cap, mem_used, 1)
    segments, cpu_x, mem_x = [], 0.0, 0.0
    for a in held:
        cpu, mem = usage(a)
        segments.append(
            {
                "id": a.get("ID", ""),
                "name": a.get("Name", ""),
                "job": a.get("JobID", ""),
                "status": a.get("ClientStatus", ""),
                "cpu": cpu,
                "mem": mem,
                "cpu_x": round(cpu_x, 1),
                "cpu_w": round(cpu * cpu_scale, 1),
                "mem_x": round(mem_x, 1),
                "mem_w": round(mem * mem_scale, 1),
            }
        )
        cpu_x += cpu * cpu_scale
        mem_x += mem * mem_scale
    return {
        "cpu_cap": cpu_cap,
        "mem_cap": mem_cap,
        "cpu_used": cpu_used,
        "mem_used": mem_used,
        "cpu_pct": cpu_used * 100 // cpu_cap if cpu_cap else 0,
        "mem_pct": mem_used * 100 // mem_cap if mem_cap else 0,
        "segments": segments,
    }


def devices(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Each device group: its name, how many instances, which are unhealthy and why."""
    out = []
    for group in (node.get("NodeResources") or {}).get("Devices") or []:
        instances = group.get("Instances") or []
        sick = [
            {"id": i.get("ID", ""), "reason": i.get("HealthDescription", "")}
            for i in instances
            if not i.get("Healthy")
        ]
        out.append(
            {
                "name": "/".join(str(group.get(k, "")) for k in ("Vendor", "Type", "Name")),
                "count": len(instances),
                "healthy": len(instances) - len(sick),
                "unhealthy": sick,
                "attributes": group.get("Attributes") or {},
            }
        )
    return out


async def node_rows(api: UiApi) -> list[dict[str, Any]]:
    """Every node's list row with its resources and pool."""
    rows: list[dict[str, Any]] = await api.get("/v1/nodes", resources="true")
    return rows


class _Cpu(msgspec.Struct, gc=False):
    CpuShares: int = 0


class _Memory(msgspec.Struct, gc=False):
    MemoryMB: int = 0


class _Task(msgspec.Struct, gc=False):
    Cpu: _Cpu = msgspec.field(default_factory=_Cpu)
    Memory: _Memory = msgspec.field(default_factory=_Memory)


class _Allocated(msgspec.Struct, gc=False):
    Tasks: dict[str, _Task] = {}


class AllocRow(msgspec.Struct, gc=False):
    """What the bin-packing reads of an allocation list row (the rest is skipped)."""

    ID: str = ""
    Name: str = ""
    JobID: str = ""
    NodeID: str = ""
    DesiredStatus: str = ""
    ClientStatus: str = ""
    AllocatedResources: _Allocated | None = None

    def as_alloc(self) -> dict[str, Any]:
        """The fields ``packing`` reads, its tasks' CPU and memory summed."""
        tasks = self.AllocatedResources.Tasks.values() if self.AllocatedResources else ()
        return {
            "ID": self.ID,
            "Name": self.Name,
            "JobID": self.JobID,
            "DesiredStatus": self.DesiredStatus,
            "ClientStatus": self.ClientStatus,
            "Resources": {
                "CPU": sum(t.Cpu.CpuShares for t in tasks),
                "MemoryMB": sum(t.Memory.MemoryMB for t in tasks),
            },
        }


async def allocations_by_node(api: UiApi) -> dict[str, list[AllocRow]]:
    """Every allocation the token may read, with its resources, by node ID. A token that
    reads jobs in no namespace sees none (as a node's own allocation list shows it)."""
    try:
        rows = await api.get_as(
            "/v1/allocations",
            list[AllocRow],
            namespace="*",
            resources="true",
            task_states="false",
        )
    except ApiFailure as exc:
        if exc.status == 403:
            return {}
        raise
    out: dict[str, list[AllocRow]] = {}
    for row in rows:
        out.setdefault(row.NodeID, []).append(row)
    return out


async def node_details(api: UiApi, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each node row (``node_rows``): its devices and its packing, from one read of
    the allocations, whatever the number of nodes."""
    if not rows:
        return []
    allocs = await allocations_by_node(api)

    def pack(row: dict[str, Any]) -> dict[str, Any]:
        held = [a.as_alloc() for a in allocs.get(str(row.get("ID", "")), [])]
        return packing(row, held)

    return [{**row, "devices": devices(row), "pack": pack(row)} for row in rows]


def page_of(request: Request, total: int, size: int) -> tuple[int, int]:
    """(page number from 1, page count) from ``?page=``, clamped."""
    pages = max(1, -(-total // size))
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isdigit() and len(raw) < 7 else 1
    return min(max(number, 1), pages), pages


@view
async def topology(request: Request) -> Response:
    async with UiApi(request) as api:
        stubs = await node_rows(api)
        stubs.sort(key=lambda n: (str(n.get("Datacenter", "")), str(n.get("Name", ""))))
        number, pages = page_of(request, len(stubs), PAGE)
        shown = await node_details(api, stubs[(number - 1) * PAGE : number * PAGE])
    per_dc = [
        {"name": dc, "nodes": len(group), "ready": sum(n.get("Status") == "ready" for n in group)}
        for dc, group in ((k, list(g)) for k, g in groupby(stubs, lambda n: n.get("Datacenter")))
    ]
    datacenters = [
        {"name": dc, "nodes": list(group)}
        for dc, group in groupby(shown, lambda n: n.get("Datacenter"))
    ]
    allocs = sum(len(n["pack"]["segments"]) for n in shown)
    return page(
        request,
        "topology.html",
        {
            "title": "Topology",
            "datacenters": datacenters,
            "per_dc": per_dc,
            "total": len(stubs),
            "first": (number - 1) * PAGE + 1 if shown else 0,
            "last": (number - 1) * PAGE + len(shown),
            "page": number,
            "pages": pages,
            "alloc_count": allocs,
            "width": WIDTH,
        },
    )
