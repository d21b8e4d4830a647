"""HCL's string functions, as Nomad registers them (go-cty's stdlib semantics).

``format`` and ``formatlist`` follow Go's ``fmt`` verbs as cty implements them: ``%v``,
``%#v`` (JSON), ``%t``, ``%b``, ``%d``, ``%o``, ``%x``, ``%X``, ``%e``, ``%E``, ``%f``,
``%g``, ``%G``, ``%s``, ``%q``, ``%%``, with the flags ``+ - # 0`` and space, width,
precision and explicit argument indexes ``%[2]s``. Widths and precisions are checked
against the string cap before anything is built. ``regex_replace`` uses Python's ``re``
for RE2 syntax; a pattern with a repeated group that itself repeats (``(a+)+``), which
RE2 runs in linear time but a backtracking engine may not, is refused, and so is a
repeated group holding alternatives (``(a|a)*``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from gitorch.jobspec.functions import (
    Caps,
    Function,
    FunctionError,
    format_number,
    to_int,
    to_number,
    to_string,
    type_name,
)

_VERB = re.compile(r"%([-+# 0]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d+))?(?:\[(\d+)\])?([a-zA-Z%])")
_NESTED_REPEAT = re.compile(r"\((?:[^()\\]|\\.)*[+*}|](?:[^()\\]|\\.)*\)\s*[+*{]")


def _format(caps: Caps, spec: str, *args: Any) -> str:
    out: list[str] = []
    size, pos, nxt = 0, 0, 0
    for match in _VERB.finditer(spec):
        out.append(spec[pos : match.start()])
        pos = match.end()
        flags, idx, width, prec, idx2, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        chosen = idx or idx2
        if chosen:
            nxt = int(chosen) - 1
        if not 0 <= nxt < len(args):
            raise FunctionError(
                f"not enough arguments for the verbs in the format ({match.group()})"
            )
        for number in (width, prec):
            if number and (len(number) > 9 or int(number) > caps.max_string):
                raise FunctionError("a width or precision in the format is too large")
        text = _verb(verb, flags, int(prec) if prec else None, args[nxt])
        nxt += 1
        if width and len(text) < int(width):
            pad = int(width) - len(text)
            if "-" in flags:
                text = text + " " * pad
            elif "0" in flags and verb not in "sqvt":
                sign = text[0] if text[:1] in "+- " else ""
                text = sign + "0" * pad + text[len(sign) :]
            else:
                text = " " * pad + text
        size += len(text)
        caps.string(size)
        out.append(text)
    out.append(spec[pos:])
    if nxt < len(args) and not any(m.group(2) or m.group(5) for m in _VERB.finditer(spec)):
        raise FunctionError(f"too many arguments: the format uses {nxt}, got {len(args)}")
    return "".join(out)


def _verb(verb: str, flags: str, prec: int | None, value: Any) -> str:  # noqa: C901, PLR0911
    if value is None:
        raise FunctionError("a null argument cannot be formatted")
    if verb == "v":
        if "#" in flags or isinstance(value, (list, dict)):
            return json.dumps(value, separators=(",", ":"))
        return to_string(value)
    if verb == "t":
        if not isinstance(value, bool):
            raise FunctionError(f"%t needs a bool, got a {type_name(value)}")
        return "true" if value else "false"
    if verb in "sq":
        text = to_string(value)
        if prec is not None:
            text = text[:prec]
        return json.dumps(text, ensure_ascii=False) if verb == "q" else text
    number = to_number(value)
    sign = "+" if "+" in flags else (" " if " " in flags else "")
    if verb in "bdoxX":
        whole = to_int(number, f"%{verb} needs a whole number; it")
        body = format(abs(whole), {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb])
        if "#" in flags and verb in "boxX":
            body = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}[verb] + body
        return ("-" if whole < 0 else sign) + body
    if verb in "eEfFgG":
        spec = f"{sign}{'#' if '#' in flags else ''}.{6 if prec is None else prec}{verb}"
        if verb in "gG" and prec is None:
            return (sign if number >= 0 else "") + format_number(number)
        return format(float(number), spec)
    raise FunctionError(f"unknown verb %{verb} in the format")


def _formatlist(caps: Caps, spec: str, *args: Any) -> list[str]:
    lengths = {len(a) for a in args if isinstance(a, list)}
    if len(lengths) > 1:
        raise FunctionError("all list arguments must have the same length")
    count = lengths.pop() if lengths else 1
    caps.elements(count)
    rows = [[a[i] if isinstance(a, list) else a for a in args] for i in range(count)]
    return [_format(caps, spec, *row) for row in rows]


def _join(caps: Caps, sep: str, *lists: Any) -> str:
    items: list[str] = []
    for one in lists:
        if not isinstance(one, list):
            raise FunctionError(f"the lists to join must be lists, got a {type_name(one)}")
        items.extend(to_string(x) for x in one)
    caps.string(sum(map(len, items)) + len(sep) * max(0, len(items) - 1))
    return sep.join(items)


def _split(caps: Caps, sep: str, text: str) -> list[str]:
    if sep == "":
        caps.elements(len(text))
        return list(text)
    caps.elements(text.count(sep) + 1)
    return text.split(sep)


def _indent(caps: Caps, spaces: Any, text: str) -> str:
    count = to_int(spaces)
    if count < 0:
        raise FunctionError("the number of spaces must not be negative")
    caps.string(len(text) + count * (text.count("\n") + 1))
    return text.replace("\n", "\n" + " " * count)


def _replace(caps: Caps, text: str, old: str, new: str) -> str:
    if old == "":
        caps.string(len(text) + len(new) * (len(text) + 1))
    else:
        caps.string(len(text) + max(0, len(new) - len(old)) * text.count(old))
    return text.replace(old, new)


def _regex_replace(caps: Caps, text: str, pattern: str, new: str) -> str:
    if _NESTED_REPEAT.search(pattern):
        raise FunctionError("a repeated group that repeats inside or holds alternatives is refused")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise FunctionError(f"the pattern is not a regular expression: {exc}") from None
    template = re.sub(r"\$\{(\w+)\}|\$(\d+)", lambda m: f"\\g<{m.group(1) or m.group(2)}>", new)
    try:
        result = compiled.sub(template, text)
    except (re.error, IndexError) as exc:
        raise FunctionError(f"the replacement is not valid: {exc}") from None
    caps.string(len(result))
    return result


def _substr(text: str, offset: Any, length: Any) -> str:
    start, size = to_int(offset), to_int(length)
    if start < 0:
        start = max(0, len(text) + start)
    if start > len(text):
        raise FunctionError("the offset is beyond the end of the string")
    return text[start:] if size < 0 else text[start : start + size]


def _title(text: str) -> str:
    return re.sub(r"(?<![\w'])(\w)", lambda m: m.group(1).upper(), text)


def _trim(text: str, cutset: str) -> str:
    return text.strip(cutset)


def _trimprefix(text: str, prefix: str) -> str:
    return text.removeprefix(prefix)


def _trimsuffix(text: str, suffix: str) -> str:
    return text.removesuffix(suffix)


def _chomp(text: str) -> str:
    return re.sub(r"(?:\r\n|\r|\n)+\Z", "", text)


FUNCTIONS: dict[str, Function] = {
    "chomp": Function(("string",), _chomp),
    "format": Function(("string",), _format, variadic="any", caps=True),
    "formatlist": Function(("string",), _formatlist, variadic="any", caps=True),
    "indent": Function(("number", "string"), _indent, caps=True),
    "join": Function(("string",), _join, variadic="any", caps=True),
    "lower": Function(("string",), str.lower),
    "regex_replace": Function(("string", "string", "string"), _regex_replace, caps=True),
    "replace": Function(("string", "string", "string"), _replace, caps=True),
    "split": Function(("string", "string"), _split, caps=True),
    "strlen": Function(("string",), len),
    "strrev": Function(("string",), lambda text: text[::-1]),
    "substr": Function(("string", "number", "number"), _substr),
    "title": Function(("string",), _title),
    "trim": Function(("string", "string"), _trim),
    "trimprefix": Function(("string", "string"), _trimprefix),
    "trimspace": Function(("string",), str.strip),
    "trimsuffix": Function(("string", "string"), _trimsuffix),
    "upper": Function(("string",), str.upper),
}
