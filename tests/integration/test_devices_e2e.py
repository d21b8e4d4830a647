"""Device plugins end to end: a real server (scheduler, plan applier, blocked evals)
and a real client running raw_exec tasks, with an in-process device plugin offering
two ``acme/gpu`` instances (and a broken plugin beside it, which must not matter)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from harness import wait_for

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.localconn import LocalConn
from gitorch.core.model import (
    Job,
    NodeDevice,
    NodeDeviceResource,
    RequestedDevice,
    Resources,
    RestartPolicy,
    Task,
    TaskGroup,
)
from gitorch.plugins.builtin.raw_exec import RawExecDriver
from gitorch.plugins.device import DevicePlugin, Reservation
from gitorch.server.server import Server

pytestmark = pytest.mark.timeout(60)
ENV = "ACME_VISIBLE_DEVICES"


class AcmeGpus(DevicePlugin):
    """``acme/gpu/x1`` instances; a reservation names them in ACME_VISIBLE_DEVICES."""

    name = "acme"

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__({})
        self.ids = list(ids)

    def fingerprint(self) -> list[NodeDeviceResource]:
        instances = [NodeDevice(id=i) for i in self.ids]
        return [NodeDeviceResource(vendor="acme", type="gpu", name="x1", instances=instances)]

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        return Reservation(envs={ENV: ",".join(self.check_ids(device_ids, self.ids))})


class Broken(DevicePlugin):
    name = "broken"

    def fingerprint(self) -> list[NodeDeviceResource]:
        raise OSError("the bus fell off")

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        raise AssertionError("never asked: it has no devices")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server.in_memory(tmp_path / "server", heartbeat_ttl_s=5, heartbeat_grace_s=5)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def acme() -> AcmeGpus:
    return AcmeGpus(["acme-0", "acme-1"])


@pytest.fixture
def client(server: Server, acme: AcmeGpus, tmp_path: Path) -> Iterator[Client]:
    c = Client(
        LocalConn(server),
        ClientOptions(
            data_dir=tmp_path / "client",
            name="gpu-node",
            alloc_wait_s=0.5,
            device_fingerprint_s=0.2,
        ),
        drivers={"raw_exec": RawExecDriver({"enabled": True})},
        devices={"broken": Broken(), "acme": acme},
    )
    c.start()
    wait_for(lambda: server.state.nodes.get(c.node_id), 10, "the node registered")
    try:
        yield c
    finally:
        c.stop(drain=True, timeout=10)


def gpu_job(job_id: str, count: int) -> Job:
    task = Task(
        name="t",
        driver="raw_exec",
        config={"command": "/bin/sh", "args": ["-c", f'echo "{ENV}=${ENV}"']},
        resources=Resources(
            cpu=100, memory_mb=64, devices=[RequestedDevice(name="acme/gpu", count=count)]
        ),
    )
    group = TaskGroup(name="g", tasks=[task], restart_policy=RestartPolicy(attempts=0, mode="fail"))
    return Job(id=job_id, type="batch", task_groups=[group])


def finished_output(server: Server, client: Client, job_id: str) -> tuple[list[str], str]:
    """(the device IDs the scheduler assigned, what the task printed)."""
    alloc = wait_for(
        lambda: next(
            (a for a in server.state.allocs_for_job("default", job_id) if a.client_terminal()),
            None,
        ),
        20,
        f"an allocation of {job_id} to finish",
    )
    assert alloc.client_status == "complete", alloc.task_states
    (dev,) = alloc.allocated_devices["t"]
    assert (dev.vendor, dev.type, dev.name) == ("acme", "gpu", "x1")
    return dev.device_ids, client.log_path(alloc.id, "t", "stdout").read_text()


def test_node_carries_the_plugins_devices_despite_a_broken_plugin(
    server: Server, client: Client
) -> None:
    node = server.state.nodes[client.node_id]
    (group,) = node.node_resources.devices
    assert group.id_string() == "acme/gpu/x1"
    assert [i.id for i in group.instances] == ["acme-0", "acme-1"]
    assert "the bus fell off" in client.devices.errors["broken"]


def test_task_gets_exactly_one_reserved_device_in_its_env(server: Server, client: Client) -> None:
    server.register_job(gpu_job("train", 1))
    ids, output = finished_output(server, client, "train")
    assert len(ids) == 1 and ids[0] in {"acme-0", "acme-1"}
    assert output.strip() == f"{ENV}={ids[0]}"


def test_asking_for_three_blocks_until_a_third_device_appears(
    server: Server, client: Client, acme: AcmeGpus
) -> None:
    eval_id = server.register_job(gpu_job("greedy", 3)).eval_id
    ev = wait_for(
        lambda: (e := server.state.evals.get(eval_id)) is not None and e.terminal() and e,
        10,
        "the evaluation to finish",
    )
    assert ev.failed_tg_allocs["g"].dimension_exhausted == {"devices: acme/gpu": 1}  # one node
    assert ev.blocked_eval
    wait_for(
        lambda: any(e.status == "blocked" for e in server.state.evals_for_job("default", "greedy")),
        10,
        "a blocked evaluation",
    )
    assert server.state.allocs_for_job("default", "greedy") == []

    acme.ids.append("acme-2")  # hot-plugged: the next fingerprint re-registers the node
    wait_for(
        lambda: len(server.state.nodes[client.node_id].node_resources.devices[0].instances) == 3,
        10,
        "the node re-registered with three devices",
    )
    ids, output = finished_output(server, client, "greedy")
    assert sorted(ids) == ["acme-0", "acme-1", "acme-2"]
    assert output.strip() == f"{ENV}={','.join(ids)}"
