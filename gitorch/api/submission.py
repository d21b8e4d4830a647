"""Nomad's ``Submission`` in a job register request (``POST /v1/jobs``): the source the
job was parsed from, as the nomad CLI and python-nomad send it, checked before it is
stored. Its variable values are never logged."""

from __future__ import annotations

from typing import Any

import msgspec

from gitorch.core.model.submission import JobSubmission, submission_problem
from gitorch.errors import BadRequestError

_GIVEN = ("Source", "Format", "VariableFlags", "Variables")


def submission_from_body(body: dict[str, Any]) -> JobSubmission | None:
    """The request's Submission (None when absent or null); BadRequestError naming
    what is wrong (a field of the wrong type, an unknown format, the size over the cap)."""
    raw = body.get("Submission")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequestError("Submission must be an object with Source, Format, VariableFlags")
    given = {k: raw[k] for k in _GIVEN if raw.get(k) is not None}  # the server sets the rest
    given.setdefault("Format", "hcl2")
    if given["Format"] == "hcl1":
        raise BadRequestError('Submission.Format "hcl1" is not supported: send "hcl2" or "json"')
    try:
        sub = msgspec.convert(given, JobSubmission)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"Submission: {exc}") from None
    if problem := submission_problem(sub):
        raise BadRequestError(problem)
    return sub
