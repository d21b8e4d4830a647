"""``gitorch tls``: make a CA and the certificates it signs, as ``nomad tls`` does.

    gitorch tls ca create                     # nomad-agent-ca.pem, nomad-agent-ca-key.pem
    gitorch tls cert create -server           # global-server-nomad.pem, ...-key.pem
    gitorch tls cert create -client | -cli    # global-client-nomad.pem, global-cli-nomad.pem

Files go to the current directory (``-dir`` to change it); keys are written 0600 and an
existing file is never overwritten. The certificate making is ``gitorch.tlsfiles``.
"""

from __future__ import annotations

from pathlib import Path

import click

from gitorch import tlsfiles


@click.group()
def tls() -> None:
    """Make TLS certificates for gitorch (as ``nomad tls``)."""


@tls.group()
def ca() -> None:
    """The certificate authority."""


@ca.command("create")
@click.option("-days", "--days", default=1825, show_default=True, help="Days it is valid.")
@click.option("-domain", "--domain", default="nomad", show_default=True, help="Domain.")
@click.option("-dir", "--dir", "directory", default=".", help="Where to write the files.")
def ca_create(days: int, domain: str, directory: str) -> None:
    """Create a CA certificate and key."""
    written = tlsfiles.create_ca(Path(directory), days=days, domain=domain)
    click.echo(f"==> CA certificate saved to: {written.cert}")
    click.echo(f"==> CA certificate key saved to: {written.key}")


@tls.group()
def cert() -> None:
    """Certificates signed by the CA."""


@cert.command("create")
@click.option("-server", "--server", "role", flag_value="server", help="A server certificate.")
@click.option("-client", "--client", "role", flag_value="client", help="A client certificate.")
@click.option("-cli", "--cli", "role", flag_value="cli", help="A CLI certificate.")
@click.option("-ca", "--ca", "ca_cert", default=tlsfiles.CA_CERT, show_default=True)
@click.option("-key", "--key", "ca_key", default=tlsfiles.CA_KEY, show_default=True)
@click.option("-region", "--region", default="global", show_default=True)
@click.option("-domain", "--domain", default="nomad", show_default=True)
@click.option("-days", "--days", default=365, show_default=True, help="Days it is valid.")
@click.option(
    "-additional-dnsname", "--additional-dnsname", "dnsnames", multiple=True,
    help="Another DNS name (repeatable).",
)
@click.option(
    "-additional-ipaddress", "--additional-ipaddress", "ips", multiple=True,
    help="Another IP address (repeatable).",
)
@click.option("-dir", "--dir", "directory", default=".", help="Where to write the files.")
def cert_create(
    role: str | None,
    ca_cert: str,
    ca_key: str,
    region: str,
    domain: str,
    days: int,
    dnsnames: tuple[str, ...],
    ips: tuple[str, ...],
    directory: str,
) -> None:
    """Create a certificate for a server, a client or the CLI."""
    if role is None:
        raise click.UsageError("say which certificate: -server, -client or -cli")
    written = tlsfiles.create_cert(
        Path(directory),
        role,
        ca_cert=Path(ca_cert),
        ca_key=Path(ca_key),
        region=region,
        domain=domain,
        days=days,
        extra_names=(*dnsnames, *ips),
    )
    click.echo(f"==> Using CA file {ca_cert} and CA key {ca_key}")
    click.echo(f"==> {role.capitalize()} Certificate saved to: {written.cert}")
    click.echo(f"==> {role.capitalize()} Certificate key saved to: {written.key}")
