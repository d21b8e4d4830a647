"""Go text/template's lexer: template text to a list of tokens.

Text outside actions becomes ``TEXT`` tokens (trimmed by ``{{-`` / ``-}}``, where the
dash is followed or preceded by a space, as in Go); inside an action the tokens are
identifiers, keywords, ``.Field`` and ``$var`` names, literals and punctuation.
Comments ``{{/* ... */}}`` produce no token.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from gitorch.templating.errors import TemplateSyntaxError, position


class T(Enum):
    TEXT = auto()
    LEFT = auto()
    RIGHT = auto()
    IDENT = auto()
    KEYWORD = auto()
    FIELD = auto()
    VARIABLE = auto()
    DOT = auto()
    STRING = auto()
    RAW_STRING = auto()
    CHAR = auto()
    NUMBER = auto()
    BOOL = auto()
    NIL = auto()
    PIPE = auto()
    LPAREN = auto()
    RPAREN = auto()
    DECLARE = auto()
    ASSIGN = auto()
    COMMA = auto()
    SPACE = auto()
    EOF = auto()


KEYWORDS = frozenset(
    ("block", "break", "continue", "define", "else", "end", "if", "range", "template", "with")
)
_SPACE = " \t\r\n"
_TRIM_SPACE = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Token:
    kind: T
    value: str
    pos: int


class _Lexer:
    def __init__(self, name: str, text: str, left: str, right: str) -> None:
        self.name = name
        self.text = text
        self.left = left or "{{"
        self.right = right or "}}"
        self.pos = 0
        self.tokens: list[Token] = []
        self.trim_next = False

    def error(self, pos: int, message: str) -> TemplateSyntaxError:
        line, col = position(self.text, pos)
        return TemplateSyntaxError(self.name, line, col, message)

    def run(self) -> list[Token]:
        text, n = self.text, len(self.text)
        while self.pos < n:
            at = text.find(self.left, self.pos)
            end = n if at < 0 else at
            trim_left = at >= 0 and self._trim_marker_after(at + len(self.left))
            chunk = text[self.pos : end]
            if self.trim_next:
                chunk = chunk.lstrip(_TRIM_SPACE)
            if trim_left:
                chunk = chunk.rstrip(_TRIM_SPACE)
            if chunk:
                self.tokens.append(Token(T.TEXT, chunk, self.pos))
            self.trim_next = False
            if at < 0:
                self.pos = n
                break
            self.pos = at + len(self.left) + (2 if trim_left else 0)
            self._action(at, trim_left)
        self.tokens.append(Token(T.EOF, "", n))
        return self.tokens

    def _trim_marker_after(self, i: int) -> bool:
        return (
            self.text.startswith("-", i) and i + 1 < len(self.text) and self.text[i + 1] in _SPACE
        )

    def _at_right(self) -> int:
        """Length of the closing delimiter (with its trim marker) at ``pos``, or 0."""
        text, i = self.text, self.pos
        if text.startswith(self.right, i):
            return len(self.right)
        if text[i : i + 1] in (" ", "\t", "\r", "\n") and text.startswith("-" + self.right, i + 1):
            return 2 + len(self.right)
        return 0

    def _action(self, start: int, trim_left: bool) -> None:
        text = self.text
        if text.startswith("/*", self.pos):
            self._comment(start)
            return
        self.tokens.append(Token(T.LEFT, self.left, start))
        depth = 0
        while True:
            if self.pos >= len(text):
                raise self.error(start, "unclosed action")
            close = self._at_right()
            if close:
                if depth:
                    raise self.error(self.pos, "unclosed left paren")
                self.trim_next = close > len(self.right)
                self.tokens.append(Token(T.RIGHT, self.right, self.pos))
                self.pos += close
                return
            c = text[self.pos]
            begin = self.pos
            if c in _SPACE:
                while self.pos < len(text) and text[self.pos] in _SPACE and not self._at_right():
                    self.pos += 1
                self.tokens.append(Token(T.SPACE, " ", begin))
            elif c == "(":
                depth += 1
                self._emit(T.LPAREN, 1)
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise self.error(begin, "unexpected right paren")
                self._emit(T.RPAREN, 1)
            elif c == "|":
                self._emit(T.PIPE, 1)
            elif c == ",":
                self._emit(T.COMMA, 1)
            elif c == ":":
                if not text.startswith(":=", begin):
                    raise self.error(begin, "expected :=")
                self._emit(T.DECLARE, 2)
            elif c == "=":
                self._emit(T.ASSIGN, 1)
            elif c == '"':
                self._quote(begin)
            elif c == "`":
                close_at = text.find("`", begin + 1)
                if close_at < 0:
                    raise self.error(begin, "unterminated raw quoted string")
                self.pos = close_at + 1
                self.tokens.append(Token(T.RAW_STRING, text[begin : self.pos], begin))
            elif c == "'":
                self._char(begin)
            elif c == "$":
                self.pos += 1
                self._word_tail()
                self.tokens.append(Token(T.VARIABLE, text[begin : self.pos], begin))
            elif c == "." and self.pos + 1 < len(text) and _is_alnum(text[self.pos + 1]):
                if text[self.pos + 1].isdigit() and not self._after_term():
                    self._number(begin)
                else:
                    self.pos += 1
                    self._word_tail()
                    self.tokens.append(Token(T.FIELD, text[begin : self.pos], begin))
            elif c == ".":
                self._emit(T.DOT, 1)
            elif c.isdigit() or (c in "+-" and text[begin + 1 : begin + 2].isdigit()):
                self._number(begin)
            elif _is_alnum(c):
                self._word_tail()
                word = text[begin : self.pos]
                kind = T.IDENT
                if word in KEYWORDS:
                    kind = T.KEYWORD
                elif word in ("true", "false"):
                    kind = T.BOOL
                elif word == "nil":
                    kind = T.NIL
                self.tokens.append(Token(kind, word, begin))
            else:
                raise self.error(begin, f"unrecognized character in action: {c!r}")

    def _after_term(self) -> bool:
        last = self.tokens[-1].kind if self.tokens else T.SPACE
        return last in (T.RPAREN, T.FIELD, T.VARIABLE, T.IDENT)

    def _emit(self, kind: T, width: int) -> None:
        self.tokens.append(Token(kind, self.text[self.pos : self.pos + width], self.pos))
        self.pos += width

    def _word_tail(self) -> None:
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1

    def _comment(self, start: int) -> None:
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            raise self.error(start, "unclosed comment")
        self.pos = end + 2
        close = self._at_right()
        if not close:
            raise self.error(self.pos, "comment ends before closing delimiter")
        self.trim_next = close > len(self.right)
        self.pos += close

    def _quote(self, begin: int) -> None:
        text, i = self.text, begin + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.error(begin, "unterminated quoted string")
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                break
            i += 1
        self.pos = i + 1
        self.tokens.append(Token(T.STRING, text[begin : self.pos], begin))

    def _char(self, begin: int) -> None:
        text, i = self.text, begin + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.error(begin, "unterminated character constant")
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == "'":
                break
            i += 1
        self.pos = i + 1
        self.tokens.append(Token(T.CHAR, text[begin : self.pos], begin))

    def _number(self, begin: int) -> None:
        text, i = self.text, begin
        if text[i] in "+-":
            i += 1
        while i < len(text) and (
            _is_alnum(text[i])
            or text[i] == "."
            or (
                text[i] in "+-"
                and text[i - 1] in "eEpP"
                and not text[begin:i].lower().startswith(("0x", "-0x", "+0x"))
            )
        ):
            i += 1
        self.pos = i
        self.tokens.append(Token(T.NUMBER, text[begin:i], begin))


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


def lex(name: str, text: str, left: str = "{{", right: str = "}}") -> list[Token]:
    """The tokens of ``text``; a :class:`TemplateSyntaxError` names line and column."""
    return _Lexer(name, text, left, right).run()
