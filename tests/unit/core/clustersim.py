"""A cluster simulated on the pure parts: the state store, the scheduler, the plan
checker and the drain step, driven the way the leader drives them, with clients that
run what they are given (each allocation started once, its start time remembered).

Used by the drain and disconnect tests; nothing here decides anything the product
does not decide itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from gitorch.core import commands as c
from gitorch.core import planapply
from gitorch.core.disconnects import tolerates
from gitorch.core.drain import step
from gitorch.core.model import (
    Allocation,
    DriverInfo,
    Evaluation,
    Job,
    Node,
    NodeCpu,
    NodeMemory,
    NodeResources,
    Resources,
    Task,
    TaskGroup,
    TaskState,
)
from gitorch.core.model.drain import DrainStrategy
from gitorch.core.scheduler import schedule
from gitorch.core.state import StateStore
from gitorch.server.drainer import view_of

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def service(job_id: str, count: int, **group: object) -> Job:
    task = Task(name="web", driver="raw_exec", resources=Resources(cpu=100, memory_mb=64))
    tg = TaskGroup(name="web", count=count, tasks=[task], **group)  # type: ignore[arg-type]
    return Job(id=job_id, type="service", task_groups=[tg])


def node(name: str) -> Node:
    res = NodeResources(cpu=NodeCpu(cpu_shares=4000), memory=NodeMemory(memory_mb=4096))
    return Node(
        id=f"node-{name}",
        name=name,
        node_resources=res,
        attributes={"kernel.name": "linux"},
        drivers={"raw_exec": DriverInfo(detected=True, healthy=True)},
        status="ready",
    )


class Sim:
    def __init__(self, names: Iterable[str]) -> None:
        self.store = StateStore()
        self.now = T0
        self.ids = (f"id-{i:05d}" for i in itertools.count())
        self.pending: list[Evaluation] = []
        self.started: dict[str, int] = {}  # alloc ID -> when its client started it
        self.stopped: set[str] = set()  # alloc IDs a client stopped
        self.cut_off: set[str] = set()  # node IDs whose client cannot reach the servers
        for name in names:
            self.apply(c.RegisterNode(now=self.now, node=node(name)))

    # -- the leader's side ---------------------------------------------------------------

    def apply(self, cmd: c.Command) -> c.Command:
        result = self.store.apply(cmd)
        assert not result.error, result.error
        self.pending += result.new_evals
        return cmd

    def new_id(self) -> str:
        return next(self.ids)

    def eval_for(self, job: Job, trigger: str) -> Evaluation:
        return Evaluation(
            id=self.new_id(),
            namespace=job.namespace,
            priority=job.priority,
            type=job.type,
            triggered_by=trigger,
            job_id=job.id,
        )

    def register(self, job: Job) -> None:
        self.apply(c.RegisterJob(now=self.now, job=job, eval=self.eval_for(job, "job-register")))

    def node_evals(self, node_id: str) -> list[Evaluation]:
        jobs = {
            (a.namespace, a.job_id)
            for a in self.store.allocs_for_node(node_id)
            if not a.terminal()
        }
        found = [self.store.job(*k) for k in sorted(jobs)]
        return [self.eval_for(j, "node-update") for j in found if j is not None]

    def run_evals(self) -> None:
        """Schedule every due evaluation (blocked ones again, as a capacity change does)."""
        for _ in range(50):
            due = [e for e in self.pending if e.wait_until <= self.now]
            blocked = [e for e in self.store.evals.values() if e.status == "blocked"]
            if not due:
                return
            self.pending = [e for e in self.pending if e.wait_until > self.now]
            for ev in due + blocked:
                snap = self.store.snapshot()
                plan = schedule(snap, ev, now=self.now, seed=1, new_id=self.new_id)
                accepted, _ = planapply.check(snap, plan)
                self.apply(c.ApplyPlan(now=self.now, plan=accepted))
        raise AssertionError("evaluations did not settle")

    def drain(self, node_id: str, deadline: int = 0, ignore_system: bool = False) -> None:
        force = self.now + deadline if deadline > 0 else 0
        strategy = DrainStrategy(
            deadline=deadline, ignore_system_jobs=ignore_system, force_deadline_ns=force
        )
        self.apply(c.UpdateNodeDrain(now=self.now, node_id=node_id, strategy=strategy))

    def drain_tick(self) -> int:
        """One drainer step (as the leader's loop takes it); its wake time."""
        nodes = self.store.draining_nodes()
        if not nodes:
            return 0
        out = step(view_of(self.store, nodes), self.now)
        for s in out.nodes:
            evals = [
                self.eval_for(j, "node-drain")
                for k in s.jobs
                if (j := self.store.job(*k)) is not None
            ]
            self.apply(
                c.ApplyDrainStep(
                    now=self.now,
                    node_id=s.node_id,
                    migrate=s.migrate,
                    stop=s.stop,
                    done=s.done,
                    evals=evals,
                )
            )
        return out.wake

    def lose(self, node_id: str) -> None:
        """The node's heartbeat expires: disconnected when it has tolerant allocations."""
        self.cut_off.add(node_id)
        tolerant = any(
            not a.terminal() and tolerates(self.group_of(a))
            for a in self.store.allocs_for_node(node_id)
        )
        status = "disconnected" if tolerant else "down"
        evals = self.node_evals(node_id)
        self.apply(c.UpdateNodeStatus(now=self.now, node_id=node_id, status=status, evals=evals))

    def reconnect(self, node_id: str) -> None:
        """The client beats again, then reports its allocations' statuses again."""
        self.cut_off.discard(node_id)
        evals = self.node_evals(node_id)
        self.apply(c.UpdateNodeStatus(now=self.now, node_id=node_id, status="ready", evals=evals))
        updates = [
            c.AllocClientUpdate(
                id=a.id, client_status="running", task_states=self.task_states(a.id)
            )
            for a in self.store.allocs_for_node(node_id)
            if a.id in self.started and a.id not in self.stopped
        ]
        if updates:
            self.apply(c.UpdateAllocsFromClient(now=self.now, updates=updates))

    def group_of(self, alloc: Allocation) -> TaskGroup | None:
        job = self.store.job(alloc.namespace, alloc.job_id)
        return job.group(alloc.task_group) if job is not None else None

    # -- the clients' side -----------------------------------------------------------------

    def task_states(self, alloc_id: str) -> dict[str, TaskState]:
        return {"web": TaskState(state="running", started_at=self.started[alloc_id])}

    def clients(self) -> None:
        """Every reachable client starts what it should run and stops what it should not."""
        updates: list[c.AllocClientUpdate] = []
        for a in list(self.store.allocs.values()):
            if a.node_id in self.cut_off or a.client_terminal():
                continue
            if a.desired_status == "run" and a.id not in self.started:
                self.started[a.id] = self.now
                updates.append(
                    c.AllocClientUpdate(
                        id=a.id, client_status="running", task_states=self.task_states(a.id)
                    )
                )
            elif a.desired_status != "run" and a.id not in self.stopped:
                self.stopped.add(a.id)
                updates.append(c.AllocClientUpdate(id=a.id, client_status="complete"))
        if updates:
            self.apply(c.UpdateAllocsFromClient(now=self.now, updates=updates))

    def fail(self, alloc_id: str) -> None:
        self.stopped.add(alloc_id)
        up = c.AllocClientUpdate(id=alloc_id, client_status="failed")
        job = self.store.job("default", self.store.allocs[alloc_id].job_id)
        evals = [self.eval_for(job, "alloc-failure")] if job is not None else []
        self.apply(c.UpdateAllocsFromClient(now=self.now, updates=[up], evals=evals))

    def settle(self, rounds: int = 6) -> None:
        for _ in range(rounds):
            self.run_evals()
            self.clients()
        self.run_evals()

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * SECOND)

    # -- what a user sees ------------------------------------------------------------------

    def running(self, job_id: str = "web") -> list[Allocation]:
        """Allocations a reachable client runs for the job."""
        return [
            a
            for a in self.store.allocs_for_job("default", job_id)
            if a.id in self.started and a.id not in self.stopped and a.node_id not in self.cut_off
        ]

    def live(self, job_id: str = "web") -> list[Allocation]:
        return [a for a in self.store.allocs_for_job("default", job_id) if not a.terminal()]
