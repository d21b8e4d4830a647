"""Node affinity: scored as Nomad's NodeAffinityIterator, with the limit raised to 100."""

from __future__ import annotations

import pytest

from gitorch.core.model import Affinity, replace
from gitorch.core.scheduler.affinity import NodeAffinity
from gitorch.core.scheduler.select import Selector
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from tests.unit.core.test_scheduler import Cluster, make_job, make_node

SSD = Affinity(ltarget="${meta.disk}", rtarget="ssd", weight=100)


def nodes(n: int, ssd: set[int]) -> Cluster:
    return Cluster(
        *(make_node(f"n{i:02}", meta={"disk": "ssd" if i in ssd else "hdd"}) for i in range(n))
    )


def test_affinity_pulls_placements_onto_matching_nodes() -> None:
    c = nodes(40, {7, 23})
    plan = c.plan(c.register(make_job(count=2, affinities=[SSD])), seed=1)
    assert sorted(p.node_id for p in plan.placements) == ["n07", "n23"]


def test_negative_weight_pushes_placements_away() -> None:
    c = nodes(3, {0, 1})
    avoid = replace(SSD, weight=-100)
    plan = c.plan(c.register(make_job(count=1, kind="batch", affinities=[avoid])), seed=2)
    assert [p.node_id for p in plan.placements] == ["n02"]


def test_group_and_task_affinities_count_and_scores_are_normalised() -> None:
    job = make_job(count=1)
    group = replace(job.task_groups[0], affinities=[SSD])
    task = replace(group.tasks[0], affinities=[replace(SSD, ltarget="${node.class}", rtarget="gpu",
                                                       weight=-50)])  # fmt: skip
    group = replace(group, tasks=[task])
    aff = NodeAffinity.of(job, group)
    assert aff is not None
    assert aff.score(make_node("a", meta={"disk": "ssd"})) == 100 / 150
    assert aff.score(make_node("b", meta={"disk": "ssd"}, node_class="gpu")) == 50 / 150
    assert aff.score(make_node("c", node_class="gpu")) == -50 / 150
    assert NodeAffinity.of(make_job(), make_job().task_groups[0]) is None


def test_limit_is_raised_to_max_of_count_and_100_with_affinities() -> None:
    c = nodes(300, set())
    snap = c.store.snapshot()
    plain = make_job(count=3)
    sel = Selector(snap, plain, [], seed=1, stopping=set())
    assert sel.group(plain, plain.task_groups[0]).limit == sel.limit == 9
    job = make_job(count=3, affinities=[SSD])
    assert sel.group(job, job.task_groups[0]).limit == 100
    big = make_job(count=150, affinities=[SSD])
    assert sel.group(big, big.task_groups[0]).limit == 150


def test_affinity_blocks_decode_at_job_group_and_task() -> None:
    job = parse_text(
        """job "a" {
  affinity {
    attribute = "${meta.disk}"
    value     = "ssd"
    weight    = 70
  }
  group "g" {
    affinity {
      attribute = "${node.class}"
      operator  = "!="
      value     = "slow"
    }
    task "t" {
      driver = "exec"
      affinity {
        attribute = "${attr.kernel.name}"
        regexp    = "lin.*"
        weight    = -20
      }
    }
  }
}
"""
    )
    assert job.affinities == [Affinity(ltarget="${meta.disk}", rtarget="ssd", weight=70)]
    group = job.task_groups[0]
    assert group.affinities == [Affinity(ltarget="${node.class}", rtarget="slow", operand="!=")]
    assert group.tasks[0].affinities == [
        Affinity(ltarget="${attr.kernel.name}", rtarget="lin.*", operand="regexp", weight=-20)
    ]


def test_affinity_weight_out_of_range_is_a_located_error() -> None:
    text = 'job "a" {\n  affinity {\n    attribute = "${meta.x}"\n    value = "y"\n    weight = 150\n  }\n  group "g" {\n    task "t" {\n      driver = "exec"\n    }\n  }\n}\n'
    with pytest.raises(JobspecError, match="weight must be between -100 and 100"):
        parse_text(text, file="a.hcl")


def test_system_jobs_may_not_have_affinities() -> None:
    from gitorch.jobspec.validate import problems

    job = make_job(count=1, kind="system", affinities=[SSD])
    assert any("may not have an affinity" in msg for _, msg in problems(job))
