"""Workload identities: the one import of ``jwt`` (PyJWT).

The servers sign one JWT per task with the Ed25519 half of the active root key (EdDSA,
``kid`` = the root key's ID) and publish every root key's public half at
``/.well-known/jwks.json``. Claims are Nomad's: ``nomad_namespace``, ``nomad_job_id``,
``nomad_allocation_id``, ``nomad_task``, ``sub``, ``aud``, ``iat``, ``nbf``, a ``jti``,
and ``exp`` when the ``identity`` block sets a ``ttl``.

``verify`` accepts a token only when its signature verifies against a root key in the
state, it has not expired, and its allocation still exists and is not terminal (a
stopped task's token stops working, as in Nomad). Refusals say why without echoing the
token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt

from gitorch.core.model.variable import RootKey
from gitorch.core.state import StateView
from gitorch.core.workload import WorkloadClaims
from gitorch.errors import BadRequestError, NotFoundError, PermissionDeniedError
from gitorch.server.keyring import Keyring, jwk, public_pem

DEFAULT_AUDIENCE = "nomadproject.io"
ALGORITHM = "EdDSA"
NS = 1_000_000_000


def looks_like_jwt(token: str) -> bool:
    """A presented token that is a JWT (ACL secrets are UUIDs: no dots)."""
    return token.count(".") == 2 and token.startswith("eyJ")


class IdentitySigner:
    def __init__(
        self,
        state: Callable[[], StateView],
        keyring: Keyring,
        active_key: Callable[[], RootKey],
        *,
        region: str = "global",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._keyring = keyring
        self._active_key = active_key
        self._region = region
        self.clock = clock

    def sign(
        self,
        alloc_id: str,
        task: str,
        *,
        node_id: str = "",
        audience: list[str] | None = None,
        ttl_ns: int = 0,
    ) -> str:
        """A token for ``task`` of allocation ``alloc_id`` (asked by the client of
        ``node_id``, when given: it must be the allocation's node)."""
        state = self._state()
        alloc = state.allocs.get(alloc_id)
        if alloc is None or alloc.terminal():
            raise NotFoundError(f"allocation {alloc_id} not found or no longer running")
        if node_id and alloc.node_id != node_id:
            raise PermissionDeniedError(f"allocation {alloc_id} is not on node {node_id}")
        job = state.job_version(alloc.namespace, alloc.job_id, alloc.job_version)
        group = job.group(alloc.task_group) if job is not None else None
        if group is None or not any(t.name == task for t in group.tasks):
            raise BadRequestError(f"allocation {alloc_id} has no task {task!r}")
        if ttl_ns < 0:
            raise BadRequestError("identity ttl must not be negative")
        key = self._active_key()
        now = self.clock() // NS
        claims: dict[str, Any] = {
            "aud": audience or [DEFAULT_AUDIENCE],
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "sub": ":".join(
                (self._region, alloc.namespace, alloc.job_id, alloc.task_group, task, "default")
            ),  # fmt: skip
            "nomad_namespace": alloc.namespace,
            "nomad_job_id": alloc.job_id,
            "nomad_allocation_id": alloc.id,
            "nomad_task": task,
        }
        if ttl_ns:
            claims["exp"] = now + max(1, ttl_ns // NS)
        pem = self._keyring.signing_pem(key)
        return jwt.encode(claims, pem, algorithm=ALGORITHM, headers={"kid": key.meta.key_id})

    def verify(self, token: str) -> WorkloadClaims:
        """The claims of a valid, current token; PermissionDeniedError says why not."""
        try:
            kid = jwt.get_unverified_header(token).get("kid", "")
        except jwt.InvalidTokenError:
            raise PermissionDeniedError("workload identity is not a well-formed JWT") from None
        state = self._state()
        key = state.vars.root_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise PermissionDeniedError("workload identity signed by an unknown key")
        try:
            raw = jwt.decode(
                token,
                public_pem(key.public_key),
                algorithms=[ALGORITHM],
                options={"verify_aud": False, "require": ["iat", "nomad_allocation_id"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise PermissionDeniedError("workload identity has expired") from None
        except jwt.InvalidTokenError:
            raise PermissionDeniedError("workload identity does not verify") from None
        alloc = state.allocs.get(str(raw.get("nomad_allocation_id", "")))
        if alloc is None or alloc.terminal():
            raise PermissionDeniedError("workload identity's allocation is no longer running")
        if raw.get("nomad_job_id") != alloc.job_id or raw.get("nomad_namespace") != (
            alloc.namespace
        ):
            raise PermissionDeniedError("workload identity does not match its allocation")
        return WorkloadClaims(
            namespace=alloc.namespace,
            job_id=alloc.job_id,
            group=alloc.task_group,
            task=str(raw.get("nomad_task", "")),
            alloc_id=alloc.id,
        )

    def jwks(self) -> dict[str, Any]:
        """Every root key's public half (old keys still verify the tokens they signed)."""
        keys = sorted(self._state().vars.root_keys.values(), key=lambda k: k.meta.create_index)
        return {"keys": [jwk(k) for k in keys]}
