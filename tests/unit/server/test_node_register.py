"""Node registration on a real in-memory server: what reaches the Raft log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitorch.core.model import DriverInfo, Node, NodeCpu, NodeMemory, NodeResources, replace
from gitorch.server.server import Server


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory()
    yield s
    s.stop()


def client_node(node_id: str = "n1") -> Node:
    return Node(
        id=node_id,
        name="edge-1",
        drivers={"raw_exec": DriverInfo(detected=True, healthy=True)},
        node_resources=NodeResources(cpu=NodeCpu(cpu_shares=2000), memory=NodeMemory(memory_mb=2048)),
    )


def test_a_client_registering_in_a_loop_writes_the_log_once(server: Server) -> None:
    first = server.register_node(client_node())
    for _ in range(10_000):
        again = server.register_node(client_node())
    assert again.index == first.index
    assert server.fsm.state.index == first.index  # nothing more was written
    assert server.fsm.state.nodes["n1"].status == "ready"


def test_a_changed_registration_is_written(server: Server) -> None:
    first = server.register_node(client_node())
    changed = replace(client_node(), attributes={"driver.docker": "1"})
    second = server.register_node(changed)
    assert second.index > first.index
    assert server.fsm.state.nodes["n1"].attributes == {"driver.docker": "1"}


def test_a_down_node_registering_again_is_marked_ready(server: Server) -> None:
    server.register_node(client_node())
    server._node_expired("n1")
    assert server.fsm.state.nodes["n1"].status == "down"
    server.register_node(client_node())
    assert server.fsm.state.nodes["n1"].status == "ready"


def test_operator_eligibility_survives_a_reregistration(server: Server) -> None:
    server.register_node(client_node())
    server.set_node_eligibility("n1", False)
    server.register_node(client_node())
    assert server.fsm.state.nodes["n1"].scheduling_eligibility == "ineligible"
