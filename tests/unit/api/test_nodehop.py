"""``gitorch.api.nodehop``: the scheme and names of a hop to another agent, and the
retry of a client's second accepted name only when the first did not match."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from gitorch.api.nodehop import HOSTNAME_MISMATCH, NodeHop, name_mismatch
from gitorch.config_tls import TlsSettings

TLS = TlsSettings(http=True, ca_file="ca.pem", cert_file="c.pem", key_file="k.pem")


def mismatch() -> Exception:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch")
    cause.verify_code = HOSTNAME_MISMATCH
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise ConnectionError("wrapped") from exc
    except ConnectionError as outer:
        return outer


def test_plain_without_tls() -> None:
    hop = NodeHop()
    assert hop.url("127.0.0.1:4646") == "http://127.0.0.1:4646"
    assert hop.client_names("a") == [""] and hop.server_name() == ""
    assert hop.client_context() is None and hop.server_context() is None


def test_names_with_tls() -> None:
    hop = NodeHop(TLS, region="eu")
    assert hop.url("http://10.0.0.1:4646/") == "https://10.0.0.1:4646"
    assert hop.client_names("a") == ["client.eu.nomad", "server.eu.nomad"]
    assert hop.server_name() == ""  # verify_server_hostname off: only the CA is checked
    checked = NodeHop(TlsSettings(**{**TLS.__dict__, "verify_server_hostname": True}), "eu")
    assert checked.server_name() == "server.eu.nomad"


def test_second_name_only_after_a_mismatch_and_remembered() -> None:
    hop = NodeHop(TLS, region="global")
    tried: list[str] = []

    async def server_cert_only(name: str) -> str:
        tried.append(name)
        if name != "server.global.nomad":
            raise mismatch()
        return "ok"

    assert asyncio.run(hop.to_client("n1:1", server_cert_only)) == "ok"
    assert tried == ["client.global.nomad", "server.global.nomad"]
    tried.clear()
    assert asyncio.run(hop.to_client("n1:1", server_cert_only)) == "ok"
    assert tried == ["server.global.nomad"]  # the name that matched last goes first

    async def refused(name: str) -> str:
        tried.append(name)
        raise ConnectionRefusedError("nobody home")

    tried.clear()
    with pytest.raises(ConnectionRefusedError):
        asyncio.run(hop.to_client("n2:1", refused))
    assert tried == ["client.global.nomad"]  # not a name problem: no second try

    async def neither(name: str) -> str:
        raise mismatch()

    with pytest.raises(ConnectionError):
        asyncio.run(hop.to_client("n3:1", neither))


def test_name_mismatch_reads_the_cause_chain() -> None:
    assert name_mismatch(mismatch())
    other = ssl.SSLCertVerificationError(1, "unable to get local issuer certificate")
    other.verify_code = 20
    assert not name_mismatch(other)
    assert not name_mismatch(ValueError("x"))
