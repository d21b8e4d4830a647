"""Feasibility: may a task group run on a node? Nomad's checkers, cached per node class.

Checks that never read a ``unique.*`` value (drivers, constraints on ``${attr.x}``,
``${meta.x}``, ``${node.class}``...) give the same answer for every node of one
computed class, so they run once per class per evaluation; checks on ``unique.*``
targets run per node. ``distinct_hosts`` is enforced by the selector, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable

from gitorch.core.model import Constraint, Job, Node, TaskGroup
from gitorch.core.model.node import CLASS_PREFIX
from gitorch.core.scheduler.network import missing_host_networks
from gitorch.core.scheduler.volumes import MISSING_HOST_VOLUMES, host_volume_check

MISSING_DRIVERS = "missing drivers"
DISTINCT_HOSTS = "distinct_hosts"
_ESCAPING = ("${node.unique.", "${attr.unique.", "${meta.unique.")
_NODE_TARGETS: dict[str, Callable[[Node], str]] = {
    "${node.unique.id}": lambda n: n.id,
    "${node.datacenter}": lambda n: n.datacenter,
    "${node.unique.name}": lambda n: n.name,
    "${node.class}": lambda n: n.node_class,
    "${node.pool}": lambda n: n.node_pool,
}
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_VERSION = re.compile(
    r"v?(?P<num>\d+(?:\.\d+)*)"
    r"(?:-?(?P<pre>(?<=-)[0-9A-Za-z~-]+(?:\.[0-9A-Za-z~-]+)*|[A-Za-z~-][0-9A-Za-z~-]*"
    r"(?:\.[0-9A-Za-z~-]+)*))?(?:\+(?P<meta>[0-9A-Za-z~-]+(?:\.[0-9A-Za-z~-]+)*))?"
)
_SEMVER = re.compile(
    r"v?(?P<num>\d+\.\d+\.\d+)(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<meta>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
_VERSION_OP = re.compile(r"\s*(~>|>=|<=|!=|==|=|>|<)?\s*(\S+)\s*")

Version = tuple[tuple[int, ...], str, int]  # (segments padded to 3, prerelease, specified)


def glob_match(pattern: str, value: str) -> bool:
    """Nomad's datacenter glob: ``*`` matches any run of characters, nothing else is special."""
    if "*" not in pattern:
        return pattern == value
    first, *middle, last = pattern.split("*")
    if not value.startswith(first) or not value.endswith(last):
        return False
    pos, end = len(first), len(value) - len(last)
    for part in middle:
        found = value.find(part, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return pos <= end


def in_datacenters(datacenters: Iterable[str]) -> Callable[[str], bool]:
    """A memoised predicate: is a datacenter name matched by any of the job's patterns?"""
    patterns = list(datacenters)
    if "*" in patterns:
        return lambda _dc: True
    memo: dict[str, bool] = {}

    def match(dc: str) -> bool:
        hit = memo.get(dc)
        if hit is None:
            hit = memo[dc] = any(glob_match(p, dc) for p in patterns)
        return hit

    return match


def resolve_target(target: str, node: Node) -> tuple[str | None, bool]:
    """Nomad's resolveTarget: a literal, or a node value; (None, False) when absent."""
    if not target.startswith("${"):
        return target, True
    getter = _NODE_TARGETS.get(target)
    if getter is not None:
        return getter(node), True
    for prefix, table in (("${attr.", node.attributes), ("${meta.", node.meta)):
        if target.startswith(prefix):
            value = table.get(target[len(prefix) :].removesuffix("}"))
            return value, value is not None
    return None, False


def parse_version(text: str, *, strict: bool) -> Version | None:
    """Parse a go-version (lenient) or semver (strict) version string."""
    m = (_SEMVER if strict else _VERSION).fullmatch(text.strip())
    if m is None:
        return None
    nums = tuple(int(x) for x in m["num"].split("."))
    return nums + (0,) * (3 - len(nums)), m["pre"] or "", len(nums)


def _cmp_prerelease(a: str, b: str) -> int:
    if a == b:
        return 0
    if not a or not b:
        return -1 if b == "" else 1
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(a.split(".")) > len(b.split("."))) - (len(a.split(".")) < len(b.split(".")))


def compare_versions(a: Version, b: Version) -> int:
    """-1, 0 or 1 as semver orders ``a`` against ``b`` (build metadata ignored)."""
    sa, sb = a[0], b[0]
    width = max(len(sa), len(sb))
    sa, sb = sa + (0,) * (width - len(sa)), sb + (0,) * (width - len(sb))
    if sa != sb:
        return -1 if sa < sb else 1
    return _cmp_prerelease(a[1], b[1])


def _pessimistic(v: Version, c: Version) -> bool:
    if c[1] and not v[1] or compare_versions(v, c) < 0:
        return False
    n = c[2]
    return v[0][: n - 1] == c[0][: n - 1] and v[0][n - 1] >= c[0][n - 1]


_ORDER: dict[str, Callable[[int], bool]] = {
    "": lambda r: r == 0,
    "=": lambda r: r == 0,
    "==": lambda r: r == 0,
    "!=": lambda r: r != 0,
    ">": lambda r: r > 0,
    "<": lambda r: r < 0,
    ">=": lambda r: r >= 0,
    "<=": lambda r: r <= 0,
}


def version_matcher(spec: str, *, strict: bool) -> Callable[[str], bool] | None:
    """Compile a constraint such as ``>= 1.2, < 2.0`` (``~>`` for go-version only)."""
    checks: list[Callable[[Version], bool]] = []
    for part in spec.split(","):
        m = _VERSION_OP.fullmatch(part)
        want = parse_version(m[2], strict=strict) if m else None
        if m is None or want is None or (strict and m[1] == "~>"):
            return None
        op = m[1] or "="
        checks.append(_version_check(op, want, strict))

    def match(text: str) -> bool:
        have = parse_version(text, strict=strict)
        return have is not None and all(check(have) for check in checks)

    return match


def _version_check(op: str, want: Version, strict: bool) -> Callable[[Version], bool]:
    if op == "~>":
        return lambda v: _pessimistic(v, want)
    order = _ORDER[op]
    if strict or op in ("=", "==", "!="):
        return lambda v: order(compare_versions(v, want))

    def check(v: Version) -> bool:
        # go-version: a prerelease only matches a constraint on the same prerelease base
        if v[1] and (not want[1] or v[0] != want[0]):
            return False
        return order(compare_versions(v, want))

    return check


def _number(text: str) -> float | None:
    if _INT.fullmatch(text):
        return int(text)
    return float(text) if _FLOAT.fullmatch(text) else None


def _order(op: str, left: str, right: str) -> bool:
    ln, rn = _number(left), _number(right)
    if ln is not None and rn is not None:
        return _ORDER[op](0 if ln == rn else (-1 if ln < rn else 1))
    return _ORDER[op](0 if left == right else (-1 if left < right else 1))


def _items(text: str) -> set[str]:
    return {part.strip() for part in text.split(",")}


def _operator(con: Constraint) -> Callable[[str | None, str | None], bool]:
    """The comparison for one constraint, compiled once (regexps and versions included)."""
    op = con.operand
    if op in ("=", "==", "is"):
        return lambda lv, rv: lv is not None and rv is not None and lv == rv
    if op in ("!=", "not"):
        return lambda lv, rv: lv != rv
    if op in ("<", "<=", ">", ">="):
        return lambda lv, rv: lv is not None and rv is not None and _order(op, lv, rv)
    if op == "is_set":
        return lambda lv, rv: lv is not None
    if op == "is_not_set":
        return lambda lv, rv: lv is None
    if op in ("set_contains", "set_contains_all"):
        return lambda lv, rv: lv is not None and rv is not None and _items(rv) <= _items(lv)
    if op == "set_contains_any":
        return lambda lv, rv: lv is not None and rv is not None and bool(_items(rv) & _items(lv))
    if op == "regexp":
        try:
            pattern = re.compile(con.rtarget)
        except re.error:
            return lambda lv, rv: False
        return lambda lv, rv: lv is not None and pattern.search(lv) is not None
    if op in ("version", "semver"):
        matcher = version_matcher(con.rtarget, strict=op == "semver")
        if matcher is None:
            return lambda lv, rv: False
        return lambda lv, rv: lv is not None and matcher(lv)
    return lambda lv, rv: False  # unknown operand: Nomad filters the node


def escapes(con: Constraint) -> bool:
    """Does the constraint read a ``unique.*`` value (so it cannot be cached per class)?"""
    return con.ltarget.startswith(_ESCAPING) or con.rtarget.startswith(_ESCAPING)


def compile_constraint(con: Constraint) -> Callable[[Node], bool]:
    """A predicate over nodes for one constraint."""
    test = _operator(con)
    ltarget, rtarget = con.ltarget, con.rtarget

    def check(node: Node) -> bool:
        lv, _ = resolve_target(ltarget, node)
        rv, _ = resolve_target(rtarget, node)
        return test(lv, rv)

    return check


def driver_ok(node: Node, driver: str) -> bool:
    """Nomad's DriverChecker: a detected healthy driver, or attribute ``driver.<name>``."""
    return _driver_reader(driver)(node)


def _driver_reader(driver: str) -> Callable[[Node], bool]:
    flag = f"driver.{driver}"

    def healthy(node: Node) -> bool:
        info = node.drivers.get(driver)
        if info is not None:
            return info.healthy
        return node.attributes.get(flag, "").lower() in ("1", "true", "t")

    return healthy


def reader(target: str) -> Callable[[Node], str | None] | None:
    """A getter for the node value a target names; None for literals (they never vary)."""
    if not target.startswith("${"):
        return None
    getter = _NODE_TARGETS.get(target)
    if getter is not None:
        return getter
    for prefix, meta in (("${attr.", False), ("${meta.", True)):
        if target.startswith(prefix):
            name = target[len(prefix) :].removesuffix("}")
            if meta:
                return lambda node: node.meta.get(name)
            return lambda node: node.attributes.get(name)
    return None


class Feasibility:
    """All of one task group's checks, cached per node class for one evaluation.

    The class is the node's stored ``computed_class`` when it has one; otherwise it is
    the tuple of node values that the class-level checks read (driver health and the
    non-unique targets), which costs O(checks) per node instead of hashing every
    attribute, and groups nodes at least as coarsely as Nomad's computed class.
    """

    def __init__(self, job: Job, group: TaskGroup) -> None:
        cons = [*job.constraints, *group.constraints]
        cons += [c for task in group.tasks for c in task.constraints]
        cons = [c for c in cons if c.operand not in (DISTINCT_HOSTS, "distinct_property")]
        self.drivers = sorted({task.driver for task in group.tasks})
        self.class_checks = [(c.describe(), compile_constraint(c)) for c in cons if not escapes(c)]
        self.node_checks = [(c.describe(), compile_constraint(c)) for c in cons if escapes(c)]
        self.class_checks += [(why, _never) for why in missing_host_networks(group)]
        volumes = host_volume_check(group)
        if volumes is not None:
            self.node_checks.append((MISSING_HOST_VOLUMES, volumes))
        reads: list[Callable[[Node], object]] = [_driver_reader(d) for d in self.drivers]
        for con in cons:
            if not escapes(con):
                reads += [r for r in (reader(con.ltarget), reader(con.rtarget)) if r is not None]
        self.reads = reads
        self.by_class: dict[Hashable, str] = {}

    def reason(self, node: Node) -> str:
        """Why the node is infeasible (a ConstraintFiltered key), or "" when it is feasible."""
        stored = node.computed_class
        key: Hashable = stored
        if not stored.startswith(CLASS_PREFIX):
            key = tuple([read(node) for read in self.reads])
        why = self.by_class.get(key)
        if why is None:
            why = self.by_class[key] = self._class_reason(node)
        if why or not self.node_checks:
            return why
        for name, check in self.node_checks:
            if not check(node):
                return name
        return ""

    def _class_reason(self, node: Node) -> str:
        for driver in self.drivers:
            if not driver_ok(node, driver):
                return MISSING_DRIVERS
        for name, check in self.class_checks:
            if not check(node):
                return name
        return ""


def _never(_node: Node) -> bool:
    return False


def distinct_hosts(constraints: Iterable[Constraint]) -> bool:
    """Is a ``distinct_hosts`` constraint among these (and not disabled with "false")?"""
    return any(
        c.operand == DISTINCT_HOSTS and c.rtarget.strip().lower() not in ("false", "0", "f")
        for c in constraints
    )
