"""What an HCL function is here: its parameter types, how arguments convert, its bounds.

A :class:`Function` declares its parameters with cty-like type names (``string``,
``number``, ``bool``, ``list``, ``map``, ``collection``, ``any``) and optionally a
variadic one. Before the implementation runs, each argument is converted as HCL would
(``"5"`` to the number 5 for a ``number`` parameter, ``5`` to ``"5"`` for a ``string``,
``"true"`` to true for a ``bool``); a wrong count or an argument that does not convert is
a :class:`FunctionError`, which the evaluator turns into a located error naming the
function. Messages never quote argument values (they may be secrets).

Functions that can build large values receive :class:`Caps` and check the size of what
they would build before building it, so ``range(1e9)`` or ``format("%999999999d", 1)``
is refused at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gitorch.jobspec.limits import DEFAULT_LIMITS

MAX_ELEMENTS = 100_000
"""Elements of one computed list or map (a ``range``, a ``for``, a ``flatten``)."""


class FunctionError(Exception):
    """A function refused its arguments; the message names no argument value."""


@dataclass(frozen=True)
class Caps:
    """The bounds on values that functions and expressions build."""

    max_string: int = DEFAULT_LIMITS.max_string_length
    max_elements: int = MAX_ELEMENTS

    def string(self, size: int, what: str = "the result") -> None:
        if size > self.max_string:
            msg = f"{what} would be over {self.max_string} characters (gitops.max_string_length)"
            raise FunctionError(msg)

    def elements(self, size: int, what: str = "the result") -> None:
        if size > self.max_elements:
            raise FunctionError(f"{what} would have over {self.max_elements} elements")


@dataclass(frozen=True)
class Function:
    """``impl(*converted_args)``, or ``impl(caps, *args)`` when ``caps`` is set."""

    params: tuple[str, ...]
    impl: Callable[..., Any]
    variadic: str | None = None
    caps: bool = False
    disabled: str = ""


def call(name: str, fn: Function, args: Sequence[Any], caps: Caps) -> Any:
    """``fn`` applied to ``args`` after HCL's argument conversions."""
    if fn.disabled:
        raise FunctionError(fn.disabled)
    want = len(fn.params)
    if len(args) < want or (fn.variadic is None and len(args) > want):
        many = f"{want}" if fn.variadic is None else f"at least {want}"
        got = len(args)
        raise FunctionError(f"takes {many} argument{'s' if want != 1 else ''}, got {got}")
    converted = [
        convert_arg(value, fn.params[i] if i < want else str(fn.variadic), i + 1)
        for i, value in enumerate(args)
    ]
    return fn.impl(caps, *converted) if fn.caps else fn.impl(*converted)


def convert_arg(value: Any, kind: str, position: int) -> Any:
    """``value`` as parameter type ``kind``, or FunctionError naming the position."""
    try:
        return _CONVERT[kind](value)
    except FunctionError as exc:
        raise FunctionError(f"argument {position}: {exc}") from None


def type_name(value: Any) -> str:
    """HCL's name for the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    raise FunctionError(f"a string is required, got a {type_name(value)}")


def to_number(value: Any) -> int | float:
    if isinstance(value, bool) or value is None:
        raise FunctionError(f"a number is required, got a {type_name(value)}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d{1,40}", text):
            return int(text)
        if re.fullmatch(r"-?\d{0,40}\.?\d{1,40}(?:[eE][+-]?\d{1,4})?", text):
            return normalise(float(text))
        raise FunctionError("a number is required, got a string that is not a number")
    raise FunctionError(f"a number is required, got a {type_name(value)}")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise FunctionError(f"a bool is required, got a {type_name(value)}")


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise FunctionError(f"a list is required, got a {type_name(value)}")


def to_map(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise FunctionError(f"a map is required, got a {type_name(value)}")


def to_collection(value: Any) -> list[Any] | dict[str, Any]:
    if isinstance(value, (list, dict)):
        return value
    raise FunctionError(f"a list or map is required, got a {type_name(value)}")


def to_int(value: Any, what: str = "a whole number") -> int:
    number = to_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise FunctionError(f"{what} is required, got a fraction")
        return int(number)
    return number


def normalise(number: int | float) -> int | float:
    """A float that is a whole number (and exact) becomes an int, as HCL shows it."""
    if isinstance(number, float):
        if math.isnan(number):
            raise FunctionError("the result is not a number (NaN)")
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
    elif number.bit_length() > 1024:
        raise FunctionError("the number is too large")
    return number


def format_number(value: int | float) -> str:
    """A number as HCL writes it in a string: ``5``, ``2.5``, ``1e+30``."""
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def equal(left: Any, right: Any) -> bool:
    """HCL's ``==``: same type and same value, numbers compared by value."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return False
        return all(equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return type(left) is type(right) and bool(left == right)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "number": to_number,
    "bool": to_bool,
    "list": to_list,
    "map": to_map,
    "collection": to_collection,
    "any": lambda value: value,
}
