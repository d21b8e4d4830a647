"""Evaluate a parsed document's values, and expand its ``dynamic`` blocks.

Every string python-hcl2 hands over is template text (see :mod:`gitorch.jobspec.hcl`);
here each one is parsed once (:mod:`gitorch.jobspec.expr_syntax`) and evaluated
(:mod:`gitorch.jobspec.expr`), and any problem becomes a JobspecError naming the file,
the line and, inside a ``dynamic`` block, the block path.

A ``dynamic "TYPE"`` block (HCL's dynblock extension, as Nomad supports it) becomes one
``TYPE`` block per element of its ``for_each`` (a list, set or map), each with the body
of its ``content`` block evaluated while the iterator (named by ``iterator``, by default
``TYPE``) holds ``.key`` (the index or map key) and ``.value``; ``labels`` gives the new
blocks' labels. Dynamic blocks nest, and inner ones see the outer iterators.
"""

from __future__ import annotations

import difflib
from typing import Any

from gitorch.errors import JobspecError
from gitorch.jobspec import expr
from gitorch.jobspec.expr_nodes import Template
from gitorch.jobspec.expr_syntax import ExprSyntaxError, parse_template
from gitorch.jobspec.functions import FunctionError, to_string, type_name
from gitorch.jobspec.hcl import Attribute, Block, Body
from gitorch.jobspec.redact import excerpt

_DYNAMIC_KEYS = ("for_each", "iterator", "labels")


class Evaluator:
    """Evaluates the values of one file, caching each template's parse."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._parsed: dict[str, Template] = {}

    def value(self, value: Any, env: expr.Env, line: int, path: str = "") -> Any:
        """``value`` with every string evaluated as an HCL template."""
        if isinstance(value, str):
            return self.string(value, env, line, path)
        if isinstance(value, list):
            env.caps.elements(len(value))
            return [self.value(v, env, line, path) for v in value]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = self.value(key, env, line, path)
                if name is None or isinstance(name, (list, dict)):
                    msg = f"a map key must be a string: {excerpt(key)}"
                    raise JobspecError(msg, file=self.file, line=line, path=path)
                out[to_string(name)] = self.value(item, env, line, path)
            return out
        return value

    def string(self, text: str, env: expr.Env, line: int, path: str = "") -> Any:
        if "{" not in text:
            return text
        try:
            tree = self._parsed.get(text)
            if tree is None:
                tree = parse_template(text)
                if len(self._parsed) < 10_000:
                    self._parsed[text] = tree
            return expr.template(tree, env)
        except ExprSyntaxError as exc:
            msg = f"cannot parse {excerpt(text)}: {exc} (write $${{ for a literal ${{)"
            raise JobspecError(msg, file=self.file, line=line, path=path) from None
        except expr.UnknownVariable as exc:
            known = list(env.vars or {})
            close = difflib.get_close_matches(exc.name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            msg = (
                f'unknown variable "{exc.name}" in {excerpt(text)}{hint} '
                f'(declare: variable "{exc.name}" {{}})'
            )
            raise JobspecError(msg, file=self.file, line=line, path=path) from None
        except FunctionError as exc:
            raise JobspecError(str(exc), file=self.file, line=line, path=path) from None
        except expr.EvalError as exc:
            raise JobspecError(f"{exc}", file=self.file, line=line, path=path) from None
        except expr.RuntimeRef as ref:  # in a %{ } directive: not an interpolation
            msg = str(expr.run_time_error(ref))
            raise JobspecError(msg, file=self.file, line=line, path=path) from None

    def body(self, body: Body, env: expr.Env, path: str = "") -> Body:
        """``body`` evaluated, its ``dynamic`` blocks expanded."""
        attrs = {
            n: Attribute(n, self.value(a.value, env, a.line, path), a.line)
            for n, a in body.attributes.items()
        }
        blocks: list[Block] = []
        for block in body.blocks:
            if block.type == "dynamic":
                blocks.extend(self.dynamic(block, env, _path(path, block)))
                continue
            inner = self.body(block.body, env, _path(path, block) if path else "")
            blocks.append(Block(block.type, block.labels, inner, block.line, block.end_line))
        return Body(attrs, blocks, body.line)

    def dynamic(self, block: Block, env: expr.Env, where: str) -> list[Block]:
        if len(block.labels) != 1:
            msg = 'a dynamic block needs one label, the type of block it makes: dynamic "port"'
            raise JobspecError(msg, file=self.file, line=block.line, path=where)
        kind = block.labels[0]
        attrs = block.body.attributes
        for name, attr in attrs.items():
            if name not in _DYNAMIC_KEYS:
                msg = (
                    f'unknown attribute "{name}" (a dynamic block has for_each, iterator, '
                    "labels and a content block)"
                )
                raise JobspecError(msg, file=self.file, line=attr.line, path=where)
        contents = [b for b in block.body.blocks if b.type == "content"]
        others = [b for b in block.body.blocks if b.type != "content"]
        if others or len(contents) != 1:
            line = others[0].line if others else block.line
            msg = "a dynamic block holds exactly one content block (and no other blocks)"
            raise JobspecError(msg, file=self.file, line=line, path=where)
        if "for_each" not in attrs:
            raise JobspecError("for_each is required", file=self.file, line=block.line, path=where)
        at = attrs["for_each"]
        collection = self.value(at.value, env, at.line, where)
        pairs = _pairs(collection)
        if pairs is None:
            kind_of = type_name(collection)
            msg = f"for_each must be a list, set or map, got a {kind_of}"
            raise JobspecError(msg, file=self.file, line=at.line, path=where)
        iterator = kind
        if "iterator" in attrs:
            iterator = str(attrs["iterator"].value).strip()
            if iterator.startswith("${") and iterator.endswith("}"):
                iterator = iterator[2:-1].strip()
            if not iterator.isidentifier():
                msg = "iterator must be a name, as in iterator = port"
                raise JobspecError(msg, file=self.file, line=attrs["iterator"].line, path=where)
        env.caps.elements(len(pairs))
        out: list[Block] = []
        content = contents[0]
        for key, value in pairs:
            inner = env.child(**{iterator: {"key": key, "value": value}})
            labels: tuple[str, ...] = ()
            if "labels" in attrs:
                labels = self._labels(attrs["labels"], inner, where)
            body = self.body(content.body, inner, f"{where} > {kind}")
            out.append(Block(kind, labels, body, content.line, content.end_line))
        return out

    def _labels(self, attr: Attribute, env: expr.Env, where: str) -> tuple[str, ...]:
        value = self.value(attr.value, env, attr.line, where)
        if not isinstance(value, list):
            msg = "labels must be a list of strings, as in labels = [port.value]"
            raise JobspecError(msg, file=self.file, line=attr.line, path=where)
        labels: list[str] = []
        for label in value:
            if label is None or isinstance(label, (list, dict)):
                msg = f"a block label must be a string, got a {type_name(label)}"
                raise JobspecError(msg, file=self.file, line=attr.line, path=where)
            labels.append(to_string(label))
        return tuple(labels)


def _pairs(collection: Any) -> list[tuple[Any, Any]] | None:
    if isinstance(collection, list):
        return list(enumerate(collection))
    if isinstance(collection, dict):
        return [(k, collection[k]) for k in sorted(collection)]
    return None


def _path(path: str, block: Block) -> str:
    head = " ".join([block.type, *(f'"{x}"' for x in block.labels)])
    return f"{path} > {head}" if path else head
