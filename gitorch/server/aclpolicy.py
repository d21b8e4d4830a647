"""Nomad's ACL policy language, parsed into ``gitorch.core.acl.Rules``.

    namespace "default" {
      policy       = "read"                    # deny | read | write | scale
      capabilities = ["submit-job"]            # added to what the policy grants
      variables { path "app/*" { capabilities = ["read", "list"] } }
    }
    node     { policy = "read" }               # deny | read | write (agent, operator, quota too)
    plugin   { policy = "list" }               # deny | list | read
    host_volume "data-*" { policy = "write" }  # or capabilities = ["mount-readonly"]

Every mistake is a ``JobspecError`` naming the policy, the line and what to write
instead (the API answers it with 400).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from gitorch.core.acl import (
    DENY,
    HOST_VOLUME_CAPABILITIES,
    HOST_VOLUME_POLICY,
    NAMESPACE_CAPABILITIES,
    NAMESPACE_POLICY,
    SCOPE_LEVELS,
    VARIABLE_CAPABILITIES,
    VARIABLE_POLICY,
    NamespaceRule,
    Rules,
)
from gitorch.errors import JobspecError
from gitorch.jobspec import hcl

_SCOPES = tuple(SCOPE_LEVELS)


def parse_policy(rules: str, name: str = "policy") -> Rules:
    """Parse policy text; raise ``JobspecError`` located at ``name:line``."""
    return _parse(rules.replace("\r\n", "\n"), name)


@lru_cache(maxsize=1024)
def _parse(text: str, name: str) -> Rules:
    body = hcl.parse(text, name)
    if body.attributes:
        attr = next(iter(body.attributes.values()))
        raise _error(name, attr.line, f"unexpected attribute {attr.name!r} at the top level")
    namespaces: dict[str, NamespaceRule] = {}
    scopes: dict[str, str] = {}
    volumes: dict[str, frozenset[str]] = {}
    for block in body.blocks:
        where = block.type + "".join(f' "{label}"' for label in block.labels)
        if block.type == "namespace":
            label = _one_label(block, name, where)
            if label in namespaces:
                raise _error(name, block.line, f"{where} is written twice")
            namespaces[label] = _namespace(block, name, where)
        elif block.type in _SCOPES:
            if block.labels:
                raise _error(name, block.line, f"{block.type} takes no label")
            _only(block.body, {"policy"}, set(), name, where)
            levels = (DENY, *SCOPE_LEVELS[block.type])
            level = _policy(block.body, levels, name, where)
            if not level:
                raise _error(name, block.line, f"{where}: policy is required ({_one_of(levels)})")
            scopes[block.type] = level
        elif block.type == "host_volume":
            label = _one_label(block, name, where)
            _only(block.body, {"policy", "capabilities"}, set(), name, where)
            level = _policy(block.body, tuple(HOST_VOLUME_POLICY), name, where)
            caps = set(HOST_VOLUME_POLICY.get(level, ()))
            caps |= _capabilities(block.body, HOST_VOLUME_CAPABILITIES, name, where)
            volumes[label] = frozenset(caps)
        else:
            known = ", ".join(("namespace", *_SCOPES, "host_volume"))
            raise _error(name, block.line, f"unknown rule {block.type!r}; expected one of {known}")
    return Rules(namespaces=namespaces, scopes=scopes, host_volumes=volumes)


def _namespace(block: hcl.Block, name: str, where: str) -> NamespaceRule:
    _only(block.body, {"policy", "capabilities"}, {"variables"}, name, where)
    level = _policy(block.body, tuple(NAMESPACE_POLICY), name, where)
    caps = set(NAMESPACE_POLICY.get(level, ()))
    caps |= _capabilities(block.body, NAMESPACE_CAPABILITIES, name, where)
    variables: dict[str, frozenset[str]] = {}
    if level in VARIABLE_POLICY:
        variables["*"] = frozenset(VARIABLE_POLICY[level])
    for vblock in block.body.blocks_of("variables"):
        _only(vblock.body, set(), {"path"}, name, f"{where}.variables")
        for path in vblock.body.blocks:
            pwhere = f'{where}.variables.path "{path.labels[0] if path.labels else ""}"'
            label = _one_label(path, name, pwhere)
            _only(path.body, {"capabilities"}, set(), name, pwhere)
            vcaps = _capabilities(path.body, VARIABLE_CAPABILITIES, name, pwhere)
            variables[label] = frozenset(variables.get(label, frozenset()) | vcaps)
    if level == DENY:
        variables = {"*": frozenset({DENY})}
    return NamespaceRule(capabilities=frozenset(caps), variables=variables)


def _only(body: hcl.Body, attrs: set[str], blocks: set[str], name: str, where: str) -> None:
    for attr in body.attributes.values():
        if attr.name not in attrs:
            allowed = ", ".join(sorted(attrs)) or "none"
            raise _error(
                name, attr.line, f"{where}: unknown attribute {attr.name!r} (allowed: {allowed})"
            )
    for block in body.blocks:
        if block.type not in blocks:
            raise _error(name, block.line, f"{where}: unexpected block {block.type!r}")


def _one_label(block: hcl.Block, name: str, where: str) -> str:
    if len(block.labels) != 1 or not block.labels[0]:
        raise _error(name, block.line, f'{block.type} needs one name: {block.type} "NAME" {{ }}')
    return block.labels[0]


def _policy(body: hcl.Body, levels: tuple[str, ...], name: str, where: str) -> str:
    attr = body.attributes.get("policy")
    if attr is None:
        return ""
    if not isinstance(attr.value, str) or attr.value not in levels:
        raise _error(
            name, attr.line, f"{where}: policy {_show(attr.value)} is not {_one_of(levels)}"
        )
    return attr.value


def _capabilities(body: hcl.Body, known: frozenset[str], name: str, where: str) -> set[str]:
    attr = body.attributes.get("capabilities")
    if attr is None:
        return set()
    if not isinstance(attr.value, list):
        raise _error(name, attr.line, f"{where}: capabilities must be a list of strings")
    out: set[str] = set()
    for value in attr.value:
        if not isinstance(value, str) or value not in known:
            raise _error(
                name,
                attr.line,
                f"{where}: unknown capability {_show(value)} (known: {', '.join(sorted(known))})",
            )
        out.add(value)
    return out


def _one_of(levels: tuple[str, ...]) -> str:
    return "one of " + ", ".join(f'"{level}"' for level in levels)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _error(name: str, line: int, message: str) -> JobspecError:
    return JobspecError(message, file=name, line=line)
