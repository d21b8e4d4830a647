"""Client nodes as Nomad's API spells them."""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from gitorch.core.model.base import Model, replace
from gitorch.core.model.drain import DrainMetadata, DrainStrategy

CLASS_PREFIX = "v1:"  # what compute_class makes; other computed_class values are not trusted
NodeStatus = Literal["initializing", "ready", "down", "disconnected"]
Eligibility = Literal["eligible", "ineligible"]


class NodeCpu(Model, frozen=True, kw_only=True):
    cpu_shares: int = 0


class NodeMemory(Model, frozen=True, kw_only=True):
    memory_mb: int = 0


class NodeDisk(Model, frozen=True, kw_only=True):
    disk_mb: int = 0


class NodeDevice(Model, frozen=True, kw_only=True):
    """One device instance (a GPU, a USB device): its ID is what a task receives."""

    id: str
    healthy: bool = True
    health_description: str = ""


class NodeDeviceResource(Model, frozen=True, kw_only=True):
    """A group of identical devices a device plugin fingerprinted (Nomad's shape)."""

    vendor: str
    type: str
    name: str
    instances: list[NodeDevice] = []
    attributes: dict[str, str] = {}

    def id_string(self) -> str:
        return f"{self.vendor}/{self.type}/{self.name}"


class NodeResources(Model, frozen=True, kw_only=True):
    # Nomad spells this one "Cpu" (a node's, as in AllocatedTaskResources), not "CPU"
    # (a task's Resources): the JSON of /v1/node/<id> must match for dict readers.
    cpu: NodeCpu = msgspec.field(default=NodeCpu(), name="Cpu")
    memory: NodeMemory = NodeMemory()
    disk: NodeDisk = NodeDisk()
    devices: list[NodeDeviceResource] = []
    min_dynamic_port: int = 20000
    max_dynamic_port: int = 32000
    # Read, never written: "CPU", as gitorch wrote it before 2026-12-06 (Raft logs,
    # dumps, older clients' registrations) and as Go's case-blind decoding lets a Nomad
    # client send it. ``__post_init__`` moves it into ``cpu``; UNSET is never encoded.
    legacy_cpu: NodeCpu | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="CPU")

    def __post_init__(self) -> None:
        if self.legacy_cpu is not msgspec.UNSET:
            if self.cpu == NodeCpu():
                msgspec.structs.force_setattr(self, "cpu", self.legacy_cpu)
            msgspec.structs.force_setattr(self, "legacy_cpu", msgspec.UNSET)


class DriverInfo(Model, frozen=True, kw_only=True):
    attributes: dict[str, str] = {}
    detected: bool = False
    healthy: bool = False
    health_description: str = ""
    update_time: int = 0


class ClientHostVolume(Model, frozen=True, kw_only=True):
    """A client's ``host_volume "name" { path, read_only }`` (Nomad's
    ClientHostVolumeConfig), fingerprinted onto its node."""

    name: str
    path: str
    read_only: bool = False


class Node(Model, frozen=True, kw_only=True):
    id: str
    # Nomad's SecretID: the client makes it once and presents it on every node call
    # (registration, heartbeat, allocation updates); servers keep only its SHA-256, so
    # a second client claiming the same node ID is refused. Never shown by the API.
    secret_id: str = ""
    name: str = ""
    datacenter: str = "dc1"
    node_class: str = ""
    node_pool: str = "default"
    http_addr: str = ""
    attributes: dict[str, str] = {}
    meta: dict[str, str] = {}
    node_resources: NodeResources = NodeResources()
    reserved_resources: NodeResources = NodeResources()
    drivers: dict[str, DriverInfo] = {}
    host_volumes: dict[str, ClientHostVolume] = {}
    status: NodeStatus = "initializing"
    status_description: str = ""
    status_updated_at: int = 0
    scheduling_eligibility: Eligibility = "eligible"
    drain: bool = False
    drain_strategy: DrainStrategy | None = None
    last_drain: DrainMetadata | None = None
    computed_class: str = ""
    create_index: int = 0
    modify_index: int = 0

    def schedulable(self) -> bool:
        return self.status == "ready" and self.scheduling_eligibility == "eligible"


def secret_digest(secret: str) -> str:
    """What servers keep of a node secret (its SHA-256; "" for none)."""
    return hashlib.sha256(secret.encode()).hexdigest() if secret else ""


def same_registration(recorded: Node, offered: Node) -> bool:
    """Whether ``offered`` (what a client registers) says nothing ``recorded`` does not:
    the fields the servers stamp (indexes, computed class, status time) and the
    operator's eligibility and drain are left out of the comparison."""

    def client_fields(node: Node) -> Node:
        return replace(
            node,
            computed_class="",
            create_index=0,
            modify_index=0,
            status_updated_at=0,
            scheduling_eligibility="eligible",
            drain=False,
            drain_strategy=None,
            last_drain=None,
        )

    return client_fields(recorded) == client_fields(offered)


class NodeListStub(Model, frozen=True, kw_only=True):
    """The row /v1/nodes returns; its resources only when asked (``?resources=true``),
    left out of the JSON otherwise, as Nomad's ``omitempty``."""

    id: str
    name: str
    datacenter: str
    node_class: str
    node_pool: str = "default"
    address: str
    status: str
    status_description: str
    scheduling_eligibility: str
    drain: bool
    drivers: dict[str, DriverInfo]
    version: str
    node_resources: NodeResources | msgspec.UnsetType = msgspec.UNSET
    reserved_resources: NodeResources | msgspec.UnsetType = msgspec.UNSET
    create_index: int
    modify_index: int


def node_stub(node: Node, version: str, *, resources: bool = False) -> NodeListStub:
    """The node's list row; with ``resources`` its NodeResources and ReservedResources
    too (Nomad's ``?resources=true``)."""
    return NodeListStub(
        id=node.id,
        name=node.name,
        datacenter=node.datacenter,
        node_class=node.node_class,
        node_pool=node.node_pool,
        address=node.http_addr.split(":")[0],
        status=node.status,
        status_description=node.status_description,
        scheduling_eligibility=node.scheduling_eligibility,
        drain=node.drain,
        drivers=node.drivers,
        version=version,
        node_resources=node.node_resources if resources else msgspec.UNSET,
        reserved_resources=node.reserved_resources if resources else msgspec.UNSET,
        create_index=node.create_index,
        modify_index=node.modify_index,
    )


def _stable_fields(node: Node) -> tuple[object, ...]:
    def public(table: dict[str, str]) -> list[tuple[str, str]]:
        return sorted(kv for kv in table.items() if not kv[0].startswith("unique."))

    drivers = sorted((name, d.detected, d.healthy) for name, d in node.drivers.items())
    fields = (node.datacenter, node.node_class, node.node_pool, public(node.attributes))
    return (*fields, public(node.meta), drivers)


def compute_class(node: Node) -> str:
    """Nomad's Node.ComputeClass: a stable ``v1:<hex>`` over datacenter, class, pool,
    attributes and meta (``unique.*`` left out) and driver health. Whoever builds a
    Node value may store it in ``computed_class``; it must then be kept current."""
    blob = msgspec.msgpack.encode(_stable_fields(node))
    return CLASS_PREFIX + hashlib.blake2b(blob, digest_size=8).hexdigest()
