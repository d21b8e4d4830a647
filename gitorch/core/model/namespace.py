"""A namespace an operator declared (``nomad namespace apply``), as Nomad's API spells it.

Namespaces that nobody declared still exist while something lives in them (a job, a
service registration, a variable): see ``gitorch.core.nsstate``."""

from __future__ import annotations

import re

from gitorch.core.model.base import Model

NAME = re.compile(r"^[a-zA-Z0-9-]{1,128}$")  # Nomad's validNamespaceName
DEFAULT = "default"


class Namespace(Model, frozen=True, kw_only=True):
    name: str
    description: str = ""
    meta: dict[str, str] = {}
    create_index: int = 0
    modify_index: int = 0

    def problem(self) -> str:
        """What makes this namespace invalid ('' when nothing), as Nomad words it."""
        if not NAME.match(self.name):
            return f"invalid name {self.name[:140]!r}: 1-128 letters, digits and dashes"
        if len(self.description) > 256:
            return "description longer than 256"
        return ""
