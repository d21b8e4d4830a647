"""A task group's ``scaling`` block (Nomad's ScalingPolicy of type "horizontal"): the
bounds and the opaque policy an external autoscaler reads through
``/v1/scaling/policies``; gitorch itself runs ``count`` allocations.

A policy's ID is derived from its target (namespace, job, group), so it stays the same
across the job's versions, and across servers and restarts, as an autoscaler expects.
"""

from __future__ import annotations

import uuid
from typing import Any

from gitorch.core.model.base import Model

HORIZONTAL = "horizontal"
_IDS = uuid.UUID("6f1d7c5e-2b0a-4f7e-9d2c-9a3e5b1c0d47")  # gitorch's uuid5 namespace


class ScalingPolicy(Model, frozen=True, kw_only=True):
    id: str = ""
    type: str = HORIZONTAL
    target: dict[str, str] = {}
    policy: dict[str, Any] = {}
    min: int | None = None  # unset: the group's count
    max: int | None = None  # required
    enabled: bool = True
    create_index: int = 0
    modify_index: int = 0

    @property
    def namespace(self) -> str:
        return self.target.get("Namespace", "")


class ScalingPolicyListStub(Model, frozen=True, kw_only=True):
    id: str
    enabled: bool
    type: str
    target: dict[str, str]
    create_index: int
    modify_index: int


def policy_id(namespace: str, job_id: str, group: str) -> str:
    """The stable ID of the horizontal policy of ``group`` in a job."""
    return str(uuid.uuid5(_IDS, f"{HORIZONTAL}\x00{namespace}\x00{job_id}\x00{group}"))


def target(namespace: str, job_id: str, group: str) -> dict[str, str]:
    return {"Namespace": namespace, "Job": job_id, "Group": group}
