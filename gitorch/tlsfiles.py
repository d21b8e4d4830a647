"""Certificate making for ``gitorch tls`` (the second cryptography adapter, beside
``gitorch.server.keyring``: this one only writes a CA and the certificates it signs).

As ``nomad tls`` does: an ECDSA P-256 CA (``nomad-agent-ca.pem`` and its key), and
certificates for a role in a region, ``<region>-<role>-nomad.pem`` with its key, whose
names are ``<role>.<region>.nomad``, ``localhost`` and (servers and clients) 127.0.0.1.
Key files are created 0600 and an existing file is never overwritten.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitorch.errors import GitorchError

CA_CERT = "nomad-agent-ca.pem"
CA_KEY = "nomad-agent-ca-key.pem"
ROLES = ("server", "client", "cli")


class TlsFileError(GitorchError):
    """A certificate or key that cannot be written or read."""


@dataclass(frozen=True)
class Written:
    cert: Path
    key: Path


def create_ca(directory: Path, *, days: int = 1825, domain: str = "nomad") -> Written:
    """A self-signed CA that may sign certificates (and nothing below them)."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    _refuse_existing(cert_path, key_path)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Gitorch Agent CA ({domain})")])
    now = datetime.datetime.now(datetime.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(cert_path, key_path, cert, key)
    return Written(cert_path, key_path)


def create_cert(
    directory: Path,
    role: str,
    *,
    ca_cert: Path,
    ca_key: Path,
    region: str = "global",
    domain: str = "nomad",
    days: int = 365,
    extra_names: tuple[str, ...] = (),
) -> Written:
    """A certificate for ``role`` (server, client or cli) signed by the CA."""
    if role not in ROLES:
        raise TlsFileError(f"unknown certificate role {role!r} (known: {', '.join(ROLES)})")
    cert_path = directory / f"{region}-{role}-{domain}.pem"
    key_path = directory / f"{region}-{role}-{domain}-key.pem"
    _refuse_existing(cert_path, key_path)
    ca, signer = _load_ca(ca_cert, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName(f"{role}.{region}.{domain}"),
        x509.DNSName("localhost"),
    ]
    if role != "cli":
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    for extra in extra_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(extra)))
        except ValueError:
            names.append(x509.DNSName(extra))
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if role != "cli":
        usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{role}.{region}.{domain}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .sign(signer, hashes.SHA256())
    )
    _write(cert_path, key_path, cert, key)
    return Written(cert_path, key_path)


def _load_ca(
    ca_cert: Path, ca_key: Path
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    except OSError as exc:
        raise TlsFileError(f"{ca_cert}: cannot read the CA certificate: {exc.strerror}") from None
    except ValueError:
        raise TlsFileError(f"{ca_cert}: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    except OSError as exc:
        raise TlsFileError(f"{ca_key}: cannot read the CA key: {exc.strerror}") from None
    except (ValueError, TypeError):
        raise TlsFileError(f"{ca_key}: not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsFileError(f"{ca_key}: the CA key must be an ECDSA key")
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise TlsFileError(f"{ca_key}: this key does not belong to {ca_cert}")
    return cert, key


def _refuse_existing(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise TlsFileError(f"{path} already exists: remove it or write elsewhere")


def _write(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem_key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise TlsFileError(f"cannot write {exc.filename}: {exc.strerror}") from None
