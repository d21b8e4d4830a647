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

import posixpath
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from gitorch.errors import JobspecError

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


def render(
    text: str,
    file: str,
    values: Mapping[str, Any],
    *,
    read: Reader | None = None,
) -> str:
    """Render ``text`` (the repo file ``file``) with ``values``; errors raise JobspecError."""
    loader = _RepoLoader(file, text, read)
    env = SandboxedEnvironment(
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
        return env.get_template(file).render(dict(values))
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"{exc.message} (pass it as a value, or give it a default with |default)"
    if isinstance(exc, jinja2.TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _template_line(tb: TracebackType | None, file: str, names: set[str]) -> tuple[str, int]:
    """The innermost template frame of a traceback that jinja2 rewrote to template lines."""
    where, line = file, 0
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename in names:
            where, line = code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    return where, line
