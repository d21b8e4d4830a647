"""Dispatching a parameterized job, as pure functions: the checks of a dispatch request
(Nomad's ``validateDispatchRequest``) and the child job it creates.

The ID suffix, the time and the idempotency token come in as arguments, so the same
request gives the same child on every replica.
"""

from __future__ import annotations

import re

from gitorch.core.model import Job, replace
from gitorch.core.model.launch import DISPATCH_PAYLOAD_LIMIT, DISPATCH_SUFFIX

SECOND = 1_000_000_000
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DispatchError(ValueError):
    """A dispatch request the parameterized job refuses, with the reason (HTTP 400)."""


def check(job: Job, payload: bytes, meta: dict[str, str], id_prefix: str = "") -> None:
    """Raise DispatchError when ``job`` cannot be dispatched with this request."""
    config = job.parameterized_job
    if config is None or not job.is_parameterized():
        raise DispatchError(f"Specified job {job.id!r} is not a parameterized job")
    if job.stop:
        raise DispatchError(f"Specified job {job.id!r} is stopped")
    if config.payload == "required" and not payload:
        raise DispatchError("Payload is not provided but required by parameterized job")
    if config.payload == "forbidden" and payload:
        raise DispatchError("Payload provided but forbidden by parameterized job")
    if len(payload) > DISPATCH_PAYLOAD_LIMIT:
        raise DispatchError(
            f"Payload exceeds maximum size; {len(payload)} > {DISPATCH_PAYLOAD_LIMIT}"
        )
    allowed = set(config.meta_required) | set(config.meta_optional)
    unpermitted = sorted(k for k in meta if k not in allowed)
    if unpermitted:
        raise DispatchError(
            f"Dispatch request included unpermitted metadata keys: {unpermitted}"
            + (f" (allowed: {sorted(allowed)})" if allowed else " (the job allows none)")
        )
    missing = sorted(k for k in config.meta_required if k not in meta)
    if missing:
        raise DispatchError(f"Dispatch did not provide required meta keys: {missing}")
    if id_prefix and not _PREFIX.match(id_prefix):
        raise DispatchError(
            "IdPrefixTemplate may hold only letters, digits, '_', '.' and '-' (at most 64)"
        )


def child_id(parent_id: str, now: int, suffix: str, id_prefix: str = "") -> str:
    """Nomad's DispatchedID: ``<parent>/dispatch-[<prefix>-]<unix>-<8 hex>``."""
    prefix = f"{id_prefix}-" if id_prefix else ""
    return f"{parent_id}{DISPATCH_SUFFIX}{prefix}{now // SECOND}-{suffix[:8]}"


def derive_child(
    parent: Job,
    payload: bytes,
    meta: dict[str, str],
    *,
    now: int,
    suffix: str,
    token: str = "",
    id_prefix: str = "",
) -> Job:
    """The dispatched job (Nomad's Job.Dispatch): the parent's spec with the request's
    meta merged into the job's, the payload, ``ParentID`` and ``Dispatched``."""
    new_id = child_id(parent.id, now, suffix, id_prefix)
    return replace(
        parent,
        id=new_id,
        name=new_id,
        parent_id=parent.id,
        dispatched=True,
        dispatch_idempotency_token=token,
        meta={**parent.meta, **meta},
        payload=payload,
        status="pending",
        status_description="",
        version=0,
        stable=False,
        create_index=0,
        modify_index=0,
        job_modify_index=0,
        submit_time=0,
        source=None,
    )


def find_by_token(children: list[Job], token: str) -> Job | None:
    """The child an earlier dispatch with ``token`` created, while it is still in state
    (Nomad returns it instead of dispatching again); None for an empty token."""
    if not token:
        return None
    for child in children:
        if child.dispatch_idempotency_token == token:
            return child
    return None
