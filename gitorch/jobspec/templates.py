"""The ``template`` block: what the decoder reads, and a located warning for what has
no effect yet (templates render once, at task start; nothing re-renders them)."""

from __future__ import annotations

from gitorch.core.model.job import Template
from gitorch.jobspec.reader import BlockReader

RENDER_ONCE = (
    "has no effect yet: gitorch renders templates once, when the task starts, "
    "and does not re-render them when their inputs change"
)
_NO_RERENDER = ("splay", "change_signal")
_NO_RERENDER_BLOCKS = ("wait", "change_script")


def _warn(c: BlockReader, name: str) -> None:
    line = c.lines.get(f"{c.path}.{name}", c.body.line)
    c.warn(f'"{name}" {RENDER_ONCE}', line)


def decode_template(c: BlockReader, _: str) -> Template:
    tpl = Template(
        source_path=c.string("source"),
        dest_path=c.string("destination"),
        embedded_tmpl=c.string("data"),
        change_mode=c.string("change_mode", "restart"),
        change_signal=c.string("change_signal"),
        perms=c.string("perms", "0644"),
        left_delim=c.string("left_delimiter", "{{"),
        right_delim=c.string("right_delimiter", "}}"),
        env=c.boolean("env"),
        error_on_missing_key=c.boolean("error_on_missing_key"),
        uid=c.integer("uid", -1),
        gid=c.integer("gid", -1),
    )
    once = c.boolean("once")
    c.duration("splay", 0)  # read (and type-checked) only to be warned about below
    if not once and "change_mode" in c.body.attributes and tpl.change_mode != "noop":
        _warn(c, "change_mode")
    for name in _NO_RERENDER:
        if name in c.body.attributes and not once:
            _warn(c, name)
    for name in _NO_RERENDER_BLOCKS:
        if c.blocks(name) and not once:
            line = c.body.blocks_of(name)[0].line
            c.warn(f'"{name}" {RENDER_ONCE}', line)
    return tpl
