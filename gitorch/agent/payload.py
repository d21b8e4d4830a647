"""A dispatched job's payload in its task's ``local/`` dir (Nomad's dispatch hook).

A task with ``dispatch_payload { file = "input.json" }`` finds the payload the job was
dispatched with at ``local/input.json`` before it starts. The path is checked when the
job is validated; here it is checked again against the real directory, so neither a
``..`` nor a symbolic link can put the file outside ``local/``.
"""

from __future__ import annotations

import os

from gitorch.core.model import Job, Task
from gitorch.errors import DriverError


def write_payload(task_dir: str, job: Job, task: Task) -> None:
    """Write ``job``'s payload where ``task`` asks for it (nothing without a payload or
    a ``dispatch_payload`` block, as in Nomad)."""
    if task.dispatch_payload is None or not task.dispatch_payload.file or not job.payload:
        return
    local = os.path.realpath(os.path.join(task_dir, "local"))
    dest = os.path.realpath(os.path.join(local, task.dispatch_payload.file))
    if os.path.commonpath([local, dest]) != local or dest == local:
        raise DriverError(f"dispatch_payload file escapes the task's local/ dir: {dest}")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(job.payload)
