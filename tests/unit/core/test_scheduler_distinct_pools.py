"""distinct_property (with a limit, job and group scope) and node pools in placement."""

from __future__ import annotations

from collections import Counter

import pytest

from gitorch.core.model import AllocMetric, Constraint, Plan, replace
from gitorch.core.scheduler.nodediff import targeted
from gitorch.core.scheduler.pools import pool_names
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from tests.unit.core.test_scheduler import Cluster, make_job, make_node

RACK = "${meta.rack}"


def racks(layout: dict[str, int]) -> Cluster:
    return Cluster(
        *(make_node(f"{r}-{i}", meta={"rack": r}) for r, n in layout.items() for i in range(n))
    )


def per_rack(c: Cluster) -> Counter[str]:
    snap = c.store.snapshot()
    return Counter(
        snap.nodes[a.node_id].meta["rack"] for a in snap.allocs.values() if not a.terminal()
    )


def failed(plan: Plan) -> dict[str, AllocMetric]:
    assert plan.eval_update is not None
    return plan.eval_update.failed_tg_allocs


def distinct(limit: str = "") -> Constraint:
    return Constraint(ltarget=RACK, rtarget=limit, operand="distinct_property")


def test_distinct_property_limit_caps_each_value_and_explains_the_rest() -> None:
    c = racks({"a": 3, "b": 3})
    ev = c.register(make_job(count=5, constraints=[distinct("2")]))
    plan = c.run(ev)
    assert per_rack(c) == {"a": 2, "b": 2}
    metric = failed(plan)["g"]
    assert metric.constraint_filtered == {
        "distinct_property: ${meta.rack}=a used by 2 allocs": 3,
        "distinct_property: ${meta.rack}=b used by 2 allocs": 3,
    }


def test_distinct_property_defaults_to_one_and_filters_nodes_missing_it() -> None:
    c = Cluster(make_node("a-1", meta={"rack": "a"}), make_node("a-2", meta={"rack": "a"}),
                make_node("bare"))  # fmt: skip
    group = replace(make_job(count=2).task_groups[0], constraints=[distinct()])
    plan = c.run(c.register(make_job(count=2, task_groups=[group])))
    assert per_rack(c) == {"a": 1}
    assert 'missing property "${meta.rack}"' in failed(plan)["g"].constraint_filtered


def test_job_level_distinct_property_counts_every_group() -> None:
    c = racks({"a": 2, "b": 2})
    job = make_job(count=1, constraints=[distinct()])
    other = replace(job.task_groups[0], name="h")
    c.run(c.register(replace(job, task_groups=[job.task_groups[0], other])))
    assert per_rack(c) == {"a": 1, "b": 1}


def test_a_second_evaluation_counts_running_allocations() -> None:
    c = racks({"a": 2, "b": 2})
    job = make_job(count=1, constraints=[distinct()])
    c.run(c.register(job))
    grown = replace(job, task_groups=[replace(job.task_groups[0], count=3)])
    plan = c.run(c.register(grown))
    assert per_rack(c) == {"a": 1, "b": 1}
    assert failed(plan)["g"].coalesced_failures == 0


def test_jobs_run_only_in_their_node_pool() -> None:
    c = Cluster(make_node("d1"), make_node("g1", node_pool="gpu"), make_node("g2", node_pool="gpu"))
    c.run(c.register(make_job(count=2, node_pool="gpu")))
    snap = c.store.snapshot()
    assert sorted(a.node_id for a in snap.allocs.values()) == ["g1", "g2"]
    c2 = Cluster(make_node("d1"), make_node("g1", node_pool="gpu"))
    plan = c2.run(c2.register(make_job(count=2)))  # the default pool: d1 only
    assert [p.node_id for p in plan.placements] == ["d1"] or {
        p.node_id for p in plan.placements
    } == {"d1"}
    everywhere = Cluster(make_node("d1"), make_node("g1", node_pool="gpu"))
    plan = everywhere.run(everywhere.register(make_job(count=2, node_pool="all")))
    assert {p.node_id for p in plan.placements} == {"d1", "g1"}


def test_system_jobs_target_the_pool_and_pools_are_listed() -> None:
    nodes = [make_node("d1"), make_node("g1", node_pool="gpu")]
    assert [n.id for n in targeted(nodes, ["*"], "gpu")] == ["g1"]
    assert [n.id for n in targeted(nodes, ["*"], "default")] == ["d1"]
    assert [n.id for n in targeted(nodes, ["*"], "all")] == ["d1", "g1"]
    assert pool_names(nodes) == ["all", "default", "gpu"]


def test_jobspec_decodes_spread_pool_and_distinct_property() -> None:
    job = parse_text(
        """job "a" {
  node_pool = "gpu"
  spread {
    attribute = "${node.datacenter}"
    weight    = 80
    target "east" { percent = 60 }
    target "west" { percent = 40 }
  }
  group "g" {
    constraint {
      distinct_property = "${meta.rack}"
      value             = "2"
    }
    spread { attribute = "${meta.rack}" }
    task "t" { driver = "exec" }
  }
}""",
        file="a.nomad.hcl",
    )
    assert job.node_pool == "gpu"
    assert job.spreads[0].weight == 80
    assert [(t.value, t.percent) for t in job.spreads[0].spread_target] == [
        ("east", 60),
        ("west", 40),
    ]
    group = job.task_groups[0]
    assert group.spreads[0].attribute == "${meta.rack}" and group.spreads[0].weight == 50
    assert group.constraints == [distinct("2")]


@pytest.mark.parametrize(
    ("block", "message", "line"),
    [
        ("spread {\n weight = 10\n }", 'needs an "attribute"', 3),
        ('spread {\n attribute = "${node.datacenter}"\n weight = 101\n }', "from 0 to 100", 5),
        (
            'spread {\n attribute = "x"\n target "a" { percent = 70 }\n'
            ' target "b" { percent = 40 }\n }',
            "add up to 110",
            3,
        ),
        (
            'constraint {\n distinct_property = "${meta.rack}"\n value = "0"\n }',
            "1 or greater",
            5,
        ),
    ],
)
def test_bad_placement_blocks_are_located_errors(block: str, message: str, line: int) -> None:
    text = f'job "a" {{\n group "g" {{\n {block}\n task "t" {{ driver = "exec" }}\n }}\n}}'
    with pytest.raises(JobspecError) as err:
        parse_text(text, file="bad.nomad.hcl")
    assert message in str(err.value) and f"bad.nomad.hcl:{line}:" in str(err.value)


def test_distinct_constraints_in_a_task_are_an_error() -> None:
    text = """job "a" {
  group "g" {
    task "t" {
      driver = "exec"
      constraint { distinct_hosts = true }
    }
  }
}"""
    with pytest.raises(JobspecError, match="belongs to the job or a group"):
        parse_text(text, file="t.nomad.hcl")
