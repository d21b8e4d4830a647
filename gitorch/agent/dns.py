"""The agent's DNS responder for services: the one adapter of dnslib.

Names (case-insensitive, under the ``gitorch.`` domain)::

    <service>.service.gitorch.                   the default namespace
    <service>.service.<namespace>.gitorch.
    <tag>.<service>.service[.<namespace>].gitorch.   only instances with that tag
    <hex address>.addr.gitorch.                  the targets SRV answers name

``A``/``AAAA`` answer the addresses of the service's passing instances, ``SRV`` one
record per instance (priority 1, weight 1, its port, target ``<hex>.addr.gitorch.``,
with that target's address in the additional section; an instance advertising a host
name has that name as its target). ``ANY`` answers like ``A`` and ``AAAA``. A service
with instances registered but none passing answers no records (NOERROR); a name
nothing is registered under answers NXDOMAIN; a name outside ``gitorch.`` REFUSED (the
responder is authoritative for its domain only and does not recurse); a catalog that
cannot answer (no server reachable) SERVFAIL. Every answer has the configured TTL,
negative ones an SOA with it. UDP answers over 512 bytes (or the client's EDNS0 size)
are truncated with TC set, so the client asks again over TCP, which is served too.
"""

from __future__ import annotations

import ipaddress
import logging
import socketserver
from typing import Any, NamedTuple

from dnslib import AAAA, QTYPE, RCODE, RR, SOA, SRV, A, DNSLabel, DNSRecord
from dnslib.server import DNSHandler, DNSServer

from gitorch.agent.dnscatalog import Catalog, CatalogError
from gitorch.core.model.service import ServiceRegistration

log = logging.getLogger(__name__)

DOMAIN = "gitorch"
DEFAULT_NAMESPACE = "default"
UDP_LIMIT = 512


class Query(NamedTuple):
    """A parsed service name: ``tag`` "" for any instance."""

    namespace: str
    service: str
    tag: str = ""


def parse(labels: list[str]) -> Query | str | None:
    """``labels`` of a name under ``gitorch.`` (without it, in order): a service
    query, the address of an ``addr`` name (as text), or None when the name is not
    one the responder knows."""
    if len(labels) == 2 and labels[1] == "addr":
        return _unhex(labels[0])
    for at in (len(labels) - 1, len(labels) - 2):  # no namespace, then one
        if at in (1, 2) and labels[at] == "service" and all(labels[:at]):
            namespace = labels[at + 1] if at + 1 < len(labels) else DEFAULT_NAMESPACE
            if at == 2:
                return Query(namespace, labels[1], labels[0])
            return Query(namespace, labels[0])
    return None


def addr_label(address: str) -> str:
    """``127.0.0.1`` -> ``7f000001`` (IPv6: its 32 hex digits)."""
    return ipaddress.ip_address(address).packed.hex()


def _unhex(label: str) -> str | None:
    try:
        raw = bytes.fromhex(label)
        return str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else None
    except ValueError:
        return None


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


class Resolver:
    """dnslib's resolver interface over a :class:`Catalog`."""

    def __init__(self, catalog: Catalog, ttl: int) -> None:
        self.catalog = catalog
        self.ttl = ttl

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        reply.header.ra = 0
        qname: DNSLabel = request.q.qname
        qtype = QTYPE[request.q.qtype]
        labels = [label.decode("ascii", "replace").lower() for label in qname.label]
        if not labels or labels[-1] != DOMAIN:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        found = parse(labels[:-1])
        try:
            if isinstance(found, Query):
                self._service(reply, qname, qtype, found)
            elif isinstance(found, str):
                self._address(reply, qname, qtype, found)
            else:
                self._negative(reply, RCODE.NXDOMAIN)
        except CatalogError as exc:
            log.warning("dns: %s %s: %s", qname, qtype, exc)
            reply.header.rcode = RCODE.SERVFAIL
        return reply

    def _service(self, reply: DNSRecord, qname: DNSLabel, qtype: str, q: Query) -> None:
        regs = self.catalog.passing(q.namespace, q.service)
        if regs is None:
            self._negative(reply, RCODE.NXDOMAIN)
            return
        if q.tag:
            regs = [r for r in regs if q.tag in (t.lower() for t in r.tags)]
        if qtype == "SRV":
            self._srv(reply, qname, regs)
        elif qtype in ("A", "AAAA", "ANY"):
            seen: set[str] = set()
            for reg in regs:
                if reg.address not in seen:
                    seen.add(reg.address)
                    self._addr_record(reply.add_answer, qname, qtype, reg.address)
        if not reply.rr:
            self._negative(reply, RCODE.NOERROR)

    def _srv(self, reply: DNSRecord, qname: DNSLabel, regs: list[ServiceRegistration]) -> None:
        targets: dict[str, str] = {}
        for reg in regs:
            if _ip(reg.address) is not None:
                target = f"{addr_label(reg.address)}.addr.{DOMAIN}."
                targets[target] = reg.address
            else:
                target = reg.address.rstrip(".") + "."
            srv = SRV(priority=1, weight=1, port=reg.port, target=target)
            reply.add_answer(RR(qname, QTYPE.SRV, rdata=srv, ttl=self.ttl))
        for target, address in targets.items():
            self._addr_record(reply.add_ar, DNSLabel(target), "ANY", address)

    def _address(self, reply: DNSRecord, qname: DNSLabel, qtype: str, address: str) -> None:
        if qtype in ("A", "AAAA", "ANY"):
            self._addr_record(reply.add_answer, qname, qtype, address)
        if not reply.rr:
            self._negative(reply, RCODE.NOERROR)

    def _addr_record(self, add: Any, qname: DNSLabel, qtype: str, address: str) -> None:
        ip = _ip(address)
        if isinstance(ip, ipaddress.IPv4Address) and qtype in ("A", "ANY"):
            add(RR(qname, QTYPE.A, rdata=A(str(ip)), ttl=self.ttl))
        elif isinstance(ip, ipaddress.IPv6Address) and qtype in ("AAAA", "ANY"):
            add(RR(qname, QTYPE.AAAA, rdata=AAAA(str(ip)), ttl=self.ttl))

    def _negative(self, reply: DNSRecord, rcode: int) -> None:
        reply.header.rcode = rcode
        soa = SOA(
            mname=f"ns.{DOMAIN}.",
            rname=f"hostmaster.{DOMAIN}.",
            times=(1, 3600, 600, 86400, self.ttl),
        )
        reply.add_auth(RR(f"{DOMAIN}.", QTYPE.SOA, rdata=soa, ttl=self.ttl))


class _Handler(DNSHandler):  # type: ignore[misc]
    """dnslib's handler, truncating UDP answers beyond 512 bytes or the client's EDNS0
    payload size (dnslib's own handler truncates at one fixed size)."""

    def get_reply(self, data: bytes) -> bytes:
        request = DNSRecord.parse(data)
        reply = self.server.resolver.resolve(request, self)
        packed: bytes = reply.pack()
        if self.protocol == "udp":
            limit = max([UDP_LIMIT, *(r.rclass for r in request.ar if r.rtype == QTYPE.OPT)])
            if len(packed) > limit:
                packed = reply.truncate().pack()
        return packed


class _Quiet:
    """dnslib's logger interface: errors to our log, nothing per query."""

    def log_error(self, handler: Any, error: Any) -> None:
        log.warning("dns: bad request from %s: %s", handler.client_address[0], error)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("log_"):
            return lambda *args: None
        raise AttributeError(name)


class DnsResponder:
    """UDP and TCP servers on ``bind:port`` answering from ``catalog``."""

    def __init__(self, catalog: Catalog, *, bind: str, port: int, ttl: int) -> None:
        resolver = Resolver(catalog, ttl)
        self._servers = [
            DNSServer(resolver, bind, port, tcp=tcp, logger=_Quiet(), handler=_Handler)
            for tcp in (False, True)
        ]
        self.bind, self.port = bind, port

    def start(self) -> None:
        for server in self._servers:
            server.start_thread()
        log.info("dns: answering *.service.%s on %s:%d (udp, tcp)", DOMAIN, self.bind, self.port)

    def stop(self) -> None:
        for server in self._servers:
            inner: socketserver.BaseServer = server.server
            inner.shutdown()
            inner.server_close()
