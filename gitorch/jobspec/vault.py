"""The ``vault`` block, at job, group or task level (Nomad's jobspec): a task without
its own takes its group's, else its job's, whole (no field-wise merge, as in Nomad).

    vault {
      role          = "app"          # the auth role to log in with (JWT: the task's identity)
      policies      = ["app-read"]   # the legacy token workflow's policies
      change_mode   = "restart"      # noop | restart | signal, when the token changes
      change_signal = "SIGHUP"
      env           = true           # VAULT_TOKEN in the task's environment
      disable_file  = false          # false: secrets/vault_token holds the token
    }

Which plugin serves it is checked at validation (:mod:`gitorch.jobspec.providers`).
"""

from __future__ import annotations

from gitorch.core.model.vault import VAULT_CHANGE_MODES, Vault
from gitorch.jobspec.reader import BlockReader
from gitorch.jobspec.redact import excerpt


def decode_vault(c: BlockReader, _: str) -> Vault:
    change_mode = c.string("change_mode", "restart")
    change_signal = c.string("change_signal", "SIGHUP")
    if change_mode not in VAULT_CHANGE_MODES:
        line = c.lines.get(f"{c.path}.change_mode", c.body.line)
        modes = ", ".join(VAULT_CHANGE_MODES)
        c.error(f'vault "change_mode" must be one of {modes}; got {excerpt(change_mode)}', line)
    if change_mode == "signal" and not (change_signal.startswith("SIG") and change_signal[3:]):
        line = c.lines.get(f"{c.path}.change_signal", c.body.line)
        c.error(f'vault "change_signal" must name a signal, as in "SIGHUP"; got '
                f"{excerpt(change_signal)}", line)  # fmt: skip
    return Vault(
        policies=c.strings("policies"),
        role=c.string("role"),
        namespace=c.string("namespace"),
        cluster=c.string("cluster", "default") or "default",
        env=c.boolean("env", True),
        disable_file=c.boolean("disable_file"),
        change_mode=change_mode,
        change_signal=change_signal,
        allow_token_expiration=c.boolean("allow_token_expiration"),
    )
