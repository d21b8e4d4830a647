"""The client's ``host_volume "name" { path = "/srv/data"  read_only = false }`` blocks.

Each names a directory on the host that jobs may mount (a group's ``volume`` with
``type = "host"`` and ``source = "name"``); the client fingerprints them onto its node
as Nomad's ``HostVolumes``. The path must be absolute and an existing directory, as
Nomad's client requires at start.
"""

from __future__ import annotations

import os

from gitorch.config_values import Values
from gitorch.core.model.node import ClientHostVolume
from gitorch.errors import ConfigError
from gitorch.jobspec import hcl


def host_volumes(
    blocks: list[hcl.Block], old: dict[str, ClientHostVolume], file: str
) -> dict[str, ClientHostVolume]:
    """``old`` with the volumes these ``host_volume`` blocks declare (later files win)."""
    found = dict(old)
    for block in blocks:
        where = f"{file}:{block.line}"
        if len(block.labels) != 1 or not block.labels[0]:
            raise ConfigError(f'{where}: write host_volume "NAME" {{ path = "/dir" }}')
        name = block.labels[0]
        values = Values(block.body, f'client.host_volume "{name}"', file)
        for key, attr in block.body.attributes.items():
            if key not in ("path", "read_only"):
                raise ConfigError(
                    f"{file}:{attr.line}: host_volume: unknown setting {key!r} "
                    "(known: path, read_only)"
                )
        if not values.has("path"):
            raise ConfigError(f'{where}: host_volume "{name}" needs a path')
        path = values.string("path", "", empty=False)
        if not os.path.isabs(path):
            raise values.error("path", f"must be an absolute path; got {path!r}")
        if not os.path.isdir(path):
            raise values.error("path", f"{path!r} is not an existing directory: create it first")
        read_only = values.boolean("read_only", False)
        found[name] = ClientHostVolume(name=name, path=path, read_only=read_only)
    return found
