"""Task lifecycle ordering inside one allocation, as Nomad's task hook coordinator does it.

Pure functions over the tasks' roles and runner phases; the alloc runner asks them which
waiting tasks may start now and whether the main tasks are done.

* ``prestart`` tasks start first; the main tasks (those without ``lifecycle``) start once
  every ``prestart`` task has completed successfully and every prestart sidecar is
  running;
* ``poststart`` tasks start once every main task has started;
* when every main task is dead the sidecars (and poststart tasks still running) are
  stopped, so a sidecar never keeps a batch allocation alive;
* ``poststop`` tasks start once every other task is dead (and something ran).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from gitorch.core.model import JobType, Task, TaskState

Role = Literal["prestart", "prestart_sidecar", "main", "poststart", "poststart_sidecar",
               "poststop"]  # fmt: skip
ROLES: tuple[Role, ...] = ("prestart", "prestart_sidecar", "main", "poststart",
                           "poststart_sidecar", "poststop")  # fmt: skip
MAIN_DEAD = "Main Tasks Dead"
MAIN_DEAD_TEXT = "Main tasks in the group died"


def role(task: Task) -> Role:
    """The task's place in the group's start order."""
    lc = task.lifecycle
    if lc is None:
        return "main"
    if lc.hook == "prestart":
        return "prestart_sidecar" if lc.sidecar else "prestart"
    if lc.hook == "poststart":
        return "poststart_sidecar" if lc.sidecar else "poststart"
    return "poststop"


def sidecar(r: Role) -> bool:
    return r in ("prestart_sidecar", "poststart_sidecar")


def success_job_type(job_type: JobType, task: Task) -> JobType:
    """The job type whose restart-on-success rule applies to ``task``: sidecars restart
    after exit 0 as service tasks do; other lifecycle hooks run once, as batch tasks do."""
    lc = task.lifecycle
    if lc is None:
        return job_type
    return "service" if lc.sidecar and lc.hook != "poststop" else "batch"


def startable(
    roles: Mapping[str, Role], phases: Mapping[str, str], states: Mapping[str, TaskState]
) -> list[str]:
    """The tasks in phase ``new`` whose gate is open, in the group's order."""
    new = [n for n in roles if phases[n] == "new"]
    if not new:
        return []
    by_role = _group(roles)
    pre_done = all(phases[n] == "dead" and not states[n].failed for n in by_role["prestart"])
    sidecars_up = all(phases[n] == "running" for n in by_role["prestart_sidecar"])
    mains_ready = pre_done and sidecars_up
    mains_started = all(phases[n] == "dead" or states[n].started_at > 0 for n in by_role["main"])
    others_dead = all(phases[n] == "dead" for n, r in roles.items() if r != "poststop")
    anything_ran = any(
        states[n].started_at > 0 or states[n].failed for n, r in roles.items() if r != "poststop"
    )
    gate: dict[Role, bool] = {
        "prestart": True,
        "prestart_sidecar": True,
        "main": mains_ready,
        "poststart": mains_ready and mains_started,
        "poststart_sidecar": mains_ready and mains_started,
        "poststop": others_dead and anything_ran,
    }
    return [n for n in new if gate[roles[n]]]


def skipped(
    roles: Mapping[str, Role], phases: Mapping[str, str], states: Mapping[str, TaskState]
) -> list[str]:
    """Poststop tasks that will never run: every other task is dead and none ran."""
    others = [n for n, r in roles.items() if r != "poststop"]
    if any(phases[n] != "dead" or states[n].started_at > 0 or states[n].failed for n in others):
        return []
    return [n for n, r in roles.items() if r == "poststop" and phases[n] == "new"]


def mains_dead(roles: Mapping[str, Role], phases: Mapping[str, str]) -> bool:
    """Every main task is dead (with no main task: every prestart task is)."""
    by_role = _group(roles)
    watched = by_role["main"] or by_role["prestart"]
    return bool(watched) and all(phases[n] == "dead" for n in watched)


def main_live(roles: Mapping[str, Role], phases: Mapping[str, str]) -> bool:
    """Some task that is neither a sidecar nor poststop is still alive."""
    return any(phases[n] != "dead" for n, r in roles.items() if not sidecar(r) and r != "poststop")


def _group(roles: Mapping[str, Role]) -> dict[Role, list[str]]:
    out: dict[Role, list[str]] = {r: [] for r in ROLES}
    for name, r in roles.items():
        out[r].append(name)
    return out
