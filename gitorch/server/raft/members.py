"""Raft membership as one node sees it (pysyncobj's ``getStatus``), and membership
changes committed through the log (one at a time, leader only)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from pysyncobj.config import FAIL_REASON

from gitorch.server.raft.commit import NotLeaderError, RaftError, RaftTimeout

FAIL_NAMES: Final = {v: k for k, v in vars(FAIL_REASON).items() if isinstance(v, int)}
LEADER_GONE: Final = {
    FAIL_REASON.MISSING_LEADER,
    FAIL_REASON.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED,
    FAIL_REASON.DISCARDED,
}
_PARTNER: Final = "partner_node_status_server_"


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """One Raft member as this node sees it: ``connected`` is its Raft connection."""

    address: str
    connected: bool
    leader: bool
    is_self: bool
    match_index: int | None = None


@dataclass(frozen=True, slots=True)
class RaftStatus:
    address: str
    leader: str | None
    term: int
    commit_index: int
    applied_index: int
    has_quorum: bool
    peers: list[PeerStatus]


def raw_status(obj: Any) -> dict[str, Any]:
    """pysyncobj's ``getStatus()``, read from another thread than the Raft one."""
    for _ in range(20):
        try:
            return dict(obj.getStatus())
        except RuntimeError:  # a dict changed size while pysyncobj read it
            time.sleep(0.001)
    return {}


def read_status(st: dict[str, Any], me: str) -> RaftStatus:
    leader = st.get("leader")
    leader_id = None if leader is None else str(leader.id)
    peers = [PeerStatus(me, True, leader_id == me, True)]
    for key, value in st.items():
        if key.startswith(_PARTNER):
            addr = key[len(_PARTNER) :]
            match = st.get("match_idx_server_" + addr)
            peers.append(PeerStatus(addr, value == 2, addr == leader_id, False, match))
    return RaftStatus(
        address=me,
        leader=leader_id,
        term=int(st.get("raft_term", 0)),
        commit_index=int(st.get("commit_idx", 0)),
        applied_index=int(st.get("last_applied", 0)),
        has_quorum=bool(st.get("has_quorum", False)),
        peers=sorted(peers, key=lambda p: p.address),
    )


def change(obj: Any, verb: str, addr: str, timeout: float) -> None:
    """Commit ``add``/``remove`` ``addr`` on the leader ``obj``; raise unless it applied."""
    done = threading.Event()
    box: list[object] = []

    def callback(result: object, err: object) -> None:  # the Raft thread
        box.append(err)
        done.set()

    if verb == "add":
        obj.addNodeToCluster(addr, callback=callback)
    else:
        obj.removeNodeFromCluster(addr, callback=callback)
    if not done.wait(timeout):
        raise RaftTimeout(f"Raft membership change ({verb} {addr}) not committed in {timeout}s")
    if box[0] == FAIL_REASON.REQUEST_DENIED:
        raise RaftError(
            f"Raft membership change ({verb} {addr}) refused: "
            + ("already a member" if verb == "add" else "not a member")
            + ", or another change is still being committed"
        )
    if box[0] in LEADER_GONE:
        leader = obj._getLeader()
        raise NotLeaderError(None if leader is None else str(leader.id))
    if box[0] != FAIL_REASON.SUCCESS:
        reason = FAIL_NAMES.get(box[0], box[0])  # type: ignore[call-overload]
        raise RaftError(f"Raft membership change ({verb} {addr}) failed: {reason}")
