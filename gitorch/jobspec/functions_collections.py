"""HCL's collection functions, as Nomad registers them (go-cty's stdlib semantics).

Lists and tuples are Python lists, maps and objects are dicts; a set is a list without
duplicates (``setunion`` and friends keep first-seen order, and sort sets of strings or
numbers, as cty orders them). Functions that can multiply sizes (``range``,
``setproduct``, ``flatten``, ``concat``, ``chunklist``) check the element cap before
building anything.
"""

from __future__ import annotations

import math
from typing import Any

from gitorch.jobspec.functions import (
    Caps,
    Function,
    FunctionError,
    equal,
    normalise,
    to_int,
    to_list,
    to_map,
    to_number,
    to_string,
    type_name,
)


def _chunklist(caps: Caps, items: list[Any], size: Any) -> list[list[Any]]:
    step = to_int(size)
    if step < 0:
        raise FunctionError("the chunk size must not be negative")
    if step == 0:
        return [list(items)]
    return [items[i : i + step] for i in range(0, len(items), step)]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise FunctionError("no non-null, non-empty argument")


def _coalescelist(*lists: Any) -> Any:
    for one in lists:
        if not isinstance(one, list):
            raise FunctionError(f"the arguments must be lists, got a {type_name(one)}")
        if one:
            return one
    raise FunctionError("no non-empty list")


def _compact(items: list[Any]) -> list[str]:
    return [to_string(x) for x in items if x is not None and x != ""]


def _concat(caps: Caps, *lists: Any) -> list[Any]:
    out: list[Any] = []
    for one in lists:
        out.extend(to_list(one))
        caps.elements(len(out))
    return out


def _contains(items: list[Any], value: Any) -> bool:
    return any(equal(x, value) for x in items)


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in items:
        if not any(equal(x, y) for y in out):
            out.append(x)
    return out


def _element(items: list[Any], position: Any) -> Any:
    if not items:
        raise FunctionError("cannot use element on an empty list")
    where = to_int(position)
    if where < 0:
        raise FunctionError("the index must not be negative")
    return items[where % len(items)]


def _flatten(caps: Caps, items: list[Any]) -> list[Any]:
    out: list[Any] = []

    def walk(value: list[Any], depth: int) -> None:
        if depth > 32:
            raise FunctionError("the list is nested too deeply")
        for x in value:
            if isinstance(x, list):
                walk(x, depth + 1)
            else:
                out.append(x)
                caps.elements(len(out))

    walk(items, 0)
    return out


def _index(items: list[Any], value: Any) -> int:
    for i, x in enumerate(items):
        if equal(x, value):
            return i
    raise FunctionError("the value is not in the list")


def _keys(value: dict[str, Any]) -> list[str]:
    return sorted(value)


def _length(value: Any) -> int:
    if isinstance(value, (list, dict, str)):
        return len(value)
    raise FunctionError(f"a collection or string is required, got a {type_name(value)}")


def _lookup(value: dict[str, Any], key: str, *default: Any) -> Any:
    if len(default) > 1:
        raise FunctionError("takes 2 or 3 arguments")
    if key in value:
        return value[key]
    if default:
        return default[0]
    raise FunctionError("the key is not in the map and no default was given")


def _merge(*maps: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for one in maps:
        if one is None:
            continue
        out.update(to_map(one))
    return out


def _range(caps: Caps, *args: Any) -> list[int | float]:
    if not 1 <= len(args) <= 3:
        raise FunctionError(f"takes 1 to 3 arguments, got {len(args)}")
    numbers = [to_number(a) for a in args]
    start, limit, step = (0, numbers[0], 1) if len(numbers) == 1 else (*numbers[:2], 1)
    if len(numbers) == 3:
        step = numbers[2]
    if len(numbers) < 3 and limit < start:
        step = -1
    if step == 0:
        raise FunctionError("the step must not be zero")
    if (step > 0 and limit < start) or (step < 0 and limit > start):
        raise FunctionError("the step goes away from the limit")
    count = max(0, math.ceil((limit - start) / step))
    caps.elements(count)
    return [normalise(start + i * step) for i in range(count)]


def _reverse(value: Any) -> Any:
    if isinstance(value, (list, str)):
        return value[::-1]
    raise FunctionError(f"a list or string is required, got a {type_name(value)}")


def _set(items: list[Any]) -> list[Any]:
    out = _distinct(items)
    if all(isinstance(x, str) for x in out):
        return sorted(out)
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in out):
        return sorted(out)
    return out


def _setintersection(first: list[Any], *rest: Any) -> list[Any]:
    return _set([x for x in first if all(_contains(to_list(r), x) for r in rest)])


def _setunion(caps: Caps, *sets: Any) -> list[Any]:
    return _set(_concat(caps, *sets))


def _setproduct(caps: Caps, *sets: Any) -> list[list[Any]]:
    lists = [to_list(s) for s in sets]
    caps.elements(math.prod(len(x) for x in lists) if lists else 0)
    out: list[list[Any]] = [[]]
    for one in lists:
        out = [[*row, x] for row in out for x in one]
    return out if lists else []


def _slice(items: list[Any], start: Any, end: Any) -> list[Any]:
    first, last = to_int(start), to_int(end)
    if first < 0 or last > len(items) or first > last:
        raise FunctionError(f"the indexes must be 0 <= start <= end <= {len(items)}")
    return items[first:last]


def _sort(items: list[Any]) -> list[str]:
    return sorted(to_string(x) for x in items)


def _values(value: dict[str, Any]) -> list[Any]:
    return [value[k] for k in sorted(value)]


def _zipmap(keys: list[Any], values: list[Any]) -> dict[str, Any]:
    if len(keys) != len(values):
        raise FunctionError("the lists of keys and values must have the same length")
    return {to_string(k): v for k, v in zip(keys, values, strict=True)}


FUNCTIONS: dict[str, Function] = {
    "chunklist": Function(("list", "number"), _chunklist, caps=True),
    "coalesce": Function((), _coalesce, variadic="any"),
    "coalescelist": Function((), _coalescelist, variadic="any"),
    "compact": Function(("list",), _compact),
    "concat": Function((), _concat, variadic="any", caps=True),
    "contains": Function(("list", "any"), _contains),
    "distinct": Function(("list",), _distinct),
    "element": Function(("list", "number"), _element),
    "flatten": Function(("list",), _flatten, caps=True),
    "index": Function(("list", "any"), _index),
    "keys": Function(("map",), _keys),
    "length": Function(("any",), _length),
    "lookup": Function(("map", "string"), _lookup, variadic="any"),
    "merge": Function((), _merge, variadic="any"),
    "range": Function((), _range, variadic="any", caps=True),
    "reverse": Function(("any",), _reverse),
    "setintersection": Function(("list",), _setintersection, variadic="list"),
    "setproduct": Function((), _setproduct, variadic="list", caps=True),
    "setunion": Function(("list",), _setunion, variadic="list", caps=True),
    "slice": Function(("list", "number", "number"), _slice),
    "sort": Function(("list",), _sort),
    "values": Function(("map",), _values),
    "zipmap": Function(("list", "list"), _zipmap),
}
