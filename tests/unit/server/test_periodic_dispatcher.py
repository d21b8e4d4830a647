"""The leader's periodic dispatcher and dispatch, on an in-memory server with real time:
registration runs nothing, children launch on time, force, prohibit_overlap, a
leadership gap catches up once, two leaders never launch the same due time twice, an
idle dispatcher sleeps, and dispatch checks, meta, payload and idempotency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gitorch.core import periodic
from gitorch.core.model import Job, Task, TaskGroup
from gitorch.core.model.launch import ParameterizedJobConfig, PeriodicConfig
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.periodic import PeriodicDispatcher
from gitorch.server.server import Server

S = 1_000_000_000


def batch(job_id: str, **kw: object) -> Job:
    return Job(
        id=job_id,
        type="batch",
        task_groups=[TaskGroup(name="g", tasks=[Task(name="t", driver="raw_exec")])],
        **kw,  # type: ignore[arg-type]
    )


def every_second(job_id: str = "tick", **kw: object) -> Job:
    return batch(job_id, periodic=PeriodicConfig(spec="* * * * * * *", **kw))  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory(num_workers=1)
    try:
        yield s
    finally:
        s.stop()


def children(server: Server, job_id: str) -> list[Job]:
    return server.state.children("default", job_id)


def wait_until(fn: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_registering_a_parent_runs_nothing(server: Server) -> None:
    resp = server.register_job(batch("yearly", periodic=PeriodicConfig(spec="@yearly")))
    assert resp.eval_id == "" and resp.eval_create_index == 0
    params = ParameterizedJobConfig()
    resp = server.register_job(batch("render", parameterized_job=params))
    assert resp.eval_id == ""
    assert server.state.evals_for_job("default", "yearly") == []
    assert server.state.evals_for_job("default", "render") == []
    job = server.state.job("default", "yearly")
    assert job is not None and server.state.job_status(job) == "running"
    assert server.periodic.next_launch("default", "yearly") is not None
    assert server.periodic.next_launch("default", "render") is None
    stop = server.deregister_job("default", "yearly", purge=False)
    assert stop.eval_id == ""
    assert server.periodic.next_launch("default", "yearly") is None


def test_children_launch_at_each_due_second(server: Server) -> None:
    server.register_job(every_second())
    wait_until(lambda: len(children(server, "tick")) >= 3, 6)
    kids = children(server, "tick")
    for kid in kids:
        due = periodic.launch_of(kid.id)
        assert due is not None
        late = kid.submit_time - due
        assert 0 <= late < 0.5 * S, (kid.id, late)
        assert kid.parent_id == "tick" and kid.periodic is None
        evals = server.state.evals_for_job("default", kid.id)
        assert [e.triggered_by for e in evals][:1] == ["periodic-job"]
    dues = [periodic.launch_of(k.id) for k in kids]
    assert len(set(dues)) == len(dues)


def test_force_launches_now_and_only_an_active_periodic_job(server: Server) -> None:
    server.register_job(batch("nightly", periodic=PeriodicConfig(spec="0 3 * * *")))
    resp = server.force_periodic("default", "nightly")
    assert resp.eval_id and resp.index > 0
    kids = children(server, "nightly")
    assert len(kids) == 1
    assert [e.id for e in server.state.evals_for_job("default", kids[0].id)] == [resp.eval_id]
    server.register_job(batch("plain"))
    with pytest.raises(BadRequestError, match="non-periodic"):
        server.force_periodic("default", "plain")
    with pytest.raises(NotFoundError):
        server.force_periodic("default", "missing")
    disabled = PeriodicConfig(spec="0 3 * * *", enabled=False)
    server.register_job(batch("off", periodic=disabled))
    with pytest.raises(BadRequestError):
        server.force_periodic("default", "off")


def test_prohibit_overlap_skips_while_a_child_runs(server: Server) -> None:
    # No node: the first child's evaluation stays blocked, so the child "runs" on.
    server.register_job(every_second("solo", prohibit_overlap=True))
    server.register_job(every_second("many"))
    wait_until(lambda: len(children(server, "many")) >= 3, 6)
    assert len(children(server, "solo")) == 1


def test_a_leadership_gap_catches_up_once(server: Server) -> None:
    server.register_job(every_second())
    wait_until(lambda: len(children(server, "tick")) >= 1, 3)
    server.set_leader(False)
    before = {k.id for k in children(server, "tick")}
    time.sleep(2.5)  # two or three due times pass with no leader
    assert {k.id for k in children(server, "tick")} == before
    regained = time.time_ns()
    server.set_leader(True)
    wait_until(lambda: len(children(server, "tick")) >= len(before) + 2, 4)
    new = sorted(
        periodic.launch_of(k.id) or 0 for k in children(server, "tick") if k.id not in before
    )
    # one catch-up for the missed due times (launched now), then the schedule again
    missed = [t for t in new if t < regained - S]
    assert missed == [], new
    per_second = [t // S for t in new]
    assert len(per_second) == len(set(per_second))


def test_two_leaders_never_launch_one_due_time_twice(server: Server) -> None:
    """A stale second dispatcher on the same log: the state refuses its duplicates."""
    stale = PeriodicDispatcher(lambda: server.fsm.state, server._submit)
    stale.start()
    try:
        server.register_job(every_second())
        stale.job_changed("default", "tick")
        wait_until(lambda: len(children(server, "tick")) >= 3, 6)
        time.sleep(0.3)
    finally:
        stale.stop()
    for kid in children(server, "tick"):
        evals = server.state.evals_for_job("default", kid.id)
        launches = [e for e in evals if e.triggered_by == "periodic-job"]
        assert len(launches) == 1, (kid.id, evals)
    total = server.periodic.launched + stale.launched
    assert total == len(children(server, "tick"))


def test_an_idle_dispatcher_sleeps_until_the_next_launch(server: Server) -> None:
    for i in range(50):
        server.register_job(batch(f"yearly-{i}", periodic=PeriodicConfig(spec="@yearly")))
    woke = server.periodic.wakeups
    time.sleep(1.0)
    assert server.periodic.wakeups - woke <= 1


def test_a_job_change_retimes_its_launch(server: Server) -> None:
    server.register_job(batch("later", periodic=PeriodicConfig(spec="@yearly")))
    far = server.periodic.next_launch("default", "later")
    server.register_job(every_second("later"))
    near = server.periodic.next_launch("default", "later")
    assert far is not None and near is not None and near < far
    wait_until(lambda: len(children(server, "later")) >= 1, 3)


# -- dispatch -----------------------------------------------------------------------


def render(payload: str = "optional") -> Job:
    return batch(
        "render",
        parameterized_job=ParameterizedJobConfig(
            payload=payload,  # type: ignore[arg-type]
            meta_required=["input"],
            meta_optional=["color"],
        ),
        meta={"owner": "ops"},
    )


def test_dispatch_creates_a_child_with_payload_and_meta(server: Server) -> None:
    server.register_job(render())
    resp = server.dispatch_job("default", "render", b"hello", {"input": "a.png"})
    assert resp.dispatched_job_id.startswith("render/dispatch-")
    assert resp.eval_id and resp.job_create_index > 0
    child = server.state.job("default", resp.dispatched_job_id)
    assert child is not None and child.dispatched and child.parent_id == "render"
    assert child.payload == b"hello" and child.meta == {"owner": "ops", "input": "a.png"}
    assert [e.id for e in server.state.evals_for_job("default", child.id)] == [resp.eval_id]


def test_dispatch_errors_say_why(server: Server) -> None:
    server.register_job(render("required"))
    server.register_job(batch("plain"))
    cases = [
        ("render", b"x", {}, "required meta keys"),
        ("render", b"", {"input": "a"}, "required by parameterized job"),
        ("render", b"x", {"input": "a", "size": "1"}, "unpermitted metadata keys"),
        ("render", b"x" * 20000, {"input": "a"}, "exceeds maximum size; 20000 > 16384"),
        ("plain", b"", {}, "not a parameterized job"),
    ]
    for job_id, payload, meta, why in cases:
        with pytest.raises(BadRequestError, match=why):
            server.dispatch_job("default", job_id, payload, meta)
    with pytest.raises(NotFoundError):
        server.dispatch_job("default", "missing", b"", {})
    assert server.state.children("default", "render") == []


def test_a_repeated_idempotency_token_returns_the_first_dispatch(server: Server) -> None:
    server.register_job(render())
    results: list[str] = []

    def go() -> None:
        r = server.dispatch_job("default", "render", b"", {"input": "a"}, token="once")
        results.append(r.dispatched_job_id)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert len(server.state.children("default", "render")) == 1
    other = server.dispatch_job("default", "render", b"", {"input": "a"}, token="twice")
    assert other.dispatched_job_id != results[0]


def test_catch_up_is_one_launch_now_for_all_missed_due_times() -> None:
    """A leader that starts 10.5 minutes after the last launch of an every-minute job
    launches once, now, covering the first missed due time; a later leader with that
    state has nothing to catch up."""
    from gitorch.core import commands as c
    from gitorch.core.state import ApplyResult, StateStore

    t0 = 1_699_999_980 * S  # a whole minute
    store = StateStore()
    store.apply(
        c.RegisterJob(now=t0, job=batch("minutely", periodic=PeriodicConfig(spec="* * * * *")))
    )
    now = t0 + 630 * S
    submitted: list[c.Command] = []

    def submit(cmd: c.Command) -> ApplyResult:
        submitted.append(cmd)
        return store.apply(cmd)

    first = PeriodicDispatcher(lambda: store, submit, clock=lambda: now)
    first.start()
    try:
        wait_until(lambda: submitted, 3)
        time.sleep(0.2)
    finally:
        first.stop()
    assert len(submitted) == 1
    cmd = submitted[0]
    assert isinstance(cmd, c.LaunchPeriodic)
    assert (cmd.launch, cmd.due, cmd.forced) == (now, t0 + 60 * S, False)
    assert [j.id for j in store.children("default", "minutely")] == [
        f"minutely/periodic-{now // S}"
    ]
    assert first.next_launch("default", "minutely") is None  # stopped: forgets everything

    second = PeriodicDispatcher(lambda: store, submit, clock=lambda: now + S)
    second.start()
    try:
        time.sleep(0.3)
        assert second.next_launch("default", "minutely") == t0 + 660 * S
    finally:
        second.stop()
    assert len(submitted) == 1
