"""The state store's cluster identity and server members: the cluster ID (named once)
and the servers by Raft address. A pure function of the current values and a command."""

from __future__ import annotations

from gitorch.core import commands as c
from gitorch.core.model.base import replace
from gitorch.core.model.cluster import ServerMember
from gitorch.core.pmap import PMap

Members = PMap[str, ServerMember]


def apply(
    cluster_id: str,
    members: Members,
    idx: int,
    cmd: c.SetClusterID | c.UpsertServerMember | c.RemoveServerMember,
) -> tuple[str, Members, str]:
    """(cluster ID, members, error) after ``cmd`` at ``idx``; unchanged on an error."""
    if isinstance(cmd, c.SetClusterID):
        if cluster_id:
            return cluster_id, members, f"cluster ID is already {cluster_id}"
        return cmd.cluster_id, members, ""
    if isinstance(cmd, c.UpsertServerMember):
        old = members.get(cmd.member.raft_addr)
        created = idx if old is None else old.create_index
        member = replace(cmd.member, create_index=created, modify_index=idx)
        return cluster_id, members.set(cmd.member.raft_addr, member), ""
    if cmd.raft_addr not in members:
        return cluster_id, members, f"server {cmd.raft_addr} is not a member"
    return cluster_id, members.delete(cmd.raft_addr), ""
