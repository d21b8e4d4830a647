"""Nomad's ``?resources=true`` on the node and allocation lists (NodeResources and
ReservedResources on each node row, AllocatedResources on each allocation row) and
``?task_states=false`` on the allocation list: the fields a user sees."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import NOW, FakeBackend, TestClient, api_client, simple_job

from gitorch.api.app import make_app
from gitorch.api.http import decode_job
from gitorch.core import commands as c
from gitorch.core.model import (
    AllocatedDevice,
    AllocatedPort,
    Node,
    NodeCpu,
    NodeDevice,
    NodeDeviceResource,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    TaskState,
)

NODE = "1" * 36


@pytest.fixture
def backend() -> FakeBackend:
    b = FakeBackend()
    gpu = NodeDeviceResource(
        vendor="nvidia", type="gpu", name="t4", instances=[NodeDevice(id="GPU-0")]
    )
    b.register_node(
        Node(
            id=NODE,
            name="big",
            node_pool="gpu",
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=8000),
                memory=NodeMemory(memory_mb=16384),
                disk=NodeDisk(disk_mb=100_000),
                devices=[gpu],
            ),
            reserved_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=500), memory=NodeMemory(memory_mb=1024)
            ),
        )
    )
    return b


@pytest.fixture
def client(backend: FakeBackend) -> TestClient:
    return api_client(make_app(backend))


def two_task_job() -> dict[str, Any]:
    job = simple_job(count=1)
    group = job["TaskGroups"][0]
    group["Networks"] = [{"DynamicPorts": [{"Label": "http", "To": 8080}]}]
    sidecar = {**group["Tasks"][0], "Name": "sidecar"}
    sidecar["Resources"] = {"CPU": 50, "MemoryMB": 32, "MemoryMaxMB": 64}
    group["Tasks"].append(sidecar)
    return job


def place_one(backend: FakeBackend) -> str:
    backend.register_job(decode_job(two_task_job()))
    job = backend.store.job("default", "web")
    assert job is not None
    placement = Placement(
        id="a" * 36,
        task_group="web",
        index=0,
        node_id=NODE,
        ports=[AllocatedPort(label="http", value=23456, to=8080, host_ip="10.0.0.5")],
        devices={"server": [AllocatedDevice(vendor="nvidia", type="gpu", name="t4",
                                            device_ids=["GPU-0"])]},
    )  # fmt: skip
    plan = Plan(eval_id="", job_id="web", job_version=job.version, placements=[placement])
    assert not backend.apply(c.ApplyPlan(now=NOW, plan=plan)).error
    return placement.id


def test_node_list_adds_resources_when_asked(client: TestClient) -> None:
    plain = client.get("/v1/nodes").json()[0]
    assert plain["NodePool"] == "gpu"
    assert "NodeResources" not in plain and "ReservedResources" not in plain
    row = client.get("/v1/nodes", params={"resources": "true"}).json()[0]
    assert row["ID"] == NODE and row["NodePool"] == "gpu"
    assert row["NodeResources"]["Cpu"]["CpuShares"] == 8000
    assert row["NodeResources"]["Memory"]["MemoryMB"] == 16384
    assert row["NodeResources"]["Disk"]["DiskMB"] == 100_000
    assert row["NodeResources"]["Devices"][0]["Instances"][0]["ID"] == "GPU-0"
    assert row["ReservedResources"]["Cpu"]["CpuShares"] == 500
    assert row["ReservedResources"]["Memory"]["MemoryMB"] == 1024
    # the same resources as the node itself
    node = client.get(f"/v1/node/{NODE}").json()
    assert row["NodeResources"] == node["NodeResources"]
    assert row["ReservedResources"] == node["ReservedResources"]
    assert "NodeResources" not in client.get("/v1/nodes?resources=false").json()[0]
    bad = client.get("/v1/nodes", params={"resources": "maybe"})
    assert bad.status_code == 400 and "resources" in bad.text


def test_alloc_list_adds_allocated_resources_when_asked(
    client: TestClient, backend: FakeBackend
) -> None:
    alloc_id = place_one(backend)
    plain = client.get("/v1/allocations").json()[0]
    assert plain["ID"] == alloc_id and "AllocatedResources" not in plain
    assert isinstance(plain["TaskStates"], dict)
    row = client.get("/v1/allocations", params={"resources": "true"}).json()[0]
    res = row["AllocatedResources"]
    assert sorted(res["Tasks"]) == ["server", "sidecar"]
    server, sidecar = res["Tasks"]["server"], res["Tasks"]["sidecar"]
    assert server["Cpu"] == {"CpuShares": 100}
    assert server["Memory"] == {"MemoryMB": 64, "MemoryMaxMB": 0}
    assert server["Devices"] == [
        {"Vendor": "nvidia", "Type": "gpu", "Name": "t4", "DeviceIDs": ["GPU-0"]}
    ]
    assert sidecar["Cpu"] == {"CpuShares": 50} and sidecar["Devices"] == []
    assert sidecar["Memory"] == {"MemoryMB": 32, "MemoryMaxMB": 64}
    shared = res["Shared"]
    assert shared["DiskMB"] == 300  # the group's ephemeral disk
    assert shared["Ports"] == [{"Label": "http", "Value": 23456, "To": 8080, "HostIP": "10.0.0.5"}]
    assert shared["Networks"][0]["DynamicPorts"][0]["Value"] == 23456
    # what the tasks hold adds up to what the allocation holds on its node
    full = client.get(f"/v1/allocation/{alloc_id}").json()
    assert server["Cpu"]["CpuShares"] + sidecar["Cpu"]["CpuShares"] == full["Resources"]["CPU"]
    # the job's next version does not change what this allocation holds
    bigger = two_task_job()
    bigger["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] = 900
    backend.register_job(decode_job(bigger))
    again = client.get("/v1/allocations", params={"resources": "1"}).json()[0]
    assert again["AllocatedResources"]["Tasks"]["server"]["Cpu"] == {"CpuShares": 100}


def test_alloc_list_drops_task_states_when_asked(client: TestClient, backend: FakeBackend) -> None:
    place_one(backend)
    backend.apply(
        c.UpdateAllocsFromClient(
            now=NOW,
            updates=[
                c.AllocClientUpdate(
                    id="a" * 36,
                    client_status="running",
                    task_states={"server": TaskState(state="running")},
                )
            ],
        )
    )
    assert client.get("/v1/allocations").json()[0]["TaskStates"]["server"]["State"] == "running"
    row = client.get("/v1/allocations", params={"task_states": "false"}).json()[0]
    assert row["TaskStates"] is None and row["ClientStatus"] == "running"
