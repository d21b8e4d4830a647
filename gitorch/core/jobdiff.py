"""The difference between two versions of a job, as Nomad's JobDiff spells it.

Used by ``job plan`` (the submitted job against the registered one) and by
``/v1/job/:id/versions?diffs=true`` (each version against the one before it). Pure.

Shape, as Nomad's: a ``JobDiff`` holds the job's changed ``Fields`` (scalars; a string
map such as ``meta`` or ``env`` as one field per key, ``Meta[owner]``), its ``Objects``
(nested blocks: ``Periodic``, a task's ``Config`` and ``Resources``; lists of blocks such
as constraints as one object per element added or deleted; lists of strings such as
datacenters as one object whose fields are the strings added or deleted) and its
``TaskGroups``, each with ``Tasks``. Every diff has a ``Type``: Added, Deleted, Edited
or None; a field has ``Old`` and ``New`` as text. Names and objects are sorted by name.

Unlike Nomad's contextual diffs, unchanged fields are left out: only what changed is
listed. Fields the server sets (indexes, version, status, submit time, gitorch's Git
``Source``) are never compared.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gitorch.core.model.base import Model
from gitorch.core.model.job import Job, Task, TaskGroup

DiffType = Literal["Added", "Deleted", "Edited", "None"]
_PRIMITIVE = (str, int, float, bool, bytes, type(None))
_JOB_SKIP = frozenset({
    "ID", "Status", "StatusDescription", "Version", "Stable", "SubmitTime", "CreateIndex",
    "ModifyIndex", "JobModifyIndex", "Source", "TaskGroups", "Payload",
})  # fmt: skip
_GROUP_SKIP = frozenset({"Name", "Tasks"})
_TASK_SKIP = frozenset({"Name"})
_FREE_FORM = frozenset({"Config"})  # maps of any values: one object, fields by path


class FieldDiff(Model, frozen=True, kw_only=True):
    type: DiffType
    name: str
    old: str = ""
    new: str = ""
    annotations: list[str] = []


class ObjectDiff(Model, frozen=True, kw_only=True):
    type: DiffType
    name: str
    fields: list[FieldDiff] = []
    objects: list[ObjectDiff] = []


class TaskDiff(Model, frozen=True, kw_only=True):
    type: DiffType
    name: str
    fields: list[FieldDiff] = []
    objects: list[ObjectDiff] = []
    annotations: list[str] = []


class TaskGroupDiff(Model, frozen=True, kw_only=True):
    type: DiffType
    name: str
    fields: list[FieldDiff] = []
    objects: list[ObjectDiff] = []
    tasks: list[TaskDiff] = []
    updates: dict[str, int] = {}


class JobDiff(Model, frozen=True, kw_only=True):
    type: DiffType
    id: str
    fields: list[FieldDiff] = []
    objects: list[ObjectDiff] = []
    task_groups: list[TaskGroupDiff] = []


def job_diff(old: Job | None, new: Job | None) -> JobDiff:
    """How ``new`` differs from ``old`` (None: absent, so Added or Deleted)."""
    either = new if new is not None else old
    if either is None:
        raise ValueError("job_diff needs at least one job")
    kind = _kind(old and old.spec_key(), new and new.spec_key())
    if kind == "None":
        return JobDiff(type="None", id=either.id)
    fields, objects = _members(old, new, _JOB_SKIP)
    groups = _named(
        {g.name: g for g in old.task_groups} if old else {},
        {g.name: g for g in new.task_groups} if new else {},
        _group_diff,
    )
    return JobDiff(type=kind, id=either.id, fields=fields, objects=objects, task_groups=groups)


def _group_diff(old: TaskGroup | None, new: TaskGroup | None) -> TaskGroupDiff | None:
    kind = _kind(old, new)
    if kind == "None":
        return None
    fields, objects = _members(old, new, _GROUP_SKIP)
    tasks = _named(
        {t.name: t for t in old.tasks} if old else {},
        {t.name: t for t in new.tasks} if new else {},
        _task_diff,
    )
    name = (new or old).name  # type: ignore[union-attr]  # one is set (kind is not None)
    return TaskGroupDiff(type=kind, name=name, fields=fields, objects=objects, tasks=tasks)


def _task_diff(old: Task | None, new: Task | None) -> TaskDiff | None:
    kind = _kind(old, new)
    if kind == "None":
        return None
    fields, objects = _members(old, new, _TASK_SKIP)
    name = (new or old).name  # type: ignore[union-attr]
    return TaskDiff(type=kind, name=name, fields=fields, objects=objects)


def _named(old: dict[str, Any], new: dict[str, Any], fn: Any) -> list[Any]:
    found = [fn(old.get(name), new.get(name)) for name in sorted({*old, *new})]
    return [d for d in found if d is not None]


def _kind(old: object, new: object) -> DiffType:
    if old is None:
        return "Added"
    if new is None:
        return "Deleted"
    return "None" if old == new else "Edited"


def _members(
    old: msgspec.Struct | None, new: msgspec.Struct | None, skip: frozenset[str] = frozenset()
) -> tuple[list[FieldDiff], list[ObjectDiff]]:
    """The changed fields and objects of two values of one Struct type."""
    either = new if new is not None else old
    assert either is not None
    fields: list[FieldDiff] = []
    objects: list[ObjectDiff] = []
    for f in msgspec.structs.fields(either):
        name = f.encode_name
        if name in skip:
            continue
        a = getattr(old, f.name) if old is not None else None
        b = getattr(new, f.name) if new is not None else None
        if a == b:
            continue
        sample = b if b is not None else a
        if isinstance(sample, msgspec.Struct):
            obj = _object(name, a, b)
            objects.extend([obj] if obj is not None else [])
        elif isinstance(sample, dict) and (name in _FREE_FORM or not _flat_map(a, b)):
            objects.append(_free_form(name, a or {}, b or {}))
        elif isinstance(sample, dict):
            fields.extend(_compare(_prefixed(name, a or {}), _prefixed(name, b or {})))
        elif isinstance(sample, list):
            objects.extend(_list(name, a or [], b or []))
        else:
            fields.extend(
                _compare({name: _text(a)} if old else {}, {name: _text(b)} if new else {})
            )
    return sorted(fields, key=lambda d: d.name), sorted(objects, key=lambda d: d.name)


def _object(name: str, a: Any, b: Any) -> ObjectDiff | None:
    kind = _kind(a, b)
    if kind == "None":
        return None
    fields, objects = _members(a, b)
    return ObjectDiff(type=kind, name=name, fields=fields, objects=objects)


def _list(name: str, a: list[Any], b: list[Any]) -> list[ObjectDiff]:
    """Strings: one object of the strings added and deleted (Nomad's set diff). Blocks:
    one object per block only in ``a`` (Deleted) or only in ``b`` (Added)."""
    if all(isinstance(v, _PRIMITIVE) for v in (*a, *b)):
        gone = [FieldDiff(type="Deleted", name=name, old=_text(v)) for v in a if v not in b]
        added = [FieldDiff(type="Added", name=name, new=_text(v)) for v in b if v not in a]
        kind: DiffType = "Edited" if a and b else ("Added" if b else "Deleted")
        return [ObjectDiff(type=kind, name=name, fields=gone + added)]
    single = _singular(name)
    out: list[ObjectDiff] = []
    for v in a:
        if v not in b:
            out.append(_whole(single, v, "Deleted"))
    for v in b:
        if v not in a:
            out.append(_whole(single, v, "Added"))
    return out


def _whole(name: str, value: Any, kind: DiffType) -> ObjectDiff:
    if isinstance(value, msgspec.Struct):
        old, new = (value, None) if kind == "Deleted" else (None, value)
        fields, objects = _members(old, new)
        return ObjectDiff(type=kind, name=name, fields=fields, objects=objects)
    flat = _flatten(value, "")
    old_f, new_f = (flat, {}) if kind == "Deleted" else ({}, flat)
    return ObjectDiff(type=kind, name=name, fields=_compare(old_f, new_f))


def _free_form(name: str, a: dict[str, Any], b: dict[str, Any]) -> ObjectDiff:
    kind: DiffType = "Edited" if a and b else ("Added" if b else "Deleted")
    return ObjectDiff(type=kind, name=name, fields=_compare(_flatten(a, ""), _flatten(b, "")))


def _compare(old: dict[str, str], new: dict[str, str]) -> list[FieldDiff]:
    out: list[FieldDiff] = []
    for name in sorted({*old, *new}):
        if name not in old:
            out.append(FieldDiff(type="Added", name=name, new=new[name]))
        elif name not in new:
            out.append(FieldDiff(type="Deleted", name=name, old=old[name]))
        elif old[name] != new[name]:
            out.append(FieldDiff(type="Edited", name=name, old=old[name], new=new[name]))
    return out


def _flat_map(a: Any, b: Any) -> bool:
    """A map of scalars (meta, env): compared as one field per key."""
    return all(isinstance(v, _PRIMITIVE) for m in (a or {}, b or {}) for v in m.values())


def _prefixed(name: str, m: dict[str, Any]) -> dict[str, str]:
    return {f"{name}[{k}]": _text(v) for k, v in m.items()}


def _flatten(value: Any, path: str) -> dict[str, str]:
    """A free-form value as ``path -> text``: ``a.b``, ``args[0]``."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{path}[{i}]"))
        return out
    return {path: _text(value)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, msgspec.Struct | dict | list):
        return msgspec.json.encode(value).decode()
    return str(value)


def _singular(name: str) -> str:
    """``Constraints`` -> ``Constraint``, ``Affinities`` -> ``Affinity`` (Nomad's object
    names are singular)."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name
