"""What the user's token may do, so a page shows only the actions it can use.

With ACLs on, a page reads ``/v1/acl/token/self`` once, then the token's policies (its
own and its roles') through ``/v1/acl/policy/:name`` (a client token may read its own),
and decides as the agent's ACL check does: a management token may do everything; a
namespace rule is the exact name or else the closest glob, a ``deny`` in it refuses;
a cluster-wide scope (``operator``, ``node``) takes the strongest level, and a ``deny``
anywhere wins.

This is a hint for the page, never a guard: the API still checks every request. So
the page errs toward showing a button. ACLs off (the route answers 400): everything
shows. The route refused (403/404, e.g. no token) or any policy the reader cannot
follow (a rule language newer than this reader, a policy it may not read): everything
shows, and the API answers the click.

The reader below understands the subset of HCL that Nomad's policy language uses
(blocks with quoted labels, ``name = "string"``, lists of strings, comments); it lives
here because the UI imports nothing of gitorch's internals (import-linter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitorch.ui.api import ApiFailure, UiApi, seg

_READ = (
    "list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume",
    "read-job-scaling", "list-scaling-policies", "read-scaling-policy",
)  # fmt: skip
_WRITE = (
    *_READ, "scale-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
    "alloc-exec", "alloc-lifecycle", "csi-mount-volume", "csi-write-volume",
    "submit-recommendation",
)  # fmt: skip
NAMESPACE_LEVELS: Mapping[str, tuple[str, ...]] = {
    "deny": ("deny",),
    "read": _READ,
    "write": _WRITE,
    "scale": ("list-scaling-policies", "read-scaling-policy", "read-job-scaling", "scale-job"),
}
SCOPE_LEVELS: Mapping[str, tuple[str, ...]] = {
    "node": ("read", "write"),
    "agent": ("read", "write"),
    "operator": ("read", "write"),
    "quota": ("read", "write"),
    "plugin": ("list", "read"),
}


class Unreadable(Exception):
    """A policy this reader cannot follow: the page shows every button."""


@dataclass
class Rules:
    """Several policies' rules merged: capabilities per namespace pattern, one level per
    cluster-wide scope (``deny`` kept, so it wins)."""

    namespaces: dict[str, set[str]] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)

    def add_scope(self, scope: str, level: str) -> None:
        old = self.scopes.get(scope)
        if old is None or level == "deny" or old == "deny":
            self.scopes[scope] = "deny" if "deny" in (old, level) else level
            return
        order = SCOPE_LEVELS[scope]
        self.scopes[scope] = old if order.index(old) >= order.index(level) else level


@dataclass(frozen=True)
class Caps:
    """One page's answer. ``rules`` None with ``management`` False: unknown, allow all."""

    acl: bool = False
    management: bool = False
    rules: Rules | None = None

    def namespace(self, capability: str, namespace: str = "default") -> bool:
        if self.management or self.rules is None:
            return True
        caps = _closest(self.rules.namespaces, namespace)
        return "deny" not in caps and capability in caps

    def scope(self, scope: str, level: str) -> bool:
        if self.management or self.rules is None:
            return True
        have = self.rules.scopes.get(scope)
        if have is None or have == "deny":
            return False
        order = SCOPE_LEVELS[scope]
        return level in order and order.index(have) >= order.index(level)


ALL = Caps()


async def token_caps(api: UiApi) -> Caps:
    """The token's capabilities, read once for the page (see the module's docstring)."""
    try:
        token = await api.get("/v1/acl/token/self")
    except ApiFailure as exc:
        return Caps(acl=exc.status != 400)  # 400: ACLs off; 403/404: let the API decide
    if not isinstance(token, dict):
        return Caps(acl=True)
    if token.get("Type") == "management":
        return Caps(acl=True, management=True)
    try:
        names = list(token.get("Policies") or [])
        for link in token.get("Roles") or []:
            role = await api.get(f"/v1/acl/role/{seg(str(link.get('ID', '')))}")
            names.extend(str(p.get("Name", "")) for p in role.get("Policies") or [])
        unique = list(dict.fromkeys(names))
        policies = await asyncio.gather(
            *(api.get(f"/v1/acl/policy/{seg(name)}") for name in unique)
        )
        rules = Rules()
        for policy in policies:
            read_policy(str(policy.get("Rules", "")), rules)
    except (ApiFailure, Unreadable, AttributeError, TypeError):
        return Caps(acl=True)
    return Caps(acl=True, rules=rules)


# -- the policy reader ---------------------------------------------------------------


def read_policy(text: str, into: Rules) -> Rules:
    """Add one policy's rules to ``into``; ``Unreadable`` for anything unexpected."""
    for kind, labels, body in _blocks(_parse(_tokens(text))):
        if kind == "namespace":
            if len(labels) != 1:
                raise Unreadable("namespace needs one label")
            level = body.get("policy", "")
            extra = body.get("capabilities", [])
            if not isinstance(level, str) or not isinstance(extra, list):
                raise Unreadable("namespace rule")
            if level and level not in NAMESPACE_LEVELS:
                raise Unreadable(f"namespace policy {level!r}")
            caps = set(NAMESPACE_LEVELS.get(level, ())) | {str(c) for c in extra}
            into.namespaces.setdefault(labels[0], set()).update(caps)
        elif kind in SCOPE_LEVELS:
            level = body.get("policy", "")
            if level != "deny" and level not in SCOPE_LEVELS[kind]:
                raise Unreadable(f"{kind} policy {level!r}")
            into.add_scope(kind, str(level))
        elif kind != "host_volume":
            raise Unreadable(f"unknown rule {kind!r}")
    return into


Value = str | list[Any] | dict[str, Any]
Block = tuple[str, list[str], dict[str, Any]]


def _blocks(items: list[tuple[str, list[str], Value]]) -> Iterable[Block]:
    for name, labels, value in items:
        if not isinstance(value, dict):
            raise Unreadable(f"attribute {name!r} at the top level")
        yield name, labels, value


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch == ",":
            i += 1
        elif ch == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise Unreadable("unclosed comment")
            i = end + 2
        elif ch in "{}[]=":
            out.append(ch)
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise Unreadable("unclosed string")
            out.append('"' + "".join(buf))
            i = j + 1
        elif ch.isalnum() or ch in "_-":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-."):
                j += 1
            out.append(text[i:j])
            i = j
        else:
            raise Unreadable(f"unexpected {ch!r}")
    return out


def _parse(tokens: list[str]) -> list[tuple[str, list[str], Value]]:
    pos = 0

    def body(closing: str | None) -> list[tuple[str, list[str], Value]]:
        nonlocal pos
        items: list[tuple[str, list[str], Value]] = []
        while pos < len(tokens) and tokens[pos] != closing:
            name = tokens[pos]
            if name in "{}[]=" or name.startswith('"'):
                raise Unreadable(f"unexpected {name!r}")
            pos += 1
            labels: list[str] = []
            while pos < len(tokens) and tokens[pos].startswith('"'):
                labels.append(tokens[pos][1:])
                pos += 1
            if pos < len(tokens) and tokens[pos] == "=" and not labels:
                pos += 1
                items.append((name, [], value()))
            elif pos < len(tokens) and tokens[pos] == "{":
                pos += 1
                inner = body("}")
                pos += 1
                items.append((name, labels, _as_dict(inner)))
            else:
                raise Unreadable(f"{name!r} is neither an attribute nor a block")
        if closing is not None and pos >= len(tokens):
            raise Unreadable("unclosed block")
        return items

    def value() -> Value:
        nonlocal pos
        if pos >= len(tokens):
            raise Unreadable("missing value")
        tok = tokens[pos]
        pos += 1
        if tok.startswith('"'):
            return tok[1:]
        if tok == "[":
            out: list[Any] = []
            while pos < len(tokens) and tokens[pos] != "]":
                out.append(value())
            if pos >= len(tokens):
                raise Unreadable("unclosed list")
            pos += 1
            return out
        if tok in "{}]=":
            raise Unreadable(f"unexpected {tok!r}")
        return tok

    return body(None)


def _as_dict(items: list[tuple[str, list[str], Value]]) -> dict[str, Any]:
    """A block's body: attributes by name; nested blocks kept apart under ``blocks``."""
    out: dict[str, Any] = {}
    for name, labels, value in items:
        if isinstance(value, dict):
            out.setdefault("blocks", []).append((name, labels, value))
        else:
            out[name] = value
    return out


# -- the decision ----------------------------------------------------------------------


def glob_match(pattern: str, name: str) -> bool:
    """Nomad's namespace glob: ``*`` matches any run of characters."""
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


def _closest(rules: Mapping[str, set[str]], name: str) -> set[str]:
    """The exact pattern's capabilities, else those of the matching globs with the
    fewest characters left over (ties merged)."""
    if name in rules:
        return rules[name]
    candidates = [p for p in rules if glob_match(p, name)]
    if not candidates:
        return set()
    best = min(len(name) - len(p.replace("*", "")) for p in candidates)
    chosen = [p for p in candidates if len(name) - len(p.replace("*", "")) == best]
    return set().union(*(rules[p] for p in chosen))
