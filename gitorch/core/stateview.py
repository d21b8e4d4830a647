"""The state's read side: ``StateView`` (the tables and the queries every reader makes)
and ``Snapshot``, a point-in-time copy of it in O(1). The live tables, and the one FSM
entry point that changes them, are ``gitorch.core.state.StateStore``."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, TypeVar

from gitorch.core import submissions
from gitorch.core.aclstate import AclTables
from gitorch.core.bucketmap import BucketMap, empty
from gitorch.core.idset import NO_IDS, IdSet
from gitorch.core.launchstate import LaunchTables
from gitorch.core.model import (
    Allocation,
    Deployment,
    Evaluation,
    GitSync,
    Job,
    Node,
    Resources,
)
from gitorch.core.model.cluster import ServerMember
from gitorch.core.model.namespace import Namespace
from gitorch.core.opstate import OperatorTables
from gitorch.core.pmap import PMap, pmap
from gitorch.core.servicestate import ServiceTables
from gitorch.core.stateindex import NOTHING
from gitorch.core.varstate import VariableTables

if TYPE_CHECKING:
    from gitorch.core.state import StateStore

JobKey = tuple[str, str]
TABLES = (
    "jobs", "nodes", "allocs", "evals", "gitops", "members", "deployments", "services", "checks",
    "acl_token", "acl_policy", "acl_role", "variables", "root_keys", "scheduler_config",
    "namespaces",
)  # fmt: skip
V = TypeVar("V", bound="StateView")


class StateView:
    """Read access shared by the live store and its snapshots."""

    def __init__(self) -> None:
        self.index = 0
        self.table_index: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.jobs: PMap[JobKey, Job] = pmap()
        self.versions: PMap[JobKey, tuple[Job, ...]] = pmap()
        self.nodes: PMap[str, Node] = pmap()
        self.nodes_by_secret: PMap[str, str] = pmap()  # SHA-256 of a node's secret -> ID
        # The IDs of the nodes with a drain strategy (kept in step by ``_put_node``): the
        # drainer reads them on every change to the nodes table, which at 10,000 nodes
        # registering was a scan of every node per registration.
        self.draining: IdSet = NO_IDS
        self.allocs: BucketMap[str, Allocation] = empty()
        # Per node, what its live (non-terminal) allocations hold: (cpu, memory, disk).
        # Derived from ``allocs`` (kept in step by ``_set_allocs``, rebuilt by ``load``),
        # so a scheduler reads a node's usage in O(1) however many allocations it has.
        self.used_by_node: PMap[str, tuple[int, int, int]] = pmap()
        self.by_job: PMap[JobKey, IdSet] = pmap()
        self.by_node: PMap[str, IdSet] = pmap()
        # Per node, the index at which its allocations last changed (what a client's
        # blocking watch on its allocations waits on); a node not in it: ``alloc_floor``.
        self.node_alloc_index: PMap[str, int] = pmap()
        self.alloc_floor = 0
        self.evals: PMap[str, Evaluation] = pmap()
        self.evals_by_job: PMap[JobKey, IdSet] = pmap()
        self.gitsync = GitSync()
        self.cluster_id = ""  # named once by the first leader (SetClusterID)
        self.members: PMap[str, ServerMember] = pmap()  # raft address -> server
        self.launches = LaunchTables()  # periodic launch records, children by parent
        self.deployments: PMap[str, Deployment] = pmap()
        self.deployments_by_job: PMap[JobKey, IdSet] = pmap()
        self.svc = ServiceTables()  # service registrations and check results
        self.acl = AclTables()  # ACL tokens (secrets hashed), policies, roles, bootstrap
        self.vars = VariableTables()  # variables (encrypted) and root keys (wrapped)
        self.operator = OperatorTables()  # scheduler configuration, a restore's chunks
        self.submissions = submissions.SubmissionTables()  # kept versions' sources (by "jobs")
        self.namespaces: PMap[str, Namespace] = pmap()  # declared ones (``core/nsstate``)

    def job(self, namespace: str, job_id: str) -> Job | None:
        return self.jobs.get((namespace, job_id))

    def draining_nodes(self) -> list[Node]:
        """The nodes that are draining, by ID."""
        return sorted((self.nodes[i] for i in self.draining), key=lambda n: n.id)

    def job_version(self, namespace: str, job_id: str, version: int) -> Job | None:
        for job in self.versions.get((namespace, job_id), ()):
            if job.version == version:
                return job
        return None

    def job_versions(self, namespace: str, job_id: str) -> list[Job]:
        """Newest first, as /v1/job/:id/versions lists them."""
        return sorted(self.versions.get((namespace, job_id), ()), key=lambda j: -j.version)

    def deployments_for_job(self, namespace: str, job_id: str) -> list[Deployment]:
        """Newest first, as /v1/job/:id/deployments lists them."""
        ids = self.deployments_by_job.get((namespace, job_id), NO_IDS)
        return sorted((self.deployments[i] for i in ids), key=lambda d: -d.create_index)

    def allocs_for_job(self, namespace: str, job_id: str) -> list[Allocation]:
        ids = self.by_job.get((namespace, job_id), NO_IDS)
        return sorted((self.allocs[i] for i in ids), key=lambda a: (a.create_index, a.name))

    def node_allocs_index(self, node_id: str) -> int:
        """The index at which the node's allocations last changed (at least 1)."""
        return max(1, self.node_alloc_index.get(node_id, self.alloc_floor))

    def allocs_for_node(self, node_id: str) -> list[Allocation]:
        ids = self.by_node.get(node_id, NO_IDS)
        return sorted((self.allocs[i] for i in ids), key=lambda a: (a.create_index, a.name))

    def evals_for_job(self, namespace: str, job_id: str) -> list[Evaluation]:
        ids = self.evals_by_job.get((namespace, job_id), NO_IDS)
        return sorted((self.evals[i] for i in ids), key=lambda e: e.create_index)

    def node_usage(self, node_id: str) -> Resources:
        """What the node's live (non-terminal) allocations hold."""
        cpu, mem, disk = self.used_by_node.get(node_id, NOTHING)
        return Resources(cpu=cpu, memory_mb=mem, disk_mb=disk)

    def node_used(self, node_id: str, stopping: Collection[str] = ()) -> tuple[int, int, int]:
        """(cpu, memory, disk) the node's live allocations hold, less ``stopping`` ones."""
        cpu, mem, disk = self.used_by_node.get(node_id, NOTHING)
        if stopping:
            on_node = self.by_node.get(node_id, NO_IDS)
            for alloc_id in stopping if len(stopping) < len(on_node) else on_node:
                if alloc_id in stopping and alloc_id in on_node:
                    a = self.allocs[alloc_id]
                    if not a.terminal():
                        cpu -= a.resources.cpu
                        mem -= a.resources.memory_mb
                        disk -= a.resources.disk_mb
        return cpu, mem, disk

    def children(self, namespace: str, job_id: str) -> list[Job]:
        """The jobs a periodic or parameterized job launched, oldest first."""
        found = [self.jobs.get((namespace, i)) for i in self.launches.child_ids(namespace, job_id)]
        return sorted((j for j in found if j is not None), key=lambda j: (j.create_index, j.id))

    def job_status(self, job: Job) -> str:
        """Nomad's job status: running while any allocation is live, dead once stopped.
        A periodic or parameterized job is running until stopped (its children run)."""
        if job.is_parent():
            return "dead" if job.stop else "running"
        allocs = self.allocs_for_job(job.namespace, job.id)
        if any(not a.terminal() for a in allocs):
            return "running"
        finished = allocs and all(a.terminal() for a in allocs)
        if job.stop or (job.type in ("batch", "sysbatch") and finished):
            return "dead"
        return "pending"

    def fork(self) -> StateStore:
        """A private store starting from this state: for dry runs (``job plan``)."""
        from gitorch.core.state import StateStore  # the writer builds on this reader

        return copy_into(self, StateStore())


def copy_into(src: StateView, snap: V) -> V:
    """Point ``snap`` at ``src``'s tables: O(1), since the tables are persistent maps."""
    snap.index = src.index
    snap.table_index = dict(src.table_index)
    snap.jobs = src.jobs
    snap.versions = src.versions
    snap.nodes = src.nodes
    snap.nodes_by_secret = src.nodes_by_secret
    snap.draining = src.draining
    snap.allocs = src.allocs
    snap.used_by_node = src.used_by_node
    snap.by_job = src.by_job
    snap.by_node = src.by_node
    snap.node_alloc_index = src.node_alloc_index
    snap.alloc_floor = src.alloc_floor
    snap.evals = src.evals
    snap.evals_by_job = src.evals_by_job
    snap.gitsync = src.gitsync
    snap.cluster_id = src.cluster_id
    snap.members = src.members
    snap.launches = src.launches
    snap.deployments = src.deployments
    snap.deployments_by_job = src.deployments_by_job
    snap.svc = src.svc
    snap.acl = src.acl
    snap.vars = src.vars
    snap.operator = src.operator
    snap.submissions = src.submissions
    snap.namespaces = src.namespaces
    return snap


class Snapshot(StateView):
    """A read-only point-in-time copy of the tables, at ``index``."""
