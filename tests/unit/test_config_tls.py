"""The agent's ``tls`` block: typed, files checked when loaded, errors located and free
of key material."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch import tlsfiles
from gitorch.config import AgentConfig, build, load_file
from gitorch.errors import ConfigError


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    tlsfiles.create_ca(tmp_path)
    tlsfiles.create_cert(
        tmp_path, "server", ca_cert=tmp_path / tlsfiles.CA_CERT, ca_key=tmp_path / tlsfiles.CA_KEY
    )
    return tmp_path


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.hcl"
    path.write_text(text)
    return load_file(path, AgentConfig())


GOOD = """tls {
  http = true
  rpc = true
  ca_file = "nomad-agent-ca.pem"
  cert_file = "global-server-nomad.pem"
  key_file = "global-server-nomad-key.pem"
  verify_server_hostname = true
  verify_https_client = true
}
"""


def test_relative_files_are_read_from_the_config_folder(certs: Path) -> None:
    cfg = load(certs, GOOD)
    assert cfg.tls.http and cfg.tls.rpc and cfg.tls.verify_https_client
    assert cfg.tls.ca_file == str(certs / "nomad-agent-ca.pem")
    assert cfg.tls.scheme == "https"
    assert cfg.tls.client_context() is not None
    assert cfg.tls.sni("global") == {"sni_hostname": "server.global.nomad"}
    assert "key_file" not in repr(cfg.tls)


def test_a_missing_file_is_a_located_error(certs: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(certs, GOOD.replace("global-server-nomad-key.pem", "gone.pem"))
    assert "agent.hcl:6: tls.key_file cannot be read" in str(err.value)
    assert "gone.pem" in str(err.value)


def test_a_value_of_the_wrong_type_is_a_located_error(certs: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent.hcl:2: tls.http must be true or false"):
        load(certs, GOOD.replace("http = true", 'http = "yes"'))
    with pytest.raises(ConfigError, match=r"agent.hcl:2: tls: unknown setting 'htp'"):
        load(certs, GOOD.replace("http = true", "htp = true"))


def test_a_key_that_does_not_match_the_certificate_is_refused_without_showing_it(
    certs: Path,
) -> None:
    other = certs / "other"
    tlsfiles.create_ca(other)
    bad = GOOD.replace("global-server-nomad-key.pem", "other/nomad-agent-ca-key.pem")
    with pytest.raises(ConfigError) as err:
        load(certs, bad)
    assert "agent.hcl:1: tls: cert_file, key_file and ca_file cannot be used together" in str(
        err.value
    )
    assert "PRIVATE" not in str(err.value)


def test_https_without_a_certificate_or_verification_without_a_ca_is_refused(
    certs: Path,
) -> None:
    with pytest.raises(ConfigError, match="needs cert_file and key_file"):
        load(certs, "tls {\n  http = true\n}\n")
    with pytest.raises(ConfigError, match="needs ca_file"):
        load(certs, "\n".join(ln for ln in GOOD.splitlines() if "ca_file" not in ln))


def test_no_tls_block_means_plain_http() -> None:
    cfg = AgentConfig()
    assert cfg.tls.scheme == "http" and cfg.tls.client_context() is None and cfg.tls.sni() == {}


def test_server_encrypt_must_be_a_base64_key_of_a_cipher_size(tmp_path: Path) -> None:
    good = "server {\n  enabled = true\n  encrypt = \"" + "A" * 43 + "=\"\n}\n"
    cfg = load(tmp_path, good)
    assert cfg.server.encrypt == "A" * 43 + "="
    assert "A" * 43 not in repr(cfg.server)
    with pytest.raises(ConfigError, match=r"agent.hcl:3: server.encrypt must be base64"):
        load(tmp_path, good.replace("A" * 43 + "=", "not base64!"))
    with pytest.raises(ConfigError, match="must decode to 16, 24 or 32 bytes, not 3"):
        load(tmp_path, good.replace("A" * 43 + "=", "AAAA"))


def test_tls_rpc_on_a_server_needs_a_raft_key(certs: Path) -> None:
    path = certs / "agent.hcl"
    path.write_text(GOOD + "server {\n  enabled = true\n}\n")
    with pytest.raises(ConfigError, match="tls.rpc = true on a server needs server.encrypt"):
        build({"config": [str(path)]})
    path.write_text(GOOD + 'server {\n  enabled = true\n  encrypt = "' + "B" * 22 + '=="\n}\n')
    assert build({"config": [str(path)]}).server.encrypt
