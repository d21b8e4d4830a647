"""The client routes' ACL checks, as Nomad's client checks them: read-fs for files,
alloc-lifecycle for restart and signal, node read/write for client stats and gc,
alloc-exec for the exec WebSocket (checked at the upgrade), and alloc-node-exec as well
for a task without filesystem isolation. An in-memory server with ACLs on; the exec
session runs a real process through the route."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from gitorch.api.app import make_app
from gitorch.core.task import ExecCommand
from gitorch.server.server import Server
from tests.unit.api.fakes import FakeClient, api_client, in_memory_server, simple_job

NODE = "node-1"


class ExecClient(FakeClient):
    """A node whose every allocation runs ``echo`` for an exec, with ``isolation``."""

    def __init__(self, root: Path, isolation: str) -> None:
        super().__init__(NODE, root)
        self.isolation = isolation

    def exec_command(
        self, alloc_id: str, task: str, cmd: list[str], tty: bool
    ) -> tuple[ExecCommand, str]:
        return ExecCommand(argv=["/bin/echo", f"ran-{cmd[0]}"]), self.isolation


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


def setup(server: Server, tmp_path: Path, isolation: str) -> tuple[TestClient, str, dict[str, Any]]:
    client = api_client(make_app(server, ExecClient(tmp_path, isolation), acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    assert client.post("/v1/jobs", json={"Job": simple_job(count=1)}, headers=root).status_code == 200
    deadline = time.monotonic() + 10
    while not server.state.allocs and time.monotonic() < deadline:
        time.sleep(0.02)
    alloc_id = next(iter(server.state.allocs))
    tokens: dict[str, Any] = {"root": root}
    for name, caps in {
        "fs": '["read-fs"]',
        "exec": '["alloc-exec"]',
        "nodeexec": '["alloc-exec", "alloc-node-exec"]',
    }.items():
        rules = f'namespace "default" {{\n  capabilities = {caps}\n}}\n'
        put = client.post(f"/v1/acl/policy/{name}", json={"Rules": rules}, headers=root)
        assert put.status_code == 200, put.text
        token = client.post(
            "/v1/acl/token", json={"Type": "client", "Policies": [name]}, headers=root
        ).json()
        tokens[name] = {"X-Nomad-Token": token["SecretID"]}
    return client, alloc_id, tokens


def exec_once(client: TestClient, alloc_id: str, headers: dict[str, str]) -> tuple[bytes, int]:
    query = "task=web&command=" + json.dumps(["probe"])
    url = f"/v1/client/allocation/{alloc_id}/exec?{query}"
    out = b""
    with client.websocket_connect(url, headers=headers) as ws:
        ws.send_text(json.dumps({"stdin": {"close": True}}))
        while True:
            frame = json.loads(ws.receive_text())
            if frame.get("stdout", {}).get("data"):
                out += base64.b64decode(frame["stdout"]["data"])
            if frame.get("exited"):
                return out, int(frame["result"]["exit_code"])


def test_fs_lifecycle_and_node_routes_need_nomads_capabilities(
    server: Server, tmp_path: Path
) -> None:
    client, alloc_id, tokens = setup(server, tmp_path, "chroot")
    ls = f"/v1/client/fs/ls/{alloc_id}"
    anonymous = client.get(ls)
    assert anonymous.status_code == 403 and "namespace:read-fs" in anonymous.text
    assert client.get(ls, headers=tokens["fs"]).status_code == 404  # allowed; no files here
    for action in ("restart", "signal"):
        refused = client.post(f"/v1/client/allocation/{alloc_id}/{action}", headers=tokens["fs"])
        assert refused.status_code == 403 and "alloc-lifecycle" in refused.text
        allowed = client.post(f"/v1/client/allocation/{alloc_id}/{action}", headers=tokens["root"])
        assert allowed.status_code == 404  # the fake node does not hold it: past the gate
    stats = client.get("/v1/client/stats", headers=tokens["fs"])
    assert stats.status_code == 403 and "node:read" in stats.text
    assert client.get("/v1/client/stats", headers=tokens["root"]).status_code == 200
    assert client.post("/v1/client/gc", headers=tokens["fs"]).status_code == 403
    usage = client.get(f"/v1/client/allocation/{alloc_id}/stats", headers=tokens["exec"])
    assert usage.status_code == 403 and "read-job" in usage.text


def test_exec_upgrade_needs_alloc_exec(server: Server, tmp_path: Path) -> None:
    client, alloc_id, tokens = setup(server, tmp_path, "chroot")
    for headers in ({}, tokens["fs"]):
        with pytest.raises(WebSocketDenialResponse) as denied:
            exec_once(client, alloc_id, headers)
        assert denied.value.status_code == 403
        assert "namespace:alloc-exec" in denied.value.text
    assert exec_once(client, alloc_id, tokens["exec"]) == (b"ran-probe\n", 0)


def test_exec_in_a_task_without_isolation_also_needs_alloc_node_exec(
    server: Server, tmp_path: Path
) -> None:
    client, alloc_id, tokens = setup(server, tmp_path, "none")
    with pytest.raises(WebSocketDenialResponse) as denied:
        exec_once(client, alloc_id, tokens["exec"])
    assert denied.value.status_code == 403 and "alloc-node-exec" in denied.value.text
    assert exec_once(client, alloc_id, tokens["nodeexec"]) == (b"ran-probe\n", 0)
