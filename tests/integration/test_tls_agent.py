"""A real dev agent serving HTTPS with client certificates required, using certificates
made by ``gitorch tls``: the CLI certificate gets in, no certificate or plain HTTP does
not, and the CLI's -ca-cert/-client-cert/-client-key options work against it."""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from harness import Agent

from gitorch.cli.main import cli

pytestmark = pytest.mark.timeout(120)


def make_certs(directory: Path) -> None:
    ca = ["-ca", str(directory / "nomad-agent-ca.pem")]
    key = ["-key", str(directory / "nomad-agent-ca-key.pem")]
    for args in (["ca", "create"], ["cert", "create", "-server", *ca, *key],
                 ["cert", "create", "-cli", *ca, *key]):
        result = CliRunner().invoke(cli, ["tls", *args, "-dir", str(directory)])
        assert result.exit_code == 0, result.output


class TlsAgent(Agent):
    def __init__(self, data_dir: Path, certs: Path, *args: str) -> None:
        super().__init__(data_dir, *args)
        self.certs = certs
        self.url = f"https://127.0.0.1:{self.http_port}"
        self.http = httpx.Client(base_url=self.url, timeout=10, verify=self.context())

    def context(self, *, with_cert: bool = True) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.certs / "nomad-agent-ca.pem"))
        if with_cert:
            ctx.load_cert_chain(
                self.certs / "global-cli-nomad.pem", self.certs / "global-cli-nomad-key.pem"
            )
        return ctx


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsAgent]:
    root = tmp_path_factory.mktemp("tls")
    certs = root / "certs"
    make_certs(certs)
    config = root / "tls.hcl"
    config.write_text(
        "tls {\n  http = true\n  rpc = true\n"
        f'  ca_file = "{certs}/nomad-agent-ca.pem"\n'
        f'  cert_file = "{certs}/global-server-nomad.pem"\n'
        f'  key_file = "{certs}/global-server-nomad-key.pem"\n'
        "  verify_https_client = true\n}\n"
        'server {\n  encrypt = "' + base64.b64encode(os.urandom(32)).decode() + '"\n}\n'
    )
    node = TlsAgent(root / "data", certs, "--dev", "--config", str(config))
    node.start()
    try:
        yield node
    finally:
        node.stop_jobs()
        node.stop()


def test_https_with_the_client_certificate_works(agent: TlsAgent) -> None:
    resp = agent.http.get("/v1/agent/health")
    assert resp.status_code == 200
    assert agent.http.get("/v1/jobs").status_code == 200


def test_https_without_a_client_certificate_is_refused(agent: TlsAgent) -> None:
    with httpx.Client(verify=agent.context(with_cert=False), timeout=10) as plain:
        with pytest.raises(httpx.HTTPError):
            plain.get(f"{agent.url}/v1/jobs")


def test_a_client_that_does_not_trust_the_ca_is_refused(agent: TlsAgent) -> None:
    with httpx.Client(timeout=10) as system_trust:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            system_trust.get(f"{agent.url}/v1/jobs")


def test_plain_http_gets_no_answer(agent: TlsAgent) -> None:
    with httpx.Client(timeout=10) as plain:
        with pytest.raises(httpx.HTTPError):
            plain.get(f"http://127.0.0.1:{agent.http_port}/v1/jobs")


def test_the_cli_tls_options_work_against_it(agent: TlsAgent) -> None:
    certs = agent.certs
    base = ["-address", agent.url, "-ca-cert", str(certs / "nomad-agent-ca.pem")]
    with_cert = [
        *base,
        "-client-cert", str(certs / "global-cli-nomad.pem"),
        "-client-key", str(certs / "global-cli-nomad-key.pem"),
    ]
    ok = CliRunner().invoke(cli, ["job", "status", *with_cert])
    assert ok.exit_code == 0, ok.output
    refused = CliRunner().invoke(cli, ["job", "status", *base])
    assert refused.exit_code != 0
