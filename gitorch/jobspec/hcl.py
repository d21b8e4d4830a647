"""HCL2 text to located Python values: the only module that imports ``hcl2`` (and lark).

A document becomes a :class:`Body` of :class:`Attribute` and :class:`Block` values, each
with its line number. Attribute values are plain Python: ``str``, ``int``, ``float``,
``bool``, ``None``, ``list`` and ``dict``. Strings keep HCL's template syntax so that
:mod:`gitorch.jobspec.variables` can evaluate them later:

- an interpolation stays as written: ``"web-${var.n}"``;
- a bare expression becomes a one-interpolation string: ``count = var.n`` -> ``"${var.n}"``;
- the escapes ``$${`` and ``%%{`` stay escaped (the evaluator turns them into ``${``/``%{``);
- backslash escapes of quoted strings are resolved; heredocs are taken verbatim, as HCL
  does, with their final newline, and ``<<-`` heredocs are dedented;
- an expression python-hcl2 cannot write back as text is taken from the source as
  ``"${<source text>}"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import hcl2
from hcl2.rules.base import AttributeRule, BlockRule, BodyRule
from hcl2.rules.expressions import ExprTermRule
from hcl2.rules.strings import HeredocTemplateRule, HeredocTrimTemplateRule
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from gitorch.errors import JobspecError

_OPTIONS = hcl2.SerializationOptions(
    with_comments=False,
    explicit_blocks=False,
    preserve_heredocs=True,
    preserve_scientific_notation=False,
    strip_string_quotes=True,
)
_NUMBER = re.compile(r"\$\{\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*\}")
_TERMINALS = {
    "DBLQUOTE": '"',
    "LBRACE": "{",
    "RBRACE": "}",
    "LSQB": "[",
    "RSQB": "]",
    "LPAR": "(",
    "RPAR": ")",
    "EQ": "=",
    "COMMA": ",",
    "COLON": ":",
    "NAME": "a name",
    "INT_LITERAL": "a number",
    "FLOAT_LITERAL": "a number",
    "HEREDOC_TEMPLATE": "a heredoc",
    "HEREDOC_TEMPLATE_TRIM": "a heredoc",
    "NL_OR_COMMENT": "a new line",
}
_HEREDOC = re.compile(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\n(.*)\Z", re.S)


@dataclass(frozen=True)
class Attribute:
    """``name = value`` at ``line``."""

    name: str
    value: Any
    line: int


@dataclass(frozen=True)
class Block:
    """``type "label"... { body }`` spanning ``line`` to ``end_line``."""

    type: str
    labels: tuple[str, ...]
    body: Body
    line: int
    end_line: int


@dataclass(frozen=True)
class Body:
    """The attributes (by name, in source order) and blocks (in source order) of a body."""

    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    line: int = 1

    def blocks_of(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]

    def to_dict(self) -> dict[str, Any]:
        """A plain view: attributes by value, blocks of one type as a list of bodies.

        Labels are dropped, as Nomad does for the free-form ``config`` block.
        """
        out: dict[str, Any] = {name: a.value for name, a in self.attributes.items()}
        for block in self.blocks:
            out.setdefault(block.type, []).append(block.body.to_dict())
        return out


def parse(text: str, file: str = "") -> Body:
    """Parse an HCL2 document; a syntax error raises JobspecError with file and line."""
    text = text.replace("\r\n", "\n")
    try:
        tree = hcl2.parses(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    except VisitError as exc:  # the parser's tree transformer failed on one rule
        meta = getattr(exc.obj, "meta", None)
        line = int(getattr(meta, "line", 0) or 0) or 1
        what = str(exc.orig_exc).strip().split("\n", 1)[0][:200] or type(exc.orig_exc).__name__
        raise JobspecError(f"HCL syntax error: {what}", file=file, line=line) from None
    return _body(tree.body, file, 1, text)


def parse_value(text: str, what: str = "") -> Any:
    """Parse one HCL expression (``[1, 2]``, ``"x"``, ``{a = 1}``) given as text."""
    body = parse(f"v = {text}\n", what)
    return body.attributes["v"].value


def _body(rule: BodyRule, file: str, line: int, text: str) -> Body:
    attributes: dict[str, Attribute] = {}
    blocks: list[Block] = []
    for child in rule.children:
        if isinstance(child, AttributeRule):
            name = str(child.identifier.serialize(_OPTIONS))
            at = _line(child)
            if name in attributes:
                first = attributes[name].line
                msg = f'attribute "{name}" is set twice (first at line {first})'
                raise JobspecError(msg, file=file, line=at)
            attributes[name] = Attribute(name, _value(child.expression, text), at)
        elif isinstance(child, BlockRule):
            head, *labels = [str(x.serialize(_OPTIONS)) for x in child.labels]
            at = _line(child)
            end = getattr(getattr(child, "_meta", None), "end_line", at)
            body = _body(child.body, file, at, text)
            blocks.append(Block(head, tuple(labels), body, at, end))
    clash = sorted(set(attributes) & {b.type for b in blocks})
    if clash:
        msg = f'"{clash[0]}" is both an attribute and a block'
        raise JobspecError(msg, file=file, line=attributes[clash[0]].line)
    return Body(attributes, blocks, line)


def _line(rule: Any) -> int:
    return int(getattr(getattr(rule, "_meta", None), "line", 0) or 0)


def _value(expr: Any, text: str) -> Any:
    inner = expr.expression if isinstance(expr, ExprTermRule) else expr
    if isinstance(inner, (HeredocTemplateRule, HeredocTrimTemplateRule)):
        return _heredoc(str(inner.heredoc.serialize(_OPTIONS)))
    try:
        return _normalise(expr.serialize(_OPTIONS))
    except (TypeError, ValueError, AttributeError):
        # python-hcl2 cannot write some valid expressions back (a for expression whose
        # value is a number literal): take the expression's own source text instead
        meta = getattr(expr, "_meta", None)
        start, end = getattr(meta, "start_pos", None), getattr(meta, "end_pos", None)
        if not isinstance(start, int) or not isinstance(end, int):
            raise
        return "${" + text[start:end] + "}"


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        number = _NUMBER.fullmatch(value)
        if number:
            text = number.group(1)
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        return value
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    return value


def _heredoc(raw: str) -> str:
    """The value of a heredoc token: its lines up to the closing marker, newline kept."""
    match = _HEREDOC.match(raw)
    if not match:
        return raw
    trim, marker, rest = match.groups()
    lines = rest.rstrip("\n").split("\n")
    if lines and lines[-1].strip() == marker:
        lines = lines[:-1]
    if trim:
        indents = [len(x) - len(x.lstrip(" ")) for x in lines if x.strip()]
        cut = min(indents, default=0)
        lines = [x[cut:] for x in lines]
    return "".join(x + "\n" for x in lines)


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> JobspecError:
    last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
    line = exc.line if isinstance(exc.line, int) and exc.line > 0 else last
    line = min(line, last)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            what = "unexpected end of file (an unclosed block, string or bracket?)"
        else:
            shown = str(token.value).split("\n", 1)[0][:20] or repr(str(token.value))
            what = f"unexpected {shown!r}"
        expected = sorted({_TERMINALS.get(str(e), str(e).lower()) for e in exc.expected})
        if expected and len(expected) <= 6 and token.type != "$END":
            what += "; expected " + " or ".join(expected)
    elif isinstance(exc, UnexpectedCharacters):
        what = f"unexpected character {exc.char!r}"
    elif isinstance(exc, UnexpectedEOF):
        what = "unexpected end of file (an unclosed block, string or bracket?)"
    else:  # pragma: no cover - lark has no other UnexpectedInput kinds
        what = str(exc).split("\n", 1)[0]
    return JobspecError(f"HCL syntax error: {what}", file=file, line=line)
