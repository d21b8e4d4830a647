"""The leader's node drainer: a thin IO shell around ``gitorch.core.drain.step``.

It blocks on the state store (nodes, allocations or jobs moving past what it has seen)
or on the next time the pure step asked for (a replacement's ``min_healthy_time``, a
drain deadline), never polls. While no node drains it waits on the nodes table alone,
so allocation churn does not wake it. Each node's step is one ``ApplyDrainStep`` Raft
command with the evaluations it needs, so a new leader carries on from replicated
state alone.
"""

from __future__ import annotations

import logging

from gitorch.core import commands as c
from gitorch.core.drain import DrainView, NodeStep, step
from gitorch.core.model import Allocation, Evaluation, Job, Node
from gitorch.core.state import StateView
from gitorch.server.stateloop import StateLoop

log = logging.getLogger(__name__)
DRAINING_TABLES = ("nodes", "allocs", "jobs", "checks")
IDLE_TABLES = ("nodes",)


def view_of(state: StateView, nodes: list[Node]) -> DrainView:
    """The pure step's input: the draining nodes, their allocations, their jobs and the
    live replacements of the allocations marked for migration."""
    allocs = {n.id: state.allocs_for_node(n.id) for n in nodes}
    keys = {(a.namespace, a.job_id) for per_node in allocs.values() for a in per_node}
    jobs: dict[tuple[str, str], Job] = {}
    for key in keys:
        job = state.job(*key)
        if job is not None:
            jobs[key] = job
    marked = {
        a.id
        for per_node in allocs.values()
        for a in per_node
        if a.desired_transition.migrate and not a.terminal()
    }
    replacements: dict[str, Allocation] = {}
    for key in {(a.namespace, a.job_id) for p in allocs.values() for a in p if a.id in marked}:
        for a in state.allocs_for_job(*key):  # oldest first: the newest replacement wins
            if a.previous_allocation in marked and not a.terminal():
                replacements[a.previous_allocation] = a
    checks = {a.id: state.svc.checks_of(a.id) for a in replacements.values()}
    return DrainView(
        nodes=nodes, allocs=allocs, jobs=jobs, replacements=replacements, checks=checks
    )


class Drainer(StateLoop):
    """Started when the server becomes leader, stopped when it stops leading. While no
    node drains it watches only the nodes table."""

    name = "drainer"
    _busy = True

    def watched_tables(self) -> tuple[str, ...]:
        return DRAINING_TABLES if self._busy else IDLE_TABLES

    def step(self, state: StateView, now: int) -> int:
        self._busy = True  # until the tick says otherwise (a failed tick stays watchful)
        self._busy, wake = self.tick(state, now)
        return wake

    def tick(self, state: StateView, now: int) -> tuple[bool, int]:
        """One step over every draining node; return whether any node drains, and the
        next wake time (0: none)."""
        nodes = state.draining_nodes()
        if not nodes:
            return False, 0
        out = step(view_of(state, nodes), now)
        for node_step in out.nodes:
            self._submit(self._command(state, node_step, now))
            if node_step.done:
                log.info("node %s: drain complete", node_step.node_id)
        return True, out.wake

    def _command(self, state: StateView, s: NodeStep, now: int) -> c.ApplyDrainStep:
        evals: list[Evaluation] = []
        for namespace, job_id in s.jobs:
            job = state.job(namespace, job_id)
            if job is None:
                continue
            evals.append(
                Evaluation(
                    id=self._new_id(),
                    namespace=namespace,
                    priority=job.priority,
                    type=job.type,
                    triggered_by="node-drain",
                    job_id=job_id,
                    node_id=s.node_id,
                )
            )
        return c.ApplyDrainStep(
            now=now, node_id=s.node_id, migrate=s.migrate, stop=s.stop, done=s.done, evals=evals
        )
