"""The functions a jobspec may call: the set Nomad's ``jobspec2/functions.go`` registers.

The families live in their own modules; this one assembles them and adds the filesystem
functions (``abspath``, ``basename``, ``dirname``, ``file``, ``filebase64``,
``fileexists``, ``fileset``, ``pathexpand``), which Nomad turns off unless the job is
parsed with filesystem access allowed; gitorch parses jobs from Git on servers and never
allows it, so calling one is an error that says so. ``try``, ``can`` and ``convert`` need
their arguments unevaluated and live in the evaluator (:mod:`gitorch.jobspec.expr`).
"""

from __future__ import annotations

from gitorch.jobspec import (
    functions_collections,
    functions_datetime,
    functions_encoding,
    functions_network,
    functions_numeric,
    functions_text,
)
from gitorch.jobspec.functions import Function

_FILESYSTEM = {
    "abspath": 1,
    "basename": 1,
    "dirname": 1,
    "file": 1,
    "filebase64": 1,
    "fileexists": 1,
    "fileset": 2,
    "pathexpand": 1,
}
_OFF = (
    "filesystem functions are disabled, as in Nomad by default (a jobspec from Git may not "
    "read the server's files); put the content in the jobspec, a variable or a template block"
)


def _never(*_: object) -> None:  # pragma: no cover - a disabled function never runs
    return None


LIBRARY: dict[str, Function] = {
    **functions_collections.FUNCTIONS,
    **functions_datetime.FUNCTIONS,
    **functions_encoding.FUNCTIONS,
    **functions_network.FUNCTIONS,
    **functions_numeric.FUNCTIONS,
    **functions_text.FUNCTIONS,
    **{name: Function(("any",) * n, _never, disabled=_OFF) for name, n in _FILESYSTEM.items()},
}

SPECIAL = ("can", "convert", "try")
"""Functions the evaluator implements itself (their arguments are expressions)."""
