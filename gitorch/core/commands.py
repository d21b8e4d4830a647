"""The closed set of Raft log commands.

Every command carries the time (``now``, unix nanoseconds), the IDs and the evaluations
it creates: they are fixed by the leader before the command enters the log, so every
replica that applies it computes the same state. ``Command`` is the tagged union that
``StateStore.apply`` matches on.
"""

from __future__ import annotations

import msgspec

from gitorch.core.aclcommands import (
    BootstrapACL,
    DeleteACLPolicies,
    DeleteACLRoles,
    DeleteACLTokens,
    UpsertACLPolicies,
    UpsertACLRoles,
    UpsertACLTokens,
)
from gitorch.core.model import (
    Evaluation,
    FileError,
    GitSync,
    Job,
    Node,
    Plan,
    TaskState,
)
from gitorch.core.model.cluster import ServerMember
from gitorch.core.model.drain import DrainStrategy
from gitorch.core.model.namespace import Namespace
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.model.submission import JobSubmission
from gitorch.core.naming import nomad_name
from gitorch.core.opcommands import SetSchedulerConfig, StageRestore
from gitorch.core.varcommands import DeleteVariable, UpsertRootKey, UpsertVariable


class _Cmd(msgspec.Struct, frozen=True, kw_only=True, tag=True, rename=nomad_name):
    now: int


class RegisterJob(_Cmd, frozen=True, kw_only=True):
    job: Job
    eval: Evaluation | None = None
    submission: JobSubmission | None = None  # the source as submitted (checked for size)


class LaunchPeriodic(_Cmd, frozen=True, kw_only=True):
    """The leader's launch of a periodic job: ``job`` is the child, ``launch`` its launch
    time, recorded as the parent's last launch. A scheduled launch (``forced`` false) of
    a due time at or before the recorded last launch is refused: a second leader, or one
    that had not yet applied the first's entry, cannot launch the same time twice."""

    job: Job
    eval: Evaluation | None = None
    launch: int
    due: int = 0  # the due time this launch covers (its launch time unless catching up)
    forced: bool = False


class DeregisterJob(_Cmd, frozen=True, kw_only=True):
    namespace: str
    job_id: str
    purge: bool = False
    eval: Evaluation | None = None


class RegisterNode(_Cmd, frozen=True, kw_only=True):
    node: Node
    evals: list[Evaluation] = []


class UpdateNodeStatus(_Cmd, frozen=True, kw_only=True):
    node_id: str
    status: str
    description: str = ""
    evals: list[Evaluation] = []


class UpdateNodeEligibility(_Cmd, frozen=True, kw_only=True):
    node_id: str
    eligibility: str
    evals: list[Evaluation] = []


class PurgeNode(_Cmd, frozen=True, kw_only=True):
    """Forget a node (``/v1/node/:id/purge``, Nomad's Node.Deregister); ``evals`` for the
    jobs that had allocations on it, which the schedulers then count as lost."""

    node_id: str
    evals: list[Evaluation] = []


class UpdateNodeDrain(_Cmd, frozen=True, kw_only=True):
    """Start (``strategy``) or cancel (None) a node's drain (``/v1/node/:id/drain``)."""

    node_id: str
    strategy: DrainStrategy | None = None
    mark_eligible: bool = False
    meta: dict[str, str] = {}
    evals: list[Evaluation] = []


class ApplyDrainStep(_Cmd, frozen=True, kw_only=True):
    """The drainer's step for one node: allocations marked for migration, allocations
    stopped (ID, why), and ``done`` when the node has finished draining. Refused when
    the node is no longer draining (a cancel got there first)."""

    node_id: str
    migrate: list[str] = []
    stop: list[tuple[str, str]] = []
    done: bool = False
    evals: list[Evaluation] = []


class StopAllocation(_Cmd, frozen=True, kw_only=True):
    """A user's stop of one allocation (``/v1/allocation/:id/stop``): desired stop,
    and the evaluation that places its replacement."""

    alloc_id: str
    description: str = "alloc was stopped by user"
    evals: list[Evaluation] = []


class GarbageCollect(_Cmd, frozen=True, kw_only=True):
    """``/v1/system/gc``: delete these finished allocations and evaluations (chosen by
    the leader; any no longer finished when applied is kept)."""

    alloc_ids: list[str] = []
    eval_ids: list[str] = []


class UpsertEvals(_Cmd, frozen=True, kw_only=True):
    evals: list[Evaluation]


class ApplyPlan(_Cmd, frozen=True, kw_only=True):
    plan: Plan


class AllocClientUpdate(msgspec.Struct, frozen=True, kw_only=True, rename=nomad_name):
    id: str
    client_status: str
    client_description: str = ""
    task_states: dict[str, TaskState] = {}


class UpdateAllocsFromClient(_Cmd, frozen=True, kw_only=True):
    updates: list[AllocClientUpdate]
    evals: list[Evaluation] = []


class RecordGitSync(_Cmd, frozen=True, kw_only=True):
    sync: GitSync


class SetGitopsSuspend(_Cmd, frozen=True, kw_only=True):
    """Suspend (or resume) auto-sync of one Git-managed job."""

    job_id: str
    suspended: bool


class RecordGitFetchError(_Cmd, frozen=True, kw_only=True):
    message: str


class SetClusterID(_Cmd, frozen=True, kw_only=True):
    """Name the cluster once: applied only while the state has no cluster ID."""

    cluster_id: str


class UpsertServerMember(_Cmd, frozen=True, kw_only=True):
    member: ServerMember


class RemoveServerMember(_Cmd, frozen=True, kw_only=True):
    raft_addr: str


class UpsertServices(_Cmd, frozen=True, kw_only=True):
    """A client's service registrations (Nomad's ServiceRegistration.Upsert)."""

    services: list[ServiceRegistration]


class DeleteServices(_Cmd, frozen=True, kw_only=True):
    """Remove registrations by ID, and every registration (and check result) of
    ``alloc_ids``."""

    ids: list[str] = []
    alloc_ids: list[str] = []


class UpsertCheckResults(_Cmd, frozen=True, kw_only=True):
    """The latest results of an allocation's checks, as its client reports them."""

    alloc_id: str
    results: list[CheckResult]


class AllocHealth(msgspec.Struct, frozen=True, kw_only=True, rename=nomad_name):
    """An allocation's health in its deployment, judged at ``timestamp``."""

    id: str
    healthy: bool
    timestamp: int


class UpdateDeployment(_Cmd, frozen=True, kw_only=True):
    """The deployment watcher's (or a user's) change to one deployment, applied at once:
    allocation health, promotion, a new status, a reverted job (registered as a new
    version) and the evaluations that follow. An empty ``status`` leaves it as is."""

    deployment_id: str
    health: list[AllocHealth] = []
    promote: list[str] = []  # task groups whose canaries are promoted
    status: str = ""
    status_description: str = ""
    revert: Job | None = None
    evals: list[Evaluation] = []


class SetJobStable(_Cmd, frozen=True, kw_only=True):
    """Mark one stored version of a job stable, or not (``/v1/job/:id/stable``)."""

    namespace: str
    job_id: str
    version: int
    stable: bool


class UpsertNamespaces(_Cmd, frozen=True, kw_only=True):
    """Declare or change namespaces (``/v1/namespace``, ``nomad namespace apply``)."""

    namespaces: list[Namespace]


class DeleteNamespaces(_Cmd, frozen=True, kw_only=True):
    """Delete namespaces; refused, all of them, while one still holds live jobs or
    variables (``gitorch.core.nsstate``)."""

    names: list[str]


Command = (
    RegisterJob
    | LaunchPeriodic
    | DeregisterJob
    | RegisterNode
    | UpdateNodeStatus
    | UpdateNodeEligibility
    | UpdateNodeDrain
    | PurgeNode
    | ApplyDrainStep
    | UpsertEvals
    | StopAllocation
    | GarbageCollect
    | ApplyPlan
    | UpdateAllocsFromClient
    | RecordGitSync
    | RecordGitFetchError
    | SetGitopsSuspend
    | SetClusterID
    | UpsertServerMember
    | RemoveServerMember
    | UpdateDeployment
    | SetJobStable
    | UpsertServices
    | DeleteServices
    | UpsertCheckResults
    | BootstrapACL
    | UpsertACLTokens
    | DeleteACLTokens
    | UpsertACLPolicies
    | DeleteACLPolicies
    | UpsertACLRoles
    | DeleteACLRoles
    | UpsertVariable
    | DeleteVariable
    | UpsertRootKey
    | SetSchedulerConfig
    | StageRestore
    | UpsertNamespaces
    | DeleteNamespaces
)

__all__ = [
    "BootstrapACL",
    "DeleteACLPolicies",
    "DeleteACLRoles",
    "DeleteACLTokens",
    "DeleteNamespaces",
    "DeleteVariable",
    "UpsertRootKey",
    "UpsertVariable",
    "UpsertACLPolicies",
    "UpsertACLRoles",
    "UpsertACLTokens",
    "AllocClientUpdate",
    "AllocHealth",
    "ApplyDrainStep",
    "UpdateNodeDrain",
    "PurgeNode",
    "SetJobStable",
    "SetSchedulerConfig",
    "StageRestore",
    "StopAllocation",
    "GarbageCollect",
    "UpdateDeployment",
    "ApplyPlan",
    "Command",
    "DeleteServices",
    "DeregisterJob",
    "FileError",
    "LaunchPeriodic",
    "RecordGitFetchError",
    "RecordGitSync",
    "SetGitopsSuspend",
    "RegisterJob",
    "RegisterNode",
    "RemoveServerMember",
    "ServerMember",
    "SetClusterID",
    "UpdateAllocsFromClient",
    "UpdateNodeEligibility",
    "UpdateNodeStatus",
    "UpsertCheckResults",
    "UpsertEvals",
    "UpsertServerMember",
    "UpsertNamespaces",
    "UpsertServices",
]
