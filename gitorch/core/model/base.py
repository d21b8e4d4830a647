"""The Struct base every model value shares: frozen, keyword-only, Nomad wire names."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from gitorch.core.naming import nomad_name


class Model(
    msgspec.Struct, frozen=True, kw_only=True, rename=nomad_name, omit_defaults=False, gc=False
):
    """A frozen value with Nomad's PascalCase JSON keys. Change one with ``replace``."""


M = TypeVar("M", bound="Model")


def replace(value: M, **changes: object) -> M:
    """Return a copy of ``value`` with ``changes`` applied (typed wrapper)."""
    return msgspec.structs.replace(value, **changes)
