"""A job posted as Nomad's JSON (``POST /v1/jobs``, ``/v1/job/:id/plan``) checked against
the same table as a jobspec file (:mod:`gitorch.jobspec.unsupported`).

The API decodes a JSON job leniently (fields gitorch does not model are dropped), so
before that, this walks the raw object: each field of the table that asks for something
is a warning or an error, named by its block path (``job "web" > group "api" > task
"app"``) and its JSON field. Nomad's ``job run -output`` writes every field, most of them
empty: null, an entry's harmless values, and (for an entry that lists none) zero, false
and empty values ask for nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitorch.errors import JobspecError
from gitorch.jobspec.unsupported import UNSUPPORTED, Unsupported, harmless, message
from gitorch.jobspec.warnings import JobspecWarning

# (JSON field holding child objects, their kind in the table, their label's JSON field)
_CHILDREN: dict[str, tuple[tuple[str, str, str], ...]] = {
    "job": (("TaskGroups", "group", "Name"),),
    "group": (
        ("Tasks", "task", "Name"),
        ("Networks", "network", ""),
        ("EphemeralDisk", "ephemeral_disk", ""),
        ("Services", "service", "Name"),
        ("RestartPolicy", "restart", ""),
    ),
    "task": (
        ("Resources", "resources", ""),
        ("LogConfig", "logs", ""),
        ("Templates", "template", ""),
        ("Services", "service", "Name"),
        ("RestartPolicy", "restart", ""),
    ),
    "network": (("ReservedPorts", "port", "Label"), ("DynamicPorts", "port", "Label")),
    "service": (("Checks", "check", "Name"),),
}
_BY_KIND: dict[str, list[tuple[str, Unsupported]]] = {}
for _key, _entry in UNSUPPORTED.items():
    if _entry.api:
        _BY_KIND.setdefault(_key.split(".")[0], []).append((_key.split(".", 1)[1], _entry))


def check_api_job(raw: Any, file: str = "") -> list[JobspecWarning]:
    """The warnings of a Nomad JSON job; raises a JobspecError naming every field of it
    that gitorch cannot do (all of them at once)."""
    if not isinstance(raw, dict):
        return []
    warnings: list[JobspecWarning] = []
    problems: list[JobspecError] = []
    for path, name, field, entry in _walk(raw, "job", f'job "{raw.get("ID", "")}"'):
        text = message(f"{field}", entry).replace(f'"{field}"', f'"{field}" ({name})', 1)
        if entry.severity == "warning":
            warnings.append(JobspecWarning(message=text, file=file, path=path))
        else:
            problems.append(JobspecError(text, file=file, path=path))
    if problems:
        first = problems[0]
        text = "\n".join(p.located() for p in problems)
        raise JobspecError(text, file=first.file, path="", problems=problems)
    return warnings


def _walk(obj: dict[str, Any], kind: str, path: str) -> Iterator[tuple[str, str, str, Unsupported]]:
    for name, entry in _BY_KIND.get(kind, ()):
        value = obj.get(entry.api)
        # the entry's harmless values when it lists them, else any empty value
        if not (harmless(entry, value) if entry.harmless else _empty(value)):
            yield path, name, entry.api, entry
    for field, child_kind, label in _CHILDREN.get(kind, ()):
        value = obj.get(field)
        children = value if isinstance(value, list) else [value]
        for index, child in enumerate(children):
            if isinstance(child, dict):
                tag = child.get(label) if label else None
                name = f'{child_kind} "{tag}"' if tag else f"{child_kind}#{index}"
                if not label and not isinstance(value, list):
                    name = child_kind
                yield from _walk(child, child_kind, f"{path} > {name}")


# Values Nomad's canonicalization fills in that ask for nothing either.
_DEFAULTS = {("Cluster", "default"), ("Affinity", "none")}


def _empty(value: Any) -> bool:
    """Nothing asked: null, zero, false, empty, or an object holding only such values
    (or Nomad's canonical defaults: ``"Consul": {"Cluster": "default"}``)."""
    if isinstance(value, dict):
        return all(_empty(v) or (k, v) in _DEFAULTS for k, v in value.items())
    if isinstance(value, list):
        return all(_empty(v) for v in value)
    return value in (None, 0, "", False)
