"""Device requests against a node's fingerprinted devices (Nomad's device allocator).

A request's name is ``type``, ``vendor/type`` or ``vendor/type/model``; it matches a
node's device group (:class:`NodeDeviceResource`) when every part it names is equal.
Among the matching groups that pass the request's constraints and still have ``count``
healthy instances free (not held by live allocations or by the plan being built), the
one whose affinities weigh most wins, first in the node's order on a tie; its first
free instances are assigned. Constraints and affinities read ``${device.model}``,
``${device.vendor}``, ``${device.type}``, ``${device.ids}`` and ``${device.attr.<x>}``
and compare attribute values by meaning, as Nomad's typed attributes do:

- two numbers, with or without a unit, compare by value once scaled to the base unit of
  their family (``2048 MiB`` equals ``2 GiB``, ``1.5 GHz`` equals ``1500 MHz``);
  numbers of different families, or a number with a unit against one without, are not
  comparable;
- otherwise two versions (``470.82.01`` against ``470.5``, ``v1.2.3-beta``) compare
  segment by segment;
- otherwise two strings compare as text; a number against a string does not compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Set

from gitorch.core.model import (
    Affinity,
    AllocatedDevice,
    Constraint,
    Node,
    NodeDeviceResource,
    RequestedDevice,
    TaskGroup,
)
from gitorch.core.scheduler.feasible import compare_versions, parse_version, version_matcher

DeviceKey = tuple[str, str]  # (vendor/type/name of the device group, instance ID)
DeviceCheck = Callable[[NodeDeviceResource], bool]
DeviceOffer = dict[str, list[AllocatedDevice]]  # task name -> its devices
_ATTR = "${device.attr."


# -- attribute values with units ------------------------------------------------------

Quantity = tuple[float, str]  # (value in the family's base unit, family; "" for none)

_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z/]*)\s*")


def _scaled(family: str, base: str, prefixes: dict[str, float]) -> dict[str, Quantity]:
    return {prefix + base: (factor, family) for prefix, factor in prefixes.items()}


_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_IEC = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
UNITS: dict[str, Quantity] = {
    **_scaled("bytes", "B", _SI | _IEC),
    **_scaled("bytes/s", "B/s", _SI | _IEC),
    **_scaled("bits/s", "bps", _SI),
    **_scaled("hertz", "Hz", _SI),
    **_scaled("watts", "W", {**_SI, "m": 1e-3}),
    **_scaled("amperes", "A", {"": 1.0, "m": 1e-3}),
    **_scaled("celsius", "C", {"": 1.0}),
}
"""Unit -> (multiplier to the base unit, family): decimal (KB = 1000 B) and binary
(KiB = 1024 B) byte sizes and rates, bit rates, hertz, watts, amperes, degrees."""


def parse_quantity(text: str) -> Quantity | None:
    """``"1.5 GHz"`` -> ``(1.5e9, "hertz")``; ``"4"`` -> ``(4.0, "")``; None otherwise."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        return None
    unit = m[2]
    if not unit:
        return float(m[1]), ""
    scale = UNITS.get(unit)
    if scale is None:
        return None
    return float(m[1]) * scale[0], scale[1]


def compare(left: str, right: str) -> int | None:
    """-1, 0 or 1 as ``left`` orders against ``right`` (see the module docstring), or
    None when the two cannot be compared."""
    lq, rq = parse_quantity(left), parse_quantity(right)
    if lq is not None and rq is not None:
        if lq[1] != rq[1]:
            return None
        return (lq[0] > rq[0]) - (lq[0] < rq[0])
    lv, rv = parse_version(left, strict=False), parse_version(right, strict=False)
    if lv is not None and rv is not None:
        return compare_versions(lv, rv)
    if lq is not None or rq is not None:
        return None
    return (left > right) - (left < right)


# -- matching requests to device groups --------------------------------------------


def parse_name(name: str) -> tuple[str, str, str]:
    """``(vendor, type, model)`` of a request name; parts it does not name are ""."""
    parts = name.split("/", 2)
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], parts[2]


def matches(wanted: tuple[str, str, str], dev: NodeDeviceResource) -> bool:
    vendor, type_, model = wanted
    return dev.type == type_ and vendor in ("", dev.vendor) and model in ("", dev.name)


def device_value(target: str, dev: NodeDeviceResource) -> str | None:
    """Nomad's resolveDeviceTarget: a literal, or a value of the device group."""
    if not target.startswith("${"):
        return target
    if target.startswith(_ATTR):
        return dev.attributes.get(target[len(_ATTR) :].removesuffix("}"))
    known = {
        "${device.model}": dev.name,
        "${device.vendor}": dev.vendor,
        "${device.type}": dev.type,
        "${device.ids}": ",".join(i.id for i in dev.instances),
    }
    return known.get(target)


def _items(text: str) -> set[str]:
    return {part.strip() for part in text.split(",")}


def _test(operand: str, rtarget: str) -> Callable[[str | None, str | None], bool]:
    """The comparison of one device constraint or affinity, compiled once."""
    if operand in ("=", "==", "is"):
        return lambda lv, rv: lv is not None and rv is not None and compare(lv, rv) == 0
    if operand in ("!=", "not"):
        return lambda lv, rv: lv is None or rv is None or compare(lv, rv) != 0
    if operand in ("<", "<=", ">", ">="):
        want = {"<": (-1,), "<=": (-1, 0), ">": (1,), ">=": (1, 0)}[operand]
        return lambda lv, rv: lv is not None and rv is not None and compare(lv, rv) in want
    if operand == "is_set":
        return lambda lv, rv: lv is not None
    if operand == "is_not_set":
        return lambda lv, rv: lv is None
    if operand in ("set_contains", "set_contains_all"):
        return lambda lv, rv: lv is not None and rv is not None and _items(rv) <= _items(lv)
    if operand == "set_contains_any":
        return lambda lv, rv: lv is not None and rv is not None and bool(_items(rv) & _items(lv))
    if operand == "regexp":
        try:
            pattern = re.compile(rtarget)
        except re.error:
            return lambda lv, rv: False
        return lambda lv, rv: lv is not None and pattern.search(lv) is not None
    if operand in ("version", "semver"):
        matcher = version_matcher(rtarget, strict=operand == "semver")
        if matcher is None:
            return lambda lv, rv: False
        return lambda lv, rv: lv is not None and matcher(lv)
    return lambda lv, rv: False


def compile_check(rule: Constraint | Affinity) -> DeviceCheck:
    """A predicate over device groups for one constraint or affinity."""
    test = _test(rule.operand, rule.rtarget)
    ltarget, rtarget = rule.ltarget, rule.rtarget
    return lambda dev: test(device_value(ltarget, dev), device_value(rtarget, dev))


class DeviceAsk:
    """One task's request for ``count`` instances of one kind of device.

    Whether a device group matches the request and how much its affinities weigh
    depend only on the group's description, not on its usage, so they are memoised
    per description: the nodes of a cluster mostly share a few kinds of device.
    """

    def __init__(self, task: str, req: RequestedDevice) -> None:
        self.task, self.name, self.count = task, req.name, max(req.count, 1)
        self.wanted = parse_name(req.name)
        self.checks = [compile_check(c) for c in req.constraints]
        self.affinities = [(compile_check(a), a.weight) for a in req.affinities]
        self.weight = float(sum(abs(a.weight) for a in req.affinities))
        rules: list[Constraint | Affinity] = [*req.constraints, *req.affinities]
        self.reads_ids = any("${device.ids}" in (r.ltarget, r.rtarget) for r in rules)
        self.memo: dict[Hashable, float | None] = {}

    def _verdict(self, dev: NodeDeviceResource) -> float | None:
        """None when ``dev`` cannot serve the request, else its affinity weight."""
        if not matches(self.wanted, dev) or not all(check(dev) for check in self.checks):
            return None
        return float(sum(w for check, w in self.affinities if check(dev)))

    def choose(
        self, node: Node, held: Set[DeviceKey], mine: Set[DeviceKey]
    ) -> tuple[NodeDeviceResource, list[str], float] | None:
        """The best device group for this request, its free instances (not in ``held``
        or ``mine``), and the summed weight of its matching affinities; None when no
        group has enough free instances."""
        best: tuple[NodeDeviceResource, list[str], float] | None = None
        memo, count = self.memo, self.count
        for dev in node.node_resources.devices:
            key: Hashable = (dev.vendor, dev.type, dev.name, tuple(dev.attributes.items()))
            if self.reads_ids:
                key = (key, tuple(i.id for i in dev.instances))
            if key in memo:
                weight = memo[key]
            else:
                weight = memo[key] = self._verdict(dev)
            if weight is None or (best is not None and weight <= best[2]):
                continue
            if held or mine:
                group = dev.id_string()
                free = [
                    i.id
                    for i in dev.instances
                    if i.healthy and (group, i.id) not in held and (group, i.id) not in mine
                ]
            else:  # a node nothing holds devices on yet: the common first visit
                free = [i.id for i in dev.instances if i.healthy]
            if len(free) >= count:
                best = (dev, free[:count], weight)
        return best


class DeviceAsks:
    """Every device request of a task group, assigned together on one node."""

    def __init__(self, group: TaskGroup) -> None:
        self.asks = [DeviceAsk(t.name, r) for t in group.tasks for r in t.resources.devices]
        self.weight = sum(a.weight for a in self.asks)

    @staticmethod
    def of(group: TaskGroup) -> DeviceAsks | None:
        wanted = any(t.resources.devices for t in group.tasks)
        return DeviceAsks(group) if wanted else None

    def offer(self, node: Node, held: Set[DeviceKey]) -> tuple[str, float, DeviceOffer]:
        """(the exhausted dimension or "", the device affinity score in -1..1, the
        devices per task); the score is Nomad's matched weight over total weight."""
        mine: set[DeviceKey] = set()
        out: DeviceOffer = {}
        matched = 0.0
        for ask in self.asks:
            found = ask.choose(node, held, mine)
            if found is None:
                return f"devices: {ask.name}", 0.0, {}
            dev, ids, weight = found
            group = dev.id_string()
            mine.update((group, i) for i in ids)
            matched += weight
            picked = AllocatedDevice(
                vendor=dev.vendor, type=dev.type, name=dev.name, device_ids=ids
            )
            out.setdefault(ask.task, []).append(picked)
        return "", matched / self.weight if self.weight else 0.0, out


def device_keys(devices: dict[str, list[AllocatedDevice]]) -> Iterable[DeviceKey]:
    """The (group, instance) keys an allocation's or placement's devices hold."""
    for assigned in devices.values():
        for d in assigned:
            group = f"{d.vendor}/{d.type}/{d.name}"
            for device_id in d.device_ids:
                yield group, device_id


def healthy_keys(node: Node) -> set[DeviceKey]:
    """Every healthy device instance of ``node``."""
    return {
        (dev.id_string(), inst.id)
        for dev in node.node_resources.devices
        for inst in dev.instances
        if inst.healthy
    }
