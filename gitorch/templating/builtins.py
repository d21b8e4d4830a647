"""Go text/template's predefined functions: and, or (handled by the evaluator, which
short-circuits them), not, len, index, slice, print, printf, println, eq, ne, lt, le,
gt, ge, html, js, urlquery, and call."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitorch.templating.errors import FunctionError
from gitorch.templating.gofmt import MISSING, format_value, go_type, sprint, sprintf, sprintln
from gitorch.templating.truth import is_true


def _not(value: Any) -> bool:
    return not is_true(value)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | Mapping | Sequence):
        return len(value)
    raise FunctionError(f"len of type {go_type(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FunctionError("index of untyped nil")
    for i in indexes:
        if isinstance(item, Mapping):
            item = item.get(i, MISSING)
        elif isinstance(item, str | bytes | Sequence):
            if not isinstance(i, int) or isinstance(i, bool):
                raise FunctionError(f"cannot index slice/array with type {go_type(i)}")
            seq = item.encode() if isinstance(item, str) else item
            if not 0 <= i < len(seq):
                raise FunctionError(f"index out of range: {i}")
            item = seq[i]
        elif item is MISSING or item is None:
            raise FunctionError("index of nil pointer")
        else:
            raise FunctionError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, str | bytes | Sequence) or isinstance(item, Mapping):
        raise FunctionError(f"can't slice item of type {go_type(item)}")
    if len(indexes) > 3:
        raise FunctionError(f"too many slice indexes: {len(indexes)}")
    if len(indexes) == 3 and isinstance(item, str):
        raise FunctionError("cannot 3-index slice a string")
    for i in indexes:
        if not isinstance(i, int) or isinstance(i, bool):
            raise FunctionError(f"cannot index slice/array with type {go_type(i)}")
    seq = item.encode() if isinstance(item, str) else item
    bounds = [*indexes[:2]]
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else len(seq)
    cap = indexes[2] if len(indexes) == 3 else len(seq)
    if not 0 <= lo <= hi <= cap <= len(seq):
        raise FunctionError(f"index out of range: {lo}:{hi}")
    part = seq[lo:hi]
    if isinstance(part, bytes) and isinstance(item, str):
        return part.decode(errors="replace")
    return part


def _basic_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if v is None or v is MISSING:
        return "nil"
    return "other"


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FunctionError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 == "nil" or k2 == "nil":
            if arg1 is None and arg is None or (k1 == k2):
                return True
            continue
        if k1 == "other" or k2 == "other":
            if isinstance(arg1, Mapping | list) or isinstance(arg, Mapping | list):
                raise FunctionError(f"non-comparable type {format_value(arg1)}: {go_type(arg1)}")
            if arg1 == arg:
                return True
            continue
        if k1 != k2:
            raise FunctionError("incompatible types for comparison")
        if arg1 == arg:
            return True
    return False


def _ne(arg1: Any, arg2: Any) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 in ("bool", "nil", "other") or k2 in ("bool", "nil", "other"):
        raise FunctionError("invalid type for comparison")
    if k1 != k2:
        raise FunctionError("incompatible types for comparison")
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: Any, arg2: Any) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: Any, arg2: Any) -> bool:
    return not _lt(arg1, arg2)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*args)


_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}


def html_escape(*args: Any) -> str:
    """Go's ``html``: the escaped HTML equivalent of the textual arguments."""
    return "".join(_HTML.get(c, c) for c in _eval_args(args))


_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
       "=": "\\u003D"}  # fmt: skip


def js_escape(*args: Any) -> str:
    """Go's ``js``: the escaped JavaScript equivalent of the textual arguments."""
    out: list[str] = []
    for c in _eval_args(args):
        if c in _JS:
            out.append(_JS[c])
        elif ord(c) < 0x80 and not c.isprintable() or ord(c) >= 0x80 and not c.isprintable():
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def urlquery(*args: Any) -> str:
    """Go's ``urlquery``: the textual arguments escaped for a URL query."""
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _call(fn: Any, *args: Any) -> Any:
    if not callable(fn):
        raise FunctionError(f"non-function of type {go_type(fn)}")
    return fn(*args)


BUILTINS: Mapping[str, Callable[..., Any]] = {
    "and": lambda *a: a[-1],  # evaluated lazily by the evaluator
    "or": lambda *a: a[-1],
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": sprint,
    "printf": sprintf,
    "println": sprintln,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "html": html_escape,
    "js": js_escape,
    "urlquery": urlquery,
    "call": _call,
}
"""Go's predefined template functions, by name."""
