"""Agent configuration is checked strictly: each value's type, with the file and line,
and ACL settings that would leave the API open or locked are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch.config import AgentConfig, build, load_file
from gitorch.errors import ConfigError


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.hcl"
    path.write_text(text)
    return load_file(path, AgentConfig())


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'data_dir = "/d"\n'
        "ports { http = 8080 }\n"
        'server { enabled = true  bootstrap_expect = 3  heartbeat_grace = "20s"\n'
        '  server_join { retry_join = ["10.0.0.2:4647"] } }\n'
        'client { enabled = true  servers = ["127.0.0.1:4646"]  meta { rack = 7  gpu = true } }\n'
        'acl { enabled = true  tokens = ["s3cret", "other"] }\n',
    )
    assert cfg.data_dir == "/d" and cfg.http_port == 8080
    assert cfg.server.bootstrap_expect == 3 and cfg.server.heartbeat_grace_s == 20.0
    assert cfg.server.retry_join == ("10.0.0.2:4647",)
    assert cfg.client.meta == {"rack": "7", "gpu": "true"}
    assert cfg.acl_enabled and cfg.acl_tokens == ("s3cret", "other")


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ('acl {\n  enabled = true\n  tokens = "X"\n}\n', 3, "acl.tokens must be a list"),
        ('acl {\n  enabled = true\n  tokens = [""]\n}\n', 3, "acl.tokens [0] is empty"),
        ('acl {\n  enabled = true\n  tokens = ["a", "  "]\n}\n', 3, "acl.tokens [1] is empty"),
        ("acl {\n  enabled = true\n  tokens = [1]\n}\n", 3, "acl.tokens [0] must be a string"),
        ('acl {\n  enabled = true\n  tokens = [" a"]\n}\n', 3, "leading or trailing blanks"),
        ('acl {\n  enabled = "yes"\n}\n', 2, "acl.enabled must be true or false"),
        ('client {\n  servers = "127.0.0.1:4646"\n}\n', 2, "client.servers must be a list"),
        ('client {\n  servers = ["nope"]\n}\n', 2, "'nope' is not host:port"),
        ('ports {\n  http = "80"\n}\n', 2, "ports.http must be a whole number, not a string"),
        ("ports {\n  http = 70000\n}\n", 2, "ports.http must be between 1 and 65535"),
        ("ports {\n  rpc = 1.5\n}\n", 2, "ports.rpc must be a whole number"),
        ("server {\n  bootstrap_expect = 0\n}\n", 2, "server.bootstrap_expect must be between"),
        ('server {\n  num_schedulers = "2"\n}\n', 2, "server.num_schedulers must be a whole"),
        ("server {\n  heartbeat_grace = 10\n}\n", 2, "server.heartbeat_grace must be a string"),
        ('server {\n  heartbeat_grace = "ten"\n}\n', 2, "is not a duration"),
        (
            'server {\n  server_join {\n    retry_join = "10.0.0.2:4647"\n  }\n}\n',
            3,
            "server.server_join.retry_join must be a list",
        ),
        ("server {\n  server_join {\n    retry = []\n  }\n}\n", 3, "is not a known setting"),
        ("client {\n  meta {\n    a = [1]\n  }\n}\n", 3, "client.meta.a must be a string"),
        ("data_dir = 5\n", 1, "data_dir must be a string"),
        ('\n\nname = ["n"]\n', 3, "name must be a string"),
        (
            'gitops {\n  repo = "r"\n  vars_files = "a.hcl"\n}\n',
            3,
            "gitops.vars_files must be a list",
        ),
        ('gitops {\n  repo = "r"\n  prune = "false"\n}\n', 3, "gitops.prune must be true or false"),
        ('gitops {\n  repo = "r"\n  poll_interval = 15\n}\n', 3, "gitops.poll_interval must be a"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_file_and_line(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'agent.hcl'}:{line}: "), message
    assert expected in message, message


def test_acl_enabled_with_no_tokens_waits_for_bootstrap(tmp_path: Path) -> None:
    cfg = load(tmp_path, "acl {\n  enabled = true\n}\n")
    assert cfg.acl_enabled and cfg.acl_tokens == ()


def test_tokens_without_acl_enabled_are_refused_as_an_open_api(tmp_path: Path) -> None:
    message = refused(tmp_path, 'acl {\n  tokens = ["s3cret"]\n}\n')
    assert "would leave the API open to anyone" in message


def test_acl_disabled_with_no_tokens_is_fine(tmp_path: Path) -> None:
    cfg = load(tmp_path, "acl {\n  enabled = false\n  tokens = []\n}\n")
    assert not cfg.acl_enabled and cfg.acl_tokens == ()


def test_a_token_never_appears_in_the_error(tmp_path: Path) -> None:
    message = refused(tmp_path, 'acl {\n  enabled = true\n  tokens = ["s3cret", 7]\n}\n')
    assert "s3cret" not in message and "[1] must be a string" in message


def test_build_reports_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "a.hcl"
    path.write_text('server {\n  enabled = true\n}\nacl {\n  enabled = true\n  tokens = "X"\n}\n')
    with pytest.raises(ConfigError, match=rf"^{path}:6: acl.tokens must be a list"):
        build({"config": [str(path)]})


def test_consul_and_vault_blocks_are_read_for_the_provider_plugins(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'consul {\n  address = "127.0.0.1:8500"\n  token = "t0k"\n}\n'
        'vault {\n  enabled = true\n  address = "http://127.0.0.1:8200"\n}\n',
    )
    assert cfg.providers == {
        "consul": {"address": "127.0.0.1:8500", "token": "t0k"},
        "vault": {"enabled": True, "address": "http://127.0.0.1:8200"},
    }
    assert "t0k" not in repr(cfg)
    message = refused(tmp_path, 'vault {\n  enabled = true\n  adress = "x"\n}\n')
    assert "agent.hcl:3: vault: unknown setting 'adress'" in message
