"""Ordering between Git-managed jobs: ``meta { "gitorch.depends_on" = "a,b" }`` (pure).

A job that depends on others is rolled out only once each of them is healthy at the
same commit: its spec at that commit is the one in state (nothing left to apply) and
its rollout finished healthy. Until then the job is held (``waiting for ...``) and keeps
what it runs. A dependency on a job that no file declares and the cluster does not run,
a job depending on itself, and a cycle are errors on the files involved: those jobs keep
their last good version, as with any failing file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import msgspec

from gitorch.core.desired import Change, DesiredJob
from gitorch.core.model import FileError, Job
from gitorch.core.model.gitops import Health

META_KEY = "gitorch.depends_on"


def dependencies(job: Job) -> list[str]:
    """The job IDs named in the job's ``gitorch.depends_on`` meta, in order, once each."""
    raw = job.meta.get(META_KEY, "")
    return list(dict.fromkeys(x.strip() for x in raw.split(",") if x.strip()))


def check(
    wanted: list[DesiredJob],
    registered: Collection[str],
    line_of: Callable[[str], int] = lambda _file: 1,
) -> tuple[list[DesiredJob], list[FileError]]:
    """Split ``wanted`` into jobs whose dependencies are sound and errors for the rest.
    ``registered``: job IDs the cluster has; ``line_of(file)``: the line to point at."""
    files = {d.job.id: d.file for d in wanted}
    bad: dict[str, str] = {}
    for d in wanted:
        for dep in dependencies(d.job):
            if dep == d.job.id:
                bad[d.job.id] = f"job {d.job.id!r} depends on itself: remove it from {META_KEY}"
            elif dep not in files and dep not in registered:
                bad[d.job.id] = (
                    f"job {d.job.id!r} depends on job {dep!r}, which no file declares and "
                    f"the cluster does not run: add its file or fix {META_KEY}"
                )
    for cycle in _cycles({d.job.id: dependencies(d.job) for d in wanted}, files):
        path = " -> ".join(f"{j} ({files[j]})" for j in [*cycle, cycle[0]])
        for job_id in cycle:
            bad.setdefault(job_id, f"{META_KEY} cycle: {path}: remove one of these dependencies")
    errors = [
        FileError(
            file=d.file,
            line=line_of(d.file),
            message=f"{d.file}:{line_of(d.file)}: {bad[d.job.id]}",
        )
        for d in wanted
        if d.job.id in bad
    ]
    return [d for d in wanted if d.job.id not in bad], errors


def _cycles(graph: Mapping[str, list[str]], files: Mapping[str, str]) -> list[list[str]]:
    """Each cycle among the declared jobs once, as the path that closes it."""
    colour: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        colour[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if nxt not in files:
                continue
            if colour.get(nxt) == 1:
                found.append(path[path.index(nxt) :])
            elif nxt not in colour:
                visit(nxt, path)
        path.pop()
        colour[node] = 2

    for start in sorted(graph):
        if start not in colour:
            visit(start, [])
    return found


def hold(changes: list[Change], health: Mapping[str, Health], commit: str) -> list[Change]:
    """``changes`` with each register/update held while a dependency is not healthy at
    ``commit``: it has something to apply (or is held) at this commit, or its health is
    not ``healthy``. A held dependency holds its dependents too, since it is not
    unchanged."""
    by_id = {ch.job_id: ch for ch in changes}

    def ready(dep: str) -> bool:
        ch = by_id.get(dep)
        return (ch is None or ch.action == "unchanged") and health.get(dep) == "healthy"

    out: list[Change] = []
    for ch in changes:
        waiting = [] if ch.job is None else [d for d in dependencies(ch.job) if not ready(d)]
        if ch.action in ("register", "update") and waiting:
            why = f"waiting for {', '.join(waiting)} to be healthy at commit {commit[:12]}"
            ch = msgspec.structs.replace(
                ch, action="held", detail=why, version=max(ch.version - 1, 0)
            )
        out.append(ch)
    return out
