"""The parse tree of a template, as Go's text/template/parse has it. Each node keeps
its offset in the source text (``pos``) so errors can name a line and column."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class TextNode(Node):
    text: str = ""


@dataclass(slots=True)
class DotNode(Node):
    pass


@dataclass(slots=True)
class NilNode(Node):
    pass


@dataclass(slots=True)
class BoolNode(Node):
    value: bool = False


@dataclass(slots=True)
class NumberNode(Node):
    value: int | float = 0
    text: str = ""


@dataclass(slots=True)
class StringNode(Node):
    value: str = ""
    quoted: str = ""


@dataclass(slots=True)
class FieldNode(Node):
    """``.A.B``: field (or map key, or method) names, in order."""

    names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class VariableNode(Node):
    """``$x.A.B``: the variable's name (with its ``$``) then field names."""

    names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IdentifierNode(Node):
    """A function name."""

    name: str = ""


@dataclass(slots=True)
class ChainNode(Node):
    """``(pipeline).A.B`` or ``func.A``: a term followed by field names."""

    node: Node | None = None
    names: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class PipeNode(Node):
    """``$a, $b := cmd | cmd``: declared (or assigned) variables, then commands."""

    decl: list[str] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)


@dataclass(slots=True)
class ActionNode(Node):
    pipe: PipeNode | None = None


@dataclass(slots=True)
class BranchNode(Node):
    pipe: PipeNode | None = None
    body: ListNode | None = None
    else_body: ListNode | None = None


@dataclass(slots=True)
class IfNode(BranchNode):
    pass


@dataclass(slots=True)
class WithNode(BranchNode):
    pass


@dataclass(slots=True)
class RangeNode(BranchNode):
    pass


@dataclass(slots=True)
class BreakNode(Node):
    pass


@dataclass(slots=True)
class ContinueNode(Node):
    pass


@dataclass(slots=True)
class TemplateNode(Node):
    """``{{template "name" pipeline}}``."""

    name: str = ""
    pipe: PipeNode | None = None


def describe(node: Node) -> str:
    """A short rendering of ``node`` for error messages, as Go's ``<.Field>``."""
    match node:
        case FieldNode(names=names):
            return "." + ".".join(names)
        case VariableNode(names=names):
            return ".".join(names)
        case IdentifierNode(name=name):
            return name
        case StringNode(quoted=quoted):
            return quoted
        case NumberNode(text=text):
            return text
        case BoolNode(value=value):
            return "true" if value else "false"
        case NilNode():
            return "nil"
        case DotNode():
            return "."
        case ChainNode(node=inner, names=names):
            base = describe(inner) if inner is not None else "?"
            return f"({base})." + ".".join(names)
        case CommandNode(args=args):
            return " ".join(describe(a) for a in args)
        case PipeNode(cmds=cmds):
            return " | ".join(describe(c) for c in cmds)
        case _:
            return type(node).__name__
