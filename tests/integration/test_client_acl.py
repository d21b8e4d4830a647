"""A client-only agent and a server with ACLs on, as real processes: the client signs
its node calls with its node secret (Nomad's SecretID) and needs no ACL token; a second
agent that claims the first one's node ID (a copied data dir) is refused and the first
node keeps running its task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, wait_for
from servers import Node

pytestmark = pytest.mark.timeout(180)

JOB = {
    "ID": "acl-sleeper",
    "TaskGroups": [
        {
            "Name": "g",
            "Count": 1,
            "Tasks": [
                {
                    "Name": "t",
                    "Driver": "raw_exec",
                    "Config": {"command": "/bin/sleep", "args": ["120"]},
                    "Resources": {"CPU": 50, "MemoryMB": 32},
                    "KillTimeout": 1_000_000_000,
                }
            ],
        }
    ],
}


def client_config(path: Path, server: Agent) -> Path:
    path.write_text(
        f'client {{\n  enabled = true\n  servers = ["127.0.0.1:{server.http_port}"]\n}}\n'
        'plugin "raw_exec" {\n  config { enabled = true }\n}\n'
    )
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Agent]:
    config = tmp_path / "server.hcl"
    config.write_text(
        "server {\n  enabled = true\n  bootstrap_expect = 1\n}\nacl {\n  enabled = true\n}\n"
    )
    s = Agent(tmp_path / "server", "-config", str(config))
    s.start(60)
    try:
        yield s
    finally:
        s.stop()


def test_a_client_agent_works_with_acls_on_and_its_node_id_cannot_be_taken(
    server: Agent, tmp_path: Path
) -> None:
    token = server.http.post("/v1/acl/bootstrap").json()["SecretID"]
    admin = {"X-Nomad-Token": token}

    def get(path: str) -> Any:
        r = server.http.get(path, headers=admin)
        r.raise_for_status()
        return r.json()

    client = Agent(tmp_path / "client", "-config", str(client_config(tmp_path / "c.hcl", server)))
    impostor = Node(tmp_path / "impostor", "-config", str(tmp_path / "c.hcl"))
    client.start(60)
    try:
        node = wait_for(lambda: [n for n in get("/v1/nodes") if n["Status"] == "ready"], 30,
                        "the client's node ready")[0]  # fmt: skip
        assert server.http.get("/v1/nodes").status_code == 403  # anonymous: refused
        assert server.http.put("/v1/jobs", json={"Job": JOB}, headers=admin).status_code == 200
        wait_for(
            lambda: [a for a in get("/v1/job/acl-sleeper/allocations")
                     if a["ClientStatus"] == "running"],
            30, "the task running on the client",
        )  # fmt: skip
        # A copy of the client's identity without its secret: same node ID, new secret.
        state = impostor.data_dir / "client"
        state.mkdir(parents=True, mode=0o700)
        (state / "node-id").write_text(node["ID"] + "\n")
        impostor.launch()  # it never becomes healthy: its registration is refused
        wait_for(lambda: "another client" in impostor.output(), 30, "the refusal in its log")
        assert [n["ID"] for n in get("/v1/nodes")] == [node["ID"]]
        assert get(f"/v1/node/{node['ID']}")["Status"] == "ready"
        assert get(f"/v1/node/{node['ID']}")["SecretID"] == ""
        running = [a for a in get("/v1/job/acl-sleeper/allocations") if a["ClientStatus"] == "running"]
        assert len(running) == 1
    finally:
        impostor.stop()
        server.http.delete("/v1/job/acl-sleeper", params={"purge": "true"}, headers=admin)
        wait_for(
            lambda: all(a["ClientStatus"] != "running" for a in get("/v1/allocations")),
            30, "the task stopped",
        )  # fmt: skip
        client.stop()
