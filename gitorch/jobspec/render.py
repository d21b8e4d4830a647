"""Render ``.j2`` repository files: the only module that imports ``jinja2`` for repo content.

Delimiters are ``[[ ]]`` (variables), ``[% %]`` (statements) and ``[# #]`` (comments), so
Nomad's ``{{ }}`` in ``template`` blocks passes through untouched (the Levant / nomad-pack
precedent). The environment is sandboxed (a repository is input, not code) and strict
(a missing value is an error naming file and line, never an empty string).

``include`` / ``import`` work only when the caller hands in ``read``, a function from a
path inside the repository to its text; names are repository paths, never absolute and
never reaching above the root.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from gitorch.errors import JobspecError
from gitorch.jobspec.guard import BudgetExceeded
from gitorch.jobspec.limits import DEFAULT_LIMITS, Limits

Reader = Callable[[str], "str | None"]


class _RepoLoader(jinja2.BaseLoader):
    """Serves the file being rendered, and other repo files only through ``read``."""

    def __init__(self, file: str, text: str, read: Reader | None) -> None:
        self.file = file
        self.text = text
        self.read = read
        self.loaded: set[str] = {file}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template == self.file:
            return self.text, self.file, lambda: True
        if self.read is None:
            raise jinja2.TemplateNotFound(f"{template} (includes are not enabled here)")
        path = repo_path(template)
        if path is None:
            raise jinja2.TemplateNotFound(f"{template} (only paths inside the repository)")
        text = self.read(path)
        if text is None:
            raise jinja2.TemplateNotFound(template)
        self.loaded.add(path)
        return text, path, lambda: True


def repo_path(name: str) -> str | None:
    """``name`` as a normalised path inside the repository, or None if it leaves it."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return None
    path = posixpath.normpath(name)
    if path == "." or path == ".." or path.startswith("../"):
        return None
    return path


MAX_RANGE = 10_000
"""Items one ``range()`` may yield (Jinja's own sandbox allows 100,000)."""
MAX_NUMBER_BITS = 4096
"""The largest number a template may compute (about 1,233 digits)."""
_WIDE = re.compile(r"\d{7,}|\*")  # a width or precision of a million or more, or "*"
_SIZED_FILTERS = ("center", "indent", "wordwrap", "truncate", "batch", "slice", "format",
                  "join", "replace")  # fmt: skip


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, refusing work out of proportion to a jobspec.

    The arithmetic operators are intercepted, so Jinja's optimizer never folds them at
    compile time (``10**(10**8)`` would be computed there, in C, holding the GIL) and at
    run time a result whose size is out of bounds is refused before it is computed. Any
    call with a number argument larger than ``max_string_length`` (``"x".ljust(10**9)``)
    is refused, as are ``%`` and ``format`` widths of a million or more.
    """

    intercepted_binops = frozenset({"**", "*", "+", "%", "//", "/"})

    def __init__(self, limits: Limits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum
        for name in _SIZED_FILTERS:
            if name in self.filters:
                self.filters[name] = _sized(self.filters[name], limits.max_string_length)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        most = self.limits.max_string_length
        if operator == "**" and _number(left) and _number(right):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_NUMBER_BITS:
                raise SecurityError(f"the result of ** would have over {MAX_NUMBER_BITS} bits")
        elif operator == "*":
            size = _repeat_size(left, right)
            if size > most:
                raise SecurityError(f"the result of * would hold {size} items, over {most}")
            if _number(left) and _number(right) and _bits(left) + _bits(right) > MAX_NUMBER_BITS:
                raise SecurityError(f"the result of * would have over {MAX_NUMBER_BITS} bits")
        elif operator == "+" and isinstance(left, (str, list)) and isinstance(right, type(left)):
            if len(left) + len(right) > most:
                raise SecurityError(f"the result of + would hold over {most} items")
        elif operator == "%" and isinstance(left, str) and _WIDE.search(left):
            raise SecurityError("a % format with a width of a million or more (or *)")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        most = __self.limits.max_string_length
        for arg in (*args, *kwargs.values()):
            if _number(arg) and abs(arg) > most:
                raise SecurityError(f"a number argument over {most} ({_bits(arg)} bits)")
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str) and _WIDE.search(owner):
            raise SecurityError("a format with a width of a million or more (or *)")
        return super().call(__context, __obj, *args, **kwargs)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bits(value: Any) -> int:
    if isinstance(value, int):
        return value.bit_length()
    return 64


def _repeat_size(left: Any, right: Any) -> int:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            return len(seq) * max(times, 0)
    return 0


def _range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise SecurityError(f"range() of {len(found)} items, over the limit of {MAX_RANGE}")
    return found


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    if not 0 <= n <= 100 or not 0 <= min <= max <= 1000:
        raise SecurityError("lipsum() takes n <= 100 and max <= 1000")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


def _sized(fn: Callable[..., Any], most: int) -> Callable[..., Any]:
    """A filter that refuses number arguments over ``most`` (``center(10**9)``)."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args[1:], *kwargs.values()):
            if _number(arg) and abs(arg) > most:
                raise SecurityError(f"a filter argument over {most}")
            if isinstance(arg, str) and _WIDE.search(arg) and fn.__name__.endswith("format"):
                raise SecurityError("a format with a width of a million or more (or *)")
        return fn(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(fn, attr):
            setattr(checked, attr, getattr(fn, attr))
    checked.__name__ = getattr(fn, "__name__", "filter")
    return checked


def render(
    text: str,
    file: str,
    values: Mapping[str, Any],
    *,
    read: Reader | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """Render ``text`` (the repo file ``file``) with ``values``; errors raise JobspecError.

    The output is produced piece by piece and refused as soon as it passes
    ``limits.max_rendered_size``, naming the template line being rendered then.
    """
    loader = _RepoLoader(file, text, read)
    env = _Sandbox(
        limits,
        loader=loader,
        undefined=jinja2.StrictUndefined,
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        keep_trailing_newline=True,
        autoescape=False,
    )
    try:
        return _generate(env.get_template(file), dict(values), limits.max_rendered_size)
    except JobspecError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or file
        raise JobspecError(
            f"template syntax error: {exc.message}", file=where, line=exc.lineno or 0
        ) from None
    except jinja2.TemplateNotFound as exc:
        where, line = _template_line(exc.__traceback__, file, loader.loaded)
        raise JobspecError(f"template not found: {exc.message}", file=where, line=line) from None
    except Exception as exc:  # noqa: BLE001 - any error inside a template is the template's
        where, line = _template_line(exc.__traceback__, file, loader.loaded)
        what = _describe(exc)
        raise JobspecError(f"template error: {what}", file=where, line=line) from None


def _generate(template: jinja2.Template, values: dict[str, Any], most: int) -> str:
    """The rendered text, refused while rendering once it passes ``most`` characters."""
    out: list[str] = []
    size = 0
    pieces = template.generate(values)
    for piece in pieces:
        size += len(piece)
        if size > most:
            line = _generator_line(pieces, template)
            raise JobspecError(
                f"template error: the rendered file passes the limit of {most} bytes "
                "(gitops.max_rendered_size)",
                file=template.filename or "",
                line=line,
            )
        out.append(piece)
    return "".join(out)


def _generator_line(gen: Any, template: jinja2.Template) -> int:
    """The line of ``template`` that a suspended render generator is at (0 if unknown)."""
    line = 0
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        if frame is not None and frame.f_code.co_filename == template.filename:
            line = template.get_corresponding_lineno(frame.f_lineno)
        gen = getattr(gen, "gi_yieldfrom", None)
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"{exc.message} (pass it as a value, or give it a default with |default)"
    if isinstance(exc, jinja2.TemplateError):
        return (exc.message or type(exc).__name__)[:300]
    if isinstance(exc, BudgetExceeded):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (gitops.max_memory)"
    if isinstance(exc, RecursionError):
        return "recursion too deep"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _template_line(tb: TracebackType | None, file: str, names: set[str]) -> tuple[str, int]:
    """The innermost template frame of a traceback that jinja2 rewrote to template lines."""
    where, line = file, 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in names:
            where, line = code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    return where, line
