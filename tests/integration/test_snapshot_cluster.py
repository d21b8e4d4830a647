"""``gitorch operator snapshot save`` / ``restore`` on a real 3-server Raft cluster on
127.0.0.1: jobs (with versions) and variables are written, a snapshot is saved, the
state is changed (a job added, one purged, one updated, a variable changed, one deleted,
one added, the scheduler configuration changed), the snapshot is restored through the
leader with the CLI, and then every server, read on its own (``?stale=true``, and its
own snapshot of its own state), holds exactly the snapshot's jobs, job versions,
variables (items included) and scheduler configuration; the cluster still takes
writes, through the leader and through a follower, which reach every server; a
follower restarted afterwards rebuilds the same state from its own log; and a follower
that was down during a restore catches up with it when it comes back."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner, Result
from harness import wait_for
from servers import Node, agreed_leader, server_config

from gitorch.cli.main import cli
from gitorch.server import snapshotfile
from gitorch.server.keyring import KEK_FILE

pytestmark = pytest.mark.timeout(240)


def idle_job(job_id: str, meta: str = "1") -> dict[str, Any]:
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    group = {"Name": "g", "Count": 0, "Tasks": [task]}
    return {"Job": {"ID": job_id, "Meta": {"rev": meta}, "TaskGroups": [group]}}


class Cluster:
    def __init__(self, root: Path) -> None:
        hcl = root / "server.hcl"
        self.servers = [Node(root / f"s{i}", "-config", str(hcl)) for i in range(3)]
        server_config(hcl, [s.raft for s in self.servers])

    def leader(self) -> Node:
        return agreed_leader(self.servers)

    def followers(self) -> list[Node]:
        leader = self.leader()
        return [s for s in self.servers if s is not leader]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("snapcluster"))
    # every server must hold the same keyring key to open the variables' root key
    kek = base64.b64encode(os.urandom(32)).decode() + "\n"
    for s in c.servers:
        key_file = s.data_dir / "server" / KEK_FILE
        key_file.parent.mkdir(parents=True)
        key_file.write_text(kek)
        key_file.chmod(0o600)
    try:
        for s in c.servers:
            s.launch()
        for s in c.servers:
            s.healthy(timeout=60)
        yield c
    finally:
        for s in c.servers:
            s.stop()


def cli_run(node: Node, *args: str) -> Result:
    env = {"GITORCH_ADDR": node.url, "NOMAD_ADDR": "", "GITORCH_TOKEN": "", "NOMAD_TOKEN": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.stderr}"
    return result.output


def put_var(node: Node, path: str, items: dict[str, str]) -> None:
    r = node.http.put(f"/v1/var/{path}", json={"Path": path, "Items": items})
    assert r.status_code == 200, r.text


def view(node: Node) -> dict[str, Any]:
    """What ``node`` itself holds (``?stale``: never forwarded to the leader)."""
    jobs = {j["ID"]: (j["Version"], j["JobModifyIndex"], j["Stop"]) for j in node.stale("/v1/jobs")}
    versions = {
        job_id: sorted(v["Version"] for v in node.stale(f"/v1/job/{job_id}/versions")["Versions"])
        for job_id in jobs
    }
    metas = {
        job_id: node.stale(f"/v1/job/{job_id}")["Meta"] for job_id in jobs
    }  # the spec itself, as registered
    variables = {
        v["Path"]: (v["ModifyIndex"], node.stale(f"/v1/var/{v['Path']}")["Items"])
        for v in node.stale("/v1/vars")
    }
    config = node.stale("/v1/operator/scheduler/configuration")["SchedulerConfig"]
    return {
        "jobs": jobs,
        "versions": versions,
        "metas": metas,
        "variables": variables,
        "algorithm": config["SchedulerAlgorithm"],
    }


def own_dump(node: Node) -> dict[str, Any]:
    """The tables of ``node``'s own snapshot of its own state (``?stale``), as plain
    values: jobs, job versions, variables (ciphertext and root keys), submissions."""
    r = node.http.get("/v1/operator/snapshot", params={"stale": "true"})
    assert r.status_code == 200, r.text
    _, dump, _ = snapshotfile.decode(r.content)
    return dump_tables(dump)


def dump_tables(dump: Any) -> dict[str, Any]:
    """A dump's tables in a fixed order (a table's iteration order follows each
    process's string hashing, so two equal states may list their rows differently)."""
    plain = msgspec.to_builtins(dump)
    variables = plain["variables"]
    return {
        "jobs": sorted(plain["jobs"], key=lambda j: (j["Namespace"], j["ID"])),
        "versions": sorted(plain["versions"], key=lambda vs: (vs[0]["Namespace"], vs[0]["ID"])),
        "variables": sorted(variables["variables"], key=lambda v: (v["Namespace"], v["Path"])),
        "root_keys": sorted(variables["root_keys"], key=lambda k: k["Meta"]["KeyID"]),
        "submissions": sorted(plain["submissions"], key=msgspec.json.encode),
    }


def applied_index(node: Node) -> int:
    r = node.http.get("/v1/jobs", params={"stale": "true"})
    r.raise_for_status()
    return int(r.headers["X-Nomad-Index"])


SAVED: dict[str, Any] = {}  # the first test's snapshot file and its tables, for the second


def test_restore_through_the_leader_reaches_every_server(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    leader = cluster.leader()
    follower = cluster.followers()[0]
    # -- the state to save: jobs (one with two versions) and variables, via both roles
    leader.post("/v1/jobs", idle_job("alpha"))
    follower.post("/v1/jobs", idle_job("beta"))
    leader.post("/v1/jobs", idle_job("beta", meta="2"))  # version 1
    leader.post("/v1/jobs", idle_job("gamma"))
    put_var(leader, "app/config", {"db": "one", "mode": "blue"})
    put_var(follower, "app/other", {"k": "v"})
    put_var(leader, "team/keep", {"x": "y"})
    wait_for(
        lambda: all(e["Status"] == "complete" for e in leader.get("/v1/evaluations")),
        30,
        "every evaluation settled",
    )
    saved_index = applied_index(leader)
    wait_for(
        lambda: all(applied_index(s) >= saved_index for s in cluster.servers),
        20,
        "every server caught up before the save",
    )
    before = view(leader)
    assert set(before["jobs"]) == {"alpha", "beta", "gamma"}
    assert before["versions"]["beta"] == [0, 1]
    assert before["variables"]["app/config"][1] == {"db": "one", "mode": "blue"}
    snap = tmp_path_factory.mktemp("snapfile") / "cluster.snap"
    assert "State file written" in ok(cli_run(leader, "operator", "snapshot", "save", str(snap)))
    _, saved_dump, _ = snapshotfile.decode(snap.read_bytes())
    saved = dump_tables(saved_dump)
    SAVED.update(file=snap, tables=saved, view=before)
    assert all(view(s) == before for s in cluster.servers)  # the same everywhere already

    # -- change everything the snapshot holds
    leader.post("/v1/jobs", idle_job("delta"))
    follower.post("/v1/jobs", idle_job("alpha", meta="changed"))  # alpha version 1
    r = leader.http.delete("/v1/job/gamma", params={"purge": "true"})
    assert r.status_code == 200, r.text
    put_var(leader, "app/config", {"db": "two"})
    assert leader.http.delete("/v1/var/team/keep").status_code == 200
    put_var(follower, "new/after", {"late": "1"})
    said = ok(cli_run(leader, "operator", "scheduler", "set-config", "-scheduler-algorithm=spread"))
    assert "updated" in said
    changed_index = applied_index(leader)
    wait_for(
        lambda: all(applied_index(s) >= changed_index for s in cluster.servers),
        20,
        "every server holds the changes",
    )
    for s in cluster.servers:
        now = view(s)
        assert set(now["jobs"]) == {"alpha", "beta", "delta"}
        assert "new/after" in now["variables"] and "team/keep" not in now["variables"]
        assert now["algorithm"] == "spread"

    # -- restore through the leader
    said = ok(cli_run(leader, "operator", "snapshot", "restore", str(snap)))
    assert said.strip() == "Snapshot Restored"
    restored_index = applied_index(leader)
    assert restored_index > changed_index  # indexes never go back
    wait_for(
        lambda: all(applied_index(s) >= restored_index for s in cluster.servers),
        20,
        "every server applied the restore",
    )
    for s in cluster.servers:
        assert view(s) == before, f"{s.url} after the restore"
        assert own_dump(s) == saved, f"{s.url}'s own state differs from the snapshot"

    # -- the cluster still takes writes, through the leader and through a follower
    assert cluster.leader() is leader
    leader.post("/v1/jobs", idle_job("after-leader"))
    cluster.followers()[1].post("/v1/jobs", idle_job("after-follower"))
    put_var(follower, "app/config", {"db": "three"})
    wanted = {"alpha", "beta", "gamma", "after-leader", "after-follower"}
    for s in cluster.servers:
        wait_for(lambda s=s: set(view(s)["jobs"]) == wanted, 20, f"{s.url} has the new jobs")
        wait_for(
            lambda s=s: view(s)["variables"]["app/config"][1] == {"db": "three"},
            20,
            f"{s.url} has the new variable",
        )

    # -- a follower restarted after the restore rebuilds the same state from its log
    restarted = cluster.followers()[0]
    expected = view(leader)
    restarted.stop()
    restarted.launch().healthy(timeout=60)
    wait_for(lambda: view(restarted) == expected, 30, "the restarted follower's state")
    assert own_dump(restarted) == own_dump(leader)


def test_a_follower_down_during_a_restore_catches_up(cluster: Cluster) -> None:
    assert SAVED, "runs after the first test, with its snapshot"
    leader = cluster.leader()
    down = cluster.followers()[0]
    down.stop()
    leader.post("/v1/jobs", idle_job("while-down"))
    said = ok(cli_run(leader, "operator", "snapshot", "restore", str(SAVED["file"])))
    assert said.strip() == "Snapshot Restored"  # two of three servers: a quorum
    assert view(leader) == SAVED["view"]
    down.launch().healthy(timeout=60)
    wait_for(lambda: view(down) == SAVED["view"], 30, "the returned follower restored too")
    assert own_dump(down) == SAVED["tables"] == own_dump(leader)
    leader.post("/v1/jobs", idle_job("after-return"))
    wait_for(lambda: "after-return" in view(down)["jobs"], 20, "a write after its return")
