"""Services: the jobspec's ``service`` and ``check`` blocks, the registrations a client
makes for them (Nomad's native service discovery, ``provider = "nomad"``), and the
results of the checks the client runs.

Check types: ``http``, ``tcp``, ``grpc`` (grpc.health.v1 Health/Check) and ``script``
(a command run through the driver's exec in the task's isolation: exit 0 passing, 1
warning, anything else critical, as Consul and Nomad read it).

A registration is one service of one allocation, written by the client agent that runs
it and removed when the task stops, the allocation ends or its node goes down. Check
results are Nomad's ``CheckQueryResult``: status ``success``, ``failure`` or
``pending``, after ``success_before_passing`` / ``failures_before_critical``, and
``warning`` (a gitorch addition, as Consul's): a script check that exits 1, or a check
that failed ``failures_before_warning`` times but not yet ``failures_before_critical``.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from gitorch.core.model.base import Model

CheckStatus = Literal["success", "warning", "failure", "pending"]
CheckMode = Literal["healthiness", "readiness"]


class CheckRestart(Model, frozen=True, kw_only=True):
    """``check_restart { limit grace ignore_warnings }``: restart the task after ``limit``
    consecutive unhealthy results, not counting the ``grace`` after it (re)started."""

    limit: int = 0
    grace: int = 1_000_000_000
    ignore_warnings: bool = False


class ServiceCheck(Model, frozen=True, kw_only=True):
    name: str = ""
    type: str = ""
    path: str = ""
    protocol: str = ""
    method: str = ""
    header: dict[str, list[str]] = {}
    body: str = ""
    tls_skip_verify: bool = False
    grpc_service: str = msgspec.field(default="", name="GRPCService")
    grpc_use_tls: bool = msgspec.field(default=False, name="GRPCUseTLS")
    port_label: str = ""
    address_mode: str = ""
    interval: int = 0
    timeout: int = 0
    command: str = ""
    args: list[str] = []
    task_name: str = ""  # script checks of a group service: the task to exec in
    initial_status: str = ""
    success_before_passing: int = 0
    failures_before_critical: int = 0
    failures_before_warning: int = 0
    on_update: str = "require_healthy"
    check_restart: CheckRestart | None = None


class Service(Model, frozen=True, kw_only=True):
    name: str = ""
    task_name: str = ""
    port_label: str = ""
    address: str = ""
    tags: list[str] = []
    canary_tags: list[str] = []
    provider: str = "nomad"
    address_mode: str = "auto"
    checks: list[ServiceCheck] = []
    check_restart: CheckRestart | None = None
    meta: dict[str, str] = {}
    canary_meta: dict[str, str] = {}
    on_update: str = "require_healthy"


class ServiceRegistration(Model, frozen=True, kw_only=True):
    """One service of one allocation, as Nomad's ``/v1/service/:name`` lists it."""

    id: str
    service_name: str
    namespace: str = "default"
    node_id: str = ""
    datacenter: str = ""
    job_id: str = ""
    alloc_id: str = ""
    tags: list[str] = []
    address: str = ""
    port: int = 0
    create_index: int = 0
    modify_index: int = 0

    def same_spec(self, other: ServiceRegistration) -> bool:
        """Equal but for the indexes the state store sets."""
        return self.spec() == other.spec()

    def spec(self) -> tuple[object, ...]:
        return (self.id, self.service_name, self.namespace, self.node_id, self.datacenter,
                self.job_id, self.alloc_id, tuple(self.tags), self.address, self.port)  # fmt: skip


class CheckResult(Model, frozen=True, kw_only=True):
    """Nomad's ``CheckQueryResult``: the latest status of one check of an allocation.
    ``timestamp`` is unix seconds, as in Nomad."""

    id: str
    check: str
    group: str = ""
    task: str = ""
    service: str = ""
    mode: CheckMode = "healthiness"
    status: CheckStatus = "pending"
    status_code: int = 0
    output: str = ""
    timestamp: int = 0


def registration_id(alloc_id: str, task: str, service: str, port: str) -> str:
    """Nomad's style of registration ID: ``_nomad-task-<alloc>-<group|task>-<name>-<port>``."""
    return f"_nomad-task-{alloc_id}-{task}-{service}-{port}"


def check_id(alloc_id: str, group: str, task: str, service: str, check: str) -> str:
    """A stable ID for one check of one allocation (32 hex digits)."""
    key = "\x00".join((alloc_id, group, task, service, check)).encode()
    return hashlib.sha256(key).hexdigest()[:32]


__all__ = [
    "CheckMode",
    "CheckRestart",
    "CheckResult",
    "CheckStatus",
    "Service",
    "ServiceCheck",
    "ServiceRegistration",
    "check_id",
    "registration_id",
]
