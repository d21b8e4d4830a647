"""Go's literal syntax as text/template reads it: quoted and raw strings, character
constants, integer and floating-point numbers."""

from __future__ import annotations

import re

_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", "'": "'", '"': '"'}  # fmt: skip
_OCTAL_INT = re.compile(r"[+-]?0[0-7_]+")


def unquote(token: str) -> str:
    """The value of a Go string literal: ``"..."`` with escapes, or a raw ```...```."""
    if token.startswith("`"):
        return token[1:-1].replace("\r", "")
    return _unescape(token[1:-1], token[0])


def char_value(token: str) -> int:
    """The code point of a Go character constant such as ``'a'`` or ``'\\n'``."""
    body = _unescape(token[1:-1], "'")
    if len(body) != 1:
        raise ValueError(f"malformed character constant: {token}")
    return ord(body)


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == quote:
            raise ValueError("unescaped quote in string literal")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("string literal ends in a backslash")
        e = body[i + 1]
        if e in _SIMPLE:
            if (e == "'" and quote == '"') or (e == '"' and quote == "'"):
                raise ValueError(f"invalid escape \\{e} in quoted literal")
            out.append(_SIMPLE[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid escape \\{e}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError(f"invalid octal escape \\{digits}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape sequence \\{e}")
    return "".join(out)


def number_value(text: str) -> int | float:
    """A Go number constant: an int unless it is written as a float, as text/template does."""
    if _OCTAL_INT.fullmatch(text) and text.lstrip("+-") != "0":
        return int(text.replace("_", ""), 8)
    try:
        return int(text, 0)
    except ValueError:
        pass
    if text.lower().lstrip("+-").startswith("0x"):
        return float.fromhex(text.replace("_", ""))
    return float(text)
