"""The UI's nodes and topology pages read two lists whatever the number of nodes
(``/v1/nodes?resources=true`` and ``/v1/allocations?namespace=*&resources=true``), and
show what each node holds as the token may see it; a job's page reads the job of its
``?namespace=``. Against the app over the fake backend, in process."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gitorch.api.app import make_app
from gitorch.api.http import decode_job
from gitorch.core.model import Node, NodeCpu, NodeMemory, NodeResources
from gitorch.ui.api import UiApi
from tests.unit.api.fakes import (
    FakeBackend,
    TestClient,
    api_client,
    in_memory_server,
    simple_job,
)

BUSY = "1" * 36
IDLE = "2" * 36
TEAM = "team-a"


def node(node_id: str, name: str, pool: str) -> Node:
    return Node(
        id=node_id,
        name=name,
        node_pool=pool,
        status="ready",
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=4000), memory=NodeMemory(memory_mb=8192)
        ),
        reserved_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=1000), memory=NodeMemory(memory_mb=192)
        ),
    )


@pytest.fixture
def backend() -> FakeBackend:
    b = FakeBackend()
    b.register_node(node(BUSY, "busy", "default"))
    b.register_node(node(IDLE, "idle", "gpu-pool"))
    for ns, count in (("default", 2), (TEAM, 1)):  # 100 MHz, 64 MB each
        job = decode_job({**simple_job(f"web-{ns}", count=count), "Namespace": ns})
        b.register_job(job)
        b.place(job, BUSY)
    return b


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths the UI's pages read, in order."""
    seen: list[str] = []
    real, real_as = UiApi.get, UiApi.get_as

    async def get(self: UiApi, path: str, **params: str) -> Any:
        seen.append(path)
        return await real(self, path, **params)

    async def get_as(self: UiApi, path: str, kind: Any, **params: str) -> Any:
        seen.append(path)
        return await real_as(self, path, kind, **params)

    monkeypatch.setattr(UiApi, "get", get)
    monkeypatch.setattr(UiApi, "get_as", get_as)
    yield seen


def page(client: TestClient, path: str, status: int = 200) -> str:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    return r.text


def test_nodes_and_topology_read_two_lists(backend: FakeBackend, reads: list[str]) -> None:
    client = api_client(make_app(backend))
    html = page(client, "/ui/nodes")
    assert reads == ["/v1/nodes", "/v1/allocations"]
    assert "CPU 300/3000 MHz" in html and "mem 192/8000 MB" in html  # both namespaces
    assert "CPU 0/3000 MHz" in html  # the idle node
    assert "<td>gpu-pool</td>" in html and "<td>default</td>" in html
    reads.clear()
    topo = page(client, "/ui/topology")
    assert reads == ["/v1/nodes", "/v1/allocations"]
    assert "nodes 1–2 of 2, 3 live allocation(s)" in topo
    assert topo.count('class="seg running"') + topo.count('class="seg pending"') >= 3


def test_nodes_page_counts_what_the_token_may_read() -> None:
    server = in_memory_server("node-1")  # 4000 MHz, nothing reserved
    try:
        client = api_client(make_app(server, acl_tokens=set()))
        root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
        for ns, count in (("default", 2), (TEAM, 1)):
            job = {**simple_job(f"web-{ns}", count=count), "Namespace": ns}
            assert client.post("/v1/jobs", json={"Job": job}, headers=root).status_code == 200
        deadline = time.monotonic() + 10
        while len(client.get("/v1/allocations?namespace=*", headers=root).json()) < 3:
            assert time.monotonic() < deadline, "3 allocations were not placed"
            time.sleep(0.05)

        def token(name: str, rules: str) -> dict[str, str]:
            resp = client.post(f"/v1/acl/policy/{name}", json={"Rules": rules}, headers=root)
            assert resp.status_code == 200, resp.text
            body = {"Type": "client", "Policies": [name]}
            made = client.post("/v1/acl/token", json=body, headers=root).json()
            return {"X-Nomad-Token": made["SecretID"]}

        node_read = 'node {\n  policy = "read"\n}\n'
        team = token("team", node_read + f'namespace "{TEAM}" {{\n  policy = "read"\n}}\n')
        assert "CPU 100/4000 MHz" in client.get("/ui/nodes", headers=team).text
        nodes_only = token("nodes", node_read)  # reads no namespace's allocations
        assert "CPU 0/4000 MHz" in client.get("/ui/nodes", headers=nodes_only).text
        assert "CPU 300/4000 MHz" in client.get("/ui/nodes", headers=root).text
        assert "3 alloc · CPU 7%" in client.get("/ui/topology", headers=root).text
    finally:
        server.stop()


def test_job_page_reads_the_job_of_its_namespace(backend: FakeBackend) -> None:
    client = api_client(make_app(backend))
    jobs = page(client, "/ui/jobs")
    assert f'href="/ui/job/web-{TEAM}?namespace={TEAM}"' in jobs
    assert 'href="/ui/job/web-default"' in jobs
    html = page(client, f"/ui/job/web-{TEAM}?namespace={TEAM}")
    assert f"namespace {TEAM}" in html
    assert len(re.findall(r'href="/ui/allocation/[0-9a-f-]{36}"', html)) == 1
    page(client, f"/ui/job/web-{TEAM}", 404)  # not in default
    page(client, f"/ui/job/web-default?namespace={TEAM}", 404)
    assert "namespace default" in page(client, "/ui/job/web-default")
