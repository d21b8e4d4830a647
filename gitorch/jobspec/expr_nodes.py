"""The tree an HCL expression or template parses into: small frozen nodes.

Expressions: :class:`Literal`, :class:`Ref` (a root name), :class:`GetAttr`,
:class:`Index`, :class:`Splat` (whose ``each`` applies to the :class:`Item` placeholder),
:class:`Call`, :class:`Unary`, :class:`Binary`, :class:`Cond`, :class:`TupleExpr`,
:class:`ObjectExpr`, :class:`ForExpr` and :class:`Template`. A template's parts are
literal strings, :class:`Interp` (``${ }``, with its source text), :class:`IfDirective`
and :class:`ForDirective`. :mod:`gitorch.jobspec.expr_syntax` builds them;
:mod:`gitorch.jobspec.expr` evaluates them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Ref:
    """A root name (``var``, ``local``, an iterator, ``attr``...) with ``raw`` source."""

    name: str


@dataclass(frozen=True)
class GetAttr:
    obj: Node
    name: str


@dataclass(frozen=True)
class Index:
    obj: Node
    key: Node


@dataclass(frozen=True)
class Splat:
    """``obj[*].steps`` (``full``) or ``obj.*.steps``; ``each`` is applied per element."""

    obj: Node
    each: Node
    full: bool


@dataclass(frozen=True)
class Item:
    """The element a splat is applied to (the hole in a Splat's ``each``)."""


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]
    expand: bool


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Cond:
    test: Node
    then: Node
    other: Node


@dataclass(frozen=True)
class TupleExpr:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class ObjectExpr:
    items: tuple[tuple[Node, Node], ...]


@dataclass(frozen=True)
class ForExpr:
    key_var: str | None
    value_var: str
    collection: Node
    key: Node | None
    value: Node
    cond: Node | None
    group: bool


@dataclass(frozen=True)
class Interp:
    expr: Node
    raw: str


@dataclass(frozen=True)
class IfDirective:
    test: Node
    then: tuple[Part, ...]
    other: tuple[Part, ...]


@dataclass(frozen=True)
class ForDirective:
    key_var: str | None
    value_var: str
    collection: Node
    body: tuple[Part, ...]


@dataclass(frozen=True)
class Template:
    parts: tuple[Part, ...]


Part = str | Interp | IfDirective | ForDirective
Node = (
    Literal
    | Ref
    | GetAttr
    | Index
    | Splat
    | Item
    | Call
    | Unary
    | Binary
    | Cond
    | TupleExpr
    | ObjectExpr
    | ForExpr
    | Template
)
