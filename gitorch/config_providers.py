"""The agent config's ``consul`` and ``vault`` blocks (Nomad's names), read by the
provider plugins (gitorch-consul, gitorch-vault; :mod:`gitorch.plugins.providers`).

    consul { address = "127.0.0.1:8500"  token = "..." }
    vault  { enabled = true  address = "http://127.0.0.1:8200"
             jwt_auth_backend_path = "jwt-nomad"  create_from_role = "nomad-workloads" }

Each becomes a plain mapping handed to the providers whose ``config_block`` names it;
unknown settings are errors (the plugin checks values further). Tokens are kept out of
``repr`` and never printed.
"""

from __future__ import annotations

from typing import Any

from gitorch.config_values import Values

CONSUL_KEYS = {"address", "token"}
VAULT_KEYS = {"enabled", "address", "jwt_auth_backend_path", "create_from_role", "token"}
KEYS = {"consul": CONSUL_KEYS, "vault": VAULT_KEYS}


def parse(kind: str, values: Values, old: dict[str, Any]) -> dict[str, Any]:
    """The block ``kind`` over what earlier files set (``old``)."""
    out = dict(old)
    for name in sorted(KEYS[kind]):
        if not values.has(name):
            continue
        if name == "enabled":
            out[name] = values.boolean(name, bool(old.get(name, False)))
        else:
            out[name] = values.string(name, str(old.get(name, "")), empty=False)
    return out
