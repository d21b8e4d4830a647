"""``alloc status -stats``: each task's resource usage (``/v1/client/allocation/:id/stats``)
beside what it reserved, then Nomad's detailed Memory Stats and CPU Stats tables."""

from __future__ import annotations

from typing import Any

from gitorch.api.client import ApiError
from gitorch.api.wire import AllocWithJob
from gitorch.cli.output import Context, table


def fetch_usage(ctx: Context, found: AllocWithJob) -> tuple[dict[str, Any], str]:
    """The allocation's usage by task, or why there is none."""
    try:
        body = ctx.client().request("GET", f"/v1/client/allocation/{found.id}/stats").json()
    except ApiError as exc:
        return {}, exc.message
    tasks = body.get("Tasks") if isinstance(body, dict) else None
    return (tasks if isinstance(tasks, dict) else {}), ""


def task_usage(found: AllocWithJob, name: str, usage: dict[str, Any], why: str) -> str:
    """The text printed under a task: its resources, used of reserved, and the details."""
    cpu_mhz, memory_mb = _reserved(found, name)
    entry = usage.get(name)
    if not isinstance(entry, dict):
        return f"\nTask Resources:\nResource usage unavailable: {why or 'the task is not running'}"
    resource = entry.get("ResourceUsage") or {}
    mem, cpu = resource.get("MemoryStats") or {}, resource.get("CpuStats") or {}
    used_mem = int(mem.get("Usage") or mem.get("RSS") or 0)
    ticks = float(cpu.get("TotalTicks") or 0.0)
    head = table(
        ("CPU", "Memory"),
        [(f"{ticks:.0f}/{cpu_mhz} MHz", f"{human(used_mem)}/{memory_mb} MiB")],
    )
    memory = table(
        ("Cache", "Max Usage", "RSS", "Swap", "Usage"),
        [tuple(human(int(mem.get(k) or 0)) for k in ("Cache", "MaxUsage", "RSS", "Swap", "Usage"))],
    )
    cpu_rows = [
        (
            f"{float(cpu.get('Percent') or 0):.2f}%",
            f"{float(cpu.get('SystemMode') or 0):.2f}%",
            str(cpu.get("ThrottledPeriods") or 0),
            str(cpu.get("ThrottledTime") or 0),
            f"{float(cpu.get('UserMode') or 0):.2f}%",
        )
    ]
    details = table(
        ("Percent", "System Mode", "Throttled Periods", "Throttled Time", "User Mode"), cpu_rows
    )
    return f"\nTask Resources:\n{head}\n\nMemory Stats\n{memory}\n\nCPU Stats\n{details}"


def _reserved(found: AllocWithJob, name: str) -> tuple[int, int]:
    group = found.job.group(found.task_group) if found.job else None
    for task in group.tasks if group else []:
        if task.name == name:
            return task.resources.cpu, task.resources.memory_mb
    return 0, 0


def human(size: int) -> str:
    """Bytes as Nomad prints them (``4.0 KiB``)."""
    value, unit = float(size), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
