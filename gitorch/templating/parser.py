"""Go text/template's parser: tokens to trees, one per template name.

The top-level text is the tree named after the template; each ``{{define "x"}}`` and
``{{block "x" ...}}`` adds a tree ``x``. Functions and variables are checked here, as Go
does: an unknown function or an undeclared ``$var`` is a syntax error with its line.
"""

from __future__ import annotations

from collections.abc import Container
from typing import NoReturn

from gitorch.templating import nodes as n
from gitorch.templating.errors import TemplateSyntaxError, position
from gitorch.templating.lexer import T, Token, lex
from gitorch.templating.literals import char_value, number_value, unquote

_OPERAND_START = frozenset((T.BOOL, T.CHAR, T.DOT, T.FIELD, T.IDENT, T.NUMBER, T.NIL,
                            T.RAW_STRING, T.STRING, T.VARIABLE, T.LPAREN))  # fmt: skip


class _End:
    def __init__(self, pos: int) -> None:
        self.pos = pos


class _Else:
    def __init__(self, pos: int, chained: str) -> None:
        self.pos = pos
        self.chained = chained  # "if" / "with" for {{else if}} / {{else with}}, else ""


class _Parser:
    def __init__(self, name: str, text: str, tokens: list[Token], funcs: Container[str]) -> None:
        self.name = name
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.funcs = funcs
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.trees: dict[str, n.ListNode] = {}

    # -- token access ---------------------------------------------------------------

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not T.EOF:
            self.i += 1
        return tok

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next_nonspace(self) -> Token:
        tok = self.next()
        while tok.kind is T.SPACE:
            tok = self.next()
        return tok

    def peek_nonspace(self) -> Token:
        j = self.i
        while self.tokens[j].kind is T.SPACE:
            j += 1
        return self.tokens[j]

    def error(self, pos: int, message: str) -> NoReturn:
        line, col = position(self.text, pos)
        raise TemplateSyntaxError(self.name, line, col, message)

    def unexpected(self, tok: Token, context: str) -> NoReturn:
        shown = "EOF" if tok.kind is T.EOF else repr(tok.value) if tok.value else tok.kind.name
        self.error(tok.pos, f"unexpected {shown} in {context}")

    def expect(self, kind: T, context: str) -> Token:
        tok = self.next_nonspace()
        if tok.kind is not kind:
            self.unexpected(tok, context)
        return tok

    # -- top level ------------------------------------------------------------------

    def parse(self) -> dict[str, n.ListNode]:
        root = n.ListNode(0)
        while self.peek().kind is not T.EOF:
            if self.peek().kind is T.LEFT:
                save = self.i
                self.next()
                tok = self.next_nonspace()
                if tok.kind is T.KEYWORD and tok.value == "define":
                    self.define()
                    continue
                self.i = save
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                self.error(
                    node.pos, f"unexpected {{{{{'end' if isinstance(node, _End) else 'else'}}}}}"
                )
            root.nodes.append(node)
        self.add(self.name, root, 0)
        return self.trees

    def add(self, name: str, tree: n.ListNode, pos: int) -> None:
        old = self.trees.get(name)
        if old is None or _is_empty(old):
            self.trees[name] = tree
        elif not _is_empty(tree):
            self.error(pos, f"template: multiple definition of template {name!r}")

    def define(self) -> None:
        tok = (
            self.expect(T.STRING, "define clause")
            if self.peek_nonspace().kind is not T.RAW_STRING
            else self.next_nonspace()
        )
        name = self.string(tok)
        self.expect(T.RIGHT, "define clause")
        saved, self.vars = self.vars, ["$"]
        body, marker = self.item_list()
        self.vars = saved
        if not isinstance(marker, _End):
            self.error(marker.pos, "unexpected {{else}} in define clause")
        self.add(name, body, tok.pos)

    def text_or_action(self) -> n.Node | _End | _Else:
        tok = self.next_nonspace()
        if tok.kind is T.TEXT:
            return n.TextNode(tok.pos, tok.value)
        if tok.kind is T.LEFT:
            return self.action()
        self.unexpected(tok, "input")

    def item_list(self) -> tuple[n.ListNode, _End | _Else]:
        body = n.ListNode(self.peek().pos)
        while self.peek_nonspace().kind is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return body, node
            body.nodes.append(node)
        self.error(len(self.text), "unexpected EOF")

    # -- actions --------------------------------------------------------------------

    def action(self) -> n.Node | _End | _Else:
        tok = self.next_nonspace()
        if tok.kind is T.KEYWORD:
            match tok.value:
                case "end":
                    self.expect(T.RIGHT, "end")
                    return _End(tok.pos)
                case "else":
                    return self.else_marker(tok)
                case "if":
                    return self.control(n.IfNode, "if", tok.pos)
                case "with":
                    return self.control(n.WithNode, "with", tok.pos)
                case "range":
                    return self.control(n.RangeNode, "range", tok.pos)
                case "template":
                    return self.template(tok.pos)
                case "block":
                    return self.block(tok.pos)
                case "break" | "continue":
                    if not self.range_depth:
                        self.error(tok.pos, f"{{{{{tok.value}}}}} outside {{{{range}}}}")
                    self.expect(T.RIGHT, tok.value)
                    return n.BreakNode(tok.pos) if tok.value == "break" else n.ContinueNode(tok.pos)
                case _:
                    self.error(
                        tok.pos,
                        f"unexpected {{{{{tok.value}}}}}: define is only allowed at the top level",
                    )
        self.i -= 1
        while self.i > 0 and self.tokens[self.i - 1].kind is T.SPACE:
            self.i -= 1
        return n.ActionNode(tok.pos, self.pipeline("command", T.RIGHT))

    def else_marker(self, tok: Token) -> _Else:
        after = self.peek_nonspace()
        if after.kind is T.KEYWORD and after.value in ("if", "with"):
            self.next_nonspace()
            return _Else(tok.pos, after.value)
        self.expect(T.RIGHT, "else")
        return _Else(tok.pos, "")

    def control(self, cls: type[n.BranchNode], context: str, pos: int) -> n.BranchNode:
        mark = len(self.vars)
        pipe = self.pipeline(context, T.RIGHT)
        if context == "range":
            self.range_depth += 1
        body, marker = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: n.ListNode | None = None
        if isinstance(marker, _Else):
            if marker.chained:
                if marker.chained != context:
                    self.error(
                        marker.pos, f"else {marker.chained} is not allowed in {{{{{context}}}}}"
                    )
                nested = self.control(cls, context, marker.pos)
                else_body = n.ListNode(marker.pos, [nested])
            else:
                else_body, end = self.item_list()
                if not isinstance(end, _End):
                    self.error(end.pos, "expected end; found {{else}}")
        del self.vars[mark:]
        return cls(pos, pipe, body, else_body)

    def template(self, pos: int) -> n.TemplateNode:
        tok = self.next_nonspace()
        if tok.kind not in (T.STRING, T.RAW_STRING):
            self.unexpected(tok, "template clause")
        name = self.string(tok)
        pipe = None
        if self.peek_nonspace().kind is not T.RIGHT:
            pipe = self.pipeline("template clause", T.RIGHT)
        else:
            self.next_nonspace()
        return n.TemplateNode(pos, name, pipe)

    def block(self, pos: int) -> n.TemplateNode:
        tok = self.next_nonspace()
        if tok.kind not in (T.STRING, T.RAW_STRING):
            self.unexpected(tok, "block clause")
        name = self.string(tok)
        pipe = self.pipeline("block clause", T.RIGHT)
        saved, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, marker = self.item_list()
        self.vars, self.range_depth = saved, saved_depth
        if not isinstance(marker, _End):
            self.error(marker.pos, "unexpected {{else}} in block clause")
        self.add(name, body, tok.pos)
        return n.TemplateNode(pos, name, pipe)

    def string(self, tok: Token) -> str:
        try:
            return unquote(tok.value)
        except ValueError as exc:
            self.error(tok.pos, f"{exc}: {tok.value}")

    # -- pipelines ------------------------------------------------------------------

    def pipeline(self, context: str, end: T) -> n.PipeNode:
        pipe = n.PipeNode(self.peek_nonspace().pos)
        self.declarations(pipe, context)
        while True:
            tok = self.next_nonspace()
            if tok.kind is end:
                if not pipe.cmds:
                    self.error(tok.pos, f"missing value for {context}")
                for k, cmd in enumerate(pipe.cmds[1:], start=2):
                    if isinstance(
                        cmd.args[0],
                        n.BoolNode | n.DotNode | n.NilNode | n.NumberNode | n.StringNode,
                    ):
                        self.error(cmd.pos, f"non executable command in pipeline stage {k}")
                return pipe
            if tok.kind in _OPERAND_START:
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def declarations(self, pipe: n.PipeNode, context: str) -> None:
        start = self.i
        names: list[Token] = []
        while self.peek_nonspace().kind is T.VARIABLE:
            var = self.next_nonspace()
            names.append(var)
            after = self.peek_nonspace()
            if after.kind in (T.DECLARE, T.ASSIGN) and self.peek().kind is not T.FIELD:
                self.next_nonspace()
                pipe.is_assign = after.kind is T.ASSIGN
                for v in names:
                    if pipe.is_assign and v.value not in self.vars:
                        self.error(v.pos, f"undefined variable {v.value!r}")
                    pipe.decl.append(v.value)
                for v in names:
                    if not pipe.is_assign:
                        self.vars.append(v.value)
                return
            if after.kind is T.COMMA and context == "range" and len(names) < 2:
                self.next_nonspace()
                continue
            break
        if len(names) > 1 or (names and self.peek_nonspace().kind is T.COMMA):
            self.error(names[-1].pos, "too many declarations in " + context)
        self.i = start

    def command(self) -> n.CommandNode:
        cmd = n.CommandNode(self.peek_nonspace().pos)
        while True:
            self.peek_nonspace()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind is T.SPACE:
                continue
            if tok.kind in (T.RIGHT, T.RPAREN):
                self.i -= 1
            elif tok.kind is not T.PIPE:
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            self.error(cmd.pos, "empty command")
        return cmd

    def operand(self) -> n.Node | None:
        term = self.term()
        if term is None or self.peek().kind is not T.FIELD:
            return term
        names: list[str] = []
        while self.peek().kind is T.FIELD:
            names.append(self.next().value[1:])
        match term:
            case n.FieldNode() | n.VariableNode():
                term.names.extend(names)
                return term
            case n.BoolNode() | n.StringNode() | n.NumberNode() | n.NilNode() | n.DotNode():
                self.error(term.pos, f"unexpected . after term {n.describe(term)!r}")
            case _:
                return n.ChainNode(term.pos, term, names)

    def term(self) -> n.Node | None:
        tok = self.next_nonspace()
        match tok.kind:
            case T.IDENT:
                if tok.value not in self.funcs:
                    self.error(tok.pos, f'function "{tok.value}" not defined')
                return n.IdentifierNode(tok.pos, tok.value)
            case T.DOT:
                return n.DotNode(tok.pos)
            case T.NIL:
                return n.NilNode(tok.pos)
            case T.VARIABLE:
                if tok.value not in self.vars:
                    self.error(tok.pos, f'undefined variable "{tok.value}"')
                return n.VariableNode(tok.pos, [tok.value])
            case T.FIELD:
                return n.FieldNode(tok.pos, [tok.value[1:]])
            case T.BOOL:
                return n.BoolNode(tok.pos, tok.value == "true")
            case T.NUMBER | T.CHAR:
                try:
                    value = char_value(tok.value) if tok.kind is T.CHAR else number_value(tok.value)
                except ValueError:
                    self.error(tok.pos, f'bad number syntax: "{tok.value}"')
                return n.NumberNode(tok.pos, value, tok.value)
            case T.STRING | T.RAW_STRING:
                return n.StringNode(tok.pos, self.string(tok), tok.value)
            case T.LPAREN:
                return self.pipeline("parenthesized pipeline", T.RPAREN)
        self.i -= 1
        return None


def _is_empty(tree: n.Node) -> bool:
    match tree:
        case n.ListNode(nodes=nodes):
            return all(_is_empty(x) for x in nodes)
        case n.TextNode(text=text):
            return not text.strip()
        case _:
            return False


def parse(
    name: str, text: str, funcs: Container[str], left: str = "{{", right: str = "}}"
) -> dict[str, n.ListNode]:
    """The trees of ``text``: ``name`` for the top level, plus each defined template."""
    return _Parser(name, text, lex(name, text, left, right), funcs).parse()
