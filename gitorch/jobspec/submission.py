"""What is stored as a job's source when it is registered (Nomad's JobSubmission): the
jobspec text as parsed (a ``.j2`` file's rendered HCL) and its variables, with the value
of every ``sensitive = true`` variable left out.

``Variables`` is written as HCL ``name = value`` lines, one var file after another
(each under a ``# <path>`` comment); ``VariableFlags`` are the ``-var`` values. A
sensitive variable's value is replaced by :data:`REDACTED` in both: it is never stored,
shown nor logged.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from gitorch.core.model.submission import JobSubmission
from gitorch.jobspec.variables import load_var_file

REDACTED = "(sensitive value not stored)"


def variables_text(var_files: Sequence[tuple[str, str]], sensitive: Collection[str]) -> str:
    """The var files' assignments as HCL, sensitive values replaced."""
    parts: list[str] = []
    for path, text in var_files:
        parts.append(f"# {path}")
        for name, attr in load_var_file(path, text).items():
            value = REDACTED if name in sensitive else attr.value
            parts.append(f"{name} = {_hcl(value)}")
    return "\n".join(parts) + ("\n" if parts else "")


def submission(
    source: str,
    *,
    var_files: Sequence[tuple[str, str]] = (),
    flags: Mapping[str, Any] | None = None,
    sensitive: Collection[str] = (),
) -> JobSubmission:
    """A JobSubmission of HCL ``source`` and its variables (sensitive ones redacted)."""
    return JobSubmission(
        source=source,
        format="hcl2",
        variable_flags={
            k: REDACTED if k in sensitive else str(v) for k, v in (flags or {}).items()
        },
        variables=variables_text(var_files, sensitive),
    )


def _hcl(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # strings, lists and objects read as HCL
