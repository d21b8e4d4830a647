"""The job_submission table: a register's source stored under the version the job got,
stamped with the job's IDs; bounded to the versions kept; dropped on purge; carried by a
snapshot dump (and so by Raft snapshots and `operator snapshot` restores)."""

from __future__ import annotations

import msgspec

from gitorch.core import commands as c
from gitorch.core.model import Job, Task, TaskGroup
from gitorch.core.model.submission import MAX_SOURCE_BYTES, JobSubmission, submission_problem
from gitorch.core.state import MAX_VERSIONS, StateStore
from gitorch.core.statedump import StateDump


def job(count: int = 1, job_id: str = "web") -> Job:
    tasks = [Task(name="t", driver="raw_exec")]
    return Job(id=job_id, task_groups=[TaskGroup(name="g", count=count, tasks=tasks)])


def sub(text: str) -> JobSubmission:
    return JobSubmission(source=text, format="hcl2", variable_flags={"n": "1"})


def register(store: StateStore, j: Job, s: JobSubmission | None) -> None:
    store.apply(c.RegisterJob(now=1, job=j, submission=s))


def test_a_submission_is_stored_under_the_version_the_job_got() -> None:
    store = StateStore()
    register(store, job(1), sub("count = 1"))
    register(store, job(2), sub("count = 2"))
    got = store.submissions.get("default", "web", 1)
    assert got is not None
    assert (got.source, got.version, got.job_id, got.namespace) == (
        "count = 2",
        1,
        "web",
        "default",
    )
    assert got.job_modify_index == store.job("default", "web").job_modify_index  # type: ignore[union-attr]
    first = store.submissions.get("default", "web", 0)
    assert first is not None and first.source == "count = 1"
    assert first.variable_flags == {"n": "1"}


def test_a_register_without_a_source_stores_none_and_keeps_the_others() -> None:
    store = StateStore()
    register(store, job(1), sub("a"))
    register(store, job(2), None)
    assert store.submissions.get("default", "web", 1) is None
    assert store.submissions.versions("default", "web") == [0]


def test_only_kept_versions_keep_their_submissions() -> None:
    store = StateStore()
    for n in range(1, MAX_VERSIONS + 4):
        register(store, job(n), sub(f"count = {n}"))
    kept = [j.version for j in store.job_versions("default", "web")]
    assert sorted(kept) == store.submissions.versions("default", "web")
    assert len(kept) == MAX_VERSIONS
    assert store.submissions.get("default", "web", 0) is None


def test_a_stop_that_pushes_out_a_version_drops_its_submission() -> None:
    store = StateStore()
    for n in range(1, MAX_VERSIONS + 1):
        register(store, job(n), sub(f"count = {n}"))
    assert store.submissions.get("default", "web", 0) is not None
    store.apply(c.DeregisterJob(now=2, namespace="default", job_id="web"))
    assert store.submissions.get("default", "web", 0) is None
    assert len(store.submissions.versions("default", "web")) == MAX_VERSIONS - 1


def test_purge_drops_every_submission_of_the_job_only() -> None:
    store = StateStore()
    register(store, job(1), sub("a"))
    register(store, job(1, "other"), sub("b"))
    store.apply(c.DeregisterJob(now=2, namespace="default", job_id="web", purge=True))
    assert store.submissions.versions("default", "web") == []
    assert store.submissions.get("default", "other", 0) is not None


def test_submissions_survive_a_dump_and_load_and_a_snapshot_is_a_view() -> None:
    store = StateStore()
    register(store, job(1), sub("job x {}"))
    snap = store.snapshot()
    register(store, job(2), sub("job y {}"))
    assert snap.submissions.versions("default", "web") == [0]
    raw = msgspec.msgpack.encode(store.dump())
    loaded = StateStore.load(msgspec.msgpack.decode(raw, type=StateDump))
    assert loaded.submissions.get("default", "web", 1) == store.submissions.get("default", "web", 1)


def test_an_old_dump_without_submissions_loads() -> None:
    raw = msgspec.msgpack.encode(StateStore().dump())
    old = msgspec.msgpack.decode(raw)
    del old["submissions"]
    loaded = StateStore.load(msgspec.msgpack.decode(msgspec.msgpack.encode(old), type=StateDump))
    assert loaded.submissions.dump() == []


def test_the_size_cap_counts_source_variables_and_flags_and_names_the_size() -> None:
    ok = JobSubmission(source="x" * (MAX_SOURCE_BYTES - 10), variables="y" * 5)
    assert submission_problem(ok) == ""
    big = JobSubmission(source="x" * MAX_SOURCE_BYTES, variable_flags={"k": "v"})
    problem = submission_problem(big)
    assert f"{MAX_SOURCE_BYTES + 2} bytes" in problem and "exceeds" in problem
    assert "Format" in submission_problem(JobSubmission(source="x", format="yaml"))
