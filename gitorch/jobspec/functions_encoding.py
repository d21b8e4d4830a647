"""HCL's encoding, hashing and UUID functions, as Nomad registers them.

``jsonencode`` writes compact JSON with keys sorted and ``<``, ``>``, ``&``, U+2028 and
U+2029 escaped, as Go does; ``yamlencode`` writes block-style YAML with every string
double-quoted, as go-cty-yaml does (this module is the one place PyYAML is imported).
``bcrypt`` and ``rsadecrypt`` are refused with a reason: a bcrypt hash changes at every
parse (the job would change at every sync) and a private key does not belong in Git.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

import yaml  # type: ignore[import-untyped]

from gitorch.jobspec.functions import Caps, Function, FunctionError, normalise, to_string

_NAMESPACES = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _base64decode(text: str) -> str:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise FunctionError("the string is not base64 of UTF-8 text") from None


def _base64encode(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _csvdecode(caps: Caps, text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise FunctionError("the CSV has no header row")
    header, out = rows[0], []
    caps.elements(len(rows) - 1)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise FunctionError(f"CSV row {number} has {len(row)} fields, the header {len(header)}")
        out.append(dict(zip(header, row, strict=True)))
    return out


def _jsonencode(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for char, escaped in _HTML.items():
        text = text.replace(char, escaped)
    return text


def _jsondecode(text: str) -> Any:
    try:
        value = json.loads(text, parse_float=float, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FunctionError(
            f"the string is not JSON: {exc.msg} at character {exc.pos + 1}"
        ) from None
    return _numbers(value)


def _no_constant(name: str) -> Any:
    raise FunctionError(f"{name} is not JSON")


def _numbers(value: Any) -> Any:
    if isinstance(value, float):
        return normalise(value)
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    pass


def _quoted(dumper: Any, text: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')


_Dumper.add_representer(str, _quoted)


def _yamlencode(value: Any) -> str:
    text = yaml.dump(
        value, Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=True
    )
    return str(text)


def _yamldecode(caps: Caps, text: str) -> Any:
    try:
        loader = yaml.SafeLoader(text)
        try:
            value = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise FunctionError(f"the string is not YAML: {str(exc).splitlines()[0]}") from None
    return _plain(value, caps, [0])


def _plain(value: Any, caps: Caps, count: list[int]) -> Any:
    """``value`` as plain data; aliases are copied, so the copies are counted (a YAML
    "billion laughs" document is refused rather than expanded)."""
    count[0] += 1
    caps.elements(count[0], "the decoded YAML")
    if isinstance(value, float):
        return normalise(value)
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, list):
        return [_plain(v, caps, count) for v in value]
    if isinstance(value, dict):
        return {to_string(_plain(k, caps, count)): _plain(v, caps, count) for k, v in value.items()}
    return str(value)  # dates and the like, as text


def _urlencode(text: str) -> str:
    return quote_plus(text, safe="-_.~")


def _hash(name: str) -> Any:
    return lambda text: hashlib.new(name, text.encode("utf-8")).hexdigest()


def _uuidv4() -> str:
    return str(uuid.uuid4())


def _uuidv5(namespace: str, name: str) -> str:
    space = _NAMESPACES.get(namespace)
    if space is None:
        try:
            space = uuid.UUID(namespace)
        except ValueError:
            raise FunctionError(
                'the namespace must be "dns", "url", "oid", "x500" or a UUID'
            ) from None
    return str(uuid.uuid5(space, name))


FUNCTIONS: dict[str, Function] = {
    "base64decode": Function(("string",), _base64decode),
    "base64encode": Function(("string",), _base64encode),
    "bcrypt": Function(
        ("string",),
        _uuidv4,
        variadic="any",
        disabled="not supported by gitorch: a bcrypt hash is new at every parse, so the job "
        "would change at every sync (put the hash itself in a variable)",
    ),  # fmt: skip
    "csvdecode": Function(("string",), _csvdecode, caps=True),
    "jsondecode": Function(("string",), _jsondecode),
    "jsonencode": Function(("any",), _jsonencode),
    "md5": Function(("string",), _hash("md5")),
    "rsadecrypt": Function(
        ("string", "string"),
        _uuidv4,
        disabled="not supported by gitorch: a private key does not belong in a Git repository "
        "(use a template block with Nomad variables instead)",
    ),  # fmt: skip
    "sha1": Function(("string",), _hash("sha1")),
    "sha256": Function(("string",), _hash("sha256")),
    "sha512": Function(("string",), _hash("sha512")),
    "urlencode": Function(("string",), _urlencode),
    "uuidv4": Function((), _uuidv4),
    "uuidv5": Function(("string", "string"), _uuidv5),
    "yamldecode": Function(("string",), _yamldecode, caps=True),
    "yamlencode": Function(("any",), _yamlencode),
}
