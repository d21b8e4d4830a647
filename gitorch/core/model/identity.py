"""A task's ``identity`` block: how its workload identity (a JWT the servers sign for
this task of this allocation) is handed to it."""

from __future__ import annotations

from gitorch.core.model.base import Model


class WorkloadIdentity(Model, frozen=True, kw_only=True):
    """``identity { aud env file ttl }``: ``env`` sets ``NOMAD_TOKEN``, ``file`` writes
    ``secrets/nomad_token``; ``audience`` (HCL ``aud``) defaults to Nomad's
    ``nomadproject.io``; ``ttl`` (nanoseconds, 0: no expiry) sets the token's ``exp``."""

    name: str = "default"
    audience: list[str] = []
    env: bool = False
    file: bool = False
    ttl: int = 0
