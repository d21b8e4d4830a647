"""``-tls-server-name`` (and ``NOMAD_TLS_SERVER_NAME``): the CLI checks that name in the
agent's certificate instead of the address's host, as Nomad's; ``-no-color`` is
accepted. Against a real in-memory server served over HTTPS with a ``gitorch tls``
server certificate (names: server.global.nomad, localhost, 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitorch.api.app import make_app
from gitorch.cli.main import cli
from gitorch.server.server import Server
from tests.unit.api.fakes import in_memory_server, serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    monkeypatch.chdir(tmp_path)
    for args in (["ca", "create"], ["cert", "create", "-server"]):
        made = CliRunner().invoke(cli, ["tls", *args])
        assert made.exit_code == 0, made.output
    srv: Server = in_memory_server("c11c0000-0000-4000-8000-000000000009")
    try:
        app = make_app(srv)
        cert, key = tmp_path / "global-server-nomad.pem", tmp_path / "global-server-nomad-key.pem"
        with serve(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as addr:
            yield f"https://{addr}", tmp_path / "nomad-agent-ca.pem"
    finally:
        srv.stop()


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args))


def test_the_named_server_is_checked_not_the_address(https: tuple[str, Path]) -> None:
    address, ca = https
    base = ["-address", address, "-ca-cert", str(ca)]
    named = run(*base, "-tls-server-name", "server.global.nomad", "node", "status")
    assert named.exit_code == 0, named.output
    wrong = run(*base, "-tls-server-name", "server.other.nomad", "node", "status")
    assert wrong.exit_code == 1
    assert "not valid for 'server.other.nomad'" in wrong.output
    from_env = run(*base, "node", "status", env={"NOMAD_TLS_SERVER_NAME": "server.other.nomad"})
    assert from_env.exit_code == 1  # the environment's name is checked too
    plain = run(*base, "-no-color", "node", "status")  # 127.0.0.1 is in the certificate
    assert plain.exit_code == 0, plain.output
