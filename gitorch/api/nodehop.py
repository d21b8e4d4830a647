"""How an agent dials another agent's HTTP API for a client route: a server relaying
``/v1/client/...`` (files, logs, stats, restart, signal, gc, exec) to the agent of the
node that runs the allocation, and a client-only agent relaying an exec session to its
servers. (Leader forwarding and a client agent's calls to its servers go through
``gitorch.api.forward.Relay``, which has the same TLS rules for servers.)

With ``tls { http = true }`` such a hop is HTTPS (``wss://`` for exec), trusting
``ca_file`` and presenting this agent's own certificate (the far side may demand one:
``verify_https_client``). The far side's certificate is checked as Nomad checks it:

- a **client agent's** certificate must name ``client.<region>.nomad``, always (Nomad's
  agents dial another client's HTTP API with that TLS server name, and Go checks it), or
  ``server.<region>.nomad``: an agent that is a server and a client at once presents its
  server certificate, which Nomad also accepts where it wants a client's;
- a **server's** certificate must name ``server.<region>.nomad`` when
  ``verify_server_hostname`` is on, else only chain to ``ca_file`` (as ``Relay``).

The name is checked in the TLS handshake, before any byte of the request (which carries
the caller's token) is sent. Python checks one name per handshake, so for a client the
names are tried in turn, the one that matched last first; only a certificate that names
neither is refused. Without ``tls.http`` every hop is plain HTTP, as before.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gitorch.config_tls import TlsSettings

T = TypeVar("T")
HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


class NodeHop:
    """The scheme, TLS context and names for hops to client agents and to servers."""

    def __init__(self, tls: TlsSettings | None = None, region: str = "global") -> None:
        self.tls = tls or TlsSettings()
        self.region = region
        self._client_ctx: ssl.SSLContext | None = None
        self._server_ctx: ssl.SSLContext | None = None
        self._matched: dict[str, str] = {}  # address -> the client name that matched last

    @property
    def scheme(self) -> str:
        return self.tls.scheme

    def url(self, address: str) -> str:
        """``host:port`` (or a URL, whose scheme is replaced) as this hop's base URL."""
        return f"{self.scheme}://{address.split('://', 1)[-1].rstrip('/')}"

    def client_context(self) -> ssl.SSLContext | None:
        """For a client agent: ca_file, this agent's certificate, the name always
        checked (None when tls.http is off)."""
        if self.tls.http and self._client_ctx is None:
            ctx = self.tls.client_context()
            assert ctx is not None
            ctx.check_hostname = True
            self._client_ctx = ctx
        return self._client_ctx

    def server_context(self) -> ssl.SSLContext | None:
        """For a server: as ``Relay`` (the name checked with verify_server_hostname)."""
        if self.tls.http and self._server_ctx is None:
            self._server_ctx = self.tls.client_context()
        return self._server_ctx

    def client_names(self, address: str) -> list[str]:
        """The names a client agent's certificate may carry, the last match first;
        ``[""]`` (no name) without TLS."""
        if not self.tls.http:
            return [""]
        names = [f"client.{self.region}.nomad", f"server.{self.region}.nomad"]
        last = self._matched.get(address)
        return sorted(names, key=lambda n: n != last)

    def server_name(self) -> str:
        """The name a server's certificate must carry, or "" when none is checked."""
        return (
            f"server.{self.region}.nomad"
            if self.tls.http and self.tls.verify_server_hostname
            else ""
        )

    async def to_client(self, address: str, dial: Callable[[str], Awaitable[T]]) -> T:
        """``dial(name)`` for each name a client's certificate may carry until the
        handshake accepts one; a failure other than a name mismatch, or a certificate
        that names none of them, is raised."""
        names = self.client_names(address)
        for name in names:
            try:
                result = await dial(name)
            except Exception as exc:
                if name != names[-1] and name_mismatch(exc):
                    continue
                raise
            if name:
                self._matched[address] = name
            return result
        raise AssertionError("unreachable: the last name returns or raises")


def name_mismatch(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a certificate not naming the host asked."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_code == HOSTNAME_MISMATCH
        current = current.__cause__ or current.__context__
    return False
