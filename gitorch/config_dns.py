"""The agent config's ``dns`` block: the optional DNS responder for services.

    dns { enabled = true  port = 8600  bind = "127.0.0.1"  ttl = "1s" }

Off by default. ``bind`` is an IP address (v4 or v6); ``ttl`` a duration of whole
seconds from 0 to 60 (answers change as instances come and go, so they are cached
briefly). See docs/services.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from gitorch.config_values import Values

MAX_TTL_S = 60


@dataclass(frozen=True)
class DnsSettings:
    enabled: bool = False
    port: int = 8600
    bind: str = "127.0.0.1"
    ttl_s: int = 1


KEYS = {"enabled", "port", "bind", "ttl"}


def parse(values: Values, old: DnsSettings) -> DnsSettings:
    bind = values.string("bind", old.bind, empty=False)
    try:
        ipaddress.ip_address(bind)
    except ValueError:
        msg = f'must be an IP address like "127.0.0.1", not {bind[:40]!r}'
        raise values.error("bind", msg) from None
    ttl = values.duration("ttl", old.ttl_s)
    if not (0 <= ttl <= MAX_TTL_S and ttl == int(ttl)):
        raise values.error("ttl", f'must be whole seconds from "0s" to "{MAX_TTL_S}s"')
    return DnsSettings(
        enabled=values.boolean("enabled", old.enabled),
        port=values.integer("port", old.port, lo=1, hi=65535),
        bind=bind,
        ttl_s=int(ttl),
    )
