"""``gitorch tls ca create`` and ``tls cert create``: the files ``nomad tls`` writes, keys
0600, names a server certificate is checked against, no overwrite, CA checks."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitorch.cli.main import cli


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["tls", *args])


@pytest.fixture
def certs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    assert run("ca", "create").exit_code == 0
    for role in ("-server", "-client", "-cli"):
        result = run("cert", "create", role)
        assert result.exit_code == 0, result.output
    return tmp_path


def test_files_have_nomads_names_and_keys_are_private(certs: Path) -> None:
    names = sorted(p.name for p in certs.iterdir())
    assert names == sorted(
        [
            "nomad-agent-ca.pem", "nomad-agent-ca-key.pem",
            "global-server-nomad.pem", "global-server-nomad-key.pem",
            "global-client-nomad.pem", "global-client-nomad-key.pem",
            "global-cli-nomad.pem", "global-cli-nomad-key.pem",
        ]
    )
    for key in certs.glob("*-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
        assert "PRIVATE KEY" in key.read_text()


def test_server_certificate_verifies_against_the_ca_with_nomads_names(certs: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(certs / "nomad-agent-ca.pem"))
    ctx.load_cert_chain(certs / "global-cli-nomad.pem", certs / "global-cli-nomad-key.pem")
    info = ssl._ssl._test_decode_cert(str(certs / "global-server-nomad.pem"))  # type: ignore[attr-defined]
    sans = info["subjectAltName"]
    assert ("DNS", "server.global.nomad") in sans
    assert ("DNS", "localhost") in sans
    assert ("IP Address", "127.0.0.1") in sans
    cli_sans = ssl._ssl._test_decode_cert(str(certs / "global-cli-nomad.pem"))["subjectAltName"]  # type: ignore[attr-defined]
    assert ("DNS", "cli.global.nomad") in cli_sans


def test_existing_files_are_never_overwritten(certs: Path) -> None:
    before = (certs / "nomad-agent-ca-key.pem").read_bytes()
    result = run("ca", "create")
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert (certs / "nomad-agent-ca-key.pem").read_bytes() == before
    again = run("cert", "create", "-server")
    assert again.exit_code != 0 and "already exists" in again.output


def test_cert_needs_a_role_and_a_matching_ca(certs: Path, tmp_path: Path) -> None:
    no_role = run("cert", "create", "-dir", str(tmp_path / "x"))
    assert no_role.exit_code != 0 and "-server, -client or -cli" in no_role.output
    other = tmp_path / "other"
    assert run("ca", "create", "-dir", str(other)).exit_code == 0
    mixed = run(
        "cert", "create", "-server", "-dir", str(tmp_path / "y"),
        "-ca", "nomad-agent-ca.pem", "-key", str(other / "nomad-agent-ca-key.pem"),
    )
    assert mixed.exit_code != 0
    assert "does not belong" in mixed.output
    assert "PRIVATE" not in mixed.output
    missing = run("cert", "create", "-client", "-dir", str(tmp_path / "z"), "-ca", "nope.pem")
    assert missing.exit_code != 0 and "nope.pem" in missing.output
