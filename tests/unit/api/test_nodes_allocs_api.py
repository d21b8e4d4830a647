"""Node, allocation, evaluation, internal and logs routes."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import pytest
from fakes import FakeBackend, FakeClient, TestClient, api_client, serve, simple_job

from gitorch.api.app import make_app
from gitorch.api.http import decode_job
from gitorch.codec import from_json, to_json
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Job, Node
from gitorch.server.backend import NodeRegisterResponse

NODE = "1" * 36
OTHER = "2" * 36


@pytest.fixture
def backend() -> FakeBackend:
    b = FakeBackend()
    b.add_node(NODE, http_addr="127.0.0.1:1")
    return b


@pytest.fixture
def client(backend: FakeBackend) -> TestClient:
    return api_client(make_app(backend))


def placed(backend: FakeBackend, count: int = 2, node: str = NODE) -> tuple[Job, list[str]]:
    backend.register_job(decode_job(simple_job(count=count)))
    job = backend.store.job("default", "web")
    assert job is not None
    return job, backend.place(job, node)


def test_nodes_list_stubs_and_get(client: TestClient) -> None:
    rows = client.get("/v1/nodes").json()
    assert len(rows) == 1
    row = rows[0]
    assert row["ID"] == NODE and row["Address"] == "127.0.0.1"
    assert row["Status"] == "ready" and row["SchedulingEligibility"] == "eligible"
    for key in ("Name", "Datacenter", "NodeClass", "Drain", "Drivers", "Version"):
        assert key in row
    assert client.get("/v1/nodes", params={"prefix": "2"}).json() == []
    node = client.get(f"/v1/node/{NODE}").json()
    assert node["HTTPAddr"] == "127.0.0.1:1"
    resp = client.get(f"/v1/node/{OTHER}")
    assert resp.status_code == 404 and resp.text == "node not found"


def test_eligibility(client: TestClient) -> None:
    resp = client.post(f"/v1/node/{NODE}/eligibility", json={"Eligibility": "ineligible"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["NodeModifyIndex"] > 0
    assert client.get(f"/v1/node/{NODE}").json()["SchedulingEligibility"] == "ineligible"
    bad = client.post(f"/v1/node/{NODE}/eligibility", json={"Eligibility": "maybe"})
    assert bad.status_code == 400 and "maybe" in bad.text
    missing = client.post(f"/v1/node/{OTHER}/eligibility", json={"Eligibility": "eligible"})
    assert missing.status_code == 404


def test_allocations_and_evaluations(client: TestClient, backend: FakeBackend) -> None:
    job, ids = placed(backend)
    rows = client.get("/v1/allocations").json()
    assert sorted(r["ID"] for r in rows) == sorted(ids)
    row = rows[0]
    assert row["JobID"] == "web" and row["NodeID"] == NODE and row["JobType"] == "service"
    assert row["Name"].startswith("web.web[")
    assert client.get("/v1/allocations", params={"prefix": ids[0][:8]}).json()[0]["ID"] == ids[0]

    alloc = client.get(f"/v1/allocation/{ids[0]}").json()
    assert alloc["ID"] == ids[0]
    assert alloc["Job"]["ID"] == "web" and alloc["Job"]["Version"] == alloc["JobVersion"]
    missing = client.get(f"/v1/allocation/{OTHER}")
    assert missing.status_code == 404 and missing.text == "alloc not found"

    evals = client.get("/v1/evaluations").json()
    assert len(evals) == 1 and evals[0]["JobID"] == "web"
    ev = client.get(f"/v1/evaluation/{evals[0]['ID']}").json()
    assert ev["TriggeredBy"] == "job-register"
    assert client.get(f"/v1/evaluation/{OTHER}").text == "eval not found"
    assert client.get("/v1/evaluations", params={"job": "other"}).json() == []
    eval_allocs = client.get(f"/v1/evaluation/{ev['ID']}/allocations").json()
    assert sorted(a["ID"] for a in eval_allocs) == sorted(ids)


def test_alloc_embeds_the_job_at_its_version(client: TestClient, backend: FakeBackend) -> None:
    _, ids = placed(backend, count=1)
    backend.register_job(decode_job(simple_job(count=4)))
    alloc = client.get(f"/v1/allocation/{ids[0]}").json()
    assert alloc["JobVersion"] == 0
    assert alloc["Job"]["Version"] == 0 and alloc["Job"]["TaskGroups"][0]["Count"] == 1


def test_node_allocations_blocking_query(client: TestClient, backend: FakeBackend) -> None:
    assert client.get(f"/v1/node/{NODE}/allocations").json() == []
    index = int(client.get(f"/v1/node/{NODE}/allocations").headers["X-Nomad-Index"])
    threading.Timer(0.3, lambda: placed(backend)).start()
    start = time.monotonic()
    resp = client.get(f"/v1/node/{NODE}/allocations", params={"index": index, "wait": "10s"})
    assert 0.2 < time.monotonic() - start < 8
    allocs = resp.json()
    assert len(allocs) == 2
    assert all(a["Job"]["ID"] == "web" for a in allocs)
    assert int(resp.headers["X-Nomad-Index"]) > index


def test_a_node_s_watch_is_not_answered_by_another_node_s_allocations(
    client: TestClient, backend: FakeBackend
) -> None:
    backend.add_node(OTHER, http_addr="127.0.0.1:2")
    index = int(client.get(f"/v1/node/{NODE}/allocations").headers["X-Nomad-Index"])
    threading.Timer(0.2, lambda: placed(backend, node=OTHER)).start()
    start = time.monotonic()
    resp = client.get(f"/v1/node/{NODE}/allocations", params={"index": index, "wait": "1500ms"})
    assert time.monotonic() - start > 1.2  # it waited out its wait: nothing of its own moved
    assert resp.json() == [] and int(resp.headers["X-Nomad-Index"]) == index
    other = client.get(f"/v1/node/{OTHER}/allocations", params={"index": index, "wait": "5s"})
    assert len(other.json()) == 2 and int(other.headers["X-Nomad-Index"]) > index


def test_internal_register_heartbeat_and_alloc_updates(
    client: TestClient, backend: FakeBackend
) -> None:
    node = {"ID": OTHER, "Name": "two", "HTTPAddr": "10.0.0.2:4646", "Links": None}
    resp = client.post("/v1/internal/node/register", json=node)
    assert resp.status_code == 200, resp.text
    assert from_json(resp.content, NodeRegisterResponse).heartbeat_ttl > 0
    wrapped = client.post("/v1/internal/node/register", json={"Node": node})
    assert wrapped.status_code == 200
    assert client.post(f"/v1/internal/node/{OTHER}/heartbeat").status_code == 200
    assert client.post(f"/v1/internal/node/{'9' * 36}/heartbeat").status_code == 404
    assert client.post("/v1/internal/node/register", json={"Name": "x"}).status_code == 400

    _, ids = placed(backend, node=OTHER)
    update = {"Allocs": [{"ID": ids[0], "ClientStatus": "running", "TaskStates": None}]}
    resp = client.post("/v1/internal/allocs/update", json=update)
    assert resp.status_code == 200
    assert resp.json()["Index"] == int(resp.headers["X-Nomad-Index"])
    assert client.get(f"/v1/allocation/{ids[0]}").json()["ClientStatus"] == "running"
    bad = client.post("/v1/internal/allocs/update", json={"Allocs": [{"ID": 3}]})
    assert bad.status_code == 400 and "alloc updates" in bad.text


# -- logs ---------------------------------------------------------------------------------


def write_log(root: Path, alloc_id: str, data: bytes, kind: str = "stdout") -> Path:
    path = root / alloc_id / f"server.{kind}.0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def logs_setup(backend: FakeBackend, tmp_path: Path) -> tuple[TestClient, str, Path]:
    _, ids = placed(backend, count=1)
    write_log(tmp_path, ids[0], b"hello\nworld\n")
    write_log(tmp_path, ids[0], b"oops\n", "stderr")
    app = make_app(backend, FakeClient(NODE, tmp_path))
    return api_client(app), ids[0], tmp_path


def test_logs_plain_and_framed(logs_setup: tuple[TestClient, str, Path]) -> None:
    client, alloc_id, _ = logs_setup
    url = f"/v1/client/fs/logs/{alloc_id}"
    plain = client.get(url, params={"task": "server", "type": "stdout", "plain": "true"})
    assert plain.status_code == 200 and plain.content == b"hello\nworld\n"
    err = client.get(url, params={"task": "server", "type": "stderr", "plain": "true"})
    assert err.content == b"oops\n"
    tail = client.get(
        url,
        params={
            "task": "server",
            "type": "stdout",
            "plain": "true",
            "origin": "end",
            "offset": "6",
        },
    )
    assert tail.content == b"world\n"
    framed = client.get(url, params={"task": "server", "type": "stdout"})
    frame = json.loads(framed.content)
    assert base64.b64decode(frame["Data"]) == b"hello\nworld\n"
    assert frame["Offset"] == 0 and frame["File"].endswith("server.stdout.0")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"type": "stdout"}, 400),
        ({"task": "server"}, 400),
        ({"task": "server", "type": "stdout", "origin": "middle"}, 400),
        ({"task": "nope", "type": "stdout"}, 404),
    ],
)
def test_logs_bad_requests(
    logs_setup: tuple[TestClient, str, Path], params: dict[str, str], status: int
) -> None:
    client, alloc_id, _ = logs_setup
    assert client.get(f"/v1/client/fs/logs/{alloc_id}", params=params).status_code == status


def test_logs_unknown_alloc_is_404(logs_setup: tuple[TestClient, str, Path]) -> None:
    client, _, _ = logs_setup
    resp = client.get(f"/v1/client/fs/logs/{OTHER}", params={"task": "t", "type": "stdout"})
    assert resp.status_code == 404 and OTHER in resp.text


def test_logs_follow_streams_growth_until_the_alloc_is_done(
    logs_setup: tuple[TestClient, str, Path], backend: FakeBackend
) -> None:
    client, alloc_id, root = logs_setup
    path = root / alloc_id / "server.stdout.0"

    def grow_then_finish() -> None:
        time.sleep(0.3)
        with path.open("ab") as f:
            f.write(b"more\n")
        time.sleep(0.5)
        backend.update_allocs([AllocClientUpdate(id=alloc_id, client_status="complete")])

    threading.Thread(target=grow_then_finish).start()
    params = {"task": "server", "type": "stdout", "plain": "true", "follow": "true"}
    received = b""
    with client.stream("GET", f"/v1/client/fs/logs/{alloc_id}", params=params) as resp:
        for chunk in resp.iter_bytes():
            received += chunk
    assert received == b"hello\nworld\nmore\n"


def test_logs_of_a_remote_alloc_are_proxied_to_its_node(
    backend: FakeBackend, tmp_path: Path
) -> None:
    _, ids = placed(backend, count=1, node=OTHER)
    write_log(tmp_path, ids[0], b"from the other node\n")
    remote_app = make_app(backend, FakeClient(OTHER, tmp_path), acl_tokens={"tok"})
    with serve(remote_app) as address:
        backend.add_node(OTHER, http_addr=address)
        local = api_client(make_app(backend, FakeClient(NODE, tmp_path / "none")))
        params = {"task": "server", "type": "stdout", "plain": "true"}
        headers = {"X-Nomad-Token": "tok"}
        url = f"/v1/client/fs/logs/{ids[0]}"
        resp = local.get(url, params=params, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.content == b"from the other node\n"
        denied = local.get(url, params=params)
        assert denied.status_code == 403
        missing_task = local.get(url, params={**params, "task": "x"}, headers=headers)
        assert missing_task.status_code == 404 and "'x'" in missing_task.text


def test_logs_of_an_unreachable_node_are_404_naming_alloc_and_node(
    backend: FakeBackend, tmp_path: Path
) -> None:
    _, ids = placed(backend, count=1)
    client = api_client(make_app(backend))  # no local client: must proxy to 127.0.0.1:1
    resp = client.get(f"/v1/client/fs/logs/{ids[0]}", params={"task": "server", "type": "stdout"})
    assert resp.status_code == 404
    assert ids[0] in resp.text and NODE in resp.text


def test_health_reports_the_client_when_there_is_one(backend: FakeBackend, tmp_path: Path) -> None:
    server_only = api_client(make_app(backend)).get("/v1/agent/health").json()
    assert server_only == {"server": {"ok": True, "message": "ok"}}
    both = api_client(make_app(backend, FakeClient(NODE, tmp_path))).get("/v1/agent/health")
    assert both.json()["client"]["ok"] is True


def test_status_and_agent(client: TestClient) -> None:
    leader = client.get("/v1/status/leader")
    assert leader.json() == "127.0.0.1:4647"
    assert client.get("/v1/status/peers").json() == ["127.0.0.1:4647"]
    assert "config" in client.get("/v1/agent/self").json()


def test_node_register_roundtrip_keeps_the_model(backend: FakeBackend, client: TestClient) -> None:
    node = Node(id=OTHER, name="n2", attributes={"gitorch.version": "0.1.0"})

    resp = client.post("/v1/internal/node/register", content=to_json(node))
    assert resp.status_code == 200
    row = [r for r in client.get("/v1/nodes").json() if r["ID"] == OTHER][0]
    assert row["Version"] == "0.1.0"
