"""The namespace table: the namespaces an operator declared, and the rule for which
namespaces exist.

Nomad refuses a job in a namespace nobody created; gitorch, driven by Git, lets a
jobspec's ``namespace`` bring its namespace into being (documented in
docs/http-api.md). So a namespace exists when it is ``default``, when it is declared
here (with its description and meta), or while anything lives in it (a job, a service
registration, a variable). Deleting one is refused while jobs that are not dead or
variables remain in it, as Nomad refuses it; ``default`` is never deleted.
"""

from __future__ import annotations

from typing import assert_never

from gitorch.core import commands as c
from gitorch.core.model.base import replace
from gitorch.core.model.namespace import DEFAULT, Namespace
from gitorch.core.pmap import PMap
from gitorch.core.stateview import StateView

NOT_FOUND = "namespace not found"


def names(state: StateView) -> list[str]:
    """Every namespace that exists, ``default`` first, the others sorted."""
    found = set(state.namespaces)
    found.update(ns for ns, _ in state.jobs)
    found.update(s.namespace for s in list(state.svc.services.values()))
    found.update(ns for ns, _ in state.vars.variables)
    found.discard(DEFAULT)
    return [DEFAULT, *sorted(found)]


def shown(state: StateView, name: str) -> Namespace:
    """The namespace ``name``, which exists, as the API shows it."""
    declared = state.namespaces.get(name)
    if declared is not None:
        return declared
    if name == DEFAULT:
        return Namespace(name=DEFAULT, description="Default shared namespace")
    return Namespace(name=name)


def get(state: StateView, name: str) -> Namespace | None:
    """The namespace ``name`` as the API shows it (declared or in use), or None."""
    exists = name in state.namespaces or name == DEFAULT or name in names(state)
    return shown(state, name) if exists else None


def in_use(state: StateView, name: str) -> str:
    """Why ``name`` cannot be deleted now ('' when it can)."""
    if name == DEFAULT:
        return "the default namespace can not be deleted"
    live = sorted(
        job_id
        for (ns, job_id), job in state.jobs.items()
        if ns == name and state.job_status(job) != "dead"
    )
    if live:
        shown = ", ".join(live[:5]) + (f" and {len(live) - 5} more" if len(live) > 5 else "")
        return f"namespace {name!r} has non-terminal jobs: {shown}; stop and purge them first"
    if any(ns == name for ns, _ in state.vars.variables):
        return f"namespace {name!r} has variables; delete them first"
    return ""


def apply(
    state: StateView, idx: int, cmd: c.UpsertNamespaces | c.DeleteNamespaces
) -> tuple[PMap[str, Namespace], str]:
    """The namespace table after ``cmd`` at ``idx``, and an error ('' when applied): a
    batch is applied whole or not at all, so every replica refuses the same writes."""
    table = state.namespaces
    match cmd:
        case c.UpsertNamespaces():
            for ns in cmd.namespaces:
                if problem := ns.problem():
                    return table, f"namespace {ns.name[:140]!r}: {problem}"
            changes = table.mutate()
            for ns in cmd.namespaces:
                old = table.get(ns.name)
                changes[ns.name] = replace(
                    ns, create_index=old.create_index if old else idx, modify_index=idx
                )
            return changes.finish(), ""
        case c.DeleteNamespaces():
            for name in cmd.names:
                if name not in table and name not in names(state):
                    return table, f"{NOT_FOUND}: {name[:140]!r}"
                if why := in_use(state, name):
                    return table, why
            changes = table.mutate()
            for name in cmd.names:
                if name in changes:
                    del changes[name]
            return changes.finish(), ""
        case _:
            assert_never(cmd)
