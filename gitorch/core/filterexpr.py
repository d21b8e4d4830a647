"""Nomad's ``?filter=`` expressions (a subset of go-bexpr), parsed and evaluated against
an API object decoded from JSON (dicts, lists, strings, numbers, booleans).

Grammar::

    expr      := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | match
    match     := selector ("==" | "!=") value
               | selector ["not"] ("contains" | "matches") value
               | selector "is" ["not"] "empty"
               | value ["not"] "in" selector
    selector  := name ("." name)*          e.g. TaskGroups.web, Meta.owner, Status
    value     := "double-quoted" | `raw` | number | true | false | bare-word

``parse`` raises ``FilterError`` with the 1-based column of the problem. Comparisons
follow the selected field's type (``Count == 2`` matches the number 2, ``Stop ==
true`` the boolean). A selector that leads nowhere selects nothing: ``==`` is false,
``!=`` true, ``is empty`` true.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<op>==|!=|\(|\))
    | (?P<word>[A-Za-z0-9_\-./:*@+\[\]]+)
    )""",
    re.VERBOSE,
)
KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "matches", "is", "empty"})
_MISSING = object()


class FilterError(ValueError):
    """An expression that does not parse: ``column`` is 1-based."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"failed to parse filter at column {column}: {message}")
        self.column = column


@dataclass(frozen=True)
class Token:
    kind: str  # str, raw, op, word, end
    text: str
    column: int


@dataclass(frozen=True)
class Match:
    op: str  # ==, !=, contains, matches, empty, in
    selector: tuple[str, ...]
    value: Token | None = None
    negate: bool = False


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Bool:
    op: str  # and, or
    left: Node
    right: Node


Node = Match | Not | Bool


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = _TOKEN.match(text, pos)
        if found is None or found.lastgroup is None:
            column = pos + 1 + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise FilterError(column, f"unexpected character {text[column - 1]!r}")
        start = found.start(found.lastgroup)
        out.append(Token(found.lastgroup, found.group(found.lastgroup), start + 1))
        pos = found.end()
    out.append(Token("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def keyword(self, word: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "word" and token.text == word

    def expect_keyword(self, word: str) -> None:
        token = self.next()
        if not (token.kind == "word" and token.text == word):
            raise FilterError(token.column, f"expected {word!r}, found {_shown(token)}")

    def parse(self) -> Node:
        node = self.expr()
        end = self.peek()
        if end.kind != "end":
            raise FilterError(end.column, f"unexpected {_shown(end)}")
        return node

    def expr(self) -> Node:
        node = self.conjunction()
        while self.keyword("or"):
            self.next()
            node = Bool("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.unary()
        while self.keyword("and"):
            self.next()
            node = Bool("and", node, self.unary())
        return node

    def unary(self) -> Node:
        token = self.peek()
        if token.kind == "word" and token.text == "not" and not self._value_in(1):
            self.next()
            return Not(self.unary())
        if token.kind == "op" and token.text == "(":
            self.next()
            node = self.expr()
            close = self.next()
            if close.kind != "op" or close.text != ")":
                raise FilterError(close.column, f"expected ')', found {_shown(close)}")
            return node
        return self.match()

    def _value_in(self, ahead: int) -> bool:
        """Whether ``not`` at the cursor is a value followed by ``in`` (rare, but legal)."""
        return self.keyword("in", ahead) or (
            self.keyword("not", ahead) and self.keyword("in", ahead + 1)
        )

    def match(self) -> Match:
        first = self.next()
        if first.kind in ("end", "op"):
            raise FilterError(first.column, f"expected a selector or value, found {_shown(first)}")
        if self.keyword("in") or (self.keyword("not") and self.keyword("in", 1)):
            negate = self.keyword("not")
            if negate:
                self.next()
            self.next()
            return Match("in", self.selector(self.next()), first, negate)
        selector = self.selector(first)
        op = self.next()
        if op.kind == "op" and op.text in ("==", "!="):
            return Match(op.text, selector, self.value(self.next()))
        negate = op.kind == "word" and op.text == "not"
        if negate:
            op = self.next()
        if op.kind == "word" and op.text in ("contains", "matches"):
            value = self.value(self.next())
            if op.text == "matches":
                _regex(value)
            return Match(op.text, selector, value, negate)
        if op.kind == "word" and op.text == "is" and not negate:
            negate = self.keyword("not")
            if negate:
                self.next()
            self.expect_keyword("empty")
            return Match("empty", selector, None, negate)
        raise FilterError(
            op.column,
            f"expected an operator (==, !=, contains, matches, is empty, in), found {_shown(op)}",
        )

    def selector(self, token: Token) -> tuple[str, ...]:
        if token.kind != "word" or token.text in KEYWORDS or token.text[0].isdigit():
            raise FilterError(token.column, f"expected a selector, found {_shown(token)}")
        parts = tuple(token.text.split("."))
        if any(not p for p in parts):
            raise FilterError(token.column, f"empty part in selector {token.text!r}")
        return parts

    def value(self, token: Token) -> Token:
        if token.kind in ("str", "raw") or (token.kind == "word" and token.text not in KEYWORDS):
            return token
        raise FilterError(token.column, f"expected a value, found {_shown(token)}")


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _shown(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


def _text(token: Token) -> str:
    if token.kind == "str":
        return re.sub(r"\\(.)", r"\1", token.text[1:-1])
    if token.kind == "raw":
        return token.text[1:-1]
    return token.text


def _regex(token: Token) -> re.Pattern[str]:
    try:
        return _compiled(_text(token))
    except re.error as exc:
        raise FilterError(token.column, f"invalid regular expression: {exc}") from None


def parse(text: str) -> Node:
    """The expression tree of ``text``, or ``FilterError`` naming the column."""
    if not text.strip():
        raise FilterError(1, "the expression is empty")
    return _Parser(text).parse()


def _select(item: Any, selector: tuple[str, ...]) -> Any:
    for part in selector:
        if isinstance(item, dict) and part in item:
            item = item[part]
        else:
            return _MISSING
    return item


def _equal(field: Any, token: Token) -> bool:
    text = _text(token)
    if isinstance(field, bool):
        return text.lower() == str(field).lower()
    if isinstance(field, int | float):
        try:
            return float(text) == float(field)
        except ValueError:
            return False
    if field is None:
        return text in ("", "null", "nil")
    return isinstance(field, str) and field == text


def _holds(collection: Any, token: Token) -> bool:
    if isinstance(collection, str):
        return _text(token) in collection
    if isinstance(collection, dict):
        return _text(token) in collection
    if isinstance(collection, list):
        return any(_equal(element, token) for element in collection)
    return False


def evaluate(node: Node, item: Any) -> bool:
    """Whether ``item`` (an API object as JSON) satisfies ``node``."""
    match node:
        case Bool(op="and"):
            return evaluate(node.left, item) and evaluate(node.right, item)
        case Bool():
            return evaluate(node.left, item) or evaluate(node.right, item)
        case Not():
            return not evaluate(node.inner, item)
        case Match():
            field = _select(item, node.selector)
            return _match(node, field) != node.negate
    return False


def _match(node: Match, field: Any) -> bool:
    if node.op == "empty":
        return field is _MISSING or field is None or field in ("", [], {})
    if field is _MISSING:
        return node.op == "!="
    assert node.value is not None
    if node.op == "==":
        return _equal(field, node.value)
    if node.op == "!=":
        return not _equal(field, node.value)
    if node.op in ("contains", "in"):
        return _holds(field, node.value)
    return isinstance(field, str) and _regex(node.value).search(field) is not None
