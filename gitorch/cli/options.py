"""Nomad's general options: ``-address``, ``-token``, ``-namespace``, ``-region``, the TLS
options (``-tls-server-name`` too), ``-json`` and ``-no-color``, accepted before the
command (``gitorch -address=X job status``) and after it (``gitorch job status
-address=X web``), with one dash or two, ``=VALUE`` or a separate value; each falls back
to ``GITORCH_*`` and then ``NOMAD_*`` environment variables.

The root group calls :func:`hoist` on its arguments: every general option is moved in
front of the command, so click parses it once, at the root.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import click

# general option -> does it take a value
GENERAL: dict[str, bool] = {
    "address": True,
    "token": True,
    "namespace": True,
    "region": True,
    "ca-cert": True,
    "ca-path": True,
    "client-cert": True,
    "client-key": True,
    "tls-server-name": True,
    "tls-skip-verify": False,
    "json": False,
    "no-color": False,
}
TRUE = ("1", "true", "t", "yes")
FALSE = ("0", "false", "f", "no", "")


def hoist(args: Sequence[str]) -> list[str]:
    """``args`` with every general option moved to the front, spelled ``--name VALUE``
    (or ``--name`` for a flag, dropped when given ``=false``). Arguments after ``--`` stay
    where they are."""
    front: list[str] = []
    rest: list[str] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if arg == "--":
            rest.extend(items[i - 1 :])
            break
        name, sep, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or arg.startswith("---") or name not in GENERAL:
            rest.append(arg)
            continue
        if not GENERAL[name]:
            if not sep or value.lower() in TRUE:
                front.append(f"--{name}")
            elif value.lower() not in FALSE:
                raise click.UsageError(f"-{name} takes true or false, not {value!r}")
            continue
        if not sep:
            if i >= len(items):
                raise click.UsageError(f"-{name} needs a value: -{name}=VALUE")
            value = items[i]
            i += 1
        front.extend((f"--{name}", value))
    return front + rest


def from_env(name: str) -> str | None:
    """``GITORCH_<NAME>``, else ``NOMAD_<NAME>`` (an empty value counts as unset)."""
    return os.environ.get(f"GITORCH_{name}") or os.environ.get(f"NOMAD_{name}") or None


@dataclass(frozen=True)
class TlsOptions:
    """The TLS general options, after the environment fallbacks."""

    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    server_name: str | None = None  # checked in the agent's certificate instead of the host

    @classmethod
    def resolve(
        cls,
        *,
        ca_cert: str | None,
        ca_path: str | None,
        client_cert: str | None,
        client_key: str | None,
        skip_verify: bool,
        server_name: str | None = None,
    ) -> TlsOptions:
        skip_env = (from_env("SKIP_VERIFY") or "").lower() in TRUE
        return cls(
            ca_cert=ca_cert or from_env("CACERT"),
            ca_path=ca_path or from_env("CAPATH"),
            client_cert=client_cert or from_env("CLIENT_CERT"),
            client_key=client_key or from_env("CLIENT_KEY"),
            skip_verify=skip_verify or skip_env,
            server_name=server_name or from_env("TLS_SERVER_NAME"),
        )

    def configured(self) -> bool:
        return bool(self.ca_cert or self.ca_path or self.client_cert or self.skip_verify)

    def context(self) -> ssl.SSLContext | bool:
        """What the HTTP client verifies with: True (the system's CAs) when nothing is
        set, else an SSL context with the CA, the client certificate and key."""
        if not self.configured():
            return True
        if bool(self.client_cert) != bool(self.client_key):
            raise click.UsageError("-client-cert and -client-key must be given together")
        try:
            if self.ca_cert or self.ca_path:
                ctx = ssl.create_default_context(cafile=self.ca_cert, capath=self.ca_path)
            else:
                ctx = ssl.create_default_context()
            if self.client_cert and self.client_key:
                ctx.load_cert_chain(self.client_cert, self.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise click.ClickException(
                f"cannot load the TLS files ({exc}): check -ca-cert, -ca-path, "
                "-client-cert and -client-key (or NOMAD_CACERT, NOMAD_CLIENT_CERT, ...)"
            ) from exc
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def general_options(fn: click.decorators.FC) -> click.decorators.FC:
    """The general options as click options of the root group."""
    specs = [
        ("address", "Agent URL or host:port (env GITORCH_ADDR, NOMAD_ADDR)."),
        ("token", "ACL token (env GITORCH_TOKEN, NOMAD_TOKEN)."),
        ("namespace", "Namespace (env GITORCH_NAMESPACE, NOMAD_NAMESPACE)."),
        ("region", "Region to forward to (env GITORCH_REGION, NOMAD_REGION)."),
        ("ca-cert", "PEM CA file to verify the agent (env NOMAD_CACERT)."),
        ("ca-path", "Folder of PEM CA files (env NOMAD_CAPATH)."),
        ("client-cert", "PEM client certificate (env NOMAD_CLIENT_CERT)."),
        ("client-key", "PEM client key (env NOMAD_CLIENT_KEY)."),
        (
            "tls-server-name",
            "Name to check in the agent's certificate instead of the address's host "
            "(env NOMAD_TLS_SERVER_NAME).",
        ),
    ]
    for name, text in reversed(specs):
        dest = name.replace("-", "_")
        fn = click.option(f"-{name}", f"--{name}", dest, default=None, help=text)(fn)
    fn = click.option(
        "-tls-skip-verify", "--tls-skip-verify", "tls_skip_verify", is_flag=True,
        help="Do not verify the agent's certificate (env NOMAD_SKIP_VERIFY).",
    )(fn)  # fmt: skip
    fn = click.option(
        "-no-color", "--no-color", "no_color", is_flag=True,
        help="Accepted for Nomad's scripts: gitorch prints no colour.",
    )(fn)  # fmt: skip
    return click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")(fn)
