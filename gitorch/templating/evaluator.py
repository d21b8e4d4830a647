"""Go text/template's executor: walks the parse trees with a data value (``.``).

Fields are looked up in mappings (by key) and in records (dataclasses, or
:class:`Exposed` objects, whose public methods can be called with arguments). A map
key that is not there is Go's "no value" unless ``missing_key_error`` is set, as Go's
``missingkey=error`` (consul-template's ``error_on_missing_key``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from gitorch.templating import nodes as n
from gitorch.templating.errors import TemplateExecError, WaitingFor, position
from gitorch.templating.gofmt import MISSING, format_value, go_type
from gitorch.templating.truth import is_true

MAX_DEPTH = 64  # nested {{template}} calls; Python's stack is smaller than Go's
_NO_FINAL: Any = object()


class Exposed:
    """A base for objects whose public attributes and methods templates may use."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    def __init__(
        self,
        name: str,
        text: str,
        trees: Mapping[str, n.ListNode],
        funcs: Mapping[str, Callable[..., Any]],
        missing_key_error: bool,
        max_output: int,
    ) -> None:
        self.name = name
        self.text = text
        self.trees = trees
        self.funcs = funcs
        self.missing_key_error = missing_key_error
        self.max_output = max_output
        self.size = 0
        self.out: list[str] = []
        self.vars: list[list[Any]] = []
        self.tree_name = name
        self.depth = 0

    def error(self, node: n.Node, message: str) -> NoReturn:
        line, col = position(self.text, node.pos)
        where = f'executing "{self.tree_name}" at <{n.describe(node)}>: '
        raise TemplateExecError(self.name, line, col, where + message)

    def write(self, node: n.Node, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_output:
            self.error(node, f"output is larger than {self.max_output} characters")
        self.out.append(text)

    # -- variables ------------------------------------------------------------------

    def var(self, node: n.Node, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(node, f"undefined variable: {name}")

    def set_var(self, node: n.Node, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(node, f"undefined variable: {name}")

    # -- statements -----------------------------------------------------------------

    def walk(self, dot: Any, node: n.Node) -> None:
        match node:
            case n.ListNode(nodes=items):
                for item in items:
                    self.walk(dot, item)
            case n.TextNode(text=text):
                self.write(node, text)
            case n.ActionNode(pipe=pipe):
                assert pipe is not None
                value = self.pipeline(dot, pipe)
                if not pipe.decl:  # a nil interface prints as "no value", as in Go
                    self.write(node, format_value(MISSING if value is None else value))
            case n.RangeNode():
                self.walk_range(dot, node)
            case n.IfNode() | n.WithNode():
                self.walk_if_with(dot, node)
            case n.TemplateNode():
                self.walk_template(dot, node)
            case n.BreakNode():
                raise _Break
            case n.ContinueNode():
                raise _Continue
            case _:
                self.error(node, f"unknown node: {type(node).__name__}")

    def walk_if_with(self, dot: Any, node: n.BranchNode) -> None:
        mark = len(self.vars)
        assert node.pipe is not None and node.body is not None
        value = self.pipeline(dot, node.pipe)
        if is_true(value):
            self.walk(value if isinstance(node, n.WithNode) else dot, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: n.BranchNode) -> None:
        mark = len(self.vars)
        assert node.pipe is not None and node.body is not None
        pipe = node.pipe
        value = self.pipeline(dot, pipe)
        items: list[tuple[Any, Any]]
        if value is None or value is MISSING:
            items = []
        elif isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value, key=_key_order)]
        elif isinstance(value, str | bytes):
            self.error(node, f"range can't iterate over {format_value(value)}")
        elif isinstance(value, Sequence):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            if len(pipe.decl) > 1:
                self.error(node, "can't use two variables to range over an integer")
            items = [(i, i) for i in range(value)]
        else:
            self.error(node, f"range can't iterate over {format_value(value)}")
        inner = len(self.vars)
        for index, elem in items:
            if pipe.decl:
                if pipe.is_assign:
                    if len(pipe.decl) > 1:
                        self.set_var(node, pipe.decl[0], index)
                    self.set_var(node, pipe.decl[-1], elem)
                else:
                    self.vars[-1][1] = elem
                    if len(pipe.decl) > 1:
                        self.vars[-2][1] = index
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.vars[inner:]
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_template(self, dot: Any, node: n.TemplateNode) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            self.error(node, f'no such template "{node.name}"')
        if self.depth >= MAX_DEPTH:
            self.error(node, f"exceeded maximum template depth ({MAX_DEPTH})")
        new_dot = self.pipeline(dot, node.pipe) if node.pipe is not None else None
        saved = (self.vars, self.tree_name)
        self.vars, self.tree_name = [["$", new_dot]], node.name
        self.depth += 1
        try:
            self.walk(new_dot, tree)
        finally:
            self.depth -= 1
            self.vars, self.tree_name = saved

    # -- expressions ----------------------------------------------------------------

    def pipeline(self, dot: Any, pipe: n.PipeNode) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append([name, value])
        return value

    def command(self, dot: Any, cmd: n.CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        match first:
            case n.FieldNode(names=names):
                return self.field_chain(dot, dot, first, names, cmd.args, final)
            case n.ChainNode():
                return self.chain(dot, first, cmd.args, final)
            case n.IdentifierNode():
                return self.function(dot, first, cmd.args, final)
            case n.VariableNode(names=names):
                value = self.var(first, names[0])
                if len(names) == 1:
                    self.not_a_function(first, cmd.args, final)
                    return value
                return self.field_chain(dot, value, first, names[1:], cmd.args, final)
            case n.PipeNode():
                self.not_a_function(first, cmd.args, final)
                return self.pipeline(dot, first)
        self.not_a_function(first, cmd.args, final)
        match first:
            case n.BoolNode(value=b):
                return b
            case n.DotNode():
                return dot
            case n.NilNode():
                self.error(first, "nil is not a command")
            case n.NumberNode(value=num):
                return num
            case n.StringNode(value=s):
                return s
        self.error(first, f"can't evaluate command {n.describe(first)}")

    def not_a_function(self, node: n.Node, args: list[n.Node], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.error(node, f"can't give argument to non-function {n.describe(args[0])}")

    def chain(self, dot: Any, chain: n.ChainNode, args: list[n.Node], final: Any) -> Any:
        assert chain.node is not None
        receiver = self.arg(dot, chain.node)
        return self.field_chain(dot, receiver, chain, chain.names, args, final)

    def field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: n.Node,
        names: list[str],
        args: list[n.Node],
        final: Any,
    ) -> Any:
        for name in names[:-1]:
            receiver = self.field(dot, name, node, [], _NO_FINAL, receiver)
        return self.field(dot, names[-1], node, args, final, receiver)

    def field(
        self, dot: Any, name: str, node: n.Node, args: list[n.Node], final: Any, receiver: Any
    ) -> Any:
        has_args = len(args) > 1 or final is not _NO_FINAL
        if receiver is None or receiver is MISSING:
            if self.missing_key_error:
                self.error(node, f'nil data; no entry for key "{name}"')
            return MISSING
        if isinstance(receiver, Mapping):
            if has_args:
                self.error(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing_key_error:
                self.error(node, f'map has no entry for key "{name}"')
            return MISSING
        if not name.startswith("_") and _exposes(receiver):
            attr = getattr(type(receiver), name, None)
            if callable(attr) and not isinstance(attr, type):
                argv = [self.arg(dot, a) for a in args[1:]]
                if final is not _NO_FINAL:
                    argv.append(final)
                return self.call(node, name, getattr(receiver, name), argv)
            if hasattr(receiver, name) and _is_field(receiver, name):
                if has_args:
                    self.error(node, f"{name} has arguments but cannot be invoked as function")
                return getattr(receiver, name)
        self.error(node, f"can't evaluate field {name} in type {go_type(receiver)}")

    def function(self, dot: Any, ident: n.IdentifierNode, args: list[n.Node], final: Any) -> Any:
        name = ident.name
        if name in ("and", "or"):
            return self.logic(dot, ident, args[1:], final)
        fn = self.funcs.get(name)
        if fn is None:
            self.error(ident, f'"{name}" is not a defined function')
        argv = [self.arg(dot, a) for a in args[1:]]
        if final is not _NO_FINAL:
            argv.append(final)
        return self.call(ident, name, fn, argv)

    def logic(self, dot: Any, ident: n.IdentifierNode, args: list[n.Node], final: Any) -> Any:
        """``and`` / ``or``: evaluate arguments only until the answer is known (Go 1.18)."""
        count = len(args) + (final is not _NO_FINAL)
        if count == 0:
            self.error(ident, f"wrong number of args for {ident.name}: want at least 1 got 0")
        value: Any = MISSING
        operands: list[n.Node | None] = [*args, *([None] if final is not _NO_FINAL else [])]
        for operand in operands:
            value = final if operand is None else self.arg(dot, operand)
            if is_true(value) == (ident.name == "or"):
                return value
        return value

    def call(self, node: n.Node, name: str, fn: Callable[..., Any], argv: list[Any]) -> Any:
        try:
            inspect.signature(fn).bind(*argv)
        except TypeError:
            self.error(node, f"wrong number of args for {name}: got {len(argv)}")
        except ValueError:
            pass  # a builtin without a signature: let it check
        try:
            return fn(*argv)
        except (TemplateExecError, WaitingFor):
            raise
        except RecursionError:
            self.error(node, "template nesting too deep")
        except Exception as exc:
            self.error(node, f"error calling {name}: {exc}")

    def arg(self, dot: Any, node: n.Node) -> Any:
        match node:
            case n.DotNode():
                return dot
            case n.NilNode():
                return None
            case n.FieldNode(names=names):
                return self.field_chain(dot, dot, node, names, [node], _NO_FINAL)
            case n.VariableNode(names=names):
                value = self.var(node, names[0])
                if len(names) == 1:
                    return value
                return self.field_chain(dot, value, node, names[1:], [node], _NO_FINAL)
            case n.PipeNode():
                return self.pipeline(dot, node)
            case n.IdentifierNode():
                return self.function(dot, node, [node], _NO_FINAL)
            case n.ChainNode():
                return self.chain(dot, node, [node], _NO_FINAL)
            case n.BoolNode(value=b):
                return b
            case n.NumberNode(value=num):
                return num
            case n.StringNode(value=s):
                return s
        self.error(node, f"can't handle {n.describe(node)} as an argument")


def _exposes(obj: Any) -> bool:
    return isinstance(obj, Exposed) or (dataclasses.is_dataclass(obj) and not isinstance(obj, type))


def _is_field(obj: Any, name: str) -> bool:
    if isinstance(getattr(type(obj), name, None), property):
        return True
    if dataclasses.is_dataclass(obj):
        return any(f.name == name for f in dataclasses.fields(obj))
    return name in vars(obj) if hasattr(obj, "__dict__") else False


def _key_order(k: Any) -> tuple[int, Any]:
    if isinstance(k, int | float) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k))


def execute(
    *,
    name: str,
    text: str,
    trees: Mapping[str, n.ListNode],
    entry: str,
    data: Any,
    funcs: Mapping[str, Callable[..., Any]],
    missing_key_error: bool = False,
    max_output: int = 16 << 20,
) -> str:
    """Run template ``entry`` of ``trees`` with ``data`` as ``.`` and ``$``."""
    state = _State(name, text, trees, funcs, missing_key_error, max_output)
    tree = trees.get(entry)
    if tree is None:
        raise TemplateExecError(name, 1, 1, f'no such template "{entry}"')
    state.tree_name = entry
    state.vars = [["$", data]]
    try:
        state.walk(data, tree)
    except RecursionError:
        raise TemplateExecError(name, 1, 1, "template nesting too deep") from None
    return "".join(state.out)
