"""A discrete-time cluster for the deployment properties: the real state store,
scheduler and watcher state machine, with clients that start what they are given
(a task whose command is ``/bin/false`` fails at once) in simulated time."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from gitorch.core.commands import (
    AllocClientUpdate,
    AllocHealth,
    ApplyPlan,
    RegisterJob,
    RegisterNode,
    UpdateAllocsFromClient,
    UpdateDeployment,
)
from gitorch.core.deployments.watcher import step
from gitorch.core.model import (
    DriverInfo,
    Evaluation,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Resources,
    Task,
    TaskGroup,
    TaskState,
    UpdateStrategy,
)
from gitorch.core.scheduler import schedule
from gitorch.core.state import StateStore

SECOND = 1_000_000_000


def node(i: int) -> Node:
    return Node(
        id=f"node-{i}",
        name=f"node-{i}",
        status="ready",
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=100_000),
            memory=NodeMemory(memory_mb=100_000),
            disk=NodeDisk(disk_mb=100_000),
        ),
        drivers={"raw_exec": DriverInfo(detected=True, healthy=True)},
    )


def service(count: int, command: str, update: UpdateStrategy, job_id: str = "web") -> Job:
    task = Task(
        name="t",
        driver="raw_exec",
        config={"command": command},
        resources=Resources(cpu=10, memory_mb=10),
    )
    group = TaskGroup(name="g", count=count, tasks=[task], update=update)
    return Job(id=job_id, task_groups=[group], update=update)


class Sim:
    def __init__(self, nodes: int = 4) -> None:
        self.store = StateStore()
        self.ids = (f"id-{i:06d}" for i in itertools.count())
        self.now = 1_000 * SECOND
        self.pending: list[Evaluation] = []
        for i in range(nodes):
            self.store.apply(RegisterNode(now=self.now, node=node(i)))

    def new_id(self) -> Callable[[], str]:
        return lambda: next(self.ids)

    def register(self, job: Job) -> None:
        ev = Evaluation(id=next(self.ids), job_id=job.id, type=job.type)
        self._take(self.store.apply(RegisterJob(now=self.now, job=job, eval=ev)).new_evals)

    def _take(self, evals: list[Evaluation]) -> None:
        self.pending += [e for e in evals if e.status == "pending"]

    def schedule(self) -> None:
        while self.pending:
            ev = self.pending.pop(0)
            plan = schedule(self.store.snapshot(), ev, now=self.now, seed=1, new_id=self.new_id())
            self._take(self.store.apply(ApplyPlan(now=self.now, plan=plan)).new_evals)

    def clients(self) -> None:
        """Start pending allocations (running, or failed for /bin/false), finish stopped ones."""
        ups: list[AllocClientUpdate] = []
        for a in self.store.allocs.values():
            if a.desired_status == "run" and a.client_status == "pending":
                job = self.store.job_version(a.namespace, a.job_id, a.job_version)
                group = job.group(a.task_group) if job else None
                bad = bool(group and group.tasks[0].config.get("command") == "/bin/false")
                state = (
                    TaskState(state="dead", failed=True)
                    if bad
                    else TaskState(state="running", started_at=self.now)
                )
                status = "failed" if bad else "running"
                ups.append(
                    AllocClientUpdate(id=a.id, client_status=status, task_states={"t": state})
                )
            elif a.desired_status != "run" and a.client_status in ("pending", "running"):
                ups.append(AllocClientUpdate(id=a.id, client_status="complete"))
        if ups:
            self._take(
                self.store.apply(UpdateAllocsFromClient(now=self.now, updates=ups)).new_evals
            )

    def watch(self) -> None:
        for d in list(self.store.deployments.values()):
            job = self.store.job_version(d.namespace, d.job_id, d.job_version)
            allocs = self.store.allocs_for_job(d.namespace, d.job_id)
            versions = self.store.versions.get((d.namespace, d.job_id), ())
            out = step(d, job, allocs, versions, self.now)
            if not out.changes():
                continue
            ev = Evaluation(id=next(self.ids), job_id=d.job_id, deployment_id=d.id)
            cmd = UpdateDeployment(
                now=self.now,
                deployment_id=d.id,
                health=[AllocHealth(id=i, healthy=h, timestamp=t) for i, h, t in out.health],
                promote=out.promote,
                status=out.status,
                status_description=out.description,
                revert=out.revert,
                evals=[ev] if out.evaluate else [],
            )
            self._take(self.store.apply(cmd).new_evals)

    def round(self, observe: Callable[[Sim], None] | None = None) -> None:
        """One second: schedule, clients act, the watcher looks (observed after each)."""
        for stage in (self.schedule, self.clients, self.watch):
            stage()
            if observe is not None:
                observe(self)
        self.now += SECOND

    def running(self, job_id: str = "web") -> list[str]:
        return [
            a.id
            for a in self.store.allocs_for_job("default", job_id)
            if a.desired_status == "run" and a.client_status == "running"
        ]

    def settled(self, job_id: str = "web") -> bool:
        return not self.pending and not any(
            d.active() for d in self.store.deployments_for_job("default", job_id)
        )
