"""Wire names: snake_case Python fields to Nomad's PascalCase JSON keys.

Nomad spells acronyms in capitals (``ID``, ``JobID``, ``MemoryMB``, ``HTTPAddr``,
``FailedTGAllocs``) and a few names irregularly (``CPU`` but ``CpuShares``,
``LTarget``). One function handles all of it, so every Struct uses the same rule.
"""

from __future__ import annotations

_ACRONYMS = {
    "id": "ID",
    "mb": "MB",
    "http": "HTTP",
    "tg": "TG",
    "ip": "IP",
    "ns": "NS",
    "ttl": "TTL",
    "tls": "TLS",
}
_WHOLE = {"cpu": "CPU", "ltarget": "LTarget", "rtarget": "RTarget"}


def nomad_name(field: str) -> str:
    """Return the Nomad JSON key for a Python field name."""
    if field in _WHOLE:
        return _WHOLE[field]
    return "".join(_ACRONYMS.get(word, word.capitalize()) for word in field.split("_"))
