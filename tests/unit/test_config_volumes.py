"""The client's node_pool and host_volume blocks in the agent config."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch.config import AgentConfig, load_file
from gitorch.core.model.node import ClientHostVolume
from gitorch.errors import ConfigError


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.hcl"
    path.write_text(text)
    return load_file(path, AgentConfig())


def test_host_volumes_and_pool_load(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = load(
        tmp_path,
        f'client {{\n  enabled = true\n  node_pool = "gpu"\n'
        f'  host_volume "data" {{\n    path = "{data}"\n  }}\n'
        f'  host_volume "certs" {{\n    path = "{tmp_path}"\n    read_only = true\n  }}\n}}\n',
    )
    assert cfg.client.node_pool == "gpu"
    assert cfg.client.host_volumes == {
        "data": ClientHostVolume(name="data", path=str(data)),
        "certs": ClientHostVolume(name="certs", path=str(tmp_path), read_only=True),
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'host_volume "x" {\n path = "rel/dir"\n }',
            'agent.hcl:3: client.host_volume "x".path must be an absolute path',
        ),
        ('host_volume "x" {\n path = "/no/such/dir/here"\n }', "is not an existing directory"),
        ('host_volume "x" {\n }', 'agent.hcl:2: host_volume "x" needs a path'),
        ('host_volume "x" {\n path = "/"\n mode = "rw"\n }', "unknown setting 'mode'"),
        ('host_volume {\n path = "/"\n }', 'write host_volume "NAME"'),
        ('node_pool = "all"', 'cannot be "all"'),
    ],
)
def test_bad_host_volumes_are_located_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"client {{\n {body}\n}}\n")
    assert message in str(info.value)
