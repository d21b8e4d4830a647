"""A node's CPU is ``Cpu`` on the wire, as Nomad spells it; ``CPU``, as gitorch wrote it
before, is still read (Raft logs, dumps, older clients) and never written again."""

from __future__ import annotations

from typing import Any

import msgspec

from gitorch.codec import decode_command, decode_state, encode_command, encode_state, to_json
from gitorch.core import commands as c
from gitorch.core.model import Node, NodeCpu, NodeMemory, NodeResources
from gitorch.core.state import StateStore

NODE = Node(
    id="5c9b0a51-44f6-4a0e-9c1f-0d6f1f2a3b4c",
    name="n1",
    status="ready",
    node_resources=NodeResources(cpu=NodeCpu(cpu_shares=4000), memory=NodeMemory(memory_mb=8192)),
    reserved_resources=NodeResources(cpu=NodeCpu(cpu_shares=250)),
)


def respell(value: Any, old: str, new: str) -> Any:
    """``value`` (decoded msgpack) with every map key ``old`` renamed ``new``."""
    if isinstance(value, dict):
        return {(new if k == old else k): respell(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [respell(v, old, new) for v in value]
    return value


def test_node_json_spells_cpu_as_nomad_does() -> None:
    body = msgspec.json.decode(to_json(NODE))
    assert body["NodeResources"]["Cpu"] == {"CpuShares": 4000}
    assert body["ReservedResources"]["Cpu"] == {"CpuShares": 250}
    assert "CPU" not in body["NodeResources"] and "CPU" not in body["ReservedResources"]


def test_old_spelling_is_read_from_json_and_wins_only_over_nothing() -> None:
    old = msgspec.json.decode(b'{"CPU": {"CpuShares": 700}}', type=NodeResources)
    assert old.cpu == NodeCpu(cpu_shares=700)
    assert old == NodeResources(cpu=NodeCpu(cpu_shares=700))  # nothing left behind
    assert b"CPU" not in to_json(old)
    both = b'{"Cpu": {"CpuShares": 900}, "CPU": {"CpuShares": 700}}'
    assert msgspec.json.decode(both, type=NodeResources).cpu.cpu_shares == 900


def test_raft_log_entry_written_with_old_spelling_keeps_the_cpu() -> None:
    entry = encode_command(c.RegisterNode(now=1, node=NODE))
    raw = msgspec.msgpack.decode(entry[1:])
    old = entry[:1] + msgspec.msgpack.encode(respell(raw, "Cpu", "CPU"))
    assert b"\xa3Cpu" not in old and b"\xa3CPU" in old  # msgpack str keys of length 3
    cmd = decode_command(old)
    assert isinstance(cmd, c.RegisterNode)
    assert cmd.node == NODE


def test_dump_written_with_old_spelling_restores_the_cpu() -> None:
    store = StateStore()
    store.apply(c.RegisterNode(now=1, node=NODE))
    data = encode_state(store.dump())
    old = data[:1] + msgspec.msgpack.encode(respell(msgspec.msgpack.decode(data[1:]), "Cpu", "CPU"))
    restored = StateStore.load(decode_state(old))
    node = restored.snapshot().nodes[NODE.id]
    assert node.node_resources.cpu.cpu_shares == 4000
    assert node.reserved_resources.cpu.cpu_shares == 250
    assert restored.snapshot().node_usage(NODE.id) is not None
