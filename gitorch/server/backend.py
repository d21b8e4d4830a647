"""What the HTTP API asks of a server: the ``Backend`` protocol and its result values.

``gitorch.server.server.Server`` implements it over a Raft log (or the in-memory log
twin in tests). The API layer depends only on this protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

from gitorch.core.commands import AllocClientUpdate
from gitorch.core.jobdiff import JobDiff as JobDiff
from gitorch.core.model import AllocMetric, GitopsStatus, Job, Model, Node
from gitorch.core.model.clientstats import AllocResourceUsage, HostStats
from gitorch.core.model.drain import DrainSpec
from gitorch.core.model.gitops import HistoryItem
from gitorch.core.model.gitops import SyncChange as SyncChange
from gitorch.core.model.gitops import SyncReport as SyncReport
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.model.submission import JobSubmission
from gitorch.core.state import StateView
from gitorch.core.task import ExecCommand
from gitorch.server.cluster import AgentMembers, RaftConfiguration
from gitorch.server.deployments import DeploymentWatcher


class JobRegisterResponse(Model, frozen=True, kw_only=True):
    eval_id: str
    eval_create_index: int
    job_modify_index: int
    index: int
    warnings: str = ""


class JobDeregisterResponse(Model, frozen=True, kw_only=True):
    eval_id: str
    eval_create_index: int
    job_modify_index: int
    index: int


class JobDispatchResponse(Model, frozen=True, kw_only=True):
    """Nomad's JobDispatchResponse (``POST /v1/job/:id/dispatch``)."""

    dispatched_job_id: str
    eval_id: str = ""
    eval_create_index: int = 0
    job_create_index: int = 0
    index: int = 0


class PeriodicForceResponse(Model, frozen=True, kw_only=True):
    """Nomad's PeriodicForceResponse (``POST /v1/job/:id/periodic/force``)."""

    eval_id: str = ""
    eval_create_index: int = 0
    index: int = 0


class TGUpdates(Model, frozen=True, kw_only=True):
    ignore: int = 0
    place: int = 0
    migrate: int = 0
    stop: int = 0
    in_place_update: int = 0
    destructive_update: int = 0
    canary: int = 0
    preemptions: int = 0


class PlanAnnotations(Model, frozen=True, kw_only=True):
    desired_tg_updates: dict[str, TGUpdates] = {}


class JobPlanResponse(Model, frozen=True, kw_only=True):
    """Nomad's JobPlanResponse: what `job plan` would do, computed without committing."""

    annotations: PlanAnnotations
    failed_tg_allocs: dict[str, AllocMetric]
    job_modify_index: int
    diff: JobDiff
    warnings: str = ""
    created_evals: list[Any] = []


class NodeRegisterResponse(Model, frozen=True, kw_only=True):
    index: int
    heartbeat_ttl: int  # nanoseconds


class Backend(Protocol):
    """The server operations behind the Nomad v1 routes and /v1/gitops."""

    @property
    def state(self) -> StateView:
        """Live state; its values are frozen, safe to read from any thread."""
        ...

    def wait_index(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        """Block until one of ``tables`` passes ``index`` or ``timeout`` elapses; return
        the highest index of those tables (Nomad's blocking query)."""
        ...

    async def wait_index_async(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        """:meth:`wait_index` on the event loop, holding no thread."""
        ...

    async def wait_node_allocs(self, node_id: str, index: int, timeout: float) -> int:
        """Block until the allocations of ``node_id`` change past ``index`` (another
        node's changes do not wake it) or ``timeout``; return the node's index."""
        ...

    @property
    def deployments(self) -> DeploymentWatcher:
        """Deployment actions (promote, fail, pause) and job revert/stable."""
        ...

    def register_job(
        self, job: Job, submission: JobSubmission | None = None
    ) -> JobRegisterResponse:
        """Register ``job``; ``submission``, its source as submitted, is stored with the
        version it gets (BadRequestError when over the size cap)."""
        ...

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> JobDeregisterResponse: ...

    def plan_job(self, job: Job, diff: bool) -> JobPlanResponse: ...

    def force_periodic(self, namespace: str, job_id: str) -> PeriodicForceResponse:
        """Launch a periodic job's child now (the leader's dispatcher does it)."""
        ...

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
        """Create a child of a parameterized job; a repeated ``token`` returns the first."""
        ...

    def register_node(self, node: Node) -> NodeRegisterResponse: ...

    def heartbeat(self, node_id: str, secret: str | None = None) -> NodeRegisterResponse: ...

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int: ...

    def upsert_services(self, services: list[ServiceRegistration]) -> int:
        """A client's registrations; those of an allocation no longer live are dropped."""
        ...

    def delete_services(self, ids: list[str], alloc_ids: list[str]) -> int:
        """Remove registrations by ID (NotFoundError when one is unknown) and every
        registration of ``alloc_ids``."""
        ...

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int: ...

    def set_node_eligibility(self, node_id: str, eligible: bool) -> int: ...

    def drain_node(
        self, node_id: str, spec: DrainSpec | None, mark_eligible: bool, meta: dict[str, str]
    ) -> tuple[int, list[str]]: ...

    def gitops_status(self) -> GitopsStatus: ...

    def gitops_sync(self, dry_run: bool, revision: str = "", expected: str = "") -> SyncReport: ...

    def gitops_history(self) -> list[HistoryItem]: ...

    def gitops_suspend(self, job_id: str, suspended: bool) -> int: ...

    def gitops_webhook(self, body: bytes, signature: str | None) -> bool:
        """Verify a GitHub-style signature; on success trigger a sync and return True."""
        ...

    def leader(self) -> str: ...

    def peers(self) -> list[str]: ...

    def agent_self(self) -> dict[str, Any]: ...


class ClusterBackend(Protocol):
    """The cluster side of a server agent: leadership for request forwarding, and the
    membership routes (implemented by ``gitorch.server.cluster.Membership``)."""

    def is_leader(self) -> bool: ...

    def leader_http_addr(self) -> str | None:
        """The leader's HTTP ``host:port`` (None: no leader now, or not yet registered)."""
        ...

    def server_health(self) -> tuple[bool, str]: ...

    def raft_configuration(self) -> RaftConfiguration: ...

    def remove_raft_peer(self, address: str) -> int: ...

    def agent_members(self) -> AgentMembers: ...


class ClientBackend(Protocol):
    """What a client agent in this process offers the API (for /v1/client/...)."""

    node_id: str

    def log_path(self, alloc_id: str, task: str, kind: Literal["stdout", "stderr"]) -> Path:
        """The task's current log file; raises NotFoundError naming what is missing."""
        ...

    def alloc_dir(self, alloc_id: str) -> tuple[Path, list[str]]:
        """The allocation's directory on this node and its task names (NotFoundError
        when the allocation is not here)."""
        ...

    def restart_alloc(self, alloc_id: str, task: str, all_tasks: bool) -> list[str]:
        """Restart a task, or the running tasks; BadRequestError on a stopped one."""
        ...

    def signal_alloc(self, alloc_id: str, task: str, sig: str) -> list[str]:
        """Signal a task, or the running tasks; BadRequestError on a stopped one."""
        ...

    def alloc_stats(self, alloc_id: str, task: str) -> AllocResourceUsage: ...

    def exec_command(
        self, alloc_id: str, task: str, cmd: list[str], tty: bool
    ) -> tuple[ExecCommand, str]:
        """How to run ``cmd`` inside the task, and its driver's filesystem isolation."""
        ...

    def gc_alloc(self, alloc_id: str) -> None: ...

    def gc_all(self) -> list[str]: ...

    def host_stats(self) -> HostStats: ...
