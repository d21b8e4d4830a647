"""A real 3-server Raft cluster and a client agent, as processes on 127.0.0.1: leader
failover under writes, restarts, partitions (SIGSTOP), membership changes, refusals
of bad data dirs and peer lists, and a whole-cluster restart.

The tests share one cluster and run in file order; teardown prunes the GitOps jobs,
purges the rest, waits until no task runs and stops every process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from harness import GitRepo, free_port, wait_for
from servers import Node, agreed_leader

from gitorch.cli.main import cli

pytestmark = pytest.mark.timeout(150)


def server_config(path: Path, peers: list[str], repo: Path | None, expect: int = 3) -> Path:
    joined = ", ".join(f'"{p}"' for p in peers)
    text = f"""
server {{
  enabled          = true
  bootstrap_expect = {expect}
  server_join {{ retry_join = [{joined}] }}
}}
"""
    if repo is not None:
        text += f"""
gitops {{
  repo          = "{repo}"
  branch        = "main"
  path          = "jobs"
  poll_interval = "1s"
}}
"""
    path.write_text(text)
    return path


def sleeper(pid_file: Path, name: str = "sleeper") -> str:
    return f"""
job "{name}" {{
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo $$ > {pid_file}; exec sleep 600"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
"""


def idle_job(job_id: str) -> dict[str, Any]:
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    return {"ID": job_id, "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [task]}]}


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = GitRepo(root / "repo")
        self.pid_file = root / "sleeper.pid"
        self.servers = [Node(root / f"s{i}", "-config", str(root / "server.hcl")) for i in range(3)]
        server_config(root / "server.hcl", [s.raft for s in self.servers], self.repo.path)
        self.extra: list[Node] = []
        client_hcl = root / "client.hcl"
        servers = ", ".join(f'"127.0.0.1:{s.http_port}"' for s in self.servers)
        client_hcl.write_text(
            f"client {{\n  enabled = true\n  servers = [{servers}]\n}}\n"
            'plugin "raw_exec" {\n  config { enabled = true }\n}\n'
        )
        self.client = Node(root / "client", "-config", str(client_hcl))

    def live(self) -> list[Node]:
        return [s for s in self.servers if s.proc is not None and s.proc.poll() is None]

    def leader(self, among: list[Node] | None = None, timeout: float = 20) -> Node:
        """The server every one of ``among`` names as leader (and that leads)."""
        return agreed_leader(among or self.live(), timeout)

    def all_processes(self) -> list[Node]:
        return [*self.servers, *self.extra, self.client]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    files = {"jobs__sleeper.nomad.hcl": sleeper(c.pid_file), "jobs__README.md": "jobs\n"}
    c.repo.commit("a sleeper", **files)  # README: jobs/ stays when the sleeper goes
    for s in c.servers:
        s.launch()
    try:
        for s in c.servers:
            s.healthy()
        c.client.start()
        yield c
    finally:
        _teardown(c)


def _teardown(c: Cluster) -> None:
    for node in c.all_processes():  # a stopped (SIGSTOP) process would hang the rest
        if node.proc is not None and node.proc.poll() is None:
            node.signal(signal.SIGCONT)
    live = c.live()
    try:
        if live:
            c.repo.commit("prune", **{"jobs__sleeper.nomad.hcl": None})
            server = c.leader(live)
            wait_for(lambda: all(j["Stop"] for j in server.get("/v1/jobs") if j["ID"] == "sleeper"),
                     20, "sleeper pruned")  # fmt: skip
            server.stop_jobs()
    finally:
        for node in c.all_processes():
            node.stop()
        for pid_file in c.root.glob("*.pid"):  # tasks this test started, if still there
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass


def acked_writer(targets: list[Node], acked: list[str], stop: threading.Event) -> None:
    """Register idle jobs through ``targets`` (followers) until ``stop``; keep what was
    acknowledged (HTTP 200)."""
    i = 0
    while not stop.is_set():
        target = targets[i % len(targets)]
        job_id = f"w-{i}"
        try:
            r = target.http.put("/v1/jobs", json={"Job": idle_job(job_id)}, timeout=15)
            if r.status_code == 200:
                acked.append(job_id)
        except httpx.HTTPError:
            pass
        i += 1


def test_leader_failover_keeps_writes_tasks_and_gitops(cluster: Cluster) -> None:
    c = cluster
    sleeper_alloc = wait_for(
        lambda: [a for a in c.client.get("/v1/job/sleeper/allocations")
                 if a["ClientStatus"] == "running"],
        30, "sleeper running",
    )[0]  # fmt: skip
    pid = int(wait_for(lambda: c.pid_file.exists() and c.pid_file.read_text().strip(), 10, "pid"))
    old = c.leader()
    synced = old.get("/v1/gitops/status")["Commit"]
    version = old.get("/v1/job/sleeper")["Version"]
    followers = [s for s in c.servers if s is not old]
    acked: list[str] = []
    stop = threading.Event()
    writer = threading.Thread(target=acked_writer, args=(followers, acked, stop), daemon=True)
    writer.start()
    try:
        wait_for(lambda: len(acked) >= 15, 30, "writes before the kill")
        before = len(acked)
        t0 = time.monotonic()
        old.kill()
        new = c.leader(followers)
        elected = time.monotonic() - t0
        wait_for(lambda: len(acked) >= before + 15, 40, "writes after the failover")
    finally:
        stop.set()
        writer.join(timeout=20)
    assert new is not old and elected < 10, elected
    for s in followers:  # every acknowledged write, on every live server
        wait_for(lambda s=s: set(acked) <= {j["ID"] for j in s.stale("/v1/jobs")}, 15,
                 f"acknowledged writes on {s.url}")  # fmt: skip

    assert new.get("/v1/gitops/status")["Commit"] == synced  # resumed, nothing replayed
    assert new.get("/v1/job/sleeper")["Version"] == version
    late = {"jobs__late.nomad.hcl": sleeper(c.root / "late.pid", "late")}
    sha = c.repo.commit("after the failover", **late)
    wait_for(lambda: new.get("/v1/gitops/status")["Commit"] == sha, 30, "new leader synced")
    wait_for(lambda: any(j["ID"] == "late" for j in new.get("/v1/jobs")), 10, "late job")
    c.repo.commit("drop late", **{"jobs__late.nomad.hcl": None})
    wait_for(lambda: new.get("/v1/gitops/status")["Commit"] != sha, 30, "late pruned")

    now = next(a for a in new.get("/v1/job/sleeper/allocations") if a["ID"] == sleeper_alloc["ID"])
    assert now["ClientStatus"] == "running" and now["DesiredStatus"] == "run"
    assert int(c.pid_file.read_text()) == pid and os.path.exists(f"/proc/{pid}")

    old.launch().healthy()  # the killed server, from its data dir

    def same_state() -> bool:
        views = [
            ({j["ID"] for j in s.stale("/v1/jobs")}, {a["ID"] for a in s.stale("/v1/allocations")})
            for s in c.servers
        ]
        return all(v == views[0] for v in views)

    wait_for(same_state, 20, "the restarted server caught up")
    assert set(acked) <= {j["ID"] for j in old.stale("/v1/jobs")}
    assert old.get("/v1/status/leader") == new.raft


def test_partitioned_servers_cannot_commit_and_rejoin(cluster: Cluster) -> None:
    c = cluster
    leader = c.leader()
    follower = next(s for s in c.servers if s is not leader)
    follower.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = leader.http.put("/v1/jobs", json={"Job": idle_job("during-follower-stop")})
        assert r.status_code == 200 and time.monotonic() - t0 < 3, r.text
    finally:
        follower.signal(signal.SIGCONT)
    wait_for(lambda: any(j["ID"] == "during-follower-stop" for j in follower.stale("/v1/jobs")),
             15, "the resumed follower caught up")  # fmt: skip

    others = [s for s in c.servers if s is not leader]
    leader.signal(signal.SIGSTOP)
    try:
        with pytest.raises(httpx.TimeoutException):  # it cannot answer, let alone commit
            leader.http.put("/v1/jobs", json={"Job": idle_job("on-stopped")}, timeout=2)
        new = c.leader(others)
        assert new is not leader
        r = others[0].http.put("/v1/jobs", json={"Job": idle_job("while-leader-stopped")})
        assert r.status_code == 200, r.text
    finally:
        leader.signal(signal.SIGCONT)
    wait_for(lambda: leader.get("/v1/status/leader") == new.raft, 15, "old leader follows")
    wait_for(lambda: any(j["ID"] == "while-leader-stopped" for j in leader.stale("/v1/jobs")),
             15, "old leader has the new writes")  # fmt: skip
    assert c.leader() is new


def test_fourth_server_joins_and_a_dead_one_is_removed(cluster: Cluster) -> None:
    c = cluster
    hcl = server_config(c.root / "fourth.hcl", [s.raft for s in c.servers], c.repo.path)
    fourth = Node(c.root / "s3", "-config", str(hcl))
    c.extra.append(fourth)
    fourth.launch().healthy()
    everyone = [*c.servers, fourth]
    want = sorted(s.raft for s in everyone)
    for s in everyone:
        wait_for(lambda s=s: sorted(s.get("/v1/status/peers")) == want, 15, f"4 peers on {s.url}")
    wait_for(lambda: {j["ID"] for j in fourth.stale("/v1/jobs")} >=
             {j["ID"] for j in c.servers[0].stale("/v1/jobs")}, 15, "fourth has the state")  # fmt: skip
    members = c.servers[0].get("/v1/agent/members")["Members"]
    assert len(members) == 4 and {m["Status"] for m in members} == {"alive"}

    fourth.kill()
    follower = next(s for s in c.servers if s is not c.leader())
    wait_for(lambda: any(m["Status"] == "failed" for m in follower.get("/v1/agent/members")["Members"]),
             15, "the dead server reported failed")  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(cli, ["-address", follower.url, "operator", "raft", "remove-peer",
                              "-peer-address", fourth.raft])  # fmt: skip
    assert out.exit_code == 0, out.output
    want = sorted(s.raft for s in c.servers)
    for s in c.servers:
        wait_for(lambda s=s: sorted(s.get("/v1/status/peers")) == want, 15, f"3 peers on {s.url}")
    peers = runner.invoke(cli, ["-address", follower.url, "operator", "raft", "list-peers"])
    assert peers.exit_code == 0 and fourth.raft not in peers.output and "leader" in peers.output
    members_out = runner.invoke(cli, ["-address", follower.url, "server", "members"])
    assert members_out.exit_code == 0 and members_out.output.count("alive") == 3


def refused(root: Path, data_dir: Path, hcl: Path, *expected: str) -> None:
    node = Node(data_dir, "-config", str(hcl))
    node.log_path = root / f"refused-{node.http_port}.log"
    node.launch()
    assert node.proc is not None
    try:
        code = node.proc.wait(timeout=40)
    finally:
        node.stop()
    out = node.log_path.read_text()
    assert code != 0, out
    for text in expected:
        assert text in out, out


def test_bad_data_dirs_and_peer_lists_are_refused(cluster: Cluster) -> None:
    c = cluster
    root = c.root / "other"
    root.mkdir()
    lone = Node(root / "b", "-config", str(server_config(root / "b.hcl", [], None, expect=1)))
    lone.start()
    try:
        lone.http.put("/v1/jobs", json={"Job": idle_job("other-cluster-job")}).raise_for_status()
        mixed = server_config(root / "mixed.hcl", [c.servers[0].raft, lone.raft], None)
        refused(root, root / "fresh", mixed, "names servers of different clusters")
    finally:
        lone.stop()
    a_peers = server_config(root / "a.hcl", [s.raft for s in c.servers], None)
    refused(root, lone.data_dir, a_peers, f"data dir {lone.data_dir} belongs to cluster",
            "would join the wrong cluster")  # fmt: skip
    assert {j["ID"] for j in c.servers[0].get("/v1/jobs")}.isdisjoint({"other-cluster-job"})

    broken = root / "broken"
    shutil.copytree(lone.data_dir, broken)
    journal = broken / "server" / "raft" / "raft.journal"
    raw = bytearray(journal.read_bytes())
    at = raw.find(b"other-cluster-job")
    raw[at - 40 : at + 40] = bytes(80)
    journal.write_bytes(bytes(raw))
    alone = server_config(root / "alone.hcl", [], None, expect=1)
    refused(root, broken, alone, "corrupted Raft journal", str(journal), f"data dir {broken}")

    stray = server_config(root / "stray.hcl", [f"127.0.0.1:{free_port()}" for _ in range(3)], None)
    refused(root, root / "stray", stray, "is not in server_join.retry_join")


def test_whole_cluster_restart_keeps_everything(cluster: Cluster) -> None:
    c = cluster
    leader = c.leader()
    jobs = {j["ID"] for j in leader.get("/v1/jobs")}
    allocs = {a["ID"] for a in leader.get("/v1/allocations")}
    evals = {e["ID"] for e in leader.get("/v1/evaluations")}
    commit = leader.get("/v1/gitops/status")["Commit"]
    assert jobs and allocs and evals and commit
    for s in c.servers:
        s.stop()
    for s in c.servers:
        s.launch()
    for s in c.servers:
        s.healthy()
    leader = c.leader()
    assert {j["ID"] for j in leader.get("/v1/jobs")} == jobs
    assert {a["ID"] for a in leader.get("/v1/allocations")} >= allocs
    assert {e["ID"] for e in leader.get("/v1/evaluations")} >= evals
    assert leader.get("/v1/gitops/status")["Commit"] == commit
    for s in c.servers:
        wait_for(lambda s=s: {j["ID"] for j in s.stale("/v1/jobs")} == jobs, 15, f"{s.url} state")
