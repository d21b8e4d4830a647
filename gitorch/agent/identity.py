"""The task's identity hook: ask the servers for the task's workload identity (a JWT,
``POST /v1/internal/identity/sign``) just before it starts, and hand it over as the
``identity`` block says: ``env = true`` sets ``NOMAD_TOKEN``, ``file = true`` writes
``secrets/nomad_token`` (mode 0600). Templates read variables with it whether or not
the task sees it (Nomad's default identity).

The token is asked for on every start (a restarted task gets a fresh one, so a ``ttl``
counts from the start) and never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import httpx
import msgspec

from gitorch.core.model.identity import WorkloadIdentity
from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError

log = logging.getLogger(__name__)
TOKEN_FILE = "nomad_token"


class IdentityUnavailable(DriverError):
    """No server signed the task's identity; the start is retried."""


class IdentityHook:
    def __init__(
        self,
        addresses: Sequence[str],
        node_id: str,
        *,
        node_secret: str = "",
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._addresses = [a if "://" in a else f"http://{a}" for a in addresses]
        self._node_id = node_id
        self._http = client or httpx.Client(timeout=timeout)
        # The node secret authenticates the request where ACLs are on (node:write, as
        # every client call); the server signs only for allocations on this node.
        self._headers = {"X-Nomad-Token": node_secret} if node_secret else {}

    def close(self) -> None:
        self._http.close()

    def token_for(self, cfg: TaskConfig, ident: WorkloadIdentity | None) -> str:
        """The task's signed identity; '' when no server can sign one and the task has
        no ``identity`` block (its templates then read without one)."""
        body = {
            "AllocID": cfg.alloc_id,
            "Task": cfg.task_name,
            "NodeID": self._node_id,
            "Audience": list(ident.audience) if ident is not None else [],
            "TTL": ident.ttl if ident is not None else 0,
        }
        problem = "no server reachable"
        for addr in self._addresses:
            try:
                resp = self._http.post(
                    addr + "/v1/internal/identity/sign", json=body, headers=self._headers
                )
            except httpx.HTTPError as exc:
                problem = f"{addr}: {type(exc).__name__}"
                continue
            if resp.status_code == 200:
                token = msgspec.json.decode(resp.content).get("Token", "")
                if isinstance(token, str) and token:
                    return token
            problem = f"{addr}: HTTP {resp.status_code}: {resp.text.strip()[:200]}"
            if resp.status_code < 500:
                break
        if ident is None:
            log.debug("task %s: no workload identity (%s)", cfg.id, problem)
            return ""
        raise IdentityUnavailable(f"task {cfg.id}: cannot get its workload identity: {problem}")


def hand_over(cfg: TaskConfig, ident: WorkloadIdentity | None, token: str) -> TaskConfig:
    """``cfg`` with the token in its environment and/or its secrets dir, as asked."""
    if ident is None or not token:
        return cfg
    if ident.file:
        secrets = os.path.join(cfg.task_dir, "secrets")
        path = os.path.join(secrets, TOKEN_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        owner = os.stat(secrets)
        if os.geteuid() == 0 and owner.st_uid != 0:  # the task's user owns its secrets
            os.chown(path, owner.st_uid, owner.st_gid)
    if ident.env:
        return msgspec.structs.replace(cfg, env={**cfg.env, "NOMAD_TOKEN": token})
    return cfg
