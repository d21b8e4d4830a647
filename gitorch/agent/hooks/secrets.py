"""The task's secrets hook (Nomad's vault hook), over the secrets provider named
``vault`` (:mod:`gitorch.plugins.providers`; the ``gitorch-vault`` plugin).

Before a task with a ``vault`` block starts, the provider logs it in with its workload
identity (a JWT for audience ``vault.io``, as Nomad's default Vault identity) and the
block's ``role``; the token goes to ``secrets/vault_token`` (mode 0600) unless
``disable_file``, and to ``VAULT_TOKEN`` when ``env`` (the default). The task's
templates read ``secret`` with it. One thread renews every live token at half its TTL;
when a renewal brings a new token (the old one could not be renewed), the file is
rewritten and the block's ``change_mode`` acts: ``restart`` restarts the task,
``signal`` sends ``change_signal``, ``noop`` does nothing more. When the task exits the
token is given back (the provider revokes it). Tokens are never logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec

from gitorch.core.model.identity import WorkloadIdentity
from gitorch.core.model.vault import Vault
from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError, GitorchError
from gitorch.jobspec.providers import missing
from gitorch.plugins.providers import SecretsLease, SecretsProvider, TaskIdentity

log = logging.getLogger(__name__)
TOKEN_FILE = "vault_token"
VAULT_AUDIENCE = "vault.io"
MIN_RENEW_S = 1.0
Changed = Callable[[str, str, Vault], None]  # (alloc ID, task, its vault block)


class SecretsUnavailable(DriverError):
    """The task could not be logged in to its secrets provider; the start is retried."""


@dataclass
class _Live:
    cfg: TaskConfig
    block: Vault
    lease: SecretsLease
    renew_at: float  # monotonic seconds; 0: never


def write_token(cfg: TaskConfig, token: str) -> None:
    """``secrets/vault_token``, mode 0600, owned as the secrets dir is."""
    secrets = os.path.join(cfg.task_dir, "secrets")
    path = os.path.join(secrets, TOKEN_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    owner = os.stat(secrets)
    if os.geteuid() == 0 and owner.st_uid != 0:
        os.chown(path, owner.st_uid, owner.st_gid)


class SecretsHook:
    def __init__(
        self,
        providers: Mapping[str, SecretsProvider],
        changed: Changed,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._providers = dict(providers)
        self._changed = changed
        self._clock = clock
        self._live: dict[tuple[str, str], _Live] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(
        self, cfg: TaskConfig, block: Vault | None, who: TaskIdentity
    ) -> tuple[TaskConfig, SecretsLease | None]:
        """Log the task in as its ``vault`` block asks; the config with ``VAULT_TOKEN``
        (when ``env``) and the lease its templates read secrets with."""
        if block is None:
            return cfg, None
        provider = self._providers.get("vault")
        if provider is None:
            raise SecretsUnavailable(f"task {cfg.id}: {missing('secrets', 'vault')}")
        self.stop(cfg.alloc_id, cfg.task_name)
        try:
            lease = provider.login(who, block)
        except (GitorchError, OSError) as exc:
            raise SecretsUnavailable(f"task {cfg.id}: vault login failed: {exc}") from None
        except Exception as exc:  # a plugin bug: reported, the start retried
            log.exception("secrets provider vault failed to log in task %s", cfg.id)
            raise SecretsUnavailable(f"task {cfg.id}: vault provider failed: {exc}") from None
        if not block.disable_file:
            write_token(cfg, lease.token)
        if block.env:
            cfg = msgspec.structs.replace(cfg, env={**cfg.env, "VAULT_TOKEN": lease.token})
        self._add(cfg, block, lease)
        return cfg, lease

    def _add(self, cfg: TaskConfig, block: Vault, lease: SecretsLease) -> None:
        login = lease.login
        renew_at = self._clock() + max(MIN_RENEW_S, login.ttl_s / 2) if login.ttl_s > 0 else 0.0
        with self._cond:
            self._live[(cfg.alloc_id, cfg.task_name)] = _Live(cfg, block, lease, renew_at)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._renew_loop, name="gitorch-secrets", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def stop(self, alloc_id: str, task: str) -> None:
        """The task exited: give its token back."""
        with self._cond:
            live = self._live.pop((alloc_id, task), None)
        if live is not None:
            try:
                live.lease.close()
            except Exception as exc:  # noqa: BLE001 - the task is gone either way
                log.warning("task %s/%s: giving back its vault token failed: %s",
                            alloc_id, task, type(exc).__name__)  # fmt: skip

    def close(self) -> None:
        """Stop renewing (the tasks keep running and keep their tokens)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _renew_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    due = [(k, v) for k, v in self._live.items() if 0 < v.renew_at <= self._clock()]
                    if due:
                        break
                    soonest = min((v.renew_at for v in self._live.values() if v.renew_at > 0),
                                  default=0.0)  # fmt: skip
                    self._cond.wait(max(0.05, soonest - self._clock()) if soonest else None)
                if self._closed:
                    return
            for key, live in due:
                self._renew(key, live)

    def _renew(self, key: tuple[str, str], live: _Live) -> None:
        before = live.lease.token
        try:
            login = live.lease.renew()
        except Exception as exc:  # noqa: BLE001 - tried again later
            log.warning("task %s: renewing its vault token failed (retry in 5s): %s",
                        live.cfg.id, type(exc).__name__)  # fmt: skip
            with self._cond:
                live.renew_at = self._clock() + 5.0
            return
        with self._cond:
            if self._live.get(key) is not live:
                return
            live.renew_at = self._clock() + max(MIN_RENEW_S, login.ttl_s / 2) if login.ttl_s else 0
        if login.token != before:
            if not live.block.disable_file:
                write_token(live.cfg, login.token)
            self._changed(key[0], key[1], live.block)


def vault_identity(ttl_s: int = 3600) -> WorkloadIdentity:
    """The identity a task logs in to Vault with (Nomad's ``vault_default``: audience
    ``vault.io``); never handed to the task itself."""
    return WorkloadIdentity(name="vault_default", audience=[VAULT_AUDIENCE], ttl=ttl_s * 10**9)


def task_identity(cfg: TaskConfig, job_id: str, token: str) -> TaskIdentity:
    return TaskIdentity(
        namespace=cfg.namespace,
        job_id=job_id,
        group=cfg.group_name,
        task=cfg.task_name,
        alloc_id=cfg.alloc_id,
        token=token,
    )
