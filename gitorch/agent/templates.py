"""The task's template hook: render each ``template`` block with the Go text/template
interpreter (:mod:`gitorch.templating`) before the task starts.

* ``data`` or ``source`` (a path in the task dir), ``left_delimiter`` /
  ``right_delimiter``, ``error_on_missing_key``; ``env`` reads the task's environment.
* The output goes to ``destination`` (inside the task dir) with ``perms`` and, when set,
  ``uid`` / ``gid``; with ``env = true`` its ``KEY=VALUE`` lines join the task's env.
* A template that cannot render raises :class:`TemplateFailed` (the task start fails,
  not to be retried) whose message names the template, line and column.
* A template whose inputs are missing (a variable that does not exist yet) is retried
  for up to ``wait_s``; then :class:`TemplateWaiting` says what it waits for, and the
  task runner retries the start later (Nomad blocks the task until it appears).

After the task starts, :mod:`gitorch.agent.templatewatch` re-renders the templates
(all but ``once = true`` ones) when their inputs change, with :func:`write_output`, and
acts on their ``change_mode``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from gitorch.core.model import Template
from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError
from gitorch.templating import Template as GoTemplate
from gitorch.templating import TemplateError, WaitingFor
from gitorch.templating.consul import functions
from gitorch.templating.source import DataSource, EmptySource


class TemplateFailed(DriverError):
    """A template could not be rendered or written; the task must not start."""


class TemplateWaiting(DriverError):
    """A template's inputs are not there yet (``what`` names the first one missing)."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


def _name(tpl: Template) -> str:
    return tpl.source_path or tpl.dest_path or "template"


def _inside(root: str, rel: str, cfg: TaskConfig, what: str) -> str:
    path = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, path]) != root:
        raise TemplateFailed(f"task {cfg.id}: template {what} escapes the task dir: {rel}")
    return path


def parse_env(text: str, name: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (blank lines, ``#`` comments and ``export`` allowed; values
    may be quoted), as Nomad reads an ``env = true`` template."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not key.replace("_", "a").replace(".", "a").isalnum():
            raise TemplateFailed(f"template {name}: line {lineno}: expected KEY=VALUE, got {raw!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            if raw.strip().partition("=")[2].strip()[0] == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


def render_one(tpl: Template, text: str, source: DataSource, env: Mapping[str, str]) -> str:
    """The output of one template; raises TemplateError or WaitingFor."""
    funcs = functions(source, env=env)
    go = GoTemplate(
        _name(tpl),
        text,
        funcs=funcs,
        left=tpl.left_delim,
        right=tpl.right_delim,
        missing_key_error=tpl.error_on_missing_key,
    )
    return go.render(None)


def render_templates(
    cfg: TaskConfig,
    templates: list[Template],
    source: DataSource | None = None,
    *,
    wait_s: float = 3.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TaskConfig:
    """Render and write every template of the task; the config it returns carries the
    environment that ``env = true`` templates add."""
    source = source if source is not None else EmptySource()
    env = dict(cfg.env)
    for tpl in templates:
        text = template_text(cfg, tpl)
        rendered = _render_waiting(tpl, text, source, cfg.env, wait_s, sleep, clock)
        write_output(cfg, tpl, rendered)
        if tpl.env:
            env.update(parse_env(rendered, _name(tpl)))
    return msgspec.structs.replace(cfg, env=env)


def template_text(cfg: TaskConfig, tpl: Template) -> str:
    """The template's text: ``data``, or the ``source`` file in the task dir."""
    if tpl.embedded_tmpl or not tpl.source_path:
        return tpl.embedded_tmpl
    root = os.path.realpath(cfg.task_dir)
    try:
        return Path(_inside(root, tpl.source_path, cfg, "source")).read_text()
    except OSError as exc:
        raise TemplateFailed(f"template {_name(tpl)}: cannot read source: {exc}") from None


def write_output(cfg: TaskConfig, tpl: Template, rendered: str) -> bool:
    """Write the output to ``destination`` with ``perms`` (and ``uid``/``gid``) unless
    the file already holds exactly that; True when it was written."""
    dest = _inside(os.path.realpath(cfg.task_dir), tpl.dest_path, cfg, "destination")
    try:
        if Path(dest).read_text() == rendered:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # not there yet (or not text): write it
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = f"{dest}.{os.getpid()}.tmp"  # the task never reads a half-written file
    Path(tmp).write_text(rendered)
    os.chmod(tmp, int(tpl.perms or "0644", 8))
    if tpl.uid >= 0 or tpl.gid >= 0:
        try:
            os.chown(tmp, tpl.uid, tpl.gid)
        except OSError as exc:
            os.unlink(tmp)
            raise TemplateFailed(f"template {_name(tpl)}: cannot set uid/gid: {exc}") from None
    os.replace(tmp, dest)
    return True


def _render_waiting(
    tpl: Template,
    text: str,
    source: DataSource,
    env: Mapping[str, str],
    wait_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str:
    deadline = clock() + wait_s
    delay = 0.1
    while True:
        try:
            fresh = getattr(source, "fresh", None)  # a source that remembers answers
            return render_one(tpl, text, fresh() if callable(fresh) else source, env)
        except TemplateError as exc:
            raise TemplateFailed(str(exc)) from None
        except WaitingFor as exc:
            if clock() + delay > deadline:
                message = f"Template {_name(tpl)}: Missing: {exc}"
                raise TemplateWaiting(message, exc.what) from None
        sleep(delay)
        delay = min(delay * 2, 1.0)
