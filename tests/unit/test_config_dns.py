"""The agent config's dns block: off by default, each setting checked with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch.config import AgentConfig, load_file
from gitorch.config_dns import DnsSettings
from gitorch.errors import ConfigError


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.hcl"
    path.write_text(text)
    return load_file(path, AgentConfig())


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_dns_is_off_by_default() -> None:
    assert AgentConfig().dns == DnsSettings(enabled=False, port=8600, bind="127.0.0.1", ttl_s=1)


def test_dns_block_loads(tmp_path: Path) -> None:
    cfg = load(
        tmp_path, 'dns {\n  enabled = true\n  port = 5353\n  bind = "::1"\n  ttl = "3s"\n}\n'
    )
    assert cfg.dns == DnsSettings(enabled=True, port=5353, bind="::1", ttl_s=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('dns {\n  enabled = "yes"\n}\n', "agent.hcl:2: dns.enabled must be true or false"),
        ("dns {\n  port = 70000\n}\n", "agent.hcl:2: dns.port must be between 1 and 65535"),
        ('dns {\n  bind = "localhost"\n}\n', 'dns.bind must be an IP address like "127.0.0.1"'),
        ('dns {\n  ttl = "2m"\n}\n', 'dns.ttl must be whole seconds from "0s" to "60s"'),
        ('dns {\n  ttl = "1500ms"\n}\n', "dns.ttl must be whole seconds"),
        (
            'dns {\n  domain = "x"\n}\n',
            "agent.hcl:2: dns: unknown setting 'domain' (known: bind, enabled, port, ttl)",
        ),
    ],
)
def test_bad_dns_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    assert message in refused(tmp_path, text)
