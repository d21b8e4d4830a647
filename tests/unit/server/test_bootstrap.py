"""Start-up decisions of a server (gitorch.server.bootstrap) with scripted peer answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitorch.server.bootstrap import ClusterError, DataDir, join, plan_start

A, B, C, D = (f"127.0.0.1:{p}" for p in (7001, 7002, 7003, 7004))


def data(tmp_path: Path, *, state: bool = False, cluster: str = "", peers: Any = None) -> DataDir:
    id_file = tmp_path / "server" / "cluster-id"
    if cluster:
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster)
    return DataDir(root=tmp_path, has_state=state, saved_peers=peers, id_file=id_file)


def answers(table: dict[str, dict[str, Any]]) -> Any:
    return lambda addr: table.get(addr)


def running(cluster: str, members: list[str]) -> dict[str, Any]:
    return {"cluster_id": cluster, "leader": members[0], "members": members, "established": True}


def test_fresh_servers_bootstrap_from_the_list(tmp_path: Path) -> None:
    plan = plan_start(A, [A, B, C], 3, data(tmp_path), probe=answers({}))
    assert plan.partners == [A, B, C] and not plan.join
    plan = plan_start(A, [B, C], 3, data(tmp_path), probe=answers({}))  # others only: fine
    assert plan.partners == [A, B, C]
    alone = plan_start(A, [], 1, data(tmp_path), probe=answers({}))
    assert alone.partners == [A]
    with pytest.raises(ClusterError, match="bootstrap_expect = 3 but .* names only 2"):
        plan_start(A, [B], 3, data(tmp_path), probe=answers({}))


def test_fresh_servers_join_a_running_cluster(tmp_path: Path) -> None:
    late = plan_start(C, [A, B, C], 3, data(tmp_path), probe=answers({A: running("x", [A, B, C])}))
    assert late.partners == [A, B, C] and not late.join
    fourth = plan_start(
        D, [A, B, C], 3, data(tmp_path), probe=answers({B: running("x", [A, B, C])})
    )
    assert fourth.partners == [A, B, C, D] and fourth.join


def test_an_extra_server_with_nobody_to_join_refuses(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="not in server_join.retry_join .* no running cluster"):
        plan_start(D, [A, B, C], 3, data(tmp_path), probe=answers({}), join_wait_s=0.2)


def test_data_dir_of_another_cluster_is_refused(tmp_path: Path) -> None:
    mine = data(tmp_path, state=True, cluster="mine", peers=[A, D])
    probe = answers({A: running("theirs", [A, B, C])})
    with pytest.raises(ClusterError, match=f"data dir {tmp_path} belongs to cluster mine.*theirs"):
        plan_start(D, [A, B, C], 3, mine, probe=probe)


def test_peers_of_two_clusters_are_refused(tmp_path: Path) -> None:
    probe = answers({A: running("one", [A]), B: running("two", [B])})
    with pytest.raises(ClusterError, match="different clusters"):
        plan_start(C, [A, B, C], 3, data(tmp_path), probe=probe)


def test_restart_uses_the_saved_membership_unless_removed(tmp_path: Path) -> None:
    saved = data(tmp_path, state=True, cluster="x", peers=[A, B, C, D])
    plan = plan_start(D, [A, B, C], 3, saved, probe=answers({A: running("x", [A, B, C, D])}))
    assert plan.partners == [A, B, C, D] and not plan.join
    with pytest.raises(ClusterError, match="was removed from cluster x"):
        plan_start(D, [A, B, C], 3, saved, probe=answers({A: running("x", [A, B, C])}))


def test_an_id_without_a_log_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="holds no Raft log"):
        plan_start(A, [A], 1, data(tmp_path, cluster="x"), probe=answers({}))


def test_join_asks_members_until_one_lists_it() -> None:
    members = [A, B, C]
    asked: list[str] = []

    def request_add(member: str, me: str) -> str:
        asked.append(member)
        if member == A:
            return "127.0.0.1:7001 did not answer"
        members.append(me)
        return ""

    join(D, [A, B, C, D], probe=lambda addr: {"members": list(members)}, request_add=request_add)
    assert asked == [A, B] and D in members
    with pytest.raises(ClusterError, match="could not join"):
        join(D, [A], probe=lambda a: None, request_add=lambda m, me: "no", timeout=0.3)
