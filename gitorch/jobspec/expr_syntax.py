"""HCL2 expression and template syntax: text to a small tree of frozen nodes.

python-hcl2 hands every expression over as template text (``count = var.n + 1`` arrives
as ``"${var.n + 1}"``), so this module parses that text itself. It covers what HCL's
native syntax has in expressions: literals, tuples ``[...]`` and objects ``{k = v}``,
references with ``.attr`` / ``[index]`` steps, full (``[*]``) and attribute-only (``.*``)
splats, function calls (with ``...`` expansion of the last argument), unary and binary
operators with HCL's precedence, conditionals ``c ? a : b``, ``for`` expressions over
tuples and objects (with ``if`` filters and ``...`` grouping), and string templates with
``${ }`` interpolations and ``%{ if }`` / ``%{ for }`` directives (with ``~`` strip
markers). Top-level strings arrive with their backslash escapes already resolved; quoted
strings nested inside an expression are unescaped here.
"""

from __future__ import annotations

import re

from gitorch.jobspec.expr_nodes import (
    Binary,
    Call,
    Cond,
    ForDirective,
    ForExpr,
    GetAttr,
    IfDirective,
    Index,
    Interp,
    Item,
    Literal,
    Node,
    ObjectExpr,
    Part,
    Ref,
    Splat,
    Template,
    TupleExpr,
    Unary,
)

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_][\w-]*")
_OPS = ("==", "!=", "<=", ">=", "&&", "||", "=>", "...", "?", ":", ".", ",", "[", "]",
        "(", ")", "{", "}", "+", "-", "*", "/", "%", "!", "<", ">", "=")  # fmt: skip
_BINARY = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
MAX_DEPTH = 64


class ExprSyntaxError(Exception):
    """The text is not an HCL expression; the message says where and why."""


def parse_template(text: str) -> Template:
    """A top-level string (escapes resolved) as literal text, interpolations, directives."""
    parser = _Parser(text)
    items = parser.template_items(quoted=False)
    return Template(_nest(_strip(items), text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- templates -------------------------------------------------------------------

    def template_items(self, *, quoted: bool) -> list[tuple[object, ...]]:
        """Flat items: ("lit", s), ("interp", node, raw, l, r), ("if"|"else"|...)."""
        text = self.text
        items: list[tuple[object, ...]] = []
        buf: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if quoted and ch == '"':
                self.pos += 1
                break
            if quoted and ch == "\\":
                buf.append(self._escape())
                continue
            if text.startswith(("$${", "%%{"), self.pos):
                buf.append(text[self.pos + 1 : self.pos + 3])
                self.pos += 3
                continue
            if text.startswith(("${", "%{"), self.pos):
                if buf:
                    items.append(("lit", "".join(buf)))
                    buf = []
                start = self.pos
                self.pos += 2
                left = self._marker()
                if ch == "$":
                    node = self.expr()
                    right = self._close()
                    items.append(("interp", node, text[start : self.pos], left, right))
                else:
                    items.append(self._directive(left))
                continue
            buf.append(ch)
            self.pos += 1
        else:
            if quoted:
                raise self.error("a quoted string is not closed")
        if buf:
            items.append(("lit", "".join(buf)))
        return items

    def _escape(self) -> str:
        text, i = self.text, self.pos + 1
        ch = text[i : i + 1]
        if ch in _ESCAPES:
            self.pos = i + 1
            return _ESCAPES[ch]
        for letter, size in (("u", 4), ("U", 8)):
            digits = text[i + 1 : i + 1 + size]
            if ch == letter and re.fullmatch(r"[0-9a-fA-F]+", digits) and len(digits) == size:
                self.pos = i + 1 + size
                return chr(min(int(digits, 16), 0x10FFFF))
        raise self.error(f"unknown escape \\{ch} in a string")

    def _marker(self) -> bool:
        if self.text.startswith("~", self.pos):
            self.pos += 1
            return True
        return False

    def _close(self) -> bool:
        self._space()
        strip = self._marker()
        self._space()
        if not self.text.startswith("}", self.pos):
            raise self.error("expected } to end the interpolation")
        self.pos += 1
        return strip

    def _directive(self, left: bool) -> tuple[object, ...]:
        word = self._word()
        if word == "if":
            node = self.expr()
            return ("if", node, left, self._close())
        if word in ("else", "endif", "endfor"):
            return (word, left, self._close())
        if word == "for":
            first = self._word()
            second = None
            if self._take(","):
                second = self._word()
            if self._word() != "in":
                raise self.error("expected 'in' in a %{ for } directive")
            node = self.expr()
            key, value = (first, second) if second else (None, first)
            return ("for", key, value, node, left, self._close())
        raise self.error(f"unknown template directive %{{ {word} }}")

    # -- expressions -----------------------------------------------------------------

    def expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("the expression is nested too deeply")
        try:
            test = self._binary(0)
            if self._take("?"):
                then = self.expr()
                self._expect(":")
                return Cond(test, then, self.expr())
            return test
        finally:
            self.depth -= 1

    def _binary(self, level: int) -> Node:
        if level == len(_BINARY):
            return self._unary()
        left = self._binary(level + 1)
        while True:
            op = self._peek_op(_BINARY[level])
            if op is None:
                return left
            self.pos += len(op)
            left = Binary(op, left, self._binary(level + 1))

    def _unary(self) -> Node:
        for op in ("!", "-"):
            if self._peek_op((op,)) and not self.text.startswith("!=", self.pos):
                self.pos += 1
                self.depth += 1
                if self.depth > MAX_DEPTH:
                    raise self.error("the expression is nested too deeply")
                node = self._unary()
                self.depth -= 1
                return Unary(op, node)
        return self._postfix(self._primary())

    def _postfix(self, node: Node) -> Node:
        while True:
            self._space()
            if self.text.startswith("[*]", self.pos) or self._at_bracket_star():
                self._take("[")
                self._take("*")
                self._expect("]")
                node = Splat(node, self._steps(Item()), True)
            elif self.text.startswith(".*", self.pos):
                self.pos += 2
                node = Splat(node, self._steps(Item(), attrs_only=True), False)
            elif self._peek_op((".",)) and not self.text.startswith("...", self.pos):
                node = self._step(node)
            elif self._peek_op(("[",)):
                node = self._step(node)
            else:
                return node

    def _at_bracket_star(self) -> bool:
        return re.match(r"\[\s*\*\s*\]", self.text[self.pos : self.pos + 16]) is not None

    def _steps(self, node: Node, *, attrs_only: bool = False) -> Node:
        while True:
            self._space()
            if self.text.startswith("...", self.pos):
                return node
            if self._peek_op((".",)) or (not attrs_only and self._peek_op(("[",))):
                if self._at_bracket_star():
                    return node
                node = self._step(node)
            else:
                return node

    def _step(self, node: Node) -> Node:
        if self._take("."):
            self._space()
            number = _NUMBER.match(self.text, self.pos)
            if number and number.group().isdigit():
                self.pos = number.end()
                return Index(node, Literal(int(number.group())))
            return GetAttr(node, self._word())
        self._expect("[")
        key = self.expr()
        self._expect("]")
        return Index(node, key)

    def _primary(self) -> Node:
        self._space()
        text, pos = self.text, self.pos
        ch = text[pos : pos + 1]
        if not ch:
            raise self.error("an expression is missing")
        if ch == '"':
            self.pos += 1
            items = self.template_items(quoted=True)
            parts = _nest(_strip(items), text)
            if all(isinstance(p, str) for p in parts):
                return Literal("".join(p for p in parts if isinstance(p, str)))
            return Template(parts)
        number = _NUMBER.match(text, pos)
        if ch.isdigit() and number:
            self.pos = number.end()
            raw = number.group()
            if len(raw) > 64:
                raise self.error("a number literal is too long")
            return Literal(int(raw) if raw.isdigit() else float(raw))
        if ch == "(":
            self.pos += 1
            node = self.expr()
            self._expect(")")
            return node
        if ch == "[":
            return self._tuple()
        if ch == "{":
            return self._object()
        if ch == "<" and text.startswith("<<", pos):
            raise self.error("a heredoc inside an expression is not supported here")
        word = self._word()
        if word in ("true", "false"):
            return Literal(word == "true")
        if word == "null":
            return Literal(None)
        self._space()
        if text.startswith("(", self.pos):
            return self._call(word)
        return Ref(word)

    def _call(self, name: str) -> Node:
        self._expect("(")
        args: list[Node] = []
        expand = False
        while not self._take(")"):
            args.append(self.expr())
            if self._take("..."):
                expand = True
                self._expect(")")
                break
            if not self._take(","):
                self._expect(")")
                break
        return Call(name, tuple(args), expand)

    def _tuple(self) -> Node:
        self._expect("[")
        self._space()
        if self._keyword("for"):
            return self._for("]")
        items: list[Node] = []
        while not self._take("]"):
            items.append(self.expr())
            if not self._take(","):
                self._expect("]")
                break
        return TupleExpr(tuple(items))

    def _object(self) -> Node:
        self._expect("{")
        self._space()
        if self._keyword("for"):
            return self._for("}")
        items: list[tuple[Node, Node]] = []
        while not self._take("}"):
            key = self.expr()
            if isinstance(key, Ref):
                key = Literal(key.name)  # a bare name is the key itself, as in HCL
            if not self._take("="):
                self._expect(":")
            items.append((key, self.expr()))
            if not self._take(","):
                self._space()
        return ObjectExpr(tuple(items))

    def _for(self, closing: str) -> Node:
        first = self._word()
        second = self._word() if self._take(",") else None
        if self._word() != "in":
            raise self.error("expected 'in' in a for expression")
        collection = self.expr()
        self._expect(":")
        key: Node | None = None
        value = self.expr()
        if closing == "}":
            self._expect("=>")
            key, value = value, self.expr()
        group = closing == "}" and self._take("...")
        cond = self.expr() if self._keyword("if") else None
        self._expect(closing)
        key_var, value_var = (first, second) if second else (None, first)
        return ForExpr(key_var, value_var, collection, key, value, cond, group)

    # -- tokens ----------------------------------------------------------------------

    def _space(self) -> None:
        text = self.text
        while self.pos < len(text):
            if text[self.pos] in " \t\r\n":
                self.pos += 1
            elif text.startswith(("#", "//"), self.pos):
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                self.pos = len(text) if end < 0 else end + 2
            else:
                return

    def _word(self) -> str:
        self._space()
        match = _IDENT.match(self.text, self.pos)
        if not match:
            got = self.text[self.pos : self.pos + 10] or "the end"
            raise self.error(f"expected a name, found {got!r}")
        self.pos = match.end()
        return match.group()

    def _keyword(self, word: str) -> bool:
        self._space()
        match = _IDENT.match(self.text, self.pos)
        if match and match.group() == word:
            self.pos = match.end()
            return True
        return False

    def _peek_op(self, ops: tuple[str, ...]) -> str | None:
        self._space()
        for op in sorted(ops, key=len, reverse=True):
            if self.text.startswith(op, self.pos):
                longer = [o for o in _OPS if len(o) > len(op) and o.startswith(op)]
                if not any(self.text.startswith(o, self.pos) for o in longer):
                    return op
        return None

    def _take(self, op: str) -> bool:
        if self._peek_op((op,)):
            self.pos += len(op)
            return True
        return False

    def _expect(self, op: str) -> None:
        if not self._take(op):
            got = self.text[self.pos : self.pos + 10] or "the end"
            raise self.error(f"expected {op!r}, found {got!r}")

    def error(self, what: str) -> ExprSyntaxError:
        return ExprSyntaxError(f"{what} (at character {self.pos + 1})")


def _strip(items: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Apply ``~`` markers: trim the whitespace of the literal before or after."""
    out = list(items)
    for i, item in enumerate(out):
        if item[0] == "lit":
            continue
        left, right = bool(item[-2]), bool(item[-1])
        if left and i > 0 and out[i - 1][0] == "lit":
            out[i - 1] = ("lit", str(out[i - 1][1]).rstrip())
        if right and i + 1 < len(out) and out[i + 1][0] == "lit":
            out[i + 1] = ("lit", str(out[i + 1][1]).lstrip())
    return out


def _nest(items: list[tuple[object, ...]], text: str) -> tuple[Part, ...]:
    parts, rest = _block(items, 0, ())
    if rest < len(items):
        raise ExprSyntaxError(f"%{{ {items[rest][0]} }} has no matching opening directive")
    return parts


def _block(
    items: list[tuple[object, ...]], i: int, ends: tuple[str, ...]
) -> tuple[tuple[Part, ...], int]:
    parts: list[Part] = []
    while i < len(items):
        item = items[i]
        kind = item[0]
        if kind in ends:
            return tuple(parts), i
        if kind == "lit":
            parts.append(str(item[1]))
        elif kind == "interp":
            parts.append(Interp(item[1], str(item[2])))  # type: ignore[arg-type]
        elif kind == "if":
            then, i = _block(items, i + 1, ("else", "endif"))
            other: tuple[Part, ...] = ()
            if i < len(items) and items[i][0] == "else":
                other, i = _block(items, i + 1, ("endif",))
            if i >= len(items):
                raise ExprSyntaxError("%{ if } has no %{ endif }")
            parts.append(IfDirective(item[1], then, other))  # type: ignore[arg-type]
        elif kind == "for":
            body, i = _block(items, i + 1, ("endfor",))
            if i >= len(items):
                raise ExprSyntaxError("%{ for } has no %{ endfor }")
            key, value, node = item[1], item[2], item[3]
            parts.append(ForDirective(key, str(value), node, body))  # type: ignore[arg-type]
        else:
            return tuple(parts), i
        i += 1
    return tuple(parts), i
