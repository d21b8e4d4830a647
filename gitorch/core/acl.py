"""The ACL decision: may this token do this, here? Pure, as Nomad's ``acl`` package.

A policy's rules (parsed from Nomad's policy language outside ``core``) are values:
``Rules`` holds namespace rules keyed by name or glob, and one level for each of the
cluster-wide scopes (``node``, ``agent``, ``operator``, ``quota``, ``plugin``) plus the
host-volume rules. A token's policies merge into one ``Rules``; then

- a management token may do everything;
- an expired token may do nothing;
- a namespace request uses the exact namespace rule when there is one, else the glob
  closest to the name (fewest characters left to the ``*``; Nomad's most-specific match),
  merging ties; a ``deny`` anywhere in the chosen rule's merged capabilities refuses;
- a cluster-wide scope takes the strongest level across policies, but ``deny`` in any
  policy beats every grant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, NamedTuple

import msgspec

from gitorch.core.model.acl import MANAGEMENT, ACLToken

DENY: Final = "deny"
READ: Final = "read"
WRITE: Final = "write"
LIST: Final = "list"
SCALE: Final = "scale"

_READ_CAPS = (
    "list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume",
    "read-job-scaling", "list-scaling-policies", "read-scaling-policy",
)  # fmt: skip
_WRITE_CAPS = (
    *_READ_CAPS, "scale-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
    "alloc-exec", "alloc-lifecycle", "csi-mount-volume", "csi-write-volume",
    "submit-recommendation",
)  # fmt: skip
_SCALE_CAPS = ("list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job")
NAMESPACE_POLICY: Final[Mapping[str, tuple[str, ...]]] = {
    DENY: (DENY,),
    READ: _READ_CAPS,
    WRITE: _WRITE_CAPS,
    SCALE: _SCALE_CAPS,
}
NAMESPACE_CAPABILITIES: Final = frozenset(
    (*_WRITE_CAPS, DENY, "alloc-node-exec", "csi-register-plugin", "sentinel-override",
     "host-volume-create", "host-volume-register", "host-volume-read", "host-volume-write",
     "host-volume-delete")
)  # fmt: skip
VARIABLE_CAPABILITIES: Final = frozenset({"write", "read", "list", "destroy", DENY})
# A namespace policy also grants variables under every path (Nomad 1.4+).
VARIABLE_POLICY: Final[Mapping[str, tuple[str, ...]]] = {
    READ: ("read", "list"),
    WRITE: ("write", "read", "destroy", "list"),
}
HOST_VOLUME_POLICY: Final[Mapping[str, tuple[str, ...]]] = {
    DENY: (DENY,),
    READ: ("mount-readonly",),
    WRITE: ("mount-readonly", "mount-readwrite"),
}
HOST_VOLUME_CAPABILITIES: Final = frozenset({DENY, "mount-readonly", "mount-readwrite"})
# Levels of the cluster-wide scopes, weakest first; deny is handled apart (it always wins).
SCOPE_LEVELS: Final[Mapping[str, tuple[str, ...]]] = {
    "node": (READ, WRITE),
    "agent": (READ, WRITE),
    "operator": (READ, WRITE),
    "quota": (READ, WRITE),
    "plugin": (LIST, READ),
}
Scope = Literal[
    "namespace", "variables", "host_volume", "node", "agent", "operator", "quota", "plugin",
    "management",
]  # fmt: skip


class NamespaceRule(msgspec.Struct, frozen=True, kw_only=True):
    capabilities: frozenset[str] = frozenset()
    variables: Mapping[str, frozenset[str]] = {}  # path glob -> capabilities


class Rules(msgspec.Struct, frozen=True, kw_only=True):
    """One policy's rules, or several merged (``merge``)."""

    namespaces: Mapping[str, NamespaceRule] = {}
    scopes: Mapping[str, str] = {}  # node/agent/operator/quota/plugin -> level or deny
    host_volumes: Mapping[str, frozenset[str]] = {}


class Capability(NamedTuple):
    """What a request needs: ``namespace``/``submit-job``, ``node``/``write``,
    ``variables``/``read`` at ``target`` (a path), ``host_volume``/``mount-readonly`` at
    ``target`` (a volume), ``management``/``*``."""

    scope: Scope
    action: str
    target: str = ""

    def describe(self) -> str:
        if self.scope == "management":
            return "a management token"
        where = f" on {self.target!r}" if self.target else ""
        return f"{self.scope}:{self.action}{where}"


def merge(all_rules: Iterable[Rules]) -> Rules:
    """Several policies as one: capabilities union per namespace pattern (``deny`` kept,
    so it wins later), scopes at their strongest level unless any policy denies."""
    namespaces: dict[str, tuple[set[str], dict[str, set[str]]]] = {}
    scopes: dict[str, str] = {}
    volumes: dict[str, set[str]] = {}
    for rules in all_rules:
        for pattern, rule in rules.namespaces.items():
            caps, variables = namespaces.setdefault(pattern, (set(), {}))
            caps |= rule.capabilities
            for path, vcaps in rule.variables.items():
                variables.setdefault(path, set()).update(vcaps)
        for scope, level in rules.scopes.items():
            scopes[scope] = _stronger(scope, scopes.get(scope), level)
        for name, vcaps in rules.host_volumes.items():
            volumes.setdefault(name, set()).update(vcaps)
    return Rules(
        namespaces={
            p: NamespaceRule(
                capabilities=frozenset(caps),
                variables={k: frozenset(v) for k, v in variables.items()},
            )
            for p, (caps, variables) in namespaces.items()
        },
        scopes=scopes,
        host_volumes={k: frozenset(v) for k, v in volumes.items()},
    )


def _stronger(scope: str, old: str | None, new: str) -> str:
    if old is None:
        return new
    if DENY in (old, new):
        return DENY
    order = SCOPE_LEVELS[scope]
    return old if order.index(old) >= order.index(new) else new


def allow(
    token: ACLToken | None,
    policies: Sequence[Rules],
    capability: Capability,
    namespace: str = "default",
    *,
    now: int = 0,
) -> bool:
    """May ``token`` (None: anonymous) holding ``policies`` use ``capability`` in
    ``namespace`` at time ``now`` (unix ns)? Pure: the same inputs, the same answer."""
    return allow_merged(token, merge(policies), capability, namespace, now=now)


def allow_merged(
    token: ACLToken | None,
    rules: Rules,
    capability: Capability,
    namespace: str = "default",
    *,
    now: int = 0,
) -> bool:
    """``allow`` with the token's policies already merged (``merge``): a caller that
    judges many requests for one token merges once."""
    if token is not None and token.expired(now):
        return False
    if token is not None and token.type == MANAGEMENT:
        return True
    if capability.scope == "management":
        return False
    match capability.scope:
        case "namespace":
            caps = namespace_capabilities(rules, namespace)
            return DENY not in caps and capability.action in caps
        case "variables":
            rule = _closest(rules.namespaces, namespace)
            if rule is None:
                return False
            vcaps = _closest_caps(rule.variables, capability.target)
            return DENY not in vcaps and capability.action in vcaps
        case "host_volume":
            vcaps = _closest_caps(rules.host_volumes, capability.target)
            return DENY not in vcaps and capability.action in vcaps
        case _:
            level = rules.scopes.get(capability.scope)
            if level is None or level == DENY:
                return False
            order = SCOPE_LEVELS[capability.scope]
            return capability.action in order and order.index(level) >= order.index(
                capability.action
            )


def namespace_capabilities(rules: Rules, namespace: str) -> frozenset[str]:
    """The capabilities ``rules`` grant in ``namespace`` (``deny`` included if denied)."""
    rule = _closest(rules.namespaces, namespace)
    return frozenset() if rule is None else rule.capabilities


def allowed_in_some_namespace(
    token: ACLToken | None, policies: Sequence[Rules], action: str
) -> bool:
    """Whether any namespace pattern grants ``action`` (``?namespace=*`` lists)."""
    return allowed_in_some_namespace_merged(token, merge(policies), action)


def allowed_in_some_namespace_merged(token: ACLToken | None, rules: Rules, action: str) -> bool:
    """``allowed_in_some_namespace`` with the policies already merged."""
    if token is not None and token.type == MANAGEMENT:
        return True
    return any(
        DENY not in r.capabilities and action in r.capabilities for r in rules.namespaces.values()
    )


def namespace_predicate(
    token: ACLToken | None, rules: Rules, action: str, *, now: int = 0
) -> Callable[[str], bool]:
    """``namespace -> may token use namespace:action there`` for one moment ``now``,
    each namespace judged once (a list of 10,000 items in a few namespaces costs a few
    decisions, not 10,000). The same answers as ``allow_merged``."""
    capability = Capability("namespace", action)
    decided: dict[str, bool] = {}

    def allowed(namespace: str) -> bool:
        found = decided.get(namespace)
        if found is None:
            found = decided[namespace] = allow_merged(token, rules, capability, namespace, now=now)
        return found

    return allowed


def glob_match(pattern: str, name: str) -> bool:
    """Nomad's namespace glob: ``*`` matches any run of characters, nothing else is
    special."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == name
    if not name.startswith(parts[0]) or not name.endswith(parts[-1]):
        return False
    if len(parts[0]) + len(parts[-1]) > len(name):
        return False
    pos, end = len(parts[0]), len(name) - len(parts[-1])
    for middle in parts[1:-1]:
        found = name.find(middle, pos, end)
        if found < 0:
            return False
        pos = found + len(middle)
    return True


def _closest_patterns(patterns: Iterable[str], name: str) -> list[str]:
    """The exact pattern, else the matching globs with the fewest characters left over."""
    candidates = [p for p in patterns if glob_match(p, name)]
    if name in candidates:
        return [name]
    if not candidates:
        return []
    best = min(len(name) - len(p.replace("*", "")) for p in candidates)
    return [p for p in candidates if len(name) - len(p.replace("*", "")) == best]


def _closest(rules: Mapping[str, NamespaceRule], name: str) -> NamespaceRule | None:
    chosen = _closest_patterns(rules, name)
    if not chosen:
        return None
    if len(chosen) == 1:
        return rules[chosen[0]]
    variables: dict[str, set[str]] = {}
    for p in chosen:
        for path, caps in rules[p].variables.items():
            variables.setdefault(path, set()).update(caps)
    return NamespaceRule(
        capabilities=frozenset().union(*(rules[p].capabilities for p in chosen)),
        variables={k: frozenset(v) for k, v in variables.items()},
    )


def _closest_caps(rules: Mapping[str, frozenset[str]], name: str) -> frozenset[str]:
    return frozenset().union(*(rules[p] for p in _closest_patterns(rules, name)))
