"""The agent's ``tls`` block, as Nomad's, and the SSL contexts made from it.

    tls { http = true  rpc = true
          ca_file = "nomad-agent-ca.pem"
          cert_file = "global-server-nomad.pem"  key_file = "global-server-nomad-key.pem"
          verify_server_hostname = true  verify_https_client = true }

``http``: the agent serves HTTPS with cert_file/key_file; with ``verify_https_client``
it asks every HTTPS client for a certificate signed by ca_file and refuses those without
one. Every hop this agent makes to another agent's HTTP API (a follower relaying to the
leader, a client agent to its servers) is then HTTPS, trusting ca_file and presenting
this agent's own certificate. ``verify_server_hostname``: such a hop also checks that
the far side's certificate names ``server.<region>.nomad`` (else only that ca_file
signed it). ``rpc``: see docs/cluster.md (Raft is protected by ``server.encrypt``).
Each file must be readable when the config is loaded; an error names file and line.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from gitorch.config_values import Values
from gitorch.errors import ConfigError
from gitorch.jobspec import hcl

KNOWN = {
    "http", "rpc", "ca_file", "cert_file", "key_file",
    "verify_server_hostname", "verify_https_client",
}


@dataclass(frozen=True)
class TlsSettings:
    http: bool = False
    rpc: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = field(default="", repr=False)
    verify_server_hostname: bool = False
    verify_https_client: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.http else "http"

    def client_context(self) -> ssl.SSLContext | None:
        """The context for hops to other agents (None when http is off)."""
        if not self.http:
            return None
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        # Certificates name server.<region>.nomad, not the address dialled: with
        # verify_server_hostname that name is checked (``sni``), else only the CA.
        ctx.check_hostname = self.verify_server_hostname
        return ctx

    def server_name(self, region: str = "global") -> str | None:
        """The name a hop checks on the far side's certificate, when it checks one."""
        if self.http and self.verify_server_hostname:
            return f"server.{region}.nomad"
        return None

    def sni(self, region: str = "global") -> dict[str, object]:
        """httpx request extensions: the server name a hop checks, when it checks one."""
        name = self.server_name(region)
        return {"sni_hostname": name} if name else {}


def parse(body: hcl.Body, old: TlsSettings, file: str, line: int) -> TlsSettings:
    """Merge one ``tls`` block over ``old``; check the files it names."""
    values = Values(body, "tls", file)
    for name, attr in body.attributes.items():
        if name not in KNOWN:
            raise ConfigError(
                f"{file}:{attr.line}: tls: unknown setting {name!r} "
                f"(known: {', '.join(sorted(KNOWN))})"
            )
    for sub in body.blocks:
        raise ConfigError(f"{file}:{sub.line}: tls: unknown block {sub.type!r} (known: none)")
    tls = TlsSettings(
        http=values.boolean("http", old.http),
        rpc=values.boolean("rpc", old.rpc),
        ca_file=_file(values, "ca_file", old.ca_file, Path(file).parent),
        cert_file=_file(values, "cert_file", old.cert_file, Path(file).parent),
        key_file=_file(values, "key_file", old.key_file, Path(file).parent),
        verify_server_hostname=values.boolean(
            "verify_server_hostname", old.verify_server_hostname
        ),
        verify_https_client=values.boolean("verify_https_client", old.verify_https_client),
    )
    where = f"{file}:{line}"
    if (tls.http or tls.rpc) and not (tls.cert_file and tls.key_file):
        raise ConfigError(f"{where}: tls with http or rpc on needs cert_file and key_file")
    if (tls.verify_https_client or tls.verify_server_hostname) and not tls.ca_file:
        raise ConfigError(f"{where}: tls: verifying certificates needs ca_file")
    if tls.http:
        _check_pair(tls, where)
    return tls


def _file(values: Values, name: str, old: str, base: Path) -> str:
    """A file setting: relative paths are from the config file's folder; it must be
    readable now."""
    if not values.has(name):
        return old
    text = values.string(name, old, empty=False)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        raise values.error(name, f"cannot be read: {path}: {exc.strerror}") from None
    return str(path)


def _check_pair(tls: TlsSettings, where: str) -> None:
    """The certificate, key and CA load together (no key material in the message)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.ca_file:
            ctx.load_verify_locations(cafile=tls.ca_file)
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(
            f"{where}: tls: cert_file, key_file and ca_file cannot be used together: {reason}"
        ) from None


RPC_NEEDS_KEY = (
    "tls.rpc = true on a server needs server.encrypt (a base64 key of 16, 24 or 32 bytes, "
    'as from "openssl rand -base64 32"): the Raft port is protected by that shared key, '
    "and no key can be derived soundly from the certificates (the CA's certificate is "
    "public and each server's own key differs)"
)


def raft_key(values: Values, old: str) -> str:
    """``server.encrypt``: base64 of 16, 24 or 32 random bytes (Nomad's gossip key)."""
    if not values.has("encrypt"):
        return old
    text = values.string("encrypt", old, empty=False).strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise values.error("encrypt", "must be base64 (as from: openssl rand -base64 32)") from None
    if len(raw) not in (16, 24, 32):
        raise values.error("encrypt", f"must decode to 16, 24 or 32 bytes, not {len(raw)}")
    return text
