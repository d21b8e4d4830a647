"""Evaluate parsed HCL expressions and templates (:mod:`gitorch.jobspec.expr_syntax`).

Values are plain Python: ``None``, ``bool``, ``int``/``float``, ``str``, ``list`` and
``dict``. Names resolve through an :class:`Env`: ``var.NAME`` (the input variables),
``local.NAME`` (asked of a callback, which evaluates locals on demand and detects
cycles), and the iterator names that ``for`` expressions, ``%{ for }`` directives and
``dynamic`` blocks bring into scope. Any other root (``attr``, ``node``, ``meta``,
``NOMAD_*``, ``env``...) is known only when the job is placed or run: an interpolation
that is nothing but such a reference stays literal, as in Nomad; one that computes with
it is an error. Work is bounded: every node evaluated costs one step from a per-file
budget, and strings and collections are capped (see :class:`~gitorch.jobspec.functions.Caps`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitorch.jobspec import expr_nodes as ast
from gitorch.jobspec.function_library import LIBRARY
from gitorch.jobspec.functions import (
    Caps,
    FunctionError,
    call,
    equal,
    normalise,
    to_bool,
    to_number,
    to_string,
    type_name,
)

MAX_STEPS = 2_000_000
"""Expression nodes evaluated for one file; building values costs steps too (below)."""
CHARS_PER_STEP = 16
"""A computed string costs one step per this many characters, a computed list or map one
step per element, so a file can build at most about 32 million characters in all."""


class EvalError(Exception):
    """An expression cannot be evaluated; the message says why (no values quoted)."""


class RuntimeRef(Exception):  # noqa: N818 - a signal, caught by the template evaluator
    """The expression names something known only at placement or run time."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class Env:
    """What names mean while evaluating one value."""

    vars: Mapping[str, Any] | None
    local: Callable[[str], Any] | None = None
    names: dict[str, Any] = field(default_factory=dict)
    caps: Caps = field(default_factory=Caps)
    steps: list[int] = field(default_factory=lambda: [MAX_STEPS])

    def child(self, **names: Any) -> Env:
        return Env(self.vars, self.local, {**self.names, **names}, self.caps, self.steps)


def template(node: ast.Template, env: Env) -> Any:
    """A template's value: one interpolation alone keeps its type, else a string."""
    if len(node.parts) == 1 and isinstance(node.parts[0], ast.Interp):
        return interpolation(node.parts[0], env)
    out: list[str] = []
    size = [0]
    _render(node.parts, env, out, size)
    _charge(env, size[0] // CHARS_PER_STEP)
    return "".join(out)


def _charge(env: Env, steps: int) -> None:
    env.steps[0] -= steps
    if env.steps[0] < 0:
        raise EvalError(f"the expressions in this file need over {MAX_STEPS} steps of work")


def interpolation(part: ast.Interp, env: Env) -> Any:
    try:
        return evaluate(part.expr, env)
    except RuntimeRef as ref:
        if _plain(part.expr):
            return part.raw
        raise run_time_error(ref) from None


def run_time_error(ref: RuntimeRef) -> EvalError:
    """The error for computing with a value known only at placement or run time."""
    return EvalError(
        f"{ref.name}.* is known only when the job is placed or run: it can be used "
        f"alone, as in ${{{ref.name}...}}, but not computed with here"
    )


def _render(parts: tuple[ast.Part, ...], env: Env, out: list[str], size: list[int]) -> None:
    for part in parts:
        if isinstance(part, str):
            _append(part, env, out, size)
        elif isinstance(part, ast.Interp):
            value = interpolation(part, env)
            if value is None or isinstance(value, (list, dict)):
                what = "null" if value is None else type_name(value)
                raise EvalError(f"cannot insert a {what} into a string: {part.raw[:80]}")
            _append(to_string(value), env, out, size)
        elif isinstance(part, ast.IfDirective):
            test = _bool(evaluate(part.test, env), "%{ if } condition")
            _render(part.then if test else part.other, env, out, size)
        else:
            for key, value in _pairs(evaluate(part.collection, env), "%{ for }"):
                names = {part.value_var: value}
                if part.key_var:
                    names[part.key_var] = key
                _render(part.body, env.child(**names), out, size)


def _append(text: str, env: Env, out: list[str], size: list[int]) -> None:
    size[0] += len(text)
    if size[0] > env.caps.max_string:
        limit = env.caps.max_string
        raise EvalError(f"this string grows over {limit} characters (gitops.max_string_length)")
    out.append(text)


def evaluate(node: ast.Node, env: Env) -> Any:  # noqa: C901, PLR0911, PLR0912 - one dispatch
    env.steps[0] -= 1
    if env.steps[0] < 0:
        raise EvalError(f"the expressions in this file need over {MAX_STEPS} steps of work")
    if isinstance(node, ast.Literal):
        return node.value
    if isinstance(node, ast.Template):
        return template(node, env)
    if isinstance(node, ast.Ref):
        return _root(node.name, env)
    if isinstance(node, ast.GetAttr):
        return _get_attr(node, env)
    if isinstance(node, ast.Index):
        return index(evaluate(node.obj, env), evaluate(node.key, env))
    if isinstance(node, ast.Splat):
        return _splat(node, env)
    if isinstance(node, ast.Call):
        return _call(node, env)
    if isinstance(node, ast.Unary):
        value = evaluate(node.operand, env)
        if node.op == "!":
            return not _bool(value, "the operand of !")
        return normalise(-_number(value, "-"))
    if isinstance(node, ast.Binary):
        return _binary(node, env)
    if isinstance(node, ast.Cond):
        test = _bool(evaluate(node.test, env), "a condition")
        return evaluate(node.then if test else node.other, env)
    if isinstance(node, ast.TupleExpr):
        env.caps.elements(len(node.items))
        return [evaluate(item, env) for item in node.items]
    if isinstance(node, ast.ObjectExpr):
        out: dict[str, Any] = {}
        for key, value in node.items:
            out[_key(evaluate(key, env))] = evaluate(value, env)
        return out
    if isinstance(node, ast.ForExpr):
        return _for(node, env)
    if isinstance(node, ast.Item):
        return env.names["\x00item"]
    raise EvalError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover


def _root(name: str, env: Env) -> Any:
    if name in env.names:
        return env.names[name]
    if name == "var":
        if env.vars is None:
            raise EvalError("variables cannot be used here (a default or a var file)")
        return dict(env.vars)
    if name == "local":
        raise EvalError("name a local, as in local.name")
    raise RuntimeRef(name)


def _get_attr(node: ast.GetAttr, env: Env) -> Any:
    obj = node.obj
    if isinstance(obj, ast.Ref) and obj.name not in env.names:
        if obj.name == "local" and env.local is not None:
            return env.local(node.name)
        if obj.name == "var" and env.vars is not None and node.name not in env.vars:
            raise UnknownVariable(node.name)
    return index(evaluate(obj, env), node.name)


class UnknownVariable(EvalError):
    """``var.NAME`` names no declared variable."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def index(value: Any, key: Any) -> Any:
    """``value[key]`` / ``value.key`` as HCL does it."""
    if isinstance(value, dict):
        name = _key(key)
        if name in value:
            return value[name]
        raise EvalError(f'this map or object has no element "{name[:60]}"')
    if isinstance(value, list):
        try:
            position = int(to_number(key))
        except FunctionError:
            raise EvalError("a list index must be a number") from None
        if 0 <= position < len(value):
            return value[position]
        raise EvalError(f"index {position} is out of range for a list of {len(value)}")
    if value is None:
        raise EvalError("cannot take an element of null")
    raise EvalError(f"cannot take an element of a {type_name(value)}")


def _splat(node: ast.Splat, env: Env) -> Any:
    source = evaluate(node.obj, env)
    if source is None:
        return []
    items = source if isinstance(source, list) else [source]
    return [evaluate(node.each, env.child(**{"\x00item": item})) for item in items]


def _call(node: ast.Call, env: Env) -> Any:
    if node.name in ("try", "can"):
        return _try(node, env)
    if node.name == "convert":
        return _convert(node, env)
    fn = LIBRARY.get(node.name)
    if fn is None:
        raise EvalError(
            f'there is no function "{node.name}" (Nomad\'s functions are listed in docs/jobspec.md)'
        )
    args = [evaluate(arg, env) for arg in node.args]
    if node.expand:
        last = args.pop() if args else None
        if not isinstance(last, list):
            raise EvalError(f"{node.name}: the argument before ... must be a list")
        args.extend(last)
    try:
        result = call(node.name, fn, args, env.caps)
    except FunctionError as exc:
        raise EvalError(f'function "{node.name}": {exc}') from None
    except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        raise EvalError(f'function "{node.name}": {type(exc).__name__}: {str(exc)[:120]}') from None
    if isinstance(result, str):
        if len(result) > env.caps.max_string:
            raise EvalError(f'function "{node.name}": the result is too long')
        _charge(env, len(result) // CHARS_PER_STEP)
    elif isinstance(result, (list, dict)):
        _charge(env, len(result))
    return result


def _try(node: ast.Call, env: Env) -> Any:
    if node.name == "can" and len(node.args) != 1:
        raise EvalError('function "can": takes 1 argument')
    if not node.args:
        raise EvalError('function "try": takes at least 1 argument')
    for arg in node.args:
        try:
            value = evaluate(arg, env)
        except (EvalError, RuntimeRef) as exc:
            if isinstance(exc, EvalError) and "steps of work" in str(exc):
                raise
            continue
        return True if node.name == "can" else value
    if node.name == "can":
        return False
    raise EvalError('function "try": no argument could be evaluated without an error')


def _convert(node: ast.Call, env: Env) -> Any:
    if len(node.args) != 2 or node.expand:
        raise EvalError('function "convert": takes 2 arguments, a value and a type')
    return convert_type(evaluate(node.args[0], env), node.args[1])


def convert_type(value: Any, kind: ast.Node) -> Any:
    """``value`` converted to the type expression ``kind`` (``list(string)``...)."""
    try:
        if isinstance(kind, ast.Ref) and kind.name in _PRIMITIVE:
            return value if value is None else _PRIMITIVE[kind.name](value)
        if isinstance(kind, ast.Call) and len(kind.args) == 1:
            inner = kind.args[0]
            if kind.name in ("list", "set") and isinstance(value, list):
                items = [convert_type(v, inner) for v in value]
                return _distinct(items) if kind.name == "set" else items
            if kind.name == "map" and isinstance(value, dict):
                return {k: convert_type(v, inner) for k, v in value.items()}
            if kind.name in ("object", "tuple") and isinstance(value, (dict, list)):
                return value
            raise FunctionError(f"a {kind.name} is required, got a {type_name(value)}")
    except FunctionError as exc:
        raise EvalError(f'function "convert": {exc}') from None
    raise EvalError('function "convert": the second argument must be a type, as list(string)')


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(equal(item, seen) for seen in out):
            out.append(item)
    return out


_PRIMITIVE: dict[str, Callable[[Any], Any]] = {
    "string": to_string,
    "number": to_number,
    "bool": to_bool,
    "any": lambda value: value,
}


def _binary(node: ast.Binary, env: Env) -> Any:
    op = node.op
    left = evaluate(node.left, env)
    if op in ("&&", "||"):
        first = _bool(left, f"the left operand of {op}")
        if (op == "&&" and not first) or (op == "||" and first):
            return first
        return _bool(evaluate(node.right, env), f"the right operand of {op}")
    right = evaluate(node.right, env)
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    a, b = _number(left, op), _number(right, op)
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op == "<=":
        return a <= b
    if op == ">=":
        return a >= b
    try:
        if op == "+":
            return normalise(a + b)
        if op == "-":
            return normalise(a - b)
        if op == "*":
            return normalise(a * b)
        if b == 0:
            raise EvalError(f"division by zero ({op})")
        if op == "/":
            return normalise(a / b)
        return normalise(math.fmod(a, b))
    except FunctionError as exc:
        raise EvalError(str(exc)) from None


def _for(node: ast.ForExpr, env: Env) -> Any:
    pairs = _pairs(evaluate(node.collection, env), "a for expression")
    items: list[Any] = []
    grouped: dict[str, Any] = {}
    for key, value in pairs:
        names = {node.value_var: value}
        if node.key_var:
            names[node.key_var] = key
        inner = env.child(**names)
        if node.cond is not None and not _bool(evaluate(node.cond, inner), "a for's if"):
            continue
        if node.key is None:
            items.append(evaluate(node.value, inner))
            env.caps.elements(len(items))
            _charge(env, 1)
            continue
        name = _key(evaluate(node.key, inner))
        result = evaluate(node.value, inner)
        if node.group:
            grouped.setdefault(name, []).append(result)
        elif name in grouped:
            raise EvalError(f'a for expression makes key "{name[:60]}" twice (add ... to group)')
        else:
            grouped[name] = result
        env.caps.elements(len(grouped))
    return items if node.key is None else {k: grouped[k] for k in sorted(grouped)}


def _pairs(value: Any, what: str) -> list[tuple[Any, Any]]:
    if isinstance(value, list):
        return list(enumerate(value))
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    raise EvalError(f"{what} needs a list or map to iterate over, got a {type_name(value)}")


def _key(value: Any) -> str:
    if value is None or isinstance(value, (list, dict)):
        raise EvalError(f"a map key must be a string, got a {type_name(value)}")
    return to_string(value)


def _bool(value: Any, what: str) -> bool:
    try:
        return to_bool(value)
    except FunctionError:
        raise EvalError(f"{what} must be true or false, got a {type_name(value)}") from None


def _number(value: Any, op: str) -> int | float:
    try:
        return to_number(value)
    except FunctionError:
        raise EvalError(f"the operands of {op} must be numbers, got a {type_name(value)}") from None


def _plain(node: ast.Node) -> bool:
    """A reference with only ``.name`` and literal ``[index]`` steps."""
    while isinstance(node, (ast.GetAttr, ast.Index)):
        if isinstance(node, ast.Index) and not isinstance(node.key, ast.Literal):
            return False
        node = node.obj
    return isinstance(node, ast.Ref)
