"""Task starts per second of the raw_exec and exec drivers on this machine.

For each driver and each command (``sleep 30``: every task stays alive; ``true``: tasks
exit at once and compete for CPU with the starts), start N tasks one after another
through ``Driver.start`` and time those calls; then wait for the ``true`` tasks, and
destroy (force) every task started. Task and alloc dirs are made before the timing, as
the alloc runner makes them before it calls a driver. Prints one JSON object.

    python benchmarks/exec_starts.py [--tasks 400] [--drivers raw_exec,exec]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.plugins.builtin import process
from gitorch.plugins.builtin.exec import ExecDriver
from gitorch.plugins.builtin.raw_exec import RawExecDriver
from gitorch.plugins.driver import Driver

COMMANDS = {"sleep": ["/bin/sleep", "30"], "true": ["/bin/true"]}


def _configs(root: str, driver: str, command: list[str], n: int) -> list[TaskConfig]:
    alloc = os.path.join(root, f"{driver}-{command[0].rsplit('/', 1)[-1]}")
    configs = []
    for i in range(n):
        task_dir = os.path.join(alloc, f"t{i}")
        os.makedirs(os.path.join(task_dir, "local"))
        configs.append(
            TaskConfig(
                alloc_id=f"bench-{driver}-{i}",
                task_name=f"t{i}",
                driver=driver,
                config={"command": command[0], "args": command[1:]},
                env={"PATH": "/usr/bin:/bin"},
                task_dir=task_dir,
                alloc_dir=os.path.join(alloc, "alloc"),
                log_dir=os.path.join(alloc, "alloc", "logs"),
                memory_mb=64,
            )
        )
    os.makedirs(os.path.join(alloc, "alloc", "logs"))
    return configs


def _run(drv: Driver, configs: list[TaskConfig], wait_exit: bool) -> dict[str, Any]:
    handles: list[TaskHandle] = []
    lat = []
    try:
        begin = time.perf_counter()
        for cfg in configs:
            t0 = time.perf_counter()
            handles.append(drv.start(cfg))
            lat.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - begin
        out: dict[str, Any] = {
            "tasks": len(configs),
            "starts_per_s": round(len(configs) / elapsed, 1),
            "start_p50_ms": round(statistics.median(lat) * 1e3, 3),
            "start_p99_ms": round(sorted(lat)[int(len(lat) * 0.99) - 1] * 1e3, 3),
            "start_max_ms": round(max(lat) * 1e3, 3),
        }
        if wait_exit:
            results = [drv.wait(h, 30.0) for h in handles]
            done = time.perf_counter() - begin
            out["all_exited_per_s"] = round(len(configs) / done, 1)
            out["exit_0"] = sum(1 for r in results if r is not None and r.exit_code == 0)
        return out
    finally:
        cleanup = time.perf_counter()
        for h in handles:
            drv.destroy(h, force=True)
        if handles:
            left = sum(1 for h in handles if process.is_running(h.pid, h.state["ticks"]))
            left += sum(1 for h in handles for d in h.state.get("cgroups", []) if os.path.isdir(d))
            print(
                f"destroyed {len(handles)} tasks in {time.perf_counter() - cleanup:.2f}s; "
                f"left behind: {left}",
                file=sys.stderr,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--drivers", default="raw_exec,exec")
    opts = parser.parse_args()
    drivers: dict[str, Driver] = {
        "raw_exec": RawExecDriver({"enabled": True}),
        "exec": ExecDriver({}),
    }
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "target_starts_per_s": 400,
    }
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-") as root:
        for name in opts.drivers.split(","):
            drv = drivers[name]
            fp = drv.fingerprint()
            if not fp.healthy:
                report[name] = {"skipped": fp.health_description}
                continue
            report[name] = {
                label: _run(drv, _configs(root, name, cmd, opts.tasks), wait_exit=label == "true")
                for label, cmd in COMMANDS.items()
            }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
