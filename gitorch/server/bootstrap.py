"""Before a server starts Raft: check its data dir, ask the configured peers who they
are, and decide its Raft partners: restart, bootstrap a new cluster, or join a running
one. Every refusal is a ``ClusterError`` naming the data dir and what to do.

Rules (Nomad's ``bootstrap_expect`` and ``retry_join``, on pysyncobj's static peers):

* A data dir with Raft state restarts with the membership it last saw. It is refused
  when a peer answers with another cluster ID, or when the running cluster of its own
  ID no longer lists it (it was removed: remove the data dir to join as a new server).
* A fresh data dir joins a running cluster that answers (one with a leader): as the
  member it is configured to be, or as a new member (``add`` through any member).
* Otherwise it bootstraps with ``{self} + retry_join``, which must hold at least
  ``bootstrap_expect`` servers. A server missing from its own list whose list alone
  already makes ``bootstrap_expect`` is an extra server: it waits ``join_wait_s`` for a
  running cluster to answer, then refuses (it would make a cluster nobody else knows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitorch.errors import GitorchError
from gitorch.server.cluster import read_cluster_id

log = logging.getLogger(__name__)
Probe = Callable[[str], dict[str, Any] | None]
JOIN_WAIT_S = 10.0


class ClusterError(GitorchError):
    """This server must not start: wrong data dir, damaged journal, wrong peer list."""


@dataclass(frozen=True)
class StartPlan:
    partners: list[str]  # Raft members to start with (this server included)
    join: bool  # ask a member to add this server once Raft runs
    why: str


@dataclass(frozen=True)
class DataDir:
    """What the server's data dir holds, read by the caller through the Raft adapter."""

    root: Path  # the agent's data_dir
    has_state: bool
    saved_peers: list[str] | None
    id_file: Path


def plan_start(
    self_addr: str,
    retry_join: Sequence[str],
    bootstrap_expect: int,
    data: DataDir,
    *,
    probe: Probe,
    join_wait_s: float = JOIN_WAIT_S,
) -> StartPlan:
    file_id = read_cluster_id(data.id_file)
    if file_id and not data.has_state:
        raise ClusterError(
            f"data dir {data.root} names cluster {file_id} in {data.id_file} but holds no Raft "
            "log or dump (partly deleted?): restore it from a backup, or remove the whole "
            "data dir to join as a new server"
        )
    configured = [p for p in dict.fromkeys(retry_join) if p != self_addr]
    known = list(dict.fromkeys([*configured, *(data.saved_peers or ())]))
    known = [p for p in known if p != self_addr]
    deadline = time.monotonic() + join_wait_s
    while True:
        answers = _ask(known, probe)
        _check_ids(self_addr, file_id, data, answers)
        running = [a for a in answers.values() if a.get("leader") and a.get("cluster_id")]
        if data.has_state:
            _check_not_removed(self_addr, file_id, data, running)
            partners = data.saved_peers or [self_addr, *configured]
            return StartPlan(sorted({self_addr, *partners}), False, "restart from the data dir")
        if running:
            members = [str(m) for m in running[0].get("members", ())]
            if self_addr in members:
                return StartPlan(sorted(members), False, "a configured member of the cluster")
            return StartPlan(sorted({self_addr, *members}), True, "join the running cluster")
        extra = self_addr not in retry_join and len(configured) >= max(bootstrap_expect, 2)
        if not extra:
            return _bootstrap(self_addr, configured, bootstrap_expect, data)
        if time.monotonic() >= deadline:
            raise ClusterError(
                f"server {self_addr} (data dir {data.root}) is not in server_join.retry_join "
                f"{list(retry_join)} and no running cluster answered there in {join_wait_s:g}s, "
                "so it can neither join one nor bootstrap one: list every server, this one "
                "included, to bootstrap; or start the cluster it should join first"
            )
        time.sleep(0.5)


def _bootstrap(self_addr: str, configured: list[str], expect: int, data: DataDir) -> StartPlan:
    servers = [self_addr, *configured]
    if len(servers) < expect:
        raise ClusterError(
            f"bootstrap_expect = {expect} but server_join.retry_join names only {len(servers)} "
            f"server(s) with this one ({', '.join(servers)}): list every server (data dir "
            f"{data.root} is still empty, nothing was written)"
        )
    return StartPlan(sorted(servers), False, f"bootstrap a new cluster of {len(servers)}")


def _ask(addresses: list[str], probe: Probe) -> dict[str, dict[str, Any]]:
    if not addresses:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(addresses))) as pool:
        results = list(pool.map(probe, addresses))
    return {a: r for a, r in zip(addresses, results, strict=True) if r}


def _check_ids(
    self_addr: str, file_id: str, data: DataDir, answers: dict[str, dict[str, Any]]
) -> None:
    ids: dict[str, list[str]] = {}
    for addr, ans in answers.items():
        if ans.get("cluster_id"):
            ids.setdefault(str(ans["cluster_id"]), []).append(addr)
    foreign = {i: a for i, a in ids.items() if file_id and i != file_id}
    if foreign:
        theirs = "; ".join(f"cluster {i} at {', '.join(a)}" for i, a in foreign.items())
        raise ClusterError(
            f"data dir {data.root} belongs to cluster {file_id}, but server_join.retry_join "
            f"reaches {theirs}: this server would join the wrong cluster. Fix retry_join, or "
            "remove the data dir to join that cluster as a new server"
        )
    if len(ids) > 1:
        named = "; ".join(f"cluster {i} at {', '.join(a)}" for i, a in ids.items())
        raise ClusterError(
            f"server_join.retry_join of {self_addr} names servers of different clusters "
            f"({named}): list the servers of one cluster"
        )


def _check_not_removed(
    self_addr: str, file_id: str, data: DataDir, running: list[dict[str, Any]]
) -> None:
    for ans in running:
        members = [str(m) for m in ans.get("members", ())]
        if ans.get("cluster_id") == file_id and ans.get("established") and members:
            if self_addr not in members:
                raise ClusterError(
                    f"server {self_addr} was removed from cluster {file_id} (members now: "
                    f"{', '.join(members)}): remove data dir {data.root} to join it again "
                    "as a new server"
                )
            return


def join(
    self_addr: str,
    members: Sequence[str],
    *,
    probe: Probe,
    request_add: Callable[[str, str], str],
    timeout: float = 30.0,
) -> None:
    """Ask the running cluster to add this server (its Raft already runs with the
    members as partners); return once a member lists it."""
    others = [m for m in members if m != self_addr]
    deadline = time.monotonic() + timeout
    errors: list[str] = []
    while time.monotonic() < deadline:
        for member in others:
            answer = probe(member)
            if answer and self_addr in answer.get("members", ()):
                log.info("joined the cluster through %s", member)
                return
            error = request_add(member, self_addr)
            if not error:
                continue  # confirmed by the probe on the next pass
            errors.append(error)
        time.sleep(0.5)
    raise ClusterError(
        f"server {self_addr} could not join the cluster of {', '.join(others)} in {timeout:g}s: "
        + "; ".join(errors[-3:])
    )
