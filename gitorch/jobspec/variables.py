"""HCL2 input variables, locals, var files and the evaluation of a document's values.

Values come from, lowest to highest precedence, as in Nomad: a ``variable`` block's
``default``, ``NOMAD_VAR_<name>`` environment variables (when the caller passes an
environment: the CLI does, a server syncing Git does not), var files (``name = value``,
as ``nomad job run -var-file``) in order, then overrides (``-var``). An override for a
variable that no ``variable`` block declares is an error (Nomad's "Undefined -var
variable"), except in a rendered ``.j2`` file, whose overrides feed the template.
Expressions are evaluated by :mod:`gitorch.jobspec.expr` with Nomad's function library;
``local.NAME`` is evaluated on first use, and locals that refer to each other in a loop
are an error naming the cycle. ``${attr.*}``, ``${node.*}``, ``${meta.*}``,
``${NOMAD_*}`` and ``${env.*}`` stay literal for the scheduler or client to resolve, as
in Nomad; ``$${`` and ``%%{`` become ``${`` and ``%{``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitorch.errors import JobspecError
from gitorch.jobspec.bodyeval import Evaluator
from gitorch.jobspec.expr import MAX_STEPS, Env, EvalError
from gitorch.jobspec.functions import Caps
from gitorch.jobspec.hcl import Attribute, Block, Body, parse, parse_value
from gitorch.jobspec.limits import DEFAULT_LIMITS
from gitorch.jobspec.redact import add_secret, cut, excerpt
from gitorch.jobspec.variable_validation import check, parse_rules

ENV_PREFIX = "NOMAD_VAR_"
_VARIABLE_KEYS = ("type", "default", "description", "sensitive")


@dataclass(frozen=True)
class Variable:
    """One ``variable "name" { type, default, description }`` declaration."""

    name: str
    type: str = ""
    default: Any = None
    has_default: bool = False
    description: str = ""
    line: int = 0
    sensitive: bool = False
    rules: tuple[Block, ...] = ()


@dataclass
class _Scope:
    file: str
    vars: dict[str, Any] | None = None
    locals: dict[str, Attribute] = field(default_factory=dict)
    done: dict[str, Any] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)
    max_string: int = DEFAULT_LIMITS.max_string_length
    evaluator: Evaluator = field(init=False)
    steps: list[int] = field(default_factory=lambda: [MAX_STEPS])

    def __post_init__(self) -> None:
        self.evaluator = Evaluator(self.file)

    def env(self, line: int) -> Env:
        local = None if self.vars is None else (lambda name: _local(name, self, line))
        return Env(self.vars, local, caps=Caps(self.max_string), steps=self.steps)


def declarations(body: Body, file: str) -> dict[str, Variable]:
    """The ``variable`` blocks (and ``variables`` blocks: ``name = default`` lines) of a
    document, defaults evaluated and typed."""
    out: dict[str, Variable] = {}
    for block in body.blocks_of("variables"):
        if block.labels or block.body.blocks:
            msg = "a variables block has no label and holds only name = default lines"
            raise JobspecError(msg, file=file, line=block.line)
        for name, attr in block.body.attributes.items():
            if name in out:
                msg = f'variable "{name}" is declared twice (first at line {out[name].line})'
                raise JobspecError(msg, file=file, line=attr.line)
            default = evaluate(attr.value, _Scope(file), attr.line)
            out[name] = Variable(name, "", default, True, "", attr.line)
    for block in body.blocks_of("variable"):
        if len(block.labels) != 1 or not re.fullmatch(r"[A-Za-z_][\w-]*", block.labels[0]):
            raise JobspecError("a variable block needs one name label", file=file, line=block.line)
        name = block.labels[0]
        where = f'variable "{name}"'
        if name in out:
            msg = f"declared twice (first at line {out[name].line})"
            raise JobspecError(msg, file=file, line=block.line, path=where)
        _only(block, _VARIABLE_KEYS, file, where)
        attrs = block.body.attributes
        vtype = _type_name(attrs["type"].value) if "type" in attrs else ""
        default, has_default = None, "default" in attrs
        if has_default:
            at = attrs["default"]
            default = evaluate(at.value, _Scope(file), at.line)
            default = convert(default, vtype, f"{where}: default", file, at.line)
        description = attrs["description"].value if "description" in attrs else ""
        sensitive = attrs["sensitive"].value if "sensitive" in attrs else False
        if sensitive not in (True, False, "true", "false"):
            msg = f"sensitive: expected true or false, got {excerpt(sensitive)}"
            raise JobspecError(msg, file=file, line=attrs["sensitive"].line, path=where)
        secret = sensitive in (True, "true")
        if secret:
            add_secret(attrs["default"].value if has_default else None)
            add_secret(default)
        rules = parse_rules(block, file, where)
        out[name] = Variable(
            name, vtype, default, has_default, str(description), block.line, secret, rules
        )
    return out


def load_var_file(file: str, text: str) -> dict[str, Attribute]:
    """A var file's assignments, evaluated (no references allowed), with their lines.

    Every value in a var file is treated as a secret: no message repeats one, and a
    syntax error in a var file names the line without quoting the text.
    """
    try:
        body = parse(text, file)
    except JobspecError as exc:
        msg = "HCL syntax error in this var file (its text is not repeated here)"
        raise JobspecError(msg, file=file, line=exc.line or 1) from None
    add_secret([a.value for a in body.attributes.values()])
    if body.blocks:
        block = body.blocks[0]
        msg = f'a var file holds only "name = value" lines, not a "{block.type}" block'
        raise JobspecError(msg, file=file, line=block.line)
    scope = _Scope(file)
    return {
        name: Attribute(name, evaluate(a.value, scope, a.line), a.line)
        for name, a in body.attributes.items()
    }


def resolve(
    body: Body,
    file: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    var_files: Sequence[tuple[str, str]] = (),
    strict: bool = False,
    max_string: int = DEFAULT_LIMITS.max_string_length,
    env: Mapping[str, str] | None = None,
    rendered: bool = False,
) -> Body:
    """``body`` without its ``variable`` / ``locals`` blocks and with every value evaluated.

    ``strict`` makes a var file value for an undeclared variable an error (Nomad's
    ``-hcl2-strict``); by default it is ignored, since one var file may serve many jobs.
    An override for an undeclared variable is always an error unless ``rendered`` (the
    text came from a ``.j2`` template, which the overrides fed). ``env`` is the process
    environment, read for ``NOMAD_VAR_<name>``. A string built by interpolation may hold
    at most ``max_string`` characters. Values of ``sensitive`` variables, var files,
    ``NOMAD_VAR_`` variables and overrides never appear in an error message.
    """
    add_secret(list((overrides or {}).values()))
    declared = declarations(body, file)
    values: dict[str, Any] = {n: v.default for n, v in declared.items() if v.has_default}
    for key, value in (env or {}).items():
        name = key[len(ENV_PREFIX) :]
        if key.startswith(ENV_PREFIX) and name in declared:  # others: not for this job
            add_secret(value)
            where = f"environment variable {key}"
            values[name] = convert(value, declared[name].type, where, file, declared[name].line)
    for vfile, text in var_files:
        for name, attr in load_var_file(vfile, text).items():
            if name not in declared:
                if strict:
                    raise _undeclared(name, declared, vfile, attr.line)
                continue
            where = f'variable "{name}"'
            values[name] = convert(attr.value, declared[name].type, where, vfile, attr.line)
    for name, value in (overrides or {}).items():
        if name not in declared:
            if rendered:
                continue
            hint = _hint(name, list(declared))
            msg = (
                f'undefined -var variable "{name}": no variable block declares it{hint} '
                f'(declare it: variable "{name}" {{}})'
            )
            raise JobspecError(msg, file=file, line=1)
        where = f'override for variable "{name}"'
        values[name] = convert(value, declared[name].type, where, file, declared[name].line)
    for name, var in declared.items():
        if name not in values:
            raise JobspecError(
                f'variable "{name}" has no default and no value was given '
                "(set it in a var file or as an override)",
                file=file,
                line=var.line,
            )
    for name, var in declared.items():
        if var.sensitive:
            add_secret(values.get(name))
        check(var.rules, name, values[name], file)
    scope = _Scope(file, values, _locals(body, file), max_string=max_string)
    for name in scope.locals:
        _local(name, scope, scope.locals[name].line)
    rest = [b for b in body.blocks if b.type not in ("variable", "variables", "locals")]
    return scope.evaluator.body(Body(body.attributes, rest, body.line), scope.env(0))


def evaluate(value: Any, scope: _Scope, line: int) -> Any:
    """``value`` with every string evaluated as an HCL template (``var``, ``local``,
    functions, conditionals, ``for``, directives)."""
    return scope.evaluator.value(value, scope.env(line), line)


def convert(value: Any, vtype: str, where: str, file: str = "", line: int = 0) -> Any:
    """``value`` converted to the HCL type ``vtype`` as HCL would, or JobspecError."""
    kind, _, inner = vtype.partition("(")
    inner = inner[:-1] if inner.endswith(")") else inner
    if kind in ("", "any"):
        return value
    if kind in ("list", "set", "tuple", "map", "object") and isinstance(value, str):
        try:
            value = parse_value(value, where)
        except JobspecError:
            msg = f"{where}: expected a {kind}, got {excerpt(value)}"
            raise JobspecError(msg, file=file, line=line) from None
    if kind in ("list", "set", "tuple") and isinstance(value, list):
        elem = inner if kind != "tuple" else ""
        return [convert(v, elem, f"{where}[{i}]", file, line) for i, v in enumerate(value)]
    if kind in ("map", "object") and isinstance(value, dict):
        elem = inner if kind == "map" else ""
        return {k: convert(v, elem, f"{where}.{k}", file, line) for k, v in value.items()}
    if kind == "string" and isinstance(value, (str, int, float)):
        return _stringify(value)
    if kind == "number" and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d*\.?\d+([eE][+-]?\d+)?\s*", value):
            return float(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
    msg = f"{where}: expected a {cut(vtype, 60)}, got {excerpt(value)}"
    raise JobspecError(msg, file=file, line=line)


def _type_name(value: Any) -> str:
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return re.sub(r"\s+", "", text)


def _only(block: Block, allowed: Sequence[str], file: str, where: str) -> None:
    for name, attr in block.body.attributes.items():
        if name not in allowed:
            hint = _hint(name, allowed)
            msg = f'unknown attribute "{name}"{hint}'
            raise JobspecError(msg, file=file, line=attr.line, path=where)


def _hint(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _undeclared(name: str, declared: Mapping[str, Variable], file: str, line: int) -> JobspecError:
    msg = f'a value was given for undeclared variable "{name}"{_hint(name, list(declared))}'
    return JobspecError(msg, file=file, line=line)


def _locals(body: Body, file: str) -> dict[str, Attribute]:
    out: dict[str, Attribute] = {}
    for block in body.blocks_of("locals"):
        if block.body.blocks:
            msg = "a locals block holds only name = value lines"
            raise JobspecError(msg, file=file, line=block.body.blocks[0].line)
        for name, attr in block.body.attributes.items():
            if name in out:
                msg = f'local "{name}" is defined twice (first at line {out[name].line})'
                raise JobspecError(msg, file=file, line=attr.line)
            out[name] = attr
    return out


def _local(name: str, scope: _Scope, line: int) -> Any:
    if name in scope.done:
        return scope.done[name]
    if name not in scope.locals:
        raise EvalError(f'unknown local "{name}"{_hint(name, list(scope.locals))}')
    if name in scope.busy:
        cycle = " -> ".join([*scope.busy[scope.busy.index(name) :], name])
        msg = f"locals refer to each other in a cycle: {cycle}"
        raise JobspecError(msg, file=scope.file, line=scope.locals[name].line)
    scope.busy.append(name)
    attr = scope.locals[name]
    scope.done[name] = evaluate(attr.value, scope, attr.line)
    scope.busy.pop()
    return scope.done[name]


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
