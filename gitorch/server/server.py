"""A gitorch server: the replicated state plus the leader's work, behind ``Backend``.

Every write becomes one command through the replicated log. Leader-only services
(eval broker, plan applier, workers, heartbeat timers, blocked evals, the GitOps loop)
start when this server becomes leader and stop when it loses leadership.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from gitorch import __version__
from gitorch.core import commands as c
from gitorch.core.disconnects import tolerates
from gitorch.core.model import Evaluation, GitopsStatus, Job, Node, replace
from gitorch.core.model.drain import DrainSpec, DrainStrategy, rfc3339
from gitorch.core.model.gitops import HistoryItem
from gitorch.core.model.node import same_registration, secret_digest
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.model.submission import JobSubmission, submission_problem
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import (
    BadRequestError,
    NotFoundError,
    NotLeaderError,
    PermissionDeniedError,
)
from gitorch.server.acl import AclService
from gitorch.server.backend import (
    JobDeregisterResponse,
    JobDispatchResponse,
    JobPlanResponse,
    JobRegisterResponse,
    NodeRegisterResponse,
    PeriodicForceResponse,
    SyncReport,
)
from gitorch.server.blocked import BlockedEvals
from gitorch.server.broker import EvalBroker
from gitorch.server.deployments import DeploymentWatcher
from gitorch.server.dispatch import Dispatcher
from gitorch.server.drainer import Drainer
from gitorch.server.events import EventBroker
from gitorch.server.fsm import Fsm
from gitorch.server.heartbeat import Heartbeats
from gitorch.server.identity import IdentitySigner
from gitorch.server.ids import new_id
from gitorch.server.jobplan import plan_job
from gitorch.server.keyring import Keyring, load_kek
from gitorch.server.log import LocalLog, ReplicatedLog
from gitorch.server.metrics import Metrics
from gitorch.server.operator import OperatorService
from gitorch.server.periodic import PeriodicDispatcher
from gitorch.server.planner import PlanApplier
from gitorch.server.useractions import UserActions
from gitorch.server.variables import VariableService
from gitorch.server.worker import Worker

log = logging.getLogger(__name__)
NS = 1_000_000_000


class GitopsPort(Protocol):
    """What the server needs of the GitOps loop (the loop lives in gitorch.gitsync)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def sync(self, dry_run: bool, revision: str | None = "", expected: str = "") -> SyncReport: ...
    def status(self, state: StateView) -> GitopsStatus: ...
    def history(self, state: StateView) -> list[HistoryItem]: ...
    def webhook(self, body: bytes, signature: str | None) -> bool: ...


class Server:
    def __init__(
        self,
        fsm: Fsm,
        log_: ReplicatedLog,
        *,
        name: str = "gitorch",
        region: str = "global",
        datacenter: str = "dc1",
        num_workers: int = 2,
        heartbeat_ttl_s: float = 10.0,
        heartbeat_grace_s: float = 10.0,
        data_dir: Path | None = None,
    ) -> None:
        """``data_dir``: the server's own directory (``<data_dir>/server``), where the
        keyring's key-encryption key lives."""
        self.fsm = fsm
        self.log = log_
        self.name = name
        self.region = region
        self.datacenter = datacenter
        self.broker = EvalBroker()
        self.planner = PlanApplier(fsm, log_)
        self.heartbeats = Heartbeats(heartbeat_ttl_s, heartbeat_grace_s, self._node_expired)
        self.blocked = BlockedEvals(fsm, self._submit_leading)
        self.deployments = DeploymentWatcher(fsm, self._submit_leading, new_id)
        self.drainer = Drainer(fsm, self._submit_leading, new_id)
        self.periodic = PeriodicDispatcher(lambda: self.fsm.state, self._submit_leading)
        self.dispatcher = Dispatcher(lambda: self.fsm.state, self._submit)
        self.gitops: GitopsPort | None = None
        self.acl = AclService(lambda: self.fsm.state, self._submit)
        keyring = Keyring(load_kek(data_dir))
        self.variables = VariableService(lambda: self.fsm.state, self._submit, keyring)
        self.identity = IdentitySigner(
            lambda: self.fsm.state, keyring, self.variables.active_key, region=region
        )
        self.agent_info: Callable[[], dict[str, Any]] = dict
        self._workers = [
            Worker(f"worker-{i}", fsm, log_, self.broker, self.planner) for i in range(num_workers)
        ]
        self._leader = False
        self._lead_lock = threading.Lock()
        self._system_jobs: tuple[int, list[Job]] = (-1, [])  # (jobs table index, jobs)
        fsm.listen(self._on_apply)
        self.events = EventBroker()  # /v1/event/stream, on every server
        fsm.listen(self.events.apply_listener(lambda: self.fsm.state))
        self.metrics = Metrics()  # /v1/metrics counters
        fsm.listen(self.metrics.apply_listener())
        self.actions = UserActions(lambda: self.fsm.state, self._submit)  # alloc stop, evaluate
        self.operator = OperatorService(self.fsm.snapshot, self._submit)  # config, snapshots

    @classmethod
    def in_memory(cls, data_dir: Path | None = None, **kwargs: Any) -> Server:
        """A single server over the local log twin (tests, and the dev agent)."""
        fsm = Fsm()
        journal = data_dir / "server" / "journal.bin" if data_dir is not None else None
        server_dir = data_dir / "server" if data_dir is not None else None
        server = cls(fsm, LocalLog(fsm, journal), data_dir=server_dir, **kwargs)
        server.start()
        server.set_leader(True)
        return server

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        for w in self._workers:
            w.start()

    def stop(self) -> None:
        self.set_leader(False)
        for w in self._workers:
            w.stop()
        self.log.close()

    def set_leader(self, leader: bool) -> None:
        """Start or stop the leader-only services (called on leadership changes)."""
        with self._lead_lock:
            if leader == self._leader:
                return
            self._leader = leader
            if leader:
                state = self.fsm.snapshot()
                self._fill_broker()
                ready = [n.id for n in state.nodes.values() if n.status == "ready"]
                self.heartbeats.start(ready)  # each with the failover grace
                self.blocked.kick()
                self.periodic.start()
                self.deployments.start()
                self.drainer.start()
                if self.gitops is not None:
                    self.gitops.start()
            else:
                self.periodic.stop()
                self.deployments.stop()
                self.drainer.stop()
                if self.gitops is not None:
                    self.gitops.stop()
                self.heartbeats.stop()
                self.broker.set_enabled(False)

    def _fill_broker(self, flush: bool = False) -> None:
        """Enable the broker with every pending evaluation, unless the operator paused
        it (``PauseEvalBroker``: then it stays empty and hands out nothing)."""
        state = self.fsm.snapshot()
        if flush or state.operator.config().pause_eval_broker:
            self.broker.set_enabled(False)
        if state.operator.config().pause_eval_broker or self.broker.enabled:
            return
        self.broker.set_enabled(True)
        for ev in sorted(state.evals.values(), key=lambda e: e.create_index):
            if ev.status == "pending":
                self.broker.enqueue(ev)

    def _on_apply(self, cmd: c.Command, result: ApplyResult) -> None:
        if self._leader and not result.error:
            if isinstance(cmd, c.SetSchedulerConfig) or (
                isinstance(cmd, c.StageRestore) and cmd.last
            ):  # a restored state's evaluations replace the queue's
                self._fill_broker(flush=isinstance(cmd, c.StageRestore))
                self.blocked.kick()
        if self._leader:
            for ev in result.new_evals:
                self.broker.enqueue(ev)
            self.blocked.observe(cmd)
            if isinstance(cmd, c.RegisterJob):
                self.periodic.job_changed(cmd.job.namespace, cmd.job.id)
            elif isinstance(cmd, c.DeregisterJob):
                self.periodic.job_changed(cmd.namespace, cmd.job_id)

    def _submit(self, cmd: c.Command) -> ApplyResult:
        return self.log.submit(cmd)

    def _submit_leading(self, cmd: c.Command) -> ApplyResult:
        """For leader-only services: a demoted server submits nothing, even if its log
        would still take the entry (a stale leader before it learns of the new term)."""
        if not self._leader:
            raise NotLeaderError(self.log.leader())
        return self.log.submit(cmd)

    # -- Backend: reads -------------------------------------------------------------

    @property
    def state(self) -> StateView:
        return self.fsm.state

    def wait_index(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        return self.fsm.wait_index(tables, index, timeout)

    async def wait_index_async(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        return await self.fsm.wait_index_async(tables, index, timeout)

    async def wait_node_allocs(self, node_id: str, index: int, timeout: float) -> int:
        return await self.fsm.wait_node_allocs(node_id, index, timeout)

    def leader(self) -> str:
        return self.log.leader() or ""

    def peers(self) -> list[str]:
        return self.log.peers()

    def agent_self(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "config": {
                "Name": self.name,
                "Region": self.region,
                "Datacenter": self.datacenter,
                "Version": {"Version": __version__},
            },
            "member": {"Name": self.name, "Status": "alive", "Tags": {"role": "nomad"}},
            "stats": {
                "raft": {"applied_index": str(self.fsm.state.index)},
                "broker": self.broker.stats(),
            },
        }
        for key, value in self.agent_info().items():
            if isinstance(value, dict) and isinstance(info.get(key), dict):
                info[key] = {**info[key], **value}
            else:
                info[key] = value
        return info

    # -- Backend: jobs --------------------------------------------------------------

    def _eval(self, job: Job, trigger: str) -> Evaluation:
        return Evaluation(
            id=new_id(),
            namespace=job.namespace,
            priority=job.priority,
            type=job.type,
            triggered_by=trigger,
            job_id=job.id,
        )

    def register_job(
        self, job: Job, submission: JobSubmission | None = None
    ) -> JobRegisterResponse:
        if not job.id:
            raise BadRequestError("job is missing its ID")
        if submission is not None and (problem := submission_problem(submission)):
            raise BadRequestError(problem)
        # A periodic or parameterized job runs nothing itself: no evaluation (Nomad).
        ev = None if job.is_parent() else self._eval(job, "job-register")
        cmd = c.RegisterJob(now=time.time_ns(), job=job, eval=ev, submission=submission)
        result = self._submit(cmd)
        stored = self.fsm.state.job(job.namespace, job.id)
        return JobRegisterResponse(
            eval_id=ev.id if ev is not None else "",
            eval_create_index=result.index if ev is not None else 0,
            job_modify_index=stored.job_modify_index if stored else result.index,
            index=result.index,
        )

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> JobDeregisterResponse:
        job = self.fsm.state.job(namespace, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id!r} not found in namespace {namespace!r}")
        ev = None if job.is_parent() else self._eval(job, "job-deregister")
        cmd = c.DeregisterJob(
            now=time.time_ns(), namespace=namespace, job_id=job_id, purge=purge, eval=ev
        )
        result = self._submit(cmd)
        return JobDeregisterResponse(
            eval_id=ev.id if ev is not None else "",
            eval_create_index=result.index if ev is not None else 0,
            job_modify_index=result.index,
            index=result.index,
        )

    def plan_job(self, job: Job, diff: bool) -> JobPlanResponse:
        return plan_job(self.fsm.snapshot(), job, diff=diff)

    def force_periodic(self, namespace: str, job_id: str) -> PeriodicForceResponse:
        job = self.fsm.state.job(namespace, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id!r} not found in namespace {namespace!r}")
        if not job.is_periodic_active():
            raise BadRequestError(f"can't force launch non-periodic job {job_id!r}")
        if not self._leader:
            raise NotLeaderError(self.log.leader())
        _, ev, result = self.periodic.force(job)
        if result.error:
            raise BadRequestError(result.error)
        return PeriodicForceResponse(
            eval_id=ev.id if ev is not None else "",
            eval_create_index=result.index if ev is not None else 0,
            index=result.index,
        )

    def dispatch_job(
        self,
        namespace: str,
        job_id: str,
        payload: bytes,
        meta: dict[str, str],
        *,
        token: str = "",
        id_prefix: str = "",
    ) -> JobDispatchResponse:
        return self.dispatcher.dispatch(
            namespace, job_id, payload, meta, token=token, id_prefix=id_prefix
        )

    # -- Backend: nodes and allocations ---------------------------------------------

    def register_node(self, node: Node) -> NodeRegisterResponse:
        if not node.id:
            raise BadRequestError("node is missing its ID")
        ready = replace(node, status="ready", secret_id=secret_digest(node.secret_id))
        old = self.fsm.state.nodes.get(node.id)
        if old is not None and old.secret_id and old.secret_id != ready.secret_id:
            raise PermissionDeniedError(
                f"node {node.id} is registered by another client (its node secret differs):"
                " two agents share one node ID; give this one its own data_dir"
            )
        if old is not None and old.status == "ready" and same_registration(old, ready):
            # A client re-registering what is already recorded (a restart, or a client
            # stuck in a loop) costs a heartbeat, not a Raft write.
            ttl = self.heartbeats.reset(node.id)
            return NodeRegisterResponse(index=old.modify_index, heartbeat_ttl=int(ttl * NS))
        evals = self._node_evals(node.id, "node-update")  # a new node: the system jobs
        result = self._submit(c.RegisterNode(now=time.time_ns(), node=ready, evals=evals))
        ttl = self.heartbeats.reset(node.id)
        return NodeRegisterResponse(index=result.index, heartbeat_ttl=int(ttl * NS))

    def heartbeat(self, node_id: str, secret: str | None = None) -> NodeRegisterResponse:
        """``secret``: what the caller presented as the node's secret (None: a client in
        this process, trusted)."""
        node = self.fsm.state.nodes.get(node_id)
        if node is None:
            raise NotFoundError(f"node {node_id} not registered: register it first")
        if secret is not None and node.secret_id and secret_digest(secret) != node.secret_id:
            raise PermissionDeniedError(
                f"heartbeat for node {node_id} without its node secret: only the client"
                " that registered a node may heartbeat for it"
            )
        index = self.fsm.state.index
        if node.status != "ready":
            evals = self._node_evals(node_id, "node-update")
            index = self._submit(
                c.UpdateNodeStatus(now=time.time_ns(), node_id=node_id, status="ready", evals=evals)
            ).index
        ttl = self.heartbeats.reset(node_id)
        return NodeRegisterResponse(index=index, heartbeat_ttl=int(ttl * NS))

    def _node_expired(self, node_id: str) -> None:
        node = self.fsm.state.nodes.get(node_id)
        if not self._leader or node is None or node.status == "down":
            return
        status = "disconnected" if self._tolerates_disconnect(node_id) else "down"
        log.warning("node %s (%s) missed its heartbeat: marking it %s", node_id, node.name, status)
        evals = self._node_evals(node_id, "node-update")
        self._submit_leading(
            c.UpdateNodeStatus(
                now=time.time_ns(),
                node_id=node_id,
                status=status,
                description="node heartbeat missed",
                evals=evals,
            )
        )

    def _node_evals(self, node_id: str, trigger: str) -> list[Evaluation]:
        """One evaluation per job with live allocations on the node, and one per system
        or sysbatch job, which may want the node (Nomad's createNodeEvals)."""
        state = self.fsm.state
        jobs: dict[tuple[str, str], Evaluation] = {}
        for alloc in state.allocs_for_node(node_id):
            job = state.job(alloc.namespace, alloc.job_id)
            key = (alloc.namespace, alloc.job_id)
            if job is not None and not alloc.terminal() and key not in jobs:
                jobs[key] = replace(self._eval(job, trigger), node_id=node_id)
        stamp = state.table_index.get("jobs", 0)
        if self._system_jobs[0] != stamp:  # cached: a node change should not walk every job
            found = [j for j in state.jobs.values() if j.type in ("system", "sysbatch")]
            self._system_jobs = (stamp, found)
        for job in self._system_jobs[1]:
            if not job.stop and (job.namespace, job.id) not in jobs:
                jobs[(job.namespace, job.id)] = replace(self._eval(job, trigger), node_id=node_id)
        return list(jobs.values())

    def update_allocs(self, updates: list[c.AllocClientUpdate]) -> int:
        state = self.fsm.state
        evals: list[Evaluation] = []
        seen: set[tuple[str, str]] = set()
        for up in updates:
            alloc = state.allocs.get(up.id)
            if alloc is None or up.client_status != "failed" or alloc.client_status == "failed":
                continue
            job = state.job(alloc.namespace, alloc.job_id)
            if job is not None and (job.namespace, job.id) not in seen:
                seen.add((job.namespace, job.id))
                evals.append(self._eval(job, "alloc-failure"))
        cmd = c.UpdateAllocsFromClient(now=time.time_ns(), updates=updates, evals=evals)
        return self._submit(cmd).index

    # -- Backend: services ----------------------------------------------------------

    def upsert_services(self, services: list[ServiceRegistration]) -> int:
        return self._submit(c.UpsertServices(now=time.time_ns(), services=services)).index

    def delete_services(self, ids: list[str], alloc_ids: list[str]) -> int:
        cmd = c.DeleteServices(now=time.time_ns(), ids=ids, alloc_ids=alloc_ids)
        result = self._submit(cmd)
        if result.error:
            raise NotFoundError(result.error)
        return result.index

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int:
        cmd = c.UpsertCheckResults(now=time.time_ns(), alloc_id=alloc_id, results=results)
        return self._submit(cmd).index

    def _tolerates_disconnect(self, node_id: str) -> bool:
        """Does a live allocation on the node belong to a group with ``lost_after``?"""
        state = self.fsm.state
        for alloc in state.allocs_for_node(node_id):
            job = state.job_version(alloc.namespace, alloc.job_id, alloc.job_version)
            if not alloc.terminal() and job is not None and tolerates(job.group(alloc.task_group)):
                return True
        return False

    def drain_node(
        self, node_id: str, spec: DrainSpec | None, mark_eligible: bool, meta: dict[str, str]
    ) -> tuple[int, list[str]]:
        """Start (``spec``) or cancel (None) a node's drain; the index and the IDs of
        the evaluations it created."""
        node = self.fsm.state.nodes.get(node_id)
        if node is None:
            raise NotFoundError(
                f"node {node_id} not found: list the nodes with 'gitorch node status'"
            )
        now = time.time_ns()
        strategy = None
        evals: list[Evaluation] = []
        if spec is not None:
            deadline = spec.deadline
            force_ns = now + deadline if deadline > 0 else (now if deadline < 0 else 0)
            strategy = DrainStrategy(
                deadline=deadline,
                ignore_system_jobs=spec.ignore_system_jobs,
                force_deadline=rfc3339(force_ns),
                started_at=rfc3339(now),
                force_deadline_ns=force_ns,
                started_at_ns=now,
            )
        else:  # the reconciler settles what was mid-migration; system jobs may want it back
            evals = self._node_evals(node_id, "node-drain")
        cmd = c.UpdateNodeDrain(
            now=now,
            node_id=node_id,
            strategy=strategy,
            mark_eligible=mark_eligible,
            meta=meta,
            evals=evals,
        )
        return self._submit(cmd).index, [e.id for e in evals]

    def evaluate_node(self, node_id: str) -> tuple[int, list[str]]:
        """New evaluations for every job on the node, and the system jobs (Nomad's
        Node.Evaluate): (index, evaluation IDs)."""
        if node_id not in self.fsm.state.nodes:
            raise NotFoundError(f"node {node_id} not found")
        evals = self._node_evals(node_id, "node-update")
        if not evals:
            return self.fsm.state.index, []
        result = self._submit(c.UpsertEvals(now=time.time_ns(), evals=evals))
        return result.index, [e.id for e in evals]

    def purge_node(self, node_id: str) -> tuple[int, list[str]]:
        """Forget the node (Nomad's Node.Deregister); its jobs are evaluated again and
        place what ran there elsewhere: (index, evaluation IDs)."""
        if node_id not in self.fsm.state.nodes:
            raise NotFoundError(f"node {node_id} not found")
        evals = self._node_evals(node_id, "node-deregister")
        result = self._submit(c.PurgeNode(now=time.time_ns(), node_id=node_id, evals=evals))
        if result.error:
            raise NotFoundError(result.error)
        log.info("node %s purged; %d evaluations created", node_id, len(evals))
        return result.index, [e.id for e in evals]

    def workers_info(self) -> list[dict[str, Any]]:
        """The scheduler workers, as Nomad's /v1/agent/schedulers lists them."""
        kinds = ["service", "batch", "system", "sysbatch", "_core"]
        return [
            {
                "id": w.name,
                "enabled_schedulers": kinds,
                "started": rfc3339(w.started),
                "status": "Started" if w.running else "Stopped",
                "workload_status": w.workload if self.broker.enabled else "Paused",
            }
            for w in self._workers
        ]

    def set_node_eligibility(self, node_id: str, eligible: bool) -> int:
        if node_id not in self.fsm.state.nodes:
            raise NotFoundError(f"node {node_id} not found")
        # a node that becomes eligible may be wanted by system jobs (Nomad)
        evals = self._node_evals(node_id, "node-update") if eligible else []
        cmd = c.UpdateNodeEligibility(
            now=time.time_ns(),
            node_id=node_id,
            eligibility="eligible" if eligible else "ineligible",
            evals=evals,
        )
        return self._submit(cmd).index

    # -- Backend: GitOps ------------------------------------------------------------

    def _gitops(self) -> GitopsPort:
        if self.gitops is None:
            raise NotFoundError("GitOps is not configured on this server: set gitops { repo }")
        return self.gitops

    def gitops_status(self) -> GitopsStatus:
        return self._gitops().status(self.fsm.state)

    def gitops_sync(self, dry_run: bool, revision: str = "", expected: str = "") -> SyncReport:
        return self._gitops().sync(dry_run, revision, expected)

    def gitops_history(self) -> list[HistoryItem]:
        return self._gitops().history(self.fsm.state)

    def gitops_suspend(self, job_id: str, suspended: bool) -> int:
        """Suspend or resume auto-sync of one Git-managed job (replicated)."""
        self._gitops()
        if job_id not in self.fsm.state.gitsync.files.values():
            raise NotFoundError(
                f"job {job_id!r} is not managed by GitOps: see gitorch gitops status"
            )
        cmd = c.SetGitopsSuspend(now=time.time_ns(), job_id=job_id, suspended=suspended)
        return self._submit(cmd).index

    def gitops_webhook(self, body: bytes, signature: str | None) -> bool:
        return self._gitops().webhook(body, signature)

    def record_git(self, cmd: c.RecordGitSync | c.RecordGitFetchError) -> None:
        """The GitOps loop's record of a sync or a fetch failure (replicated)."""
        self._submit(cmd)
