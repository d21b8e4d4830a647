"""A task's ``artifact`` blocks: Nomad's hcl names (``source``, ``destination``,
``mode``, ``options``, ``headers``, ``insecure``) to :class:`TaskArtifact`, each problem
an error at the line of the attribute at fault.

A value that holds ``${...}`` is interpolated by the client with the task's environment,
so only what can be told before that is checked here; the client checks the rest again.
"""

from __future__ import annotations

from gitorch.core.artifact import MODES, ArtifactError, check_destination, parse_source
from gitorch.core.model.job import TaskArtifact
from gitorch.jobspec.reader import BlockReader, each


def decode_artifacts(r: BlockReader) -> list[TaskArtifact]:
    """Every ``artifact`` block of a task, in order."""
    return each(r, "artifact", 0, _artifact)


def _artifact(c: BlockReader, _: str) -> TaskArtifact:
    source = c.string("source")
    dest = c.string("destination", "local/")
    mode = c.string("mode", "any")
    options = c.string_map("options")
    headers = c.string_map("headers")
    insecure = c.boolean("insecure")
    if c.boolean("chown"):
        c.error("chown is not supported yet: the files belong to the agent's user; "
                "make them readable to the task instead", _line(c, "chown"))  # fmt: skip
    if mode not in MODES:
        c.error(f'"mode" must be one of {", ".join(MODES)}; got {mode!r}', _line(c, "mode"))
    if "${" not in source:
        try:
            found = parse_source(source, options)
            if found.getter == "git" and mode == "file":
                c.error('a git:: source is a directory; drop mode = "file"', _line(c, "mode"))
        except ArtifactError as exc:
            about = ("unknown option", "option", "checksum", "archive", "depth", "a git::")
            in_options = str(exc).startswith(about) and f"{c.path}.options" in c.lines
            c.error(str(exc), _line(c, "options" if in_options else "source"))
    if "${" not in dest:
        try:
            check_destination(dest)
        except ArtifactError as exc:
            c.error(str(exc), _line(c, "destination"))
    return TaskArtifact(
        getter_source=source,
        getter_options=options,
        getter_headers=headers,
        getter_mode=mode if mode in MODES else "any",  # type: ignore[arg-type]
        getter_insecure=insecure,
        relative_dest=dest,
    )


def _line(c: BlockReader, name: str) -> int:
    return c.lines.get(f"{c.path}.{name}", c.body.line)
