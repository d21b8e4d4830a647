"""The ``periodic``, ``parameterized`` and ``dispatch_payload`` blocks: decoding (Nomad's
hcl names and defaults) and their checks (Nomad's Job.Validate rules for them), as
(block path, message, line key) triples for :mod:`gitorch.jobspec.validate`."""

from __future__ import annotations

import posixpath

from gitorch.core import periodic as periodic_rules
from gitorch.core.model.job import Job
from gitorch.core.model.launch import (
    PAYLOAD_RULES,
    DispatchPayloadConfig,
    ParameterizedJobConfig,
    PeriodicConfig,
)
from gitorch.jobspec.reader import BlockReader
from gitorch.jobspec.redact import excerpt

Problem = tuple[str, str, str]
PARENT_TYPES = ("batch", "sysbatch")


def decode_periodic(c: BlockReader, _: str) -> PeriodicConfig:
    """``periodic { cron, crons, prohibit_overlap, time_zone, enabled }``."""
    return PeriodicConfig(
        enabled=c.boolean("enabled", True),
        spec=c.string("cron"),
        specs=c.strings("crons"),
        prohibit_overlap=c.boolean("prohibit_overlap"),
        time_zone=c.string("time_zone", "UTC") or "UTC",
    )


def decode_parameterized(c: BlockReader, _: str) -> ParameterizedJobConfig:
    """``parameterized { payload, meta_required, meta_optional }``."""
    return ParameterizedJobConfig(
        payload=c.string("payload", "optional"),  # type: ignore[arg-type]  # checked below
        meta_required=c.strings("meta_required"),
        meta_optional=c.strings("meta_optional"),
    )


def decode_dispatch_payload(c: BlockReader, _: str) -> DispatchPayloadConfig:
    """A task's ``dispatch_payload { file }``."""
    return DispatchPayloadConfig(file=c.string("file"))


def launch_problems(job: Job, where: str) -> list[Problem]:
    """Every problem of the job's ``periodic`` and ``parameterized`` blocks and of its
    tasks' ``dispatch_payload`` blocks."""
    found: list[Problem] = []
    p = job.periodic
    if p is not None and p.enabled:
        at = f"{where} > periodic"
        if job.type not in PARENT_TYPES:
            msg = f'periodic can only be used with "batch" or "sysbatch" jobs, not {job.type!r}'
            found.append((at, msg, f"{where}.type"))
        for attr, msg in periodic_rules.problems(p):
            found.append((at, msg, f"{at}.{attr}"))
    q = job.parameterized_job
    if q is not None and not job.dispatched:
        at = f"{where} > parameterized"
        if job.type not in PARENT_TYPES:
            msg = f'a parameterized job can only be "batch" or "sysbatch", not {job.type!r}'
            found.append((at, msg, f"{where}.type"))
        if q.payload not in PAYLOAD_RULES:
            msg = f"unknown payload requirement {excerpt(q.payload)}; use one of " + ", ".join(
                PAYLOAD_RULES
            )
            found.append((at, msg, f"{at}.payload"))
        both = sorted(set(q.meta_required) & set(q.meta_optional))
        if both:
            msg = f"meta_required and meta_optional must not share keys; both have {both}"
            found.append((at, msg, f"{at}.meta_optional"))
    for group in job.task_groups:
        for task in group.tasks:
            if task.dispatch_payload is None:
                continue
            at = f'{where} > group "{group.name}" > task "{task.name}" > dispatch_payload'
            why = _escapes(task.dispatch_payload.file)
            if why:
                found.append((at, why, f"{at}.file"))
    return found


def _escapes(file: str) -> str:
    """Why ``file`` is not a path inside the task's ``local/`` dir ("" when it is)."""
    if not file:
        return 'dispatch_payload needs a "file" (a path under the task\'s local/ dir)'
    if "\x00" in file:
        return "the file name contains a null character"
    joined = posixpath.normpath(posixpath.join("task/local", file))
    if posixpath.isabs(file) or not joined.startswith("task/local/"):
        return f"the file {excerpt(file)} escapes the task's local/ dir"
    return ""
