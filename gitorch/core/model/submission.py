"""A job's source as submitted (Nomad 1.6's JobSubmission): the HCL or JSON text a job
was parsed from, with the ``-var`` flags and var-file text given with it.

The state store keeps one per (namespace, job ID, version), for the versions it keeps.
"""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

MAX_SOURCE_BYTES = 1_000_000
"""Nomad's ``job_max_source_size`` default ("1M"): source, variables and flags together."""

SubmissionFormat = Literal["hcl2", "json"]


class JobSubmission(Model, frozen=True, kw_only=True):
    source: str = ""
    format: str = "hcl2"
    variable_flags: dict[str, str] = {}
    variables: str = ""
    # set by the state store, from the job it was registered with
    namespace: str = ""
    job_id: str = ""
    version: int = 0
    job_modify_index: int = 0

    def size(self) -> int:
        """Bytes counted against the cap: source, variables, flag names and values."""
        flags = sum(len(k.encode()) + len(v.encode()) for k, v in self.variable_flags.items())
        return len(self.source.encode()) + len(self.variables.encode()) + flags


def submission_problem(sub: JobSubmission) -> str:
    """Why ``sub`` cannot be stored ("" when it can)."""
    if sub.format not in ("hcl2", "json"):
        return f'Submission.Format must be "hcl2" or "json", not {sub.format[:40]!r}'
    size = sub.size()
    if size > MAX_SOURCE_BYTES:
        return (
            f"job source of {size} bytes (source, variables and variable flags) exceeds "
            f"the maximum of {MAX_SOURCE_BYTES} bytes"
        )
    return ""
