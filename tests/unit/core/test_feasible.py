"""Feasibility: datacenter globs, targets, Nomad's constraint operators, drivers, caching."""

from __future__ import annotations

import pytest

from gitorch.core.model import Constraint, DriverInfo, Job, Node, Task, TaskGroup, replace
from gitorch.core.model.node import compute_class
from gitorch.core.scheduler.feasible import (
    MISSING_DRIVERS,
    Feasibility,
    compare_versions,
    compile_constraint,
    distinct_hosts,
    driver_ok,
    glob_match,
    in_datacenters,
    parse_version,
    resolve_target,
    version_matcher,
)

NODE = Node(
    id="node-1",
    name="alpha",
    datacenter="eu-west-1",
    node_class="gpu",
    node_pool="batchy",
    attributes={
        "kernel.name": "linux",
        "cpu.numcores": "16",
        "os.version": "12.4",
        "nomad.version": "1.8.2",
        "tags": "ssd, fast,arm",
        "unique.hostname": "alpha.local",
    },
    meta={"rack": "r7"},
    drivers={"exec": DriverInfo(detected=True, healthy=True)},
)


def holds(ltarget: str, operand: str, rtarget: str, node: Node = NODE) -> bool:
    con = Constraint(ltarget=ltarget, operand=operand, rtarget=rtarget)
    return compile_constraint(con)(node)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "anything", True),
        ("dc1", "dc1", True),
        ("dc1", "dc10", False),
        ("dc*", "dc10", True),
        ("*-1", "eu-west-1", True),
        ("eu-*-1", "eu-west-1", True),
        ("eu-*-2", "eu-west-1", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),
    ],
)
def test_glob_match_follows_nomads_star_only_globs(
    pattern: str, value: str, expected: bool
) -> None:
    assert glob_match(pattern, value) is expected


def test_in_datacenters() -> None:
    assert in_datacenters(["*"])("x")
    match = in_datacenters(["us-*", "dc1"])
    assert match("us-east") and match("dc1") and not match("dc2")


def test_resolve_target_reads_node_fields_attributes_meta_and_literals() -> None:
    assert resolve_target("linux", NODE) == ("linux", True)
    assert resolve_target("${node.unique.id}", NODE) == ("node-1", True)
    assert resolve_target("${node.unique.name}", NODE) == ("alpha", True)
    assert resolve_target("${node.datacenter}", NODE) == ("eu-west-1", True)
    assert resolve_target("${node.class}", NODE) == ("gpu", True)
    assert resolve_target("${node.pool}", NODE) == ("batchy", True)
    assert resolve_target("${attr.kernel.name}", NODE) == ("linux", True)
    assert resolve_target("${meta.rack}", NODE) == ("r7", True)
    assert resolve_target("${attr.nope}", NODE) == (None, False)
    assert resolve_target("${nonsense}", NODE) == (None, False)


def test_equality_operators() -> None:
    for op in ("=", "==", "is"):
        assert holds("${attr.kernel.name}", op, "linux")
        assert not holds("${attr.kernel.name}", op, "windows")
        assert not holds("${attr.missing}", op, "linux")
    for op in ("!=", "not"):
        assert holds("${attr.kernel.name}", op, "windows")
        assert not holds("${attr.kernel.name}", op, "linux")
        assert holds("${attr.missing}", op, "linux")  # Nomad: nil != "linux"


def test_order_operators_compare_numbers_then_strings() -> None:
    assert holds("${attr.cpu.numcores}", ">", "8")  # 16 > 8 numerically, not lexically
    assert holds("${attr.cpu.numcores}", ">=", "16")
    assert not holds("${attr.cpu.numcores}", "<", "9")
    assert holds("${attr.os.version}", "<", "12.5")
    assert holds("${meta.rack}", "<", "r8")
    assert holds("${meta.rack}", "<=", "r7")
    assert not holds("${attr.missing}", "<", "100")


def test_regexp_searches_like_go() -> None:
    assert holds("${node.datacenter}", "regexp", "west")
    assert holds("${node.datacenter}", "regexp", "^eu-")
    assert not holds("${node.datacenter}", "regexp", "^west")
    assert not holds("${node.datacenter}", "regexp", "([")  # a bad pattern filters the node


def test_version_constraints_like_go_version() -> None:
    assert holds("${attr.nomad.version}", "version", ">= 1.2, < 2.0")
    assert holds("${attr.nomad.version}", "version", "~> 1.8")
    assert holds("${attr.nomad.version}", "version", "~> 1.8.0")
    assert not holds("${attr.nomad.version}", "version", "~> 1.7.0")
    assert holds("${attr.os.version}", "version", "> 12")  # lenient: two segments
    assert not holds("${attr.nomad.version}", "version", "garbage")
    beta = replace(NODE, attributes={"v": "1.9.0-beta1"})
    assert not holds("${attr.v}", "version", ">= 1.0", beta)  # needs a prerelease base
    assert holds("${attr.v}", "version", ">= 1.9.0-alpha", beta)
    assert not holds("${attr.v}", "version", ">= 1.8.0-alpha", beta)
    assert holds("${attr.v}", "semver", ">= 1.0.0", beta)  # semver: plain precedence
    assert not holds("${attr.v}", "semver", ">= 1.9.0", beta)


def test_semver_is_strict() -> None:
    assert parse_version("1.2", strict=True) is None
    assert parse_version("1.2", strict=False) == ((1, 2, 0), "", 2)
    assert version_matcher("~> 1.2.0", strict=True) is None
    assert holds("${attr.nomad.version}", "semver", "= 1.8.2")
    assert not holds("${attr.os.version}", "semver", ">= 1.0.0")


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("1.0.0-alpha", "1.0.0-alpha.1", -1),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta", -1),
        ("1.0.0-beta.2", "1.0.0-beta.11", -1),
        ("1.0.0-rc.1", "1.0.0", -1),
        ("1.0.0+build", "1.0.0", 0),
        ("2.0.0", "1.99.99", 1),
    ],
)
def test_semver_precedence(a: str, b: str, order: int) -> None:
    va, vb = parse_version(a, strict=True), parse_version(b, strict=True)
    assert va is not None and vb is not None
    assert compare_versions(va, vb) == order


def test_set_operators() -> None:
    assert holds("${attr.tags}", "set_contains", "ssd,fast")
    assert holds("${attr.tags}", "set_contains_all", "arm")
    assert not holds("${attr.tags}", "set_contains_all", "ssd,gpu")
    assert holds("${attr.tags}", "set_contains_any", "gpu, arm")
    assert not holds("${attr.tags}", "set_contains_any", "gpu")


def test_presence_and_unknown_operators() -> None:
    assert holds("${meta.rack}", "is_set", "")
    assert holds("${meta.zone}", "is_not_set", "")
    assert not holds("${meta.rack}", "is_not_set", "")
    assert not holds("${meta.rack}", "frobnicate", "x")


def test_driver_check_uses_driver_info_then_attribute() -> None:
    assert driver_ok(NODE, "exec")
    sick = replace(NODE, drivers={"exec": DriverInfo(detected=True, healthy=False)})
    assert not driver_ok(sick, "exec")
    legacy = replace(NODE, drivers={}, attributes={"driver.docker": "1"})
    assert driver_ok(legacy, "docker") and not driver_ok(legacy, "exec")


def group_job(*constraints: Constraint, driver: str = "exec") -> tuple[Job, TaskGroup]:
    task = Task(name="t", driver=driver, constraints=list(constraints))
    group = TaskGroup(name="g", tasks=[task])
    return Job(id="j", task_groups=[group]), group


def test_feasibility_reports_missing_drivers_and_constraint_keys() -> None:
    job, group = group_job(driver="docker")
    assert Feasibility(job, group).reason(NODE) == MISSING_DRIVERS
    con = Constraint(ltarget="${attr.kernel.name}", rtarget="windows")
    job, group = group_job(con)
    assert Feasibility(job, group).reason(NODE) == "${attr.kernel.name} = windows"
    job = replace(job, constraints=[Constraint(ltarget="${meta.rack}", rtarget="r7")])
    assert Feasibility(job, group).reason(NODE) == "${attr.kernel.name} = windows"
    job, group = group_job(Constraint(ltarget="${meta.rack}", rtarget="r7"))
    assert Feasibility(job, group).reason(NODE) == ""


def test_unique_targets_are_checked_per_node_despite_a_shared_class() -> None:
    con = Constraint(ltarget="${node.unique.name}", operand="!=", rtarget="alpha")
    job, group = group_job(con)
    feas = Feasibility(job, group)
    twin = replace(NODE, id="node-2", name="beta")
    assert feas.reason(NODE) == "${node.unique.name} != alpha"
    assert feas.reason(twin) == ""


def test_verdicts_are_cached_per_class() -> None:
    job, group = group_job(Constraint(ltarget="${attr.kernel.name}", rtarget="linux"))
    feas = Feasibility(job, group)
    for i in range(5):
        unique = dict(NODE.attributes, **{"unique.hostname": f"h{i}"})
        assert feas.reason(replace(NODE, id=f"n{i}", attributes=unique)) == ""
    assert len(feas.by_class) == 1


def test_a_stored_computed_class_is_trusted_as_the_cache_key() -> None:
    job, group = group_job(Constraint(ltarget="${attr.kernel.name}", rtarget="linux"))
    feas = Feasibility(job, group)
    cls = compute_class(NODE)
    assert feas.reason(replace(NODE, computed_class=cls)) == ""
    assert list(feas.by_class) == [cls]
    foreign = replace(NODE, computed_class="not-ours", attributes={"kernel.name": "plan9"})
    assert feas.reason(foreign) != ""  # only v1: classes are trusted


def test_compute_class_ignores_unique_values_and_order() -> None:
    other = replace(
        NODE,
        id="node-2",
        name="beta",
        attributes=dict(reversed(list({**NODE.attributes, "unique.hostname": "b"}.items()))),
    )
    assert compute_class(NODE) == compute_class(other)
    assert compute_class(NODE).startswith("v1:")
    assert compute_class(NODE) != compute_class(replace(NODE, meta={"rack": "r8"}))
    sick = replace(NODE, drivers={"exec": DriverInfo(detected=True, healthy=False)})
    assert compute_class(NODE) != compute_class(sick)


def test_distinct_hosts_flag() -> None:
    assert distinct_hosts([Constraint(operand="distinct_hosts")])
    assert distinct_hosts([Constraint(operand="distinct_hosts", rtarget="true")])
    assert not distinct_hosts([Constraint(operand="distinct_hosts", rtarget="false")])
    assert not distinct_hosts([Constraint(ltarget="a", rtarget="b")])
