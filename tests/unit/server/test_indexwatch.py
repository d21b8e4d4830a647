"""Blocking-query waiters: woken only by the tables they wait on and only when ready,
never lost between their test and their registration, and holding no thread each."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gitorch.core import commands as c
from gitorch.core.model import Node
from gitorch.server.fsm import Fsm
from gitorch.server.indexwatch import IndexWatch

pytestmark = pytest.mark.timeout(30)


def test_only_ready_waiters_on_a_moved_table_wake() -> None:
    watch, value = IndexWatch(), {"n": 0}

    async def main() -> list[str]:
        woke: list[str] = []

        async def waiter(name: str, tables: tuple[str, ...], at_least: int) -> None:
            await watch.wait(tables, lambda: value["n"] >= at_least, 5)
            woke.append(name)

        tasks = [
            asyncio.create_task(waiter("jobs-1", ("jobs",), 1)),
            asyncio.create_task(waiter("jobs-2", ("jobs",), 2)),
            asyncio.create_task(waiter("nodes-1", ("nodes",), 1)),
        ]
        await asyncio.sleep(0.05)
        assert watch.waiting() == 3
        value["n"] = 1
        watch.changed(["jobs"])  # nodes-1 is ready too, but its table did not move
        await asyncio.sleep(0.05)
        assert woke == ["jobs-1"] and watch.waiting() == 2
        value["n"] = 2
        watch.changed(["jobs", "nodes"])
        await asyncio.gather(*tasks)
        assert watch.waiting() == 0
        return woke

    assert sorted(asyncio.run(main())) == ["jobs-1", "jobs-2", "nodes-1"]


def test_a_waiter_times_out_and_unregisters() -> None:
    watch = IndexWatch()

    async def main() -> float:
        start = time.monotonic()
        await watch.wait(("jobs",), lambda: False, 0.2)
        return time.monotonic() - start

    assert 0.15 < asyncio.run(main()) < 2
    assert watch.waiting() == 0


def test_a_change_between_test_and_wait_is_not_lost() -> None:
    """The state moves before the waiter registers: its own test sees it."""
    watch = IndexWatch()
    fsm_index = {"n": 5}
    done = threading.Event()

    def waiter() -> None:
        watch.wait_sync(("allocs",), lambda: fsm_index["n"] > 4, 10)
        done.set()

    threading.Thread(target=waiter, daemon=True).start()
    assert done.wait(2)


def test_ten_thousand_async_waiters_use_no_threads_and_one_change_wakes_them() -> None:
    fsm = Fsm()
    fsm.apply(c.RegisterNode(now=1, node=Node(id="n1", name="n1")))
    index = fsm.table_max(("nodes",))
    before = threading.active_count()

    async def main() -> float:
        waits = [
            asyncio.create_task(fsm.wait_index_async(("nodes",), index, 20)) for _ in range(10_000)
        ]
        deadline = time.monotonic() + 15  # each task registers on its first step
        while fsm.watch.waiting() < 10_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert fsm.watch.waiting() == 10_000
        assert threading.active_count() == before  # no thread parked per waiter
        start = time.monotonic()
        await asyncio.to_thread(fsm.apply, c.RegisterNode(now=2, node=Node(id="n2", name="n2")))
        results = await asyncio.gather(*waits)
        assert set(results) == {index + 1}
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    assert elapsed < 10  # all answered (a generous bound: the figure is a benchmark's)
    assert fsm.watch.waiting() == 0
