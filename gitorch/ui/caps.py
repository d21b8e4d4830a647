"""What the user's token may do, so a page shows only the actions it can use.

The page asks the server, once: ``GET /v1/internal/ui/capabilities?namespace=*``
answers, for the presented token, the namespace capabilities it holds in each namespace
where it holds any, and the levels it holds in each cluster-wide scope (``node``,
``operator``, ...), decided by the same ACL code that guards every route
(``gitorch.core.acl``). The UI reads no policy language and repeats no rule.

This is a hint for the page, never a guard: the API still checks every request, so the
page errs toward showing a button. ACLs off (the route answers 400): everything shows.
The route refused or missing (403, e.g. an unknown token; 404 on an agent without the
route) or an answer this reader cannot follow: everything shows, and the API answers the
click.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitorch.ui.api import ApiFailure, UiApi

CAPABILITIES = "/v1/internal/ui/capabilities"


@dataclass(frozen=True)
class Caps:
    """One page's answer. ``known`` False: the server did not say, so allow all."""

    acl: bool = False
    management: bool = False
    known: bool = False
    namespaces: Mapping[str, frozenset[str]] = field(default_factory=dict)
    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def namespace(self, capability: str, namespace: str = "default") -> bool:
        """Whether the token holds ``capability`` (e.g. ``submit-job``) in ``namespace``."""
        if self.management or not self.known:
            return True
        return capability in self.namespaces.get(namespace, frozenset())

    def scope(self, scope: str, level: str) -> bool:
        """Whether the token holds ``level`` (e.g. ``write``) of ``scope`` (e.g.
        ``operator``)."""
        if self.management or not self.known:
            return True
        return level in self.scopes.get(scope, frozenset())


ALL = Caps()


async def token_caps(api: UiApi) -> Caps:
    """The token's capabilities in every namespace, asked once for the page."""
    try:
        answer = await api.get(CAPABILITIES, namespace="*")
    except ApiFailure as exc:
        return Caps(acl=exc.status != 400)  # 400: ACLs off; 403/404: let the API decide
    try:
        return from_answer(answer)
    except (AttributeError, TypeError, ValueError):
        return Caps(acl=True)


def from_answer(answer: object) -> Caps:
    """The route's JSON as ``Caps``; ``TypeError`` for anything of another shape."""
    if not isinstance(answer, dict):
        raise TypeError("capabilities: not an object")
    if answer.get("Management") is True:
        return Caps(acl=True, management=True, known=True)
    return Caps(
        acl=True,
        known=True,
        namespaces=_sets(answer.get("Namespaces")),
        scopes=_sets(answer.get("Scopes")),
    )


def _sets(value: object) -> dict[str, frozenset[str]]:
    if not isinstance(value, dict):
        raise TypeError("capabilities: expected an object of lists")
    out: dict[str, frozenset[str]] = {}
    for key, items in value.items():
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise TypeError(f"capabilities: {key!r} is not a list of strings")
        out[str(key)] = frozenset(items)
    return out
