"""A task's ``vault`` block: the secrets token the task is given and what happens when
it changes. Written at job, group or task level; a task without its own takes its
group's, else its job's (Nomad's jobspec does the same, no field-wise merge).

Which provider serves it is a plugin's business (``gitorch-vault``); without one
installed, a job with a ``vault`` block is refused at validation.
"""

from __future__ import annotations

from gitorch.core.model.base import Model

VAULT_CHANGE_MODES = ("noop", "restart", "signal")


class Vault(Model, frozen=True, kw_only=True):
    """``vault { role policies namespace cluster env disable_file change_mode
    change_signal allow_token_expiration }`` with Nomad's defaults."""

    policies: list[str] = []
    role: str = ""
    namespace: str = ""
    cluster: str = "default"
    env: bool = True  # VAULT_TOKEN in the task's environment
    disable_file: bool = False  # False: secrets/vault_token holds the token
    change_mode: str = "restart"
    change_signal: str = "SIGHUP"
    allow_token_expiration: bool = False
