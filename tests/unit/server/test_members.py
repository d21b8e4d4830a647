"""The replicated member registry: its commands in the state store, and the leader's
reconcile (gitorch.server.cluster.Membership) over a scripted Raft view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitorch import codec
from gitorch.core import commands as c
from gitorch.core.model.cluster import ServerMember
from gitorch.core.state import ApplyResult, StateStore
from gitorch.errors import NotLeaderError
from gitorch.server.cluster import Membership, read_cluster_id
from gitorch.server.fsm import Fsm
from gitorch.server.log import LogStatus, Peer

ME = ServerMember(name="s1", raft_addr="10.0.0.1:4647", http_addr="10.0.0.1:4646", build="0.1.0")


def member(n: int, **kw: Any) -> ServerMember:
    return ServerMember(
        name=f"s{n}", raft_addr=f"10.0.0.{n}:4647", http_addr=f"10.0.0.{n}:4646", **kw
    )


def test_commands_name_the_cluster_once_and_keep_members() -> None:
    store = StateStore()
    assert store.apply(c.SetClusterID(now=1, cluster_id="abc")).error == ""
    again = store.apply(c.SetClusterID(now=2, cluster_id="other"))
    assert "already abc" in again.error and store.cluster_id == "abc"
    store.apply(c.UpsertServerMember(now=3, member=member(1)))
    idx = store.apply(c.UpsertServerMember(now=4, member=member(2))).index
    moved = store.apply(c.UpsertServerMember(now=5, member=member(2, datacenter="dc2"))).index
    two = store.members["10.0.0.2:4647"]
    assert (two.create_index, two.modify_index, two.datacenter) == (idx, moved, "dc2")
    assert store.table_index["members"] == moved
    snap = store.snapshot()
    assert store.apply(c.RemoveServerMember(now=6, raft_addr="10.0.0.1:4647")).error == ""
    assert "not a member" in store.apply(c.RemoveServerMember(now=7, raft_addr="x:1")).error
    assert set(store.members) == {"10.0.0.2:4647"} and len(snap.members) == 2

    restored = StateStore.load(codec.decode_state(codec.encode_state(store.dump())))
    assert restored.cluster_id == "abc" and restored.members == store.members
    decoded = codec.decode_command(codec.encode_command(c.UpsertServerMember(now=1, member=ME)))
    assert decoded == c.UpsertServerMember(now=1, member=ME)


class ScriptedLog:
    """A ReplicatedLog whose Raft view the test sets; submits apply to the FSM."""

    def __init__(self, fsm: Fsm, peers: list[Peer], leading: bool = True) -> None:
        self.fsm, self.view, self.leading = fsm, peers, leading
        self.submitted: list[c.Command] = []
        self.removed: list[str] = []

    def submit(self, cmd: c.Command, timeout: float = 10.0) -> ApplyResult:
        if not self.leading:
            raise NotLeaderError("10.0.0.2:4647")
        self.submitted.append(cmd)
        return self.fsm.apply(cmd)

    def is_leader(self) -> bool:
        return self.leading

    def leader(self) -> str | None:
        return next((p.address for p in self.view if p.leader), None)

    def peers(self) -> list[str]:
        return sorted(p.address for p in self.view)

    def wait_ready(self, timeout: float) -> bool:
        return True

    def status(self) -> LogStatus:
        return LogStatus(self.leader(), 2, 10, 10, list(self.view))

    def remove_peer(self, address: str, timeout: float = 10.0) -> None:
        self.removed.append(address)
        self.view = [p for p in self.view if p.address != address]

    def fatal(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def identity(addr: str) -> dict[str, Any] | None:
    n = int(addr.split(".")[3].split(":")[0])
    return {"name": f"s{n}", "http_addr": f"10.0.0.{n}:4646", "region": "global"}


@pytest.fixture
def fsm() -> Fsm:
    return Fsm()


def test_leader_registers_every_reachable_peer_and_forgets_removed_ones(
    fsm: Fsm, tmp_path: Path
) -> None:
    view = [
        Peer("10.0.0.1:4647", True, True, True),
        Peer("10.0.0.2:4647", True, False, False),
        Peer("10.0.0.3:4647", False, False, False),  # down: nothing to ask yet
    ]
    log = ScriptedLog(fsm, view)
    fatal: list[str] = []
    id_file = tmp_path / "server" / "cluster-id"
    m = Membership(fsm, log, ME, id_file, probe=identity, on_fatal=fatal.append)
    m.reconcile()
    state = fsm.state
    assert state.cluster_id and set(state.members) == {"10.0.0.1:4647", "10.0.0.2:4647"}
    assert state.members["10.0.0.2:4647"].http_addr == "10.0.0.2:4646"
    m.check_identity()
    assert read_cluster_id(id_file) == state.cluster_id == m.cluster_id()

    count = len(log.submitted)
    m.reconcile()  # nothing changed: nothing submitted
    assert len(log.submitted) == count

    log.view[2] = Peer("10.0.0.3:4647", True, False, False)
    m.reconcile()
    assert "10.0.0.3:4647" in fsm.state.members

    assert m.leader_http_addr() == "10.0.0.1:4646"
    config = m.raft_configuration()
    assert [(s.address, s.leader, s.node) for s in config.servers][:2] == [
        ("10.0.0.1:4647", True, "s1.global"),
        ("10.0.0.2:4647", False, "s2.global"),
    ]
    log.view[1] = Peer("10.0.0.2:4647", False, False, False)
    statuses = {x.addr + f":{x.port}": x.status for x in m.agent_members().members}
    assert statuses == {
        "10.0.0.1:4647": "alive",
        "10.0.0.2:4647": "failed",
        "10.0.0.3:4647": "alive",
    }

    m.remove_raft_peer("10.0.0.2:4647")
    assert log.removed == ["10.0.0.2:4647"] and "10.0.0.2:4647" not in fsm.state.members
    assert fatal == []


def test_a_follower_refuses_to_remove_and_a_foreign_id_is_fatal(fsm: Fsm, tmp_path: Path) -> None:
    view = [Peer("10.0.0.1:4647", True, False, True), Peer("10.0.0.2:4647", True, True, False)]
    log = ScriptedLog(fsm, view, leading=False)
    id_file = tmp_path / "cluster-id"
    id_file.write_text("mine\n")
    fatal: list[str] = []
    m = Membership(fsm, log, ME, id_file, probe=identity, on_fatal=fatal.append)
    assert m.cluster_id() == "mine"
    with pytest.raises(NotLeaderError):
        m.remove_raft_peer("10.0.0.2:4647")
    assert m.server_health() == (True, "ok")
    fsm.apply(c.SetClusterID(now=1, cluster_id="theirs"))  # replicated from elsewhere
    m.check_identity()
    assert fatal and "belongs to cluster mine" in fatal[0] and "theirs" in fatal[0]
