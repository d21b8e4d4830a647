"""Nomad's JobDiff between two versions: changed fields by Nomad name, string maps per key,
string lists as set diffs, blocks as objects, groups and tasks nested, server-set fields
left out; and the CLI's rendering of it."""

from __future__ import annotations

from gitorch.cli.diffformat import format_job_diff
from gitorch.core.jobdiff import job_diff
from gitorch.core.model import Constraint, Job, JobSource, Task, TaskGroup, replace


def job(count: int = 1, env: str = "1", **kw: object) -> Job:
    task = Task(name="app", driver="docker", config={"image": "web:1"}, env={"MODE": env})
    return Job(id="web", task_groups=[TaskGroup(name="api", count=count, tasks=[task])], **kw)  # type: ignore[arg-type]


def test_same_spec_is_none_whatever_the_server_set() -> None:
    a = job()
    b = replace(a, version=3, modify_index=9, submit_time=5, source=JobSource(file="f", commit="c"))
    assert job_diff(a, b).type == "None"


def test_count_and_env_changes_are_named_as_nomad_names_them() -> None:
    d = job_diff(job(1, "1"), job(3, "2"))
    assert d.type == "Edited" and d.fields == [] and d.objects == []
    (tg,) = d.task_groups
    assert (tg.type, tg.name) == ("Edited", "api")
    assert [(f.type, f.name, f.old, f.new) for f in tg.fields] == [("Edited", "Count", "1", "3")]
    (task,) = tg.tasks
    assert [(f.name, f.old, f.new) for f in task.fields] == [("Env[MODE]", "1", "2")]


def test_lists_maps_and_blocks() -> None:
    a = job(datacenters=["dc1"], meta={"team": "a"})
    b = job(
        datacenters=["dc1", "dc2"],
        meta={"team": "b"},
        constraints=[Constraint(ltarget="${attr.kernel.name}", rtarget="linux")],
    )
    b = replace(b, task_groups=[replace(b.task_groups[0], tasks=[
        replace(b.task_groups[0].tasks[0], config={"image": "web:2"})
    ])])  # fmt: skip
    d = job_diff(a, b)
    assert [(f.name, f.old, f.new) for f in d.fields] == [("Meta[team]", "a", "b")]
    by_name = {o.name: o for o in d.objects}
    assert [(f.type, f.new) for f in by_name["Datacenters"].fields] == [("Added", "dc2")]
    assert by_name["Constraint"].type == "Added"
    assert ("RTarget", "linux") in [(f.name, f.new) for f in by_name["Constraint"].fields]
    (cfg,) = d.task_groups[0].tasks[0].objects
    assert (cfg.name, cfg.fields[0].name, cfg.fields[0].new) == ("Config", "image", "web:2")


def test_added_and_deleted_groups_and_jobs() -> None:
    a = job()
    b = replace(a, task_groups=[*a.task_groups, TaskGroup(name="db", count=1)])
    d = job_diff(a, b)
    assert [(g.type, g.name) for g in d.task_groups] == [("Added", "db")]
    assert job_diff(b, a).task_groups[0].type == "Deleted"
    assert job_diff(None, a).type == "Added"


def test_the_cli_prints_markers_names_and_quoted_values() -> None:
    text = format_job_diff(job_diff(job(1, "1"), job(3, "2")))
    lines = text.splitlines()
    assert lines[0] == '+/- Job: "web"'
    assert '+/- Task Group: "api"' in lines
    assert '  +/- Count: "1" => "3"' in lines
    assert '  +/- Task: "app"' in lines
    assert '    +/- Env[MODE]: "1" => "2"' in lines
