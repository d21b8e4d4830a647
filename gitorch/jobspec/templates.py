"""The ``template`` block: what the decoder reads (with Nomad's defaults: ``change_mode
= "restart"``, ``splay = "5s"``, ``change_signal = "SIGHUP"`` for ``change_mode =
"signal"``), and the checks Nomad's ``Template.Validate`` makes.

The agent re-renders a template when its inputs change and acts on ``change_mode``
(:mod:`gitorch.agent.templatewatch`); ``once = true`` renders it at task start only.
"""

from __future__ import annotations

from gitorch.core.model.job import SECOND, ChangeScript, Template, WaitConfig
from gitorch.jobspec.reader import BlockReader, one


def _change_script(c: BlockReader, _: str) -> ChangeScript:
    return ChangeScript(
        command=c.string("command"),
        args=c.strings("args"),
        timeout=c.duration("timeout", 5 * SECOND),
        fail_on_error=c.boolean("fail_on_error"),
    )


def _wait(c: BlockReader, _: str) -> WaitConfig:
    return WaitConfig(min=c.duration("min", 0), max=c.duration("max", 0))


def decode_template(c: BlockReader, _: str) -> Template:
    change_mode = c.string("change_mode", "restart")
    default_signal = "SIGHUP" if change_mode == "signal" else ""
    return Template(
        source_path=c.string("source"),
        dest_path=c.string("destination"),
        embedded_tmpl=c.string("data"),
        change_mode=change_mode,
        change_signal=c.string("change_signal", default_signal).upper(),
        change_script=one(c, "change_script", None, _change_script),
        perms=c.string("perms", "0644"),
        left_delim=c.string("left_delimiter", "{{"),
        right_delim=c.string("right_delimiter", "}}"),
        env=c.boolean("env"),
        error_on_missing_key=c.boolean("error_on_missing_key"),
        uid=c.integer("uid", -1),
        gid=c.integer("gid", -1),
        once=c.boolean("once"),
        splay=c.duration("splay", 5 * SECOND),
        wait=one(c, "wait", None, _wait),
    )


def template_problems(tmpl: Template) -> list[str]:
    """What Nomad's ``Template.Validate`` refuses, beyond the mode and signal names."""
    found: list[str] = []
    if tmpl.change_mode == "signal" and tmpl.env:
        found.append("cannot use signals with env var templates (env = true)")
    if tmpl.change_mode == "script":
        if tmpl.change_script is None:
            found.append('change_mode "script" needs a change_script block')
        elif not tmpl.change_script.command:
            found.append("change_script needs a command")
        elif tmpl.change_script.timeout < 0:
            found.append("change_script timeout may not be negative")
    if tmpl.splay < 0:
        found.append("splay may not be negative")
    if tmpl.wait is not None:
        if tmpl.wait.min < 0 or tmpl.wait.max < 0:
            found.append("wait min and max may not be negative")
        elif tmpl.wait.max and tmpl.wait.min > tmpl.wait.max:
            found.append("wait min may not be greater than max")
    return found
