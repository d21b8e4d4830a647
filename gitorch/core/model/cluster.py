"""The server member registry kept in replicated state: who the servers are and where
their HTTP APIs listen, so a follower can forward to the leader's."""

from __future__ import annotations

from gitorch.core.model.base import Model


class ServerMember(Model, frozen=True, kw_only=True):
    """One server, keyed by its Raft address ("ip:rpc_port", as Nomad names peers)."""

    name: str
    raft_addr: str
    http_addr: str
    region: str = "global"
    datacenter: str = "dc1"
    build: str = ""
    create_index: int = 0
    modify_index: int = 0

    def same_as(self, other: ServerMember) -> bool:
        """Equal but for the indexes the state store stamps."""
        return (self.name, self.raft_addr, self.http_addr, self.region, self.datacenter,
                self.build) == (other.name, other.raft_addr, other.http_addr, other.region,
                                other.datacenter, other.build)  # fmt: skip
