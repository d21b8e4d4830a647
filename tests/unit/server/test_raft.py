"""gitorch.server.raft against real pysyncobj nodes on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from gitorch.server.raft import MAX_ENTRY_BYTES, NotLeaderError, RaftError, RaftNode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class Fsm:
    """A list of entries; entries starting with b"fail" make apply raise."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.restores = 0
        self.leading: list[bool] = []

    def apply(self, entry: bytes) -> int:
        if entry.startswith(b"fail"):
            raise ValueError(f"rejected {entry!r}")
        self.entries.append(entry)
        return len(self.entries)

    def snapshot(self) -> bytes:
        return msgspec.msgpack.encode(self.entries)

    def restore(self, data: bytes) -> None:
        self.entries = msgspec.msgpack.decode(data, type=list[bytes])
        self.restores += 1


class Cluster:
    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.addrs = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.nodes: dict[str, RaftNode] = {}
        self.fsms: dict[str, Fsm] = {}

    def start(self, addr: str, fsm: Fsm | None = None) -> RaftNode:
        fsm = fsm or Fsm()
        node = RaftNode(
            addr,
            self.addrs,
            self.root / addr.replace(":", "_"),
            fsm.apply,
            fsm.snapshot,
            fsm.restore,
            on_leader_change=fsm.leading.append,
        )
        self.nodes[addr], self.fsms[addr] = node, fsm
        return node

    def start_all(self) -> None:
        for addr in self.addrs:
            self.start(addr)

    def stop(self, addr: str) -> None:
        self.nodes.pop(addr).close()

    def leader(self, timeout: float = 10.0) -> RaftNode:
        def one() -> bool:
            return [n.is_leader() for n in self.nodes.values()].count(True) == 1

        assert wait_for(one, timeout), "no single leader elected"
        node = next(n for n in self.nodes.values() if n.is_leader())
        assert node.wait_ready(timeout)
        assert wait_for(lambda: all(n.leader() == node.leader() for n in self.nodes.values()))
        return node

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()
        self.nodes.clear()


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[[int], Cluster]]:
    made: list[Cluster] = []

    def make(size: int) -> Cluster:
        made.append(Cluster(tmp_path / f"c{len(made)}", size))
        return made[-1]

    try:
        yield make
    finally:
        for cluster in made:
            cluster.close()


def test_single_node_applies_in_order_and_survives_fsm_errors(
    cluster_factory: Callable[[int], Cluster],
) -> None:
    c = cluster_factory(1)
    c.start_all()
    node, fsm = c.leader(), c.fsms[c.addrs[0]]
    assert [node.submit(b"e%d" % i) for i in range(20)] == list(range(1, 21))
    with pytest.raises(ValueError, match="rejected"):
        node.submit(b"fail-1")
    assert node.submit(b"after") == 21
    assert fsm.entries == [b"e%d" % i for i in range(20)] + [b"after"]
    assert node.peers() == c.addrs and node.leader() == c.addrs[0]
    assert wait_for(lambda: fsm.leading == [True])
    with pytest.raises(ValueError):
        node.submit(b"")
    with pytest.raises(ValueError):
        node.submit(b"x" * (MAX_ENTRY_BYTES + 1))
    c.stop(c.addrs[0])
    assert fsm.leading == [True, False]
    with pytest.raises(RaftError):
        node.submit(b"closed")


def test_three_nodes_replicate_in_one_order(cluster_factory: Callable[[int], Cluster]) -> None:
    c = cluster_factory(3)
    c.start_all()
    leader = c.leader()
    follower = next(n for n in c.nodes.values() if n is not leader)
    with pytest.raises(NotLeaderError) as err:
        follower.submit(b"nope")
    assert err.value.leader == leader.leader() == follower.leader()

    results: dict[bytes, int] = {}

    def writer(w: int) -> None:  # concurrent submits share frames (group commit)
        for i in range(40):
            entry = b"w%d-%d" % (w, i)
            result = leader.submit(entry)
            assert isinstance(result, int)
            results[entry] = result

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pytest.raises(ValueError):
        leader.submit(b"fail-in-a-cluster")
    leader.submit(b"last")
    lead_entries = c.fsms[leader._addr].entries
    assert len(lead_entries) == 321
    assert all(lead_entries[n - 1] == e for e, n in results.items())  # each got its own result
    assert wait_for(lambda: all(f.entries == lead_entries for f in c.fsms.values()))
    assert all(n.peers() == sorted(c.addrs) for n in c.nodes.values())
    assert all(n.wait_ready(5) for n in c.nodes.values())


def test_restart_replays_journal_and_restores_dump(
    cluster_factory: Callable[[int], Cluster],
) -> None:
    c = cluster_factory(1)
    addr = c.addrs[0]
    node = c.start(addr)
    c.leader()
    for i in range(50):
        node.submit(b"a%d" % i)
    c.stop(addr)
    node = c.start(addr)  # journal only
    c.leader()
    assert c.fsms[addr].entries == [b"a%d" % i for i in range(50)]
    assert c.fsms[addr].restores == 0
    assert node.compact(timeout=10)
    for i in range(50):
        node.submit(b"b%d" % i)
    expected = list(c.fsms[addr].entries)
    c.stop(addr)
    node = c.start(addr)  # dump + the journal after it
    c.leader()
    assert c.fsms[addr].restores == 1
    assert c.fsms[addr].entries == expected
    assert len(expected) == 100
    assert node.submit(b"more") == 101


def test_corrupt_dump_refuses_service(cluster_factory: Callable[[int], Cluster]) -> None:
    c = cluster_factory(1)
    addr = c.addrs[0]
    (c.root / addr.replace(":", "_")).mkdir(parents=True)
    (c.root / addr.replace(":", "_") / "raft.dump").write_bytes(b"\x1f\x8bpickle?")
    node = c.start(addr)
    assert not node.wait_ready(3)
    with pytest.raises(RaftError, match="not a gitorch Raft dump"):
        node.submit(b"x")


def test_failed_fork_is_retried_at_the_next_compaction(
    cluster_factory: Callable[[int], Cluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    c = cluster_factory(1)
    node = c.start(c.addrs[0])
    c.leader()
    node.submit(b"one")

    def no_fork() -> int:
        raise OSError("no memory")

    with monkeypatch.context() as m:
        m.setattr(os, "fork", no_fork)
        assert not node.compact(timeout=3)
    node.submit(b"two")
    assert node.compact(timeout=10)


def test_failing_snapshot_keeps_the_log(
    cluster_factory: Callable[[int], Cluster], caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenSnapshot(Fsm):
        def snapshot(self) -> bytes:
            raise ZeroDivisionError("snapshot")

    c = cluster_factory(1)
    node = c.start(c.addrs[0], BrokenSnapshot())
    c.leader()
    node.submit(b"one")
    assert not node.compact(timeout=3)
    assert "ZeroDivisionError" in caplog.text
    assert node.submit(b"two") == 2


def test_200_kb_entry_replicates(cluster_factory: Callable[[int], Cluster]) -> None:
    c = cluster_factory(3)
    c.start_all()
    leader = c.leader()
    big = bytes(range(256)) * 800  # ~200 KB: a 1,000-allocation plan
    for i in range(3):
        leader.submit(big + b"%d" % i)
    want = [big + b"%d" % i for i in range(3)]
    assert wait_for(lambda: all(f.entries == want for f in c.fsms.values()))


def test_leader_loss_elects_a_new_leader_and_keeps_writes(
    cluster_factory: Callable[[int], Cluster],
) -> None:
    c = cluster_factory(3)
    c.start_all()
    old = c.leader()
    acked = [b"k%d" % i for i in range(30)]
    for entry in acked:
        old.submit(entry)
    old_addr = old.leader()
    assert old_addr is not None
    c.stop(old_addr)
    t0 = time.monotonic()
    new = c.leader(timeout=10)
    elected_in = time.monotonic() - t0
    assert new.leader() != old_addr and elected_in < 5, elected_in
    new.submit(b"after-failover")
    assert wait_for(
        lambda: all(
            f.entries == [*acked, b"after-failover"] for a, f in c.fsms.items() if a != old_addr
        )
    )
    assert wait_for(lambda: c.fsms[new._addr].leading[-1:] == [True])


def test_lagging_follower_gets_the_leaders_dump(cluster_factory: Callable[[int], Cluster]) -> None:
    c = cluster_factory(3)
    c.start_all()
    leader = c.leader()
    lagging = next(a for a in c.addrs if a != leader.leader())
    c.stop(lagging)
    for i in range(30):
        leader.submit(b"d%d" % i)
    # Neither log reaches back to what it lacks (the restarted node may call an election
    # before it hears from the leader, so the other node can end up leading).
    assert all(n.compact(timeout=10) for n in c.nodes.values())
    leader.submit(b"tail")
    fsm = Fsm()
    c.start(lagging, fsm)  # same data dir: its journal is behind the leader's dump
    want = [b"d%d" % i for i in range(30)] + [b"tail"]
    assert wait_for(lambda: fsm.entries == want, timeout=15)
    assert fsm.restores >= 1  # twice if leadership moved while it caught up
