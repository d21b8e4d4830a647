"""Go's fmt formatting of template values: ``%v`` (what an action prints), ``Sprint``,
``Sprintln`` and a ``Sprintf`` with Go's verbs, flags, width and precision.

Values are Python's: ``str``, ``int``, ``float``, ``bool``, ``None`` (Go's nil), lists,
dicts and records (dataclasses), plus :data:`MISSING`, Go's "no value".
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


class _Missing:
    """Go's invalid ``reflect.Value``: a map key that is not there. Prints ``<no value>``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def go_type(v: Any) -> str:
    """The Go type name a value would have in consul-template, for messages and ``%T``."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bytes):
        return "[]uint8"
    if isinstance(v, Mapping):
        return "map[string]interface {}"
    if isinstance(v, Sequence):
        return "[]interface {}"
    return type(v).__name__


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat`` for the verbs e, f, g (and upper-case E, G)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    lower = verb.lower()
    if lower == "f":
        return f"{f:.{6 if prec < 0 else prec}f}"
    if lower == "e":
        return _exp(f"{f:.{6 if prec < 0 else prec}e}", verb)
    if prec < 0:  # the shortest digits that round-trip; %e past exponent 6, as Go
        sign = "-" if math.copysign(1.0, f) < 0 else ""
        dec = Decimal(repr(abs(f)))
        digits = "".join(map(str, dec.as_tuple().digits)).rstrip("0") or "0"
        sci = dec.adjusted()
        if f != 0 and (sci < -4 or sci >= 6):
            body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
            return _exp(f"{sign}{body}e{sci:+03d}", verb)
        text = format(dec, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return sign + text
    out = f"{f:.{prec or 1}{verb}}"
    return _exp(out, verb)


def _exp(text: str, verb: str) -> str:
    """Go writes at least two exponent digits: ``1e+06``, as Python does."""
    return text.upper() if verb.isupper() else text


def format_value(v: Any, plus: bool = False, top: bool = True) -> str:
    """Go's ``%v``."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return "[" + " ".join(str(b) for b in v) + "]"
    stringer = getattr(type(v), "String", None)
    if callable(stringer):
        return str(stringer(v))
    if isinstance(v, Mapping):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return (
            "map["
            + " ".join(
                f"{format_value(k, plus, False)}:{format_value(x, plus, False)}" for k, x in items
            )
            + "]"
        )
    if isinstance(v, Sequence):
        return "[" + " ".join(format_value(x, plus, False) for x in v) + "]"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        parts = []
        for f in dataclasses.fields(v):
            value = format_value(getattr(v, f.name), plus, False)
            parts.append(f"{f.name}:{value}" if plus else value)
        return "{" + " ".join(parts) + "}"
    return str(v)


def _sort_key(k: Any) -> tuple[int, Any]:
    if isinstance(k, bool):
        return (0, k)
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


def sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(a))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """Go's ``fmt.Sprintln``: spaces between all operands, and a newline."""
    return " ".join(format_value(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d*))?([a-zA-Z%])")


def sprintf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use: v s q d b o x X c e E f F g G t T
    and ``%%``, with flags, width and precision; mistakes print as Go prints them."""
    out: list[str] = []
    argi = 0
    pos = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width_s, prec_s, verb = m.groups()
        if verb == "%" and not flags and width_s is None and prec_s is None:
            out.append("%")
            continue
        width = prec = -1
        if width_s == "*":
            width, argi = (
                (args[argi], argi + 1)
                if argi < len(args) and isinstance(args[argi], int)
                else (-1, argi + 1)
            )
        elif width_s:
            width = int(width_s)
        if prec_s == "*":
            prec, argi = (
                (args[argi], argi + 1)
                if argi < len(args) and isinstance(args[argi], int)
                else (-1, argi + 1)
            )
        elif prec_s is not None:
            prec = int(prec_s or 0)
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        body = _one(verb, arg, flags, prec)
        out.append(_pad(body, width, flags, verb))
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{go_type(a)}={format_value(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad(verb: str, arg: Any) -> str:
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _one(verb: str, arg: Any, flags: str, prec: int) -> str:
    if verb == "v":
        if "#" in flags and isinstance(arg, str):
            return _go_quote(arg)
        return format_value(arg, plus="+" in flags)
    if verb == "T":
        return go_type(arg)
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else _bad(verb, arg)
    if verb in "sq":
        if isinstance(arg, int | float) and not isinstance(arg, bool) and verb == "s":
            return _bad(verb, arg)
        text = format_value(arg) if verb == "s" or isinstance(arg, str) else None
        if text is None:
            return (
                chr(arg)
                if verb == "q" and isinstance(arg, int) and not isinstance(arg, bool)
                else _bad(verb, arg)
            )
        if prec >= 0 and verb == "s":
            text = text[:prec]
        return _go_quote(text) if verb == "q" else text
    if verb in "dboxXc":
        if isinstance(arg, str) and verb in "xX":
            h = arg.encode().hex()
            return h.upper() if verb == "X" else h
        if not isinstance(arg, int) or isinstance(arg, bool):
            return _bad(verb, arg)
        if verb == "c":
            return chr(arg)
        sign = "-" if arg < 0 else "+" if "+" in flags else " " if " " in flags else ""
        digits = format(abs(arg), {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb])
        if "#" in flags and verb in "boxX":
            digits = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}[verb] + digits
        return sign + digits
    if verb in "eEfFgG":
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            return _bad(verb, arg)
        text = format_float(float(arg), verb if verb != "F" else "f", prec)
        if "+" in flags and not text.startswith("-"):
            text = "+" + text
        return text
    return f"%!{verb}({go_type(arg)}={format_value(arg)})"


def _pad(body: str, width: int, flags: str, verb: str) -> str:
    if width <= len(body):
        return body
    if "-" in flags:
        return body.ljust(width)
    if "0" in flags and verb in "dboxXeEfFgG":
        sign = body[0] if body[:1] in "+- " else ""
        return sign + body[len(sign) :].rjust(width - len(sign), "0")
    return body.rjust(width)


def _go_quote(s: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) >= 0x80 else f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
