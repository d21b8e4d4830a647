"""GitOps day two on plain values: depends_on checks and holds, suspensions kept across
sync records and snapshots, the bounded history, and a batch job that goes back to
earlier content running again."""

from __future__ import annotations

from gitorch.core import commands as c
from gitorch.core import dependson
from gitorch.core.desired import Change, DesiredJob
from gitorch.core.model import Allocation, GitSync, Job, Resources, Task, TaskGroup, replace
from gitorch.core.model.gitops import MAX_HISTORY
from gitorch.core.scheduler.reconcile import reconcile
from gitorch.core.state import StateStore
from gitorch.gitsync.history import add_history


def job(job_id: str, depends: str = "") -> Job:
    meta = {dependson.META_KEY: depends} if depends else {}
    return Job(id=job_id, meta=meta)


def wanted(*jobs: Job) -> list[DesiredJob]:
    return [DesiredJob(job=j, file=f"jobs/{j.id}.nomad.hcl") for j in jobs]


def test_dependencies_are_read_from_meta_trimmed_and_once() -> None:
    assert dependson.dependencies(job("a", " db, cache ,db,")) == ["db", "cache"]
    assert dependson.dependencies(job("a")) == []


def test_a_cycle_is_an_error_on_each_file_naming_the_files() -> None:
    ok, errors = dependson.check(
        wanted(job("a", "b"), job("b", "c"), job("c", "a"), job("d", "a")),
        registered=set(),
        line_of=lambda f: 7 if f.endswith("b.nomad.hcl") else 1,
    )
    assert [d.job.id for d in ok] == ["d"]  # d depends on a cycle member: held later, no error
    by_file = {e.file: e for e in errors}
    assert set(by_file) == {"jobs/a.nomad.hcl", "jobs/b.nomad.hcl", "jobs/c.nomad.hcl"}
    b = by_file["jobs/b.nomad.hcl"]
    assert b.line == 7 and b.message.startswith("jobs/b.nomad.hcl:7: gitorch.depends_on cycle: ")
    for name in ("a (jobs/a.nomad.hcl)", "b (jobs/b.nomad.hcl)", "c (jobs/c.nomad.hcl)"):
        assert name in b.message


def test_a_missing_dependency_or_itself_is_an_error() -> None:
    ok, errors = dependson.check(
        wanted(job("a", "ghost"), job("b", "b"), job("c", "manual")), registered={"manual"}
    )
    assert [d.job.id for d in ok] == ["c"]  # a job registered by hand is a fine dependency
    messages = sorted(e.message for e in errors)
    assert "depends on job 'ghost', which no file declares" in messages[0]
    assert "depends on itself" in messages[1]


def change(j: Job, action: str) -> Change:
    return Change(action=action, namespace="default", job_id=j.id, file="f", job=j, version=1)  # type: ignore[arg-type]


def test_a_job_is_held_until_its_dependency_is_unchanged_and_healthy() -> None:
    db, api = job("db"), job("api", "db")
    held = dependson.hold(
        [change(db, "update"), change(api, "update")], {"db": "healthy"}, "c0ffee" * 7
    )
    assert [ch.action for ch in held] == ["update", "held"]
    assert held[1].detail == "waiting for db to be healthy at commit c0ffeec0ffee"
    assert held[1].version == 0  # nothing new is registered
    progressing = dependson.hold(
        [change(db, "unchanged"), change(api, "update")], {"db": "progressing"}, "c"
    )
    assert progressing[1].action == "held"
    ready = dependson.hold([change(db, "unchanged"), change(api, "update")], {"db": "healthy"}, "c")
    assert ready[1].action == "update"


def test_suspensions_survive_sync_records_and_snapshots() -> None:
    store = StateStore()
    store.apply(c.RecordGitSync(now=1, sync=GitSync(commit="a", files={"f": "web"})))
    store.apply(c.SetGitopsSuspend(now=2, job_id="web", suspended=True))
    store.apply(c.RecordGitSync(now=3, sync=GitSync(commit="b", files={"f": "web"})))
    assert store.gitsync.commit == "b" and store.gitsync.suspended == ["web"]
    restored = StateStore.load(store.dump())
    assert restored.gitsync.suspended == ["web"]
    restored.apply(c.SetGitopsSuspend(now=4, job_id="web", suspended=False))
    assert restored.gitsync.suspended == []
    assert store.snapshot().gitsync.suspended == ["web"]


def test_history_records_what_changed_skips_idle_polls_and_keeps_fifty() -> None:
    sync = GitSync()
    upd = [Change(action="update", namespace="default", job_id="web", file="f", version=3)]
    same = [Change(action="unchanged", namespace="default", job_id="web", file="f")]
    for i in range(MAX_HISTORY + 5):
        sync = replace(sync, history=add_history(sync, f"c{i}", i, "", upd, 0))
    assert len(sync.history) == MAX_HISTORY
    assert sync.history[0].commit == "c5" and sync.history[-1].commit == f"c{MAX_HISTORY + 4}"
    last = sync.history[-1]
    assert last.changes[0].job_id == "web" and last.result == "ok"
    idle = add_history(sync, last.commit, 999, "", same, 0)
    assert idle == sync.history  # a poll that changed nothing at the same commit adds nothing
    failing = add_history(sync, last.commit, 1000, "", same, 2)
    assert failing[-1].result == "errors" and failing[-1].errors == 2


def batch(version: int, arg: str) -> Job:
    task = Task(name="t", driver="raw_exec", config={"args": [arg]}, resources=Resources(cpu=10))
    return Job(
        id="j",
        type="batch",
        version=version,
        task_groups=[TaskGroup(name="g", count=1, tasks=[task])],
    )


def test_a_batch_job_back_at_earlier_content_runs_again() -> None:
    v0, v1, v2 = batch(0, "a"), batch(1, "b"), batch(2, "a")
    done = [
        Allocation(id=f"a{v}", name="j.g[0]", job_id="j", task_group="g", node_id="n",
                   job_version=v, client_status="complete", create_index=v)
        for v in (0, 1)
    ]  # fmt: skip
    rec = reconcile(v2, done, {}, {0: v0, 1: v1, 2: v2}, now=0)
    assert [p.index for p in rec.places] == [0]
    # without a change in between, finished work stays finished
    rec = reconcile(replace(v0, version=1), done[:1], {}, {0: v0}, now=0)
    assert rec.places == []
