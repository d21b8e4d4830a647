"""A JobDiff as Nomad's CLI prints it (``job history -p``, ``job plan``): ``+``, ``-`` and
``+/-`` markers, names and values aligned per block, values quoted, nested blocks in
braces. No colour."""

from __future__ import annotations

import json

from gitorch.core.jobdiff import FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff

_MARK = {"Added": "+ ", "Deleted": "- ", "Edited": "+/- "}


def _mark(kind: str) -> str:
    return _MARK.get(kind, "")


def _q(text: str) -> str:
    """Go's %q for ordinary text: double quotes, escapes."""
    return json.dumps(text, ensure_ascii=False)


def format_job_diff(diff: JobDiff, *, verbose: bool = False) -> str:
    out = f'{_mark(diff.type)}Job: "{diff.id}"\n'
    longest_field, longest_mark = _longest(diff.fields, diff.objects)
    for tg in diff.task_groups:
        longest_mark = max(longest_mark, len(_mark(tg.type)))
    if diff.type == "Edited" or verbose:
        block = _aligned(diff.fields, diff.objects, 0, longest_field, longest_mark)
        out += block + ("\n" if block else "")
    for tg in diff.task_groups:
        out += _group(tg, longest_mark - len(_mark(tg.type)), verbose) + "\n"
    return out


def _group(tg: TaskGroupDiff, prefix: int, verbose: bool) -> str:
    out = f'{_mark(tg.type)}{" " * prefix}Task Group: "{tg.name}"'
    if tg.updates:
        out += " (" + ", ".join(f"{n} {kind}" for kind, n in sorted(tg.updates.items())) + ")"
    out += "\n"
    longest_field, longest_mark = _longest(tg.fields, tg.objects)
    for task in tg.tasks:
        longest_mark = max(longest_mark, len(_mark(task.type)))
    start = prefix + 2
    if tg.type == "Edited" or verbose:
        block = _aligned(tg.fields, tg.objects, start, longest_field, longest_mark)
        out += block + ("\n" if block else "")
    for task in tg.tasks:
        out += _task(task, start, longest_mark - len(_mark(task.type)), verbose) + "\n"
    return out


def _task(task: TaskDiff, start: int, prefix: int, verbose: bool) -> str:
    out = f'{" " * start}{_mark(task.type)}{" " * prefix}Task: "{task.name}"'
    if task.annotations:
        out += f" ({', '.join(task.annotations)})"
    if task.type == "None" or (task.type in ("Added", "Deleted") and not verbose):
        return out
    longest_field, longest_mark = _longest(task.fields, task.objects)
    return out + "\n" + _aligned(task.fields, task.objects, start + 2, longest_field, longest_mark)


def _object(diff: ObjectDiff, start: int, prefix: int) -> str:
    mark = _mark(diff.type)
    out = f"{' ' * start}{mark}{' ' * prefix}{diff.name} {{\n"
    longest_field, longest_mark = _longest(diff.fields, diff.objects)
    out += _aligned(diff.fields, diff.objects, start + prefix + 2, longest_field, longest_mark)
    return f"{out}\n{' ' * (start + len(mark) + prefix)}}}"


def _field(diff: FieldDiff, start: int, prefix: int, value_prefix: int) -> str:
    out = f"{' ' * start}{_mark(diff.type)}{' ' * prefix}{diff.name}: {' ' * value_prefix}"
    if diff.type == "Deleted":
        out += _q(diff.old)
    elif diff.type == "Edited":
        out += f"{_q(diff.old)} => {_q(diff.new)}"
    else:
        out += _q(diff.new)
    if diff.annotations:
        out += f" ({', '.join(diff.annotations)})"
    return out


def _aligned(
    fields: list[FieldDiff], objects: list[ObjectDiff], start: int, longest: int, mark: int
) -> str:
    lines = [_field(f, start, mark - len(_mark(f.type)), longest - len(f.name)) for f in fields] + [
        _object(o, start, mark - len(_mark(o.type))) for o in objects
    ]
    return "\n".join(lines)


def _longest(fields: list[FieldDiff], objects: list[ObjectDiff]) -> tuple[int, int]:
    longest_field = max((len(f.name) for f in fields), default=0)
    marks = [len(_mark(f.type)) for f in fields] + [len(_mark(o.type)) for o in objects]
    return longest_field, max(marks, default=0)
