"""What keeps a server's collector pauses short at a million allocations: its state's
values are not tracked by the cyclic GC (only the persistent maps' nodes are), and a
server process collects its young generation rarely."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gitorch.core.model import AllocatedPort, Allocation, Resources
from gitorch.server.gcpolicy import YOUNG, tune_for_large_state


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_a_server_process_collects_its_young_generation_rarely(thresholds: None) -> None:
    tune_for_large_state()
    assert gc.get_threshold()[0] == YOUNG >= 10_000


def test_allocations_are_not_tracked_by_the_collector() -> None:
    plain = Allocation(id="a", name="j.g[0]", resources=Resources(cpu=20))
    ported = Allocation(
        id="b", name="j.g[1]", allocated_ports=(AllocatedPort(label="http", value=8080),)
    )
    # A million allocations once meant three million tracked objects and a 4 s full
    # collection: longer than a Raft election timeout.
    assert not gc.is_tracked(plain)
    assert not gc.is_tracked(plain.resources)
    assert plain.allocated_ports == () and not gc.is_tracked(plain.allocated_ports)
    assert not gc.is_tracked(ported)
