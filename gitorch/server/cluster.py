"""The cluster side of a server: its identity, the replicated member registry, and what
/v1/operator/raft, /v1/agent/members and /v1/agent/health report.

Registry: the leader keeps one ``ServerMember`` per Raft peer in replicated state. It
asks each peer who it is over the peer's Raft port (``gitorch_identity``) instead of
each server registering itself: a follower could only register by forwarding to the
leader's HTTP address, which is what the registry is for. So followers learn the
leader's HTTP address from state the moment an election ends.

Identity: the first leader names the cluster (``SetClusterID``); every server keeps that
ID in ``<data_dir>/server/cluster-id`` and offers it in the Raft handshake. A data dir
whose ID differs from the replicated one stops the server (``on_fatal``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from gitorch.core import commands as c
from gitorch.core.model import Model
from gitorch.core.model.cluster import ServerMember
from gitorch.errors import BadRequestError, GitorchError, NotFoundError, NotLeaderError
from gitorch.server.fsm import Fsm
from gitorch.server.log import ReplicatedLog

log = logging.getLogger(__name__)
Probe = Callable[[str], dict[str, Any] | None]


class RaftServer(Model, frozen=True, kw_only=True):
    """One entry of Nomad's /v1/operator/raft/configuration."""

    id: str = msgspec.field(name="ID")
    node: str
    address: str
    leader: bool
    voter: bool = True
    raft_protocol: str = "3"


class RaftConfiguration(Model, frozen=True, kw_only=True):
    servers: list[RaftServer]
    index: int


class AgentMember(Model, frozen=True, kw_only=True):
    """One entry of Nomad's /v1/agent/members (Status: alive, failed or left)."""

    name: str
    addr: str
    port: int
    tags: dict[str, str]
    status: str


class AgentMembers(Model, frozen=True, kw_only=True):
    server_name: str
    server_region: str
    server_dc: str = msgspec.field(name="ServerDC")
    members: list[AgentMember]


class Membership:
    """``set_leader`` follows Raft leadership; ``start`` runs the identity check (every
    server) and, while leading, the registry reconcile every ``interval_s``."""

    def __init__(
        self,
        fsm: Fsm,
        log_: ReplicatedLog,
        me: ServerMember,
        id_file: Path | None,
        *,
        probe: Probe,
        on_fatal: Callable[[str], None],
        interval_s: float = 1.0,
        refresh_s: float = 10.0,
    ) -> None:
        self.fsm, self.log, self.me = fsm, log_, me
        self._id_file = id_file
        self._file_id = read_cluster_id(id_file)
        self._probe, self._on_fatal = probe, on_fatal
        self._interval, self._refresh = interval_s, refresh_s
        self._probed: dict[str, float] = {}  # raft address -> when last asked
        self._leading = False
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="membership", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout=5)

    def set_leader(self, leading: bool) -> None:
        self._leading = leading
        self._kick.set()

    def cluster_id(self) -> str:
        """This server's cluster ID: its data dir's, else the replicated one, else ""."""
        return self._file_id or self.fsm.state.cluster_id

    # -- the loop -------------------------------------------------------------------

    def _run(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._kick.wait(1.0)
            self._kick.clear()
            try:
                self.check_identity()
                if self._leading and time.monotonic() - last >= self._interval:
                    last = time.monotonic()
                    self.reconcile()
            except NotLeaderError:
                pass
            except Exception:
                log.exception("cluster membership upkeep failed; retrying")

    def check_identity(self) -> None:
        """Keep the data dir's cluster-id file equal to the replicated cluster ID."""
        replicated = self.fsm.state.cluster_id
        if not replicated:
            return
        if not self._file_id:
            if self._id_file is not None:
                write_cluster_id(self._id_file, replicated)
                log.info("joined cluster %s (recorded in %s)", replicated, self._id_file)
            self._file_id = replicated
        elif self._file_id != replicated:
            self._on_fatal(
                f"data dir {self._id_file and self._id_file.parent.parent} belongs to cluster "
                f"{self._file_id}, but the Raft state this server received is cluster "
                f"{replicated}: stop it, fix server_join.retry_join, or remove the data dir "
                "to join this cluster as a new server"
            )

    def reconcile(self) -> None:
        """Leader only: name the cluster once, then make the registry match Raft."""
        state = self.fsm.state
        if not state.cluster_id:
            new_id = self._file_id or str(uuid.uuid4())
            self._submit(c.SetClusterID(now=time.time_ns(), cluster_id=new_id))
            log.info("cluster ID is %s", new_id)
        peers = self.log.status().peers
        now = time.monotonic()
        for peer in peers:
            old = state.members.get(peer.address)
            member = self.me if peer.is_self else None
            due = old is None or now - self._probed.get(peer.address, 0.0) > self._refresh
            if member is None and peer.alive and due:
                self._probed[peer.address] = now
                member = _member(peer.address, self._probe(peer.address))
            if member is not None and (old is None or not old.same_as(member)):
                self._submit(c.UpsertServerMember(now=time.time_ns(), member=member))
        addresses = {p.address for p in peers}
        for addr in list(state.members):
            if addr not in addresses:
                self._submit(c.RemoveServerMember(now=time.time_ns(), raft_addr=addr))

    def _submit(self, cmd: c.Command) -> int:
        result = self.log.submit(cmd)
        if result.error:
            log.debug("%s: %s", type(cmd).__name__, result.error)
        return result.index

    # -- what the API asks (ClusterBackend) -----------------------------------------------

    def is_leader(self) -> bool:
        return self.log.is_leader()

    def leader_http_addr(self) -> str | None:
        """The leader's HTTP address from the registry (None: no leader, or unknown)."""
        leader = self.log.leader()
        member = self.fsm.state.members.get(leader) if leader else None
        return member.http_addr if member is not None else None

    def server_health(self) -> tuple[bool, str]:
        fatal = self.log.fatal()
        if fatal:
            return False, fatal
        leader = self.log.leader()
        return (True, "ok") if leader else (False, "No cluster leader")

    def raft_configuration(self) -> RaftConfiguration:
        state, status = self.fsm.state, self.log.status()
        servers = [
            RaftServer(
                id=p.address,
                node=_node_name(state.members.get(p.address), p.address),
                address=p.address,
                leader=p.address == status.leader,
            )
            for p in status.peers
        ]
        return RaftConfiguration(servers=servers, index=max(1, status.commit_index))

    def remove_raft_peer(self, address: str) -> int:
        """Leader only (followers raise NotLeaderError: the API forwards)."""
        if not self.log.is_leader():
            raise NotLeaderError(self.log.leader())
        if address not in self.log.peers():
            raise NotFoundError(f"{address} is not a Raft peer (peers: {self.log.peers()})")
        try:
            self.log.remove_peer(address)
        except GitorchError as exc:
            raise BadRequestError(f"cannot remove Raft peer {address}: {exc}") from exc
        if address in self.fsm.state.members:
            return self._submit(c.RemoveServerMember(now=time.time_ns(), raft_addr=address))
        return self.fsm.state.index

    def agent_members(self) -> AgentMembers:
        state, status = self.fsm.state, self.log.status()
        seen: dict[str, AgentMember] = {}
        for p in status.peers:
            seen[p.address] = _agent_member(state.members.get(p.address), p.address,
                                            "alive" if p.alive else "failed")  # fmt: skip
        for addr, m in state.members.items():
            seen.setdefault(addr, _agent_member(m, addr, "left"))
        return AgentMembers(
            server_name=_node_name(self.me, self.me.raft_addr),
            server_region=self.me.region,
            server_dc=self.me.datacenter,
            members=[seen[a] for a in sorted(seen)],
        )


def _node_name(member: ServerMember | None, addr: str) -> str:
    return f"{member.name}.{member.region}" if member is not None else addr


def _agent_member(member: ServerMember | None, addr: str, status: str) -> AgentMember:
    host, _, port = addr.rpartition(":")
    tags = {"role": "nomad", "rpc_addr": host, "port": port, "raft_vsn": "3"}
    if member is not None:
        tags |= {"region": member.region, "dc": member.datacenter, "build": member.build,
                 "http_addr": member.http_addr}  # fmt: skip
    return AgentMember(
        name=_node_name(member, addr), addr=host, port=int(port or 0), tags=tags, status=status
    )


def _member(addr: str, ident: dict[str, Any] | None) -> ServerMember | None:
    if not ident or not ident.get("http_addr"):
        return None
    return ServerMember(
        name=str(ident.get("name") or addr),
        raft_addr=addr,
        http_addr=str(ident["http_addr"]),
        region=str(ident.get("region") or "global"),
        datacenter=str(ident.get("datacenter") or "dc1"),
        build=str(ident.get("build") or ""),
    )


def read_cluster_id(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def write_cluster_id(path: Path, cluster_id: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(cluster_id + "\n")
    tmp.replace(path)
