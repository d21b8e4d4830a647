"""The consul-template functions Nomad jobs use, over a :class:`DataSource`.

``functions(source, env=..., now=...)`` is the function map for one render: Go's
builtins come from the :class:`~gitorch.templating.template.Template` itself, these are
added. A lookup the source has nothing for raises :class:`WaitingFor` ("waiting for
variable nomad/jobs/web"), which the caller turns into Nomad's blocking behaviour.
``plugin`` and ``writeToFile`` are refused, as Nomad's default ``function_denylist``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gitorch.templating.errors import FunctionError, WaitingFor
from gitorch.templating.helpers import helper_functions
from gitorch.templating.source import (
    DataSource,
    KeyPair,
    ServiceInstance,
    ServiceSummary,
    VariableMeta,
)

DENIED = ("plugin", "writeToFile")
_T = TypeVar("_T")


def _have(value: _T | None, what: str) -> _T:
    if value is None:
        raise WaitingFor(what)
    return value


def _denied(name: str) -> Callable[..., Any]:
    def refuse(*_: Any) -> Any:
        raise FunctionError(f'function "{name}" is disabled (Nomad\'s function_denylist)')

    return refuse


def _service_query(query: str) -> tuple[str, str]:
    """``tag.name`` (and ``name@dc``, dc ignored) to (name, tag)."""
    name = query.split("@", 1)[0]
    tag, dot, rest = name.partition(".")
    return (rest, tag) if dot else (name, "")


def functions(
    source: DataSource,
    *,
    env: Mapping[str, str],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> dict[str, Callable[..., Any]]:
    """The consul-template function map for one render of one template."""

    def services_named(query: str, kind: str) -> list[ServiceInstance]:
        name, tag = _service_query(query)
        found = _have(source.services(name), f"{kind} {name}")
        return [s for s in found if not tag or tag in s.Tags]

    def catalog_named(query: str, *_: Any) -> list[ServiceInstance]:
        name, tag = _service_query(query)
        found = _have(source.catalog_services(name), f"service {name}")
        return [s for s in found if not tag or tag in s.Tags]

    def nomad_service(*args: Any) -> list[ServiceInstance]:
        if len(args) == 1:
            return services_named(str(args[0]), "service")
        raise FunctionError("nomadService with a count and a key (rendezvous) is not supported yet")

    def service_list(kind: str) -> list[ServiceSummary]:
        return _have(source.service_list(), f"{kind} catalog")

    def nomad_var(path: str) -> Mapping[str, str]:
        return _have(source.variable(path), f"variable {path}")

    def nomad_var_list(prefix: str = "") -> list[VariableMeta]:
        return _have(source.variable_list(prefix), f"variables under {prefix or '/'}")

    def key(path: str) -> str:
        return _have(source.key(path), f"key {path}")

    def key_or_default(path: str, default: str) -> str:
        found = source.key(path)
        return default if found is None else found

    def ls(prefix: str) -> list[KeyPair]:
        return _have(source.key_list(prefix), f"keys under {prefix}")

    def secret(path: str, *_: Any) -> Mapping[str, Any]:
        return {"Data": _have(source.secret(path), f"secret {path}")}

    def secrets(path: str) -> list[str]:
        return _have(source.secret_list(path), f"secrets under {path}")

    table: dict[str, Callable[..., Any]] = {
        "env": lambda name: env.get(name, ""),
        "nomadService": nomad_service,
        "nomadServices": lambda: service_list("service"),
        "nomadVar": nomad_var,
        "nomadVarList": nomad_var_list,
        "nomadVarListSafe": lambda prefix="": source.variable_list(prefix) or [],
        "nomadVarExists": lambda path: source.variable(path) is not None,
        "key": key,
        "keyOrDefault": key_or_default,
        "keyExists": lambda path: source.key(path) is not None,
        "ls": ls,
        "service": catalog_named,
        "services": lambda *_: _have(source.catalog_service_list(), "service catalog"),
        "secret": secret,
        "secrets": secrets,
        **helper_functions(now),
    }
    for name in DENIED:
        table[name] = _denied(name)
    return table
