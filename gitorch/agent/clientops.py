"""What a user asks of one allocation on this client, as Nomad's client Allocations
RPCs: restart, signal, resource usage and an interactive exec, each through the task
runner (events in the alloc runner, IO through the task's driver).

Every refusal is a 4xx that names the allocation and the task: a stopped allocation,
an unknown or not-running task, a bad signal name.
"""

from __future__ import annotations

import logging
import signal as signals
from collections.abc import Sequence

from gitorch.agent import allocrunner as ar
from gitorch.agent.taskrunner import TaskRunner
from gitorch.core.model.clientstats import (
    AllocResourceUsage,
    CpuStats,
    MemoryStats,
    ResourceUsage,
    TaskResourceUsage,
)
from gitorch.core.task import ExecCommand, TaskStats
from gitorch.errors import BadRequestError, DriverError, NotFoundError

log = logging.getLogger(__name__)

DEFAULT_SIGNAL = "SIGKILL"  # Nomad's `alloc signal` without -s
MEMORY_MEASURED = ["RSS", "Usage"]
CPU_MEASURED = ["System Mode", "User Mode", "Percent", "Total Ticks"]


def check_live(runner: TaskRunner, action: str) -> None:
    """Refuse ``action`` on an allocation that is stopping or done."""
    alloc = runner.state.alloc
    if runner.state.stopping or alloc.desired_status != "run" or runner.terminal():
        status = alloc.client_status if runner.terminal() else "stopping"
        raise BadRequestError(
            f"cannot {action} allocation {alloc.id}: it is stopped (desired status "
            f"{alloc.desired_status}, client status {status}); {action} needs a running "
            "allocation"
        )


def check_task(runner: TaskRunner, task: str) -> ar.TaskRun:
    run = runner.state.tasks.get(task)
    if run is None:
        known = ", ".join(sorted(runner.state.tasks)) or "none"
        raise BadRequestError(f"allocation {runner.alloc_id} has no task {task!r} (tasks: {known})")
    return run


def running_tasks(runner: TaskRunner) -> list[str]:
    return sorted(name for name, run in runner.state.tasks.items() if run.phase == "running")


def _not_running(runner: TaskRunner, task: str, action: str) -> BadRequestError:
    run = runner.state.tasks.get(task)
    phase = run.phase if run is not None else "unknown"
    return BadRequestError(
        f"cannot {action} task {task!r} of allocation {runner.alloc_id}: the task is not "
        f"running ({phase})"
    )


def restart(runner: TaskRunner, task: str, all_tasks: bool) -> list[str]:
    """Restart ``task``, or every running task: each is killed and started again at
    once (not counted by its restart policy), with Nomad's "Restart Signaled" and
    "Restarting" events. Returns the tasks restarted."""
    if task and all_tasks:
        raise BadRequestError("task name cannot be set when restarting all tasks")
    check_live(runner, "restart")
    if task:
        if check_task(runner, task).phase != "running":
            raise _not_running(runner, task, "restart")
        names, reason = [task], "User requested task to restart"
    elif all_tasks:
        names, reason = running_tasks(runner), "User requested all tasks to restart"
    else:
        names, reason = running_tasks(runner), "User requested running tasks to restart"
    for name in names:
        runner.send(ar.RestartTask(task=name, reason=reason, failure=False))
    return names


def signal_name(sig: str) -> str:
    """``SIGUSR1``, ``usr1`` or ``10`` as ``SIGUSR1``; BadRequestError otherwise."""
    text = sig.strip() or DEFAULT_SIGNAL
    try:
        number = int(text)
    except ValueError:
        name = text.upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        if name not in signals.Signals.__members__:
            raise BadRequestError(f"unknown signal {sig!r} (e.g. SIGHUP, SIGUSR1, 15)") from None
        return name
    try:
        return signals.Signals(number).name
    except ValueError:
        raise BadRequestError(f"unknown signal number {number}") from None


def signal(runner: TaskRunner, task: str, sig: str) -> list[str]:
    """Send ``sig`` to ``task`` (or every running task), each with Nomad's "Signaling"
    event. Returns the tasks signalled."""
    name = signal_name(sig)
    check_live(runner, "signal")
    if task:
        check_task(runner, task)
    names = [task] if task else running_tasks(runner)
    for each in names:
        found = runner.running(each)
        if found is None:
            raise _not_running(runner, each, "signal")
        driver, handle = found
        display = f"Task being sent signal {name}"
        runner.send(ar.TaskNote(task=each, type="Signaling", display=display, task_signal=name))
        driver.signal(handle, name)
    return names


def exec_command(
    runner: TaskRunner, task: str, cmd: Sequence[str], tty: bool
) -> tuple[ExecCommand, str]:
    """How to run ``cmd`` inside ``task`` (its driver enters the task's isolation),
    and the driver's filesystem isolation ("none" needs alloc-node-exec)."""
    if not task:
        raise BadRequestError("must provide task name (?task=)")
    if not cmd:
        raise BadRequestError("command is not present (?command= a JSON list of strings)")
    check_live(runner, "exec in")
    check_task(runner, task)
    found = runner.running(task)
    if found is None:
        raise _not_running(runner, task, "exec in")
    driver, handle = found
    try:
        command = driver.exec_command(handle, cmd, tty)
    except DriverError as exc:
        raise BadRequestError(str(exc)) from exc
    return command, runner.state.isolation.get(driver.name, "none")


def stats(runner: TaskRunner, task: str, mhz_per_core: float) -> AllocResourceUsage:
    """Nomad's AllocResourceUsage from each running task's driver ``stats()``."""
    if task:
        check_task(runner, task)
        if runner.running(task) is None:
            raise _not_running(runner, task, "read the stats of")
    names = [task] if task else running_tasks(runner)
    tasks: dict[str, TaskResourceUsage] = {}
    for name in names:
        found = runner.running(name)
        if found is None:
            continue  # it ended since the list was taken
        driver, handle = found
        try:
            sample = driver.stats(handle)
        except DriverError as exc:
            if task:
                raise BadRequestError(str(exc)) from exc
            log.debug("alloc %s: no stats for task %s: %s", runner.alloc_id, name, exc)
            continue
        tasks[name] = TaskResourceUsage(
            resource_usage=usage(sample, mhz_per_core), timestamp=sample.timestamp_ns
        )
    total = summed([t.resource_usage for t in tasks.values()])
    stamp = max((t.timestamp for t in tasks.values()), default=0)
    return AllocResourceUsage(resource_usage=total, tasks=tasks, timestamp=stamp)


def usage(sample: TaskStats, mhz_per_core: float) -> ResourceUsage:
    busy = sample.cpu_user_s + sample.cpu_system_s
    user_share = sample.cpu_user_s / busy if busy > 0 else 0.0
    cpu = CpuStats(
        percent=sample.cpu_percent,
        user_mode=sample.cpu_percent * user_share,
        system_mode=sample.cpu_percent * (1.0 - user_share) if busy > 0 else 0.0,
        total_ticks=sample.cpu_percent / 100.0 * mhz_per_core,
        measured=list(CPU_MEASURED),
    )
    memory = MemoryStats(
        rss=sample.memory_rss_bytes,
        usage=sample.memory_usage_bytes,
        measured=list(MEMORY_MEASURED),
    )
    return ResourceUsage(memory_stats=memory, cpu_stats=cpu)


def summed(parts: list[ResourceUsage]) -> ResourceUsage:
    if not parts:
        return ResourceUsage()
    memory = MemoryStats(
        rss=sum(p.memory_stats.rss for p in parts),
        usage=sum(p.memory_stats.usage for p in parts),
        measured=list(MEMORY_MEASURED),
    )
    cpu = CpuStats(
        percent=sum(p.cpu_stats.percent for p in parts),
        user_mode=sum(p.cpu_stats.user_mode for p in parts),
        system_mode=sum(p.cpu_stats.system_mode for p in parts),
        total_ticks=sum(p.cpu_stats.total_ticks for p in parts),
        measured=list(CPU_MEASURED),
    )
    return ResourceUsage(memory_stats=memory, cpu_stats=cpu)


def unknown_alloc(alloc_id: str, node_id: str) -> NotFoundError:
    return NotFoundError(f"Unknown allocation {alloc_id!r}: it does not run on node {node_id}")
