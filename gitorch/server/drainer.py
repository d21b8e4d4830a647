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
import threading
import time
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core.drain import DrainView, NodeStep, step
from gitorch.core.model import Allocation, Evaluation, Job, Node
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import NotLeaderError
from gitorch.server.fsm import Fsm

log = logging.getLogger(__name__)
DRAINING_TABLES = ("nodes", "allocs", "jobs")
IDLE_TABLES = ("nodes",)
IDLE_WAIT_S = 30.0


def draining(state: StateView) -> list[Node]:
    return sorted((n for n in state.nodes.values() if n.drain_strategy is not None), key=_id)


def _id(node: Node) -> str:
    return node.id


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
    return DrainView(nodes=nodes, allocs=allocs, jobs=jobs, replacements=replacements)


class Drainer:
    """Started when the server becomes leader, stopped when it stops leading."""

    def __init__(
        self,
        fsm: Fsm,
        submit: Callable[[c.Command], ApplyResult],
        new_id: Callable[[], str],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._fsm, self._submit, self._new_id, self._clock = fsm, submit, new_id, clock
        self._stop: threading.Event | None = None

    def start(self) -> None:
        self.stop()
        stop = self._stop = threading.Event()
        threading.Thread(target=self._run, args=(stop,), name="drainer", daemon=True).start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    def _run(self, stop: threading.Event) -> None:
        seen, wake, busy = -1, 0, True
        while not stop.is_set():
            now = self._clock()
            timeout = IDLE_WAIT_S if not wake else max(0.0, (wake - now) / 1e9)
            tables = DRAINING_TABLES if busy else IDLE_TABLES
            index = self._fsm.wait_index(tables, seen, min(timeout, IDLE_WAIT_S))
            if stop.is_set():
                return
            if index == seen and (not wake or self._clock() < wake):
                continue  # an idle timeout with nothing due
            seen = index
            try:
                busy, wake = self.tick(self._fsm.snapshot(), self._clock())
            except NotLeaderError:
                return
            except Exception:  # one bad node never stops the loop
                log.exception("drainer tick failed")
                busy, wake = True, self._clock() + 1_000_000_000

    def tick(self, state: StateView, now: int) -> tuple[bool, int]:
        """One step over every draining node; return whether any node drains, and the
        next wake time (0: none)."""
        nodes = draining(state)
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
