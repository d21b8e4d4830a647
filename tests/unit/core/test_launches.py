"""Children in the state store: the periodic launch record (registration time first, then
each launch), the refusal of a due time launched before, children by parent, the status
of a parent job, dispatch checks and the dispatched child."""

from __future__ import annotations

import pytest

from gitorch import codec
from gitorch.core import commands as c
from gitorch.core import dispatch, periodic
from gitorch.core.model import Evaluation, Job, Task, TaskGroup, replace
from gitorch.core.model.launch import ParameterizedJobConfig, PeriodicConfig
from gitorch.core.state import StateStore

S = 1_000_000_000
T0 = 1_700_000_000 * S


def job(job_id: str = "report", **kw: object) -> Job:
    fields: dict[str, object] = {
        "type": "batch",
        "task_groups": [TaskGroup(name="g", tasks=[Task(name="t", driver="raw_exec")])],
    }
    fields.update(kw)
    return Job(id=job_id, **fields)  # type: ignore[arg-type]


def periodic_job(**kw: object) -> Job:
    return job(periodic=PeriodicConfig(spec="* * * * * * *"), **kw)


def launch(store: StateStore, parent: Job, at: int, *, due: int = 0, forced: bool = False) -> str:
    child = periodic.derive_child(parent, at)
    ev = Evaluation(id=f"ev-{at}", job_id=child.id, type="batch")
    cmd = c.LaunchPeriodic(now=at, job=child, eval=ev, launch=at, due=due or at, forced=forced)
    return store.apply(cmd).error


def test_registering_a_periodic_job_records_its_registration_time_once() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    record = store.launches.last("default", "report")
    assert record is not None and record.launch == T0
    store.apply(c.RegisterJob(now=T0 + 50 * S, job=periodic_job(priority=60)))
    assert store.launches.last("default", "report").launch == T0  # type: ignore[union-attr]
    store.apply(c.RegisterJob(now=T0, job=job("plain")))
    assert store.launches.last("default", "plain") is None


def test_a_launch_registers_the_child_and_records_the_launch() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None
    assert launch(store, parent, T0 + 2 * S) == ""
    child = store.job("default", f"report/periodic-{T0 // S + 2}")
    assert child is not None and child.parent_id == "report" and child.version == 0
    assert [j.id for j in store.children("default", "report")] == [child.id]
    assert store.launches.last("default", "report").launch == T0 + 2 * S  # type: ignore[union-attr]
    assert [e.job_id for e in store.evals_for_job("default", child.id)] == [child.id]


def test_a_due_time_is_never_launched_twice_and_a_force_always_goes() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None
    assert launch(store, parent, T0 + 2 * S) == ""
    # A second leader (or a stale one) asking for the same due time is refused.
    assert "already launched" in launch(store, parent, T0 + 2 * S)
    # A catch-up launched later for the same due time is refused too.
    assert "already launched" in launch(store, parent, T0 + 9 * S, due=T0 + 2 * S)
    assert len(store.children("default", "report")) == 1
    assert launch(store, parent, T0 + 3 * S, forced=True) == ""
    assert launch(store, parent, T0 + 4 * S) == ""
    assert len(store.children("default", "report")) == 3
    # The record never moves back.
    assert launch(store, parent, T0 + 1 * S, forced=True) == ""
    assert store.launches.last("default", "report").launch == T0 + 4 * S  # type: ignore[union-attr]


def test_launch_of_a_stopped_or_unknown_parent_is_refused() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None
    store.apply(c.DeregisterJob(now=T0, namespace="default", job_id="report"))
    assert "not an active periodic job" in launch(store, parent, T0 + 2 * S)
    assert "not an active periodic job" in launch(store, replace(parent, id="x"), T0 + 2 * S)


def test_parent_status_is_running_until_stopped_and_children_count_in_the_summary() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None and store.job_status(parent) == "running"
    store.apply(c.DeregisterJob(now=T0, namespace="default", job_id="report"))
    stopped = store.job("default", "report")
    assert stopped is not None and store.job_status(stopped) == "dead"


def test_purge_forgets_the_record_and_the_child_index() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None
    launch(store, parent, T0 + 2 * S)
    child_id = f"report/periodic-{T0 // S + 2}"
    store.apply(c.DeregisterJob(now=T0, namespace="default", job_id=child_id, purge=True))
    assert store.children("default", "report") == []
    store.apply(c.DeregisterJob(now=T0, namespace="default", job_id="report", purge=True))
    assert store.launches.last("default", "report") is None


def test_launch_tables_survive_a_snapshot() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    parent = store.job("default", "report")
    assert parent is not None
    launch(store, parent, T0 + 2 * S)
    loaded = StateStore.load(codec.decode_state(codec.encode_state(store.dump())))
    assert loaded.launches.last("default", "report") == store.launches.last("default", "report")
    assert [j.id for j in loaded.children("default", "report")] == [
        j.id for j in store.children("default", "report")
    ]
    # and the log entry round-trips through the codec
    child = periodic.derive_child(parent, T0)
    cmd = c.LaunchPeriodic(now=T0, job=child, launch=T0, due=T0)
    assert codec.decode_command(codec.encode_command(cmd)) == cmd


def test_a_parent_is_never_scheduled() -> None:
    from gitorch.core.scheduler import schedule

    store = StateStore()
    store.apply(c.RegisterJob(now=T0, job=periodic_job()))
    ev = Evaluation(id="e1", job_id="report", type="batch")
    plan = schedule(store.snapshot(), ev, now=T0, seed=1, new_id=lambda: "x")
    assert plan.placements == []


# -- dispatch ---------------------------------------------------------------------------


def parameterized(payload: str = "optional", **kw: object) -> Job:
    return job(
        "render",
        parameterized_job=ParameterizedJobConfig(
            payload=payload,  # type: ignore[arg-type]
            meta_required=["input"],
            meta_optional=["color"],
        ),
        meta={"owner": "ops"},
        **kw,
    )


@pytest.mark.parametrize(
    ("job_", "payload", "meta", "why"),
    [
        (job("plain"), b"", {}, "is not a parameterized job"),
        (parameterized(stop=True), b"", {"input": "a"}, "is stopped"),
        (parameterized("required"), b"", {"input": "a"}, "Payload is not provided but required"),
        (parameterized("forbidden"), b"x", {"input": "a"}, "Payload provided but forbidden"),
        (parameterized(), b"x" * (16 * 1024 + 1), {"input": "a"}, "Payload exceeds maximum size"),
        (parameterized(), b"", {}, "did not provide required meta keys: ['input']"),
        (parameterized(), b"", {"input": "a", "size": "9"}, "unpermitted metadata keys: ['size']"),
    ],
)
def test_dispatch_checks(job_: Job, payload: bytes, meta: dict[str, str], why: str) -> None:
    with pytest.raises(dispatch.DispatchError, match=why.replace("[", r"\[").replace("]", r"\]")):
        dispatch.check(job_, payload, meta)


def test_dispatch_accepts_what_the_block_allows() -> None:
    dispatch.check(parameterized(), b"x" * 16 * 1024, {"input": "a", "color": "red"})
    dispatch.check(parameterized("forbidden"), b"", {"input": "a"})
    with pytest.raises(dispatch.DispatchError, match="IdPrefixTemplate"):
        dispatch.check(parameterized(), b"", {"input": "a"}, id_prefix="a/b")


def test_dispatched_child() -> None:
    parent = parameterized()
    child = dispatch.derive_child(
        parent, b"hello", {"input": "a"}, now=T0, suffix="0a1b2c3d4e5f", token="tok"
    )
    assert child.id == f"render/dispatch-{T0 // S}-0a1b2c3d"
    assert child.parent_id == "render" and child.dispatched and child.payload == b"hello"
    assert child.meta == {"owner": "ops", "input": "a"}
    assert not child.is_parent() and parent.is_parent()
    assert dispatch.child_id("render", T0, "0a1b2c3d", "nightly").startswith(
        "render/dispatch-nightly-"
    )
    assert dispatch.find_by_token([child], "tok") is child
    assert dispatch.find_by_token([child], "") is None
    assert dispatch.find_by_token([child], "other") is None
