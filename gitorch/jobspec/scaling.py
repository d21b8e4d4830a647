"""A group's ``scaling { min max enabled policy { ... } }`` block (Nomad's horizontal
scaling policy) and its checks: ``max`` is required, ``0 <= min <= max``, and the group's
``count`` (``min`` when the group sets none, as Nomad's) within the bounds.

The ``policy`` block is opaque to Nomad and kept as written for the autoscaler:
attributes as values, nested blocks as lists of their bodies, a labelled block as
``{label: body}`` (how Nomad's HCL decoding spells ``check "name" { ... }``).
"""

from __future__ import annotations

from typing import Any

from gitorch.core.model.job import Job
from gitorch.core.model.scaling import ScalingPolicy
from gitorch.jobspec.hcl import Body
from gitorch.jobspec.reader import BlockReader

Problem = tuple[str, str, str]  # (block path, message, key of the line)


def decode_scaling(c: BlockReader, _: str) -> ScalingPolicy:
    policy: dict[str, Any] = {}
    for block in c.blocks("policy"):
        policy.update(_opaque(block.body))
        c.lines.setdefault(f"{c.path} > policy", block.line)
    has_min = c.body.attributes.get("min") is not None
    return ScalingPolicy(
        min=c.integer("min", 0) if has_min else None,
        max=c.integer("max", -1) if c.body.attributes.get("max") is not None else None,
        enabled=c.boolean("enabled", True),
        policy=policy,
    )


def _opaque(body: Body) -> dict[str, Any]:
    out: dict[str, Any] = {name: a.value for name, a in body.attributes.items()}
    for block in body.blocks:
        inner = _opaque(block.body)
        for label in reversed(block.labels):
            inner = {label: inner}
        out.setdefault(block.type, []).append(inner)
    return out


def scaling_problems(job: Job, where: str) -> list[Problem]:
    found: list[Problem] = []
    for tg in job.task_groups:
        p = tg.scaling
        if p is None:
            continue
        at = f'{where} > group "{tg.name}" > scaling'
        low = p.min if p.min is not None else tg.count
        if p.type != "horizontal":
            found.append((at, f'a group scaling policy is "horizontal", not {p.type!r}', at))
        if p.max is None or p.max < 0:
            found.append((at, "max must be set, to 0 or more", f"{at}.max"))
        elif low > p.max:
            found.append((at, f"max ({p.max}) must not be less than min ({low})", f"{at}.max"))
        if low < 0:
            found.append((at, f"min must be 0 or more, not {low}", f"{at}.min"))
        if tg.count < low:
            msg = f"the group's count ({tg.count}) is less than the scaling min ({low})"
            found.append((at, msg, f'{where} > group "{tg.name}".count'))
        elif p.max is not None and p.max >= 0 and tg.count > p.max:
            msg = f"the group's count ({tg.count}) is more than the scaling max ({p.max})"
            found.append((at, msg, f'{where} > group "{tg.name}".count'))
    return found
