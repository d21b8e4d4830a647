"""Nomad's ACL policy language: what parses, what it grants, and located errors."""

from __future__ import annotations

import pytest

from gitorch.core.acl import Capability, allow
from gitorch.core.model.acl import ACLToken
from gitorch.errors import JobspecError
from gitorch.server.aclpolicy import parse_policy

CLIENT = ACLToken(accessor_id="a")

FULL = """
namespace "default" {
  policy       = "read"
  capabilities = ["submit-job"]
  variables {
    path "app/*" { capabilities = ["write", "read"] }
  }
}
namespace "prod-*" { policy = "deny" }
node     { policy = "read" }
agent    { policy = "write" }
operator { policy = "read" }
quota    { policy = "read" }
plugin   { policy = "list" }
host_volume "data-*" { policy = "write" }
"""


def test_a_full_policy_grants_what_it_says() -> None:
    rules = [parse_policy(FULL, "full")]
    assert allow(CLIENT, rules, Capability("namespace", "read-job"), "default")
    assert allow(CLIENT, rules, Capability("namespace", "submit-job"), "default")
    assert not allow(CLIENT, rules, Capability("namespace", "read-logs"), "default")
    assert not allow(CLIENT, rules, Capability("namespace", "read-job"), "prod-eu")
    assert allow(CLIENT, rules, Capability("variables", "write", "app/db"), "default")
    assert allow(CLIENT, rules, Capability("variables", "list", "other"), "default")  # read
    assert not allow(CLIENT, rules, Capability("variables", "write", "other"), "default")
    assert allow(CLIENT, rules, Capability("node", "read"))
    assert not allow(CLIENT, rules, Capability("node", "write"))
    assert allow(CLIENT, rules, Capability("agent", "write"))
    assert allow(CLIENT, rules, Capability("plugin", "list"))
    assert not allow(CLIENT, rules, Capability("plugin", "read"))
    assert allow(CLIENT, rules, Capability("host_volume", "mount-readwrite", "data-1"))


def test_scale_policy() -> None:
    rules = [parse_policy('namespace "*" { policy = "scale" }')]
    assert allow(CLIENT, rules, Capability("namespace", "scale-job"), "any")
    assert not allow(CLIENT, rules, Capability("namespace", "submit-job"), "any")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('namespace "default" {\n  policy = "reed"\n}\n', 2, "is not one of"),
        ('namespace "default" {\n  policy = "read"\n  capabilities = ["fly"]\n}\n', 3, "'fly'"),
        ('\nnode {\n}\nagent {\n  policy = "root"\n}\n', 2, "policy is required"),
        ('namespace {\n  policy = "read"\n}\n', 1, 'namespace "NAME"'),
        ('\n\nkeyring {\n  policy = "read"\n}\n', 3, "unknown rule 'keyring'"),
        ('namespace "a" {\n  polcy = "read"\n}\n', 2, "unknown attribute 'polcy'"),
        ('namespace "a" {\n  policy = "read"\n', 2, "HCL syntax error"),
        (
            'namespace "a" {\n  variables {\n    path "x" { capabilities = ["own"] }\n  }\n}\n',
            3,
            "'own'",
        ),
    ],
)
def test_malformed_policies_name_the_line(text: str, line: int, needle: str) -> None:
    with pytest.raises(JobspecError) as err:
        parse_policy(text, "mine")
    assert err.value.line == line, str(err.value)
    assert str(err.value).startswith(f"mine:{line}:")
    assert needle in str(err.value)
