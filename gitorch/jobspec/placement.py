"""Placement blocks of a jobspec: ``spread``, ``volume`` and ``volume_mount``.

Each is checked as Nomad's ``Job.Validate`` checks it, with the error at the block's
line: a spread needs an attribute, a weight in 0..100 and
targets whose percentages sum to at most 100; a volume is ``type = "host"`` with a
``source`` (CSI volumes are not supported, so they are an error rather than ignored);
a ``volume_mount`` names a volume its group declares.
"""

from __future__ import annotations

from gitorch.core.model.job import Spread, SpreadTarget, Task, VolumeMount, VolumeRequest
from gitorch.jobspec.reader import BlockReader, each

_PROPAGATION = ("private", "host-to-task", "bidirectional")


def decode_spreads(r: BlockReader) -> list[Spread]:
    """Every ``spread`` block of a job or group."""
    return each(r, "spread", 0, _spread)


def _spread(c: BlockReader, _: str) -> Spread:
    attribute = c.string("attribute")
    weight = c.integer("weight", 50)
    if not attribute:
        c.error('a "spread" block needs an "attribute", such as "${node.datacenter}"', c.body.line)
    if not 0 <= weight <= 100:
        line = c.lines.get(f"{c.path}.weight", c.body.line)
        c.error(f'spread "weight" must be from 0 to 100; got {weight}', line)
    targets = each(c, "target", 1, _target)
    seen: set[str] = set()
    for t in targets:
        if t.value in seen:
            c.error(f'spread target "{t.value}" is given twice', c.body.line)
        seen.add(t.value)
    total = sum(t.percent for t in targets)
    if total > 100:
        c.error(f"the spread targets' percentages add up to {total}; at most 100", c.body.line)
    return Spread(attribute=attribute, weight=weight, spread_target=targets)


def _target(c: BlockReader, value: str) -> SpreadTarget:
    percent = c.integer("percent", 0)
    if not 0 <= percent <= 100:
        line = c.lines.get(f"{c.path}.percent", c.body.line)
        c.error(f'spread target "percent" must be from 0 to 100; got {percent}', line)
    return SpreadTarget(value=value, percent=percent)


def check_distinct(c: BlockReader, operand: str, rtarget: str, *, task: bool) -> None:
    """``distinct_hosts``/``distinct_property`` belong to a job or group, and a
    ``distinct_property`` value is an allowed count of 1 or more (Nomad's rules)."""
    if operand not in ("distinct_hosts", "distinct_property"):
        return
    if task:
        c.error(f"a {operand} constraint belongs to the job or a group, not a task", c.body.line)
    text = rtarget.strip()
    if operand == "distinct_property" and text and (not text.isdigit() or int(text) < 1):
        line = c.lines.get(f"{c.path}.value", c.body.line)
        c.error(f'distinct_property "value" must be a count of 1 or greater; got {text!r}', line)


def decode_volumes(r: BlockReader) -> dict[str, VolumeRequest]:
    """A group's ``volume "name" { ... }`` blocks, by name."""
    return {v.name: v for v in each(r, "volume", 1, _volume)}


def _volume(c: BlockReader, name: str) -> VolumeRequest:
    kind = c.string("type", "host")
    source = c.string("source")
    read_only = c.boolean("read_only")
    for unused in ("access_mode", "attachment_mode", "per_alloc", "sticky"):
        c.asked.add(unused)  # CSI settings: reported below when the type is not host
    c.blocks("mount_options")
    if kind != "host":
        c.error(
            f'volume "{name}": type {kind!r} is not supported; gitorch mounts host volumes '
            '(type = "host", declared by a client\'s host_volume block)',
            c.lines.get(f"{c.path}.type", c.body.line),
        )
    else:
        for csi in ("access_mode", "attachment_mode", "per_alloc", "sticky", "mount_options"):
            if csi in c.body.attributes or c.body.blocks_of(csi):
                msg = f'volume "{name}": "{csi}" is for CSI or dynamic volumes, not supported'
                c.error(msg, c.body.line)
    if not source:
        c.error(f'volume "{name}" needs a "source": the name of a client host_volume', c.body.line)
    return VolumeRequest(name=name, type=kind, source=source, read_only=read_only)


def decode_volume_mounts(r: BlockReader) -> list[VolumeMount]:
    """A task's ``volume_mount`` blocks."""
    return each(r, "volume_mount", 0, _mount)


def _mount(c: BlockReader, _: str) -> VolumeMount:
    volume, destination = c.string("volume"), c.string("destination")
    mode = c.string("propagation_mode", "private")
    if not volume or not destination:
        c.error('a "volume_mount" needs "volume" and "destination"', c.body.line)
    if mode not in _PROPAGATION:
        c.error(
            f'volume_mount "propagation_mode" must be one of {", ".join(_PROPAGATION)}; '
            f"got {mode!r}",
            c.body.line,
        )
    return VolumeMount(
        volume=volume,
        destination=destination,
        read_only=c.boolean("read_only"),
        propagation_mode=mode,
    )


def check_mounts(r: BlockReader, volumes: dict[str, VolumeRequest], tasks: list[Task]) -> None:
    """Each task's ``volume_mount`` names one of the group's volumes (Nomad's rule)."""
    for task in tasks:
        for mount in task.volume_mounts:
            if mount.volume and mount.volume not in volumes:
                known = ", ".join(sorted(volumes)) or "none"
                line = r.lines.get(f'{r.path} > task "{task.name}"', r.body.line)
                r.error(
                    f'task "{task.name}": volume_mount names volume "{mount.volume}", which '
                    f"the group does not declare (declared: {known})",
                    line,
                )
