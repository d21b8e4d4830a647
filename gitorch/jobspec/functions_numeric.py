"""HCL's numeric functions, as Nomad registers them (go-cty's stdlib semantics).

Numbers are ``int`` when whole and ``float`` otherwise; a result that would need more
than 1,024 bits (``pow(10, 1e6)``) is refused rather than computed.
"""

from __future__ import annotations

import math
import string
from typing import Any

from gitorch.jobspec.functions import Function, FunctionError, normalise, to_int

_DIGITS = string.digits + string.ascii_lowercase + string.ascii_uppercase


def _abs(value: int | float) -> int | float:
    return normalise(abs(value))


def _ceil(value: int | float) -> int | float:
    return value if math.isinf(value) else math.ceil(value)


def _floor(value: int | float) -> int | float:
    return value if math.isinf(value) else math.floor(value)


def _log(value: int | float, base: int | float) -> int | float:
    if value <= 0 or base <= 0 or base == 1:
        raise FunctionError("the number and the base must be positive (and the base not 1)")
    result = math.log(value, base)
    rounded = round(result)
    if abs(result - rounded) < 1e-12 and base**rounded == value:
        return rounded
    return result


def _max(*values: int | float) -> int | float:
    return max(values)


def _min(*values: int | float) -> int | float:
    return min(values)


def _parseint(text: str, base: Any) -> int:
    radix = to_int(base)
    if not 2 <= radix <= 62:
        raise FunctionError("the base must be between 2 and 62")
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or len(digits) > 256:
        raise FunctionError("the string is not a number in that base")
    alphabet = _DIGITS[:radix] if radix > 36 else _DIGITS[:radix] + _DIGITS[10:radix].upper()
    if any(c not in alphabet for c in digits):
        raise FunctionError(f"the string is not a number in base {radix}")
    value = 0
    for char in digits:
        index = _DIGITS.index(char) if radix > 36 else _DIGITS.index(char.lower())
        value = value * radix + index
    return -value if text.startswith("-") else value


def _pow(base: int | float, exponent: int | float) -> int | float:
    if base == 0 and exponent < 0:
        raise FunctionError("zero cannot be raised to a negative power")
    magnitude = abs(base)
    if magnitude > 1 and exponent > 0 and exponent * math.log2(magnitude) > 1024:
        raise FunctionError("the result is too large")
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        return normalise(base**exponent)
    try:
        result = float(base) ** float(exponent)
    except (OverflowError, ZeroDivisionError):
        raise FunctionError("the result is too large") from None
    if isinstance(result, complex):
        raise FunctionError("the result is not a real number")
    return normalise(result)


def _signum(value: int | float) -> int:
    return (value > 0) - (value < 0)


FUNCTIONS: dict[str, Function] = {
    "abs": Function(("number",), _abs),
    "ceil": Function(("number",), _ceil),
    "floor": Function(("number",), _floor),
    "log": Function(("number", "number"), _log),
    "max": Function(("number",), _max, variadic="number"),
    "min": Function(("number",), _min, variadic="number"),
    "parseint": Function(("string", "number"), _parseint),
    "pow": Function(("number", "number"), _pow),
    "signum": Function(("number",), _signum),
}
