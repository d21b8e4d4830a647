"""The client routes when the allocation runs on another agent: a server-only agent
relays fs, stats, signal and the exec WebSocket to the client agent of the node that
runs the task, and a client-only agent answers for its own allocations. Two real
agent processes, a real raw_exec task."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from harness import Agent, GitRepo, wait_for
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.timeout(240)

JOB = """
job "far" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo far-away > $NOMAD_TASK_DIR/note; trap 'echo hup > $NOMAD_TASK_DIR/hup' HUP; while true; do sleep 0.2; done"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      kill_timeout = "2s"
    }
  }
}
"""


class Pair:
    def __init__(self, server: Agent, client: Agent) -> None:
        self.server, self.client = server, client


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("relay")
    repo = GitRepo(root / "repo")
    repo.commit("far", **{"jobs__far.nomad.hcl": JOB, "jobs__README.md": "jobs\n"})
    server_hcl = root / "server.hcl"
    server_hcl.write_text(
        "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
        f'gitops {{\n  repo = "{repo.path}"\n  branch = "main"\n  path = "jobs"\n'
        '  poll_interval = "1s"\n}\n'
    )
    server = Agent(root / "server", "-config", str(server_hcl)).start(60)
    client_hcl = root / "client.hcl"
    client_hcl.write_text(
        f'client {{\n  enabled = true\n  servers = ["127.0.0.1:{server.http_port}"]\n}}\n'
        'plugin "raw_exec" {\n  config { enabled = true }\n}\n'
    )
    client = Agent(root / "client", "-config", str(client_hcl))
    try:
        client.start(60)
        wait_for(lambda: server.running("far"), 60, "the task running on the client agent")
        yield Pair(server, client)
    finally:
        # the job leaves Git first (else the sync registers it again), then its tasks stop
        repo.commit("no more far", **{"jobs__far.nomad.hcl": None})
        server.stop_jobs()
        client.stop()
        server.stop()


def alloc_id(pair: Pair) -> str:
    found = str(pair.server.running("far")[0]["ID"])
    wait_for(
        lambda: pair.client.http.get(f"/v1/client/fs/cat/{found}", params={"path": "t/local/note"})
        .text.startswith("far-away"),
        20,
        "the note written",
    )
    return found


def test_the_server_relays_fs_and_stats_to_the_node_and_the_client_answers_itself(
    pair: Pair,
) -> None:
    found = alloc_id(pair)
    for agent in (pair.server, pair.client):
        cat = agent.http.get(f"/v1/client/fs/cat/{found}", params={"path": "t/local/note"})
        assert cat.status_code == 200 and cat.text == "far-away\n"
        ls = agent.http.get(f"/v1/client/fs/ls/{found}", params={"path": "t/local"})
        assert [e["Name"] for e in ls.json()] == ["note"]
        escape = agent.http.get(f"/v1/client/fs/cat/{found}", params={"path": "../../x"})
        assert escape.status_code == 400 and "escapes" in escape.text
        stats = agent.http.get(f"/v1/client/allocation/{found}/stats")
        assert stats.status_code == 200 and stats.json()["Tasks"]["t"]["ResourceUsage"]
    node_id = pair.server.running("far")[0]["NodeID"]
    no_client = pair.server.http.get("/v1/client/stats")
    assert no_client.status_code == 400 and "node_id" in no_client.text
    relayed = pair.server.http.get("/v1/client/stats", params={"node_id": node_id})
    assert relayed.status_code == 200 and relayed.json()["Memory"]["Total"] > 0
    assert pair.client.get("/v1/client/stats")["Memory"]["Total"] > 0


def test_signal_through_the_server_reaches_the_task(pair: Pair) -> None:
    found = alloc_id(pair)
    r = pair.server.http.post(
        f"/v1/client/allocation/{found}/signal", json={"Task": "t", "Signal": "SIGHUP"}
    )
    assert r.status_code == 200, r.text
    wait_for(
        lambda: pair.client.http.get(
            f"/v1/client/fs/cat/{found}", params={"path": "t/local/hup"}
        ).text
        == "hup\n",
        20,
        "the HUP trap",
    )


@pytest.mark.parametrize("via", ["server", "client"])
def test_exec_websocket_is_relayed_to_the_node(pair: Pair, via: str) -> None:
    found = alloc_id(pair)
    agent = pair.server if via == "server" else pair.client
    query = {"task": "t", "command": json.dumps(["/bin/sh", "-c", "cat local/note; exit 5"])}
    url = agent.url.replace("http://", "ws://") + f"/v1/client/allocation/{found}/exec"
    out, code = b"", None
    with connect(f"{url}?{urlencode(query)}", open_timeout=10) as ws:
        ws.send(json.dumps({"stdin": {"close": True}}))
        while code is None:
            frame = json.loads(ws.recv(timeout=30))
            if frame.get("stdout", {}).get("data"):
                out += base64.b64decode(frame["stdout"]["data"])
            if frame.get("exited"):
                code = frame["result"]["exit_code"]
    assert out == b"far-away\n" and code == 5
    bad = {"task": "nope", "command": '["ls"]'}
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}?{urlencode(bad)}", open_timeout=10)
    assert refused.value.response.status_code == 400
    assert "no task 'nope'" in bytes(refused.value.response.body or b"").decode()


def test_unknown_allocations_are_404_everywhere(pair: Pair, tmp_path: Path) -> None:
    for agent in (pair.server, pair.client):
        r = agent.http.get("/v1/client/fs/ls/no-such-alloc", params={"path": "/"})
        assert r.status_code == 404, (agent.url, r.status_code, r.text)
