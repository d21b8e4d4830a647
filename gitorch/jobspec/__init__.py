"""Git files to Job values: render (``.j2``), parse HCL2, resolve variables, decode, validate.

Which files are jobspecs (:func:`is_jobspec_file`), by path inside the repository:

- the name ends in ``.nomad``, ``.nomad.hcl`` or ``.hcl``, optionally followed by ``.j2``;
- but not a var file (:func:`is_var_file`): a name ending in ``.vars.hcl``,
  ``.varfile.hcl`` or ``.vars`` (again optionally ``.j2``), or any file under a folder
  named ``vars``;
- and nothing hidden: no part of the path starts with ``.`` (``.github/``, ``.gitorch.hcl``).

A jobspec file holds exactly one ``job`` block, plus any ``variable`` and ``locals``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from gitorch.core.model.base import replace
from gitorch.core.model.job import Job, JobSource
from gitorch.errors import JobspecError
from gitorch.jobspec import hcl, redact, scan
from gitorch.jobspec.decode import decode
from gitorch.jobspec.guard import guarded
from gitorch.jobspec.limits import DEFAULT_LIMITS, Limits
from gitorch.jobspec.render import Reader, render
from gitorch.jobspec.validate import DriverCheck, validate
from gitorch.jobspec.variables import declarations, load_var_file, resolve
from gitorch.jobspec.warnings import JobspecWarning, unique

__all__ = [
    "JOBSPEC_SUFFIXES",
    "VAR_FILE_SUFFIXES",
    "JobspecWarning",
    "is_jobspec_file",
    "is_var_file",
    "parse_file",
    "parse_text",
    "template_values",
]

JOBSPEC_SUFFIXES = (".nomad", ".nomad.hcl", ".hcl")
VAR_FILE_SUFFIXES = (".vars.hcl", ".varfile.hcl", ".vars")


def is_var_file(path: str) -> bool:
    """True for var files: ``*.vars.hcl``, ``*.varfile.hcl``, ``*.vars``, or under ``vars/``."""
    parts = path.strip("/").split("/")
    name = parts[-1].removesuffix(".j2")
    return name.endswith(VAR_FILE_SUFFIXES) or "vars" in parts[:-1]


def is_jobspec_file(path: str) -> bool:
    """True for the repository files gitorch parses as jobs (see the module docstring)."""
    parts = path.strip("/").split("/")
    if any(p.startswith(".") for p in parts):
        return False
    name = parts[-1].removesuffix(".j2")
    return name.endswith(JOBSPEC_SUFFIXES) and not is_var_file(path)


def template_values(
    var_files: Sequence[tuple[str, str]] = (), vars_: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The values a ``.j2`` file is rendered with: var file assignments, then overrides."""
    values: dict[str, Any] = {}
    for file, text in var_files:
        values.update({name: a.value for name, a in load_var_file(file, text).items()})
    values.update(vars_ or {})
    redact.add_secret(list(values.values()))
    return values


def parse_file(
    path_in_repo: str,
    text: str,
    *,
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    source: JobSource | None = None,
    strict: bool = False,
    read: Reader | None = None,
    driver_check: DriverCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
    lines: dict[str, int] | None = None,
    env: Mapping[str, str] | None = None,
    warnings: list[JobspecWarning] | None = None,
    submitted: dict[str, Any] | None = None,
) -> Job:
    """The Job in repository file ``path_in_repo``; any problem raises JobspecError.

    A ``.j2`` file is first rendered with :func:`template_values`; ``read`` (repo path ->
    text) enables ``[% include %]`` of other repository files. ``var_files`` are
    (path, text) pairs, ``vars_`` the ``-var`` style overrides; ``strict`` makes values
    for undeclared variables an error, as Nomad's ``-hcl2-strict``. ``env`` (the CLI
    passes its environment) supplies ``NOMAD_VAR_<name>`` values.

    Everything runs under :func:`~gitorch.jobspec.guard.guarded`: whatever goes wrong is
    this file's located JobspecError, with no secret in it. The size ``limits`` hold
    here; the time and memory budgets need a worker (:mod:`gitorch.jobspec.isolate`).
    ``lines``, when given, is filled with the line of each block path and attribute;
    ``warnings``, when given, receives the file's located warnings (what the job asks
    for that gitorch does differently: :mod:`gitorch.jobspec.unsupported`).
    ``submitted``, when given, receives ``source`` (the text parsed: a ``.j2`` file's
    rendering) and ``sensitive`` (the names of its ``sensitive`` variables).
    """
    return guarded(
        path_in_repo,
        lambda: _parse_file(
            path_in_repo,
            text,
            vars_,
            var_files,
            source,
            strict,
            read,
            driver_check,
            limits,
            lines,
            env,
            warnings,
            submitted,
        ),
    )


def _parse_file(
    path_in_repo: str,
    text: str,
    vars_: Mapping[str, Any] | None,
    var_files: Sequence[tuple[str, str]],
    source: JobSource | None,
    strict: bool,
    read: Reader | None,
    driver_check: DriverCheck | None,
    limits: Limits,
    lines: dict[str, int] | None,
    env: Mapping[str, str] | None = None,
    warnings: list[JobspecWarning] | None = None,
    submitted: dict[str, Any] | None = None,
) -> Job:
    rendered = text
    sensitive: set[str] | None = set() if submitted is not None else None
    if path_in_repo.endswith(".j2"):
        scan.check_size(text, path_in_repo, limits.max_file_size, "max_file_size")
        values = template_values(var_files, vars_)
        rendered = render(text, path_in_repo, values, read=read, limits=limits)
        limits = dataclasses.replace(limits, max_file_size=limits.max_rendered_size)
    found: list[JobspecWarning] = []
    same_lines = rendered.count("\n") == text.count("\n")
    note = "\n(line numbers are those of the rendered template)"
    try:
        job = parse_text(
            rendered,
            file=path_in_repo,
            vars_=vars_,
            var_files=var_files,
            source=source,
            strict=strict,
            driver_check=driver_check,
            limits=limits,
            lines=lines,
            env=env,
            rendered=path_in_repo.endswith(".j2"),
            warnings=found,
            sensitive=sensitive,
        )
    except JobspecError as exc:
        if same_lines:
            raise
        raise JobspecError(
            exc.message + note, file=exc.file, line=exc.line, path=exc.path, problems=exc.problems
        ) from None
    if warnings is not None:  # one line each: Nomad's Warnings are one a line
        noted = (
            found
            if same_lines
            else [msgspec.structs.replace(w, message=f"{w.message} {note.strip()}") for w in found]
        )
        warnings.extend(noted)
    if submitted is not None:
        submitted.update(source=rendered, sensitive=sorted(sensitive or ()))
    return job


def parse_text(
    text: str,
    *,
    file: str = "<text>",
    vars_: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    source: JobSource | None = None,
    strict: bool = False,
    driver_check: DriverCheck | None = None,
    limits: Limits = DEFAULT_LIMITS,
    lines: dict[str, int] | None = None,
    env: Mapping[str, str] | None = None,
    rendered: bool = False,
    warnings: list[JobspecWarning] | None = None,
    sensitive: set[str] | None = None,
) -> Job:
    """The Job in HCL2 ``text`` (no Jinja2 rendering); errors name ``file``.

    Guarded as :func:`parse_file` is. ``rendered`` says the text came from a ``.j2``
    template that ``vars_`` fed (so they need no ``variable`` block). ``warnings``, when
    given, receives the located warnings, each once.
    """
    found: list[JobspecWarning] = []
    job = guarded(
        file,
        lambda: _parse_text(
            text, file, vars_, var_files, source, strict, driver_check, limits, lines, env,
            rendered, found, sensitive,
        ),
    )  # fmt: skip
    if warnings is not None:
        warnings.extend(sorted(unique(found), key=lambda w: w.line))
    return job


def _parse_text(
    text: str,
    file: str,
    vars_: Mapping[str, Any] | None,
    var_files: Sequence[tuple[str, str]],
    source: JobSource | None,
    strict: bool,
    driver_check: DriverCheck | None,
    limits: Limits,
    lines: dict[str, int] | None,
    env: Mapping[str, str] | None = None,
    rendered: bool = False,
    warnings: list[JobspecWarning] | None = None,
    sensitive: set[str] | None = None,
) -> Job:
    scan.check(text, file, limits)
    body = hcl.parse(text, file)
    if sensitive is not None:  # ``sensitive = true`` variables: their values are not stored
        sensitive.update(n for n, v in declarations(body, file).items() if v.sensitive)
    jobs = body.blocks_of("job")
    if len(jobs) != 1:
        found = f"{len(jobs)} job blocks" if jobs else "none"
        line = jobs[1].line if len(jobs) > 1 else 0
        msg = f"a jobspec file holds exactly one job block; found {found}"
        raise JobspecError(msg, file=file, line=line)
    resolved = resolve(
        body,
        file,
        overrides=vars_,
        var_files=var_files,
        strict=strict,
        max_string=limits.max_string_length,
        env=env,
        rendered=rendered,
    )
    table: dict[str, int] = {} if lines is None else lines
    job = decode(resolved, file, table, warnings)
    validate(job, file, driver_check, lines=table)
    return replace(job, source=source) if source is not None else job
