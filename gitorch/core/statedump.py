"""What crosses the state store's boundary: ``ApplyResult`` (what one command did) and
``StateDump``, everything a replica needs to rebuild its tables (a Raft snapshot, and
the file ``/v1/operator/snapshot`` saves and restores)."""

from __future__ import annotations

import msgspec

from gitorch.core.aclstate import AclDump
from gitorch.core.model import Allocation, Deployment, Evaluation, GitSync, Job, Node
from gitorch.core.model.cluster import ServerMember
from gitorch.core.model.launch import PeriodicLaunch
from gitorch.core.model.namespace import Namespace
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.model.submission import JobSubmission
from gitorch.core.opstate import OperatorDump
from gitorch.core.varstate import VariablesDump


class ApplyResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one command did: its index, and the evaluations it made ready for the broker."""

    index: int
    new_evals: list[Evaluation] = []
    error: str = ""


class StateDump(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a replica needs to rebuild its tables (the Raft snapshot payload)."""

    version: int = 1
    index: int
    table_index: dict[str, int]
    jobs: list[Job]
    versions: list[list[Job]]
    nodes: list[Node]
    allocs: list[Allocation]
    evals: list[Evaluation]
    gitsync: GitSync
    cluster_id: str = ""
    members: list[ServerMember] = []
    periodic_launches: list[PeriodicLaunch] = []
    deployments: list[Deployment] = []
    services: list[ServiceRegistration] = []
    checks: list[tuple[str, list[CheckResult]]] = []
    acl: AclDump = msgspec.field(default_factory=AclDump)
    variables: VariablesDump = msgspec.field(default_factory=VariablesDump)
    operator: OperatorDump = msgspec.field(default_factory=OperatorDump)
    submissions: list[JobSubmission] = []
    namespaces: list[Namespace] = []
