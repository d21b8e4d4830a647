"""The state store's Variables tables: encrypted variables by (namespace, path) and the
root keys (wrapped) by key ID.

``VariableTables`` is a persistent value like the other tables: ``apply`` returns a
new one sharing the rest, so a snapshot holds it by reference. Check-and-set is decided
here, in the FSM, so every replica refuses the same writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

import msgspec

from gitorch.core import varcommands as v
from gitorch.core.model.base import replace
from gitorch.core.model.variable import RootKey, VariableEncrypted
from gitorch.core.pmap import PMap, pmap

VarKey = tuple[str, str]  # (namespace, path)


class VariablesDump(msgspec.Struct, frozen=True, kw_only=True):
    """The Variables part of a state snapshot (ciphertext and wrapped keys only)."""

    variables: list[VariableEncrypted] = []
    root_keys: list[RootKey] = []


class VariableTables:
    """Encrypted variables and wrapped root keys. Never changed in place."""

    __slots__ = ("root_keys", "variables")

    def __init__(
        self,
        variables: PMap[VarKey, VariableEncrypted] | None = None,
        root_keys: PMap[str, RootKey] | None = None,
    ) -> None:
        self.variables: PMap[VarKey, VariableEncrypted] = (
            variables if variables is not None else pmap()
        )
        self.root_keys: PMap[str, RootKey] = root_keys if root_keys is not None else pmap()

    @classmethod
    def build(cls, dump: VariablesDump) -> VariableTables:
        return cls(
            PMap(((x.namespace, x.path), x) for x in dump.variables),
            PMap((k.meta.key_id, k) for k in dump.root_keys),
        )

    def dump(self) -> VariablesDump:
        return VariablesDump(
            variables=list(self.variables.values()), root_keys=list(self.root_keys.values())
        )

    # -- reads ------------------------------------------------------------------------

    def get(self, namespace: str, path: str) -> VariableEncrypted | None:
        return self.variables.get((namespace, path))

    def listed(self, namespace: str, prefix: str = "") -> list[VariableEncrypted]:
        """Variables of ``namespace`` (``*``: every one) whose path starts with
        ``prefix``, by namespace then path."""
        found: Iterable[VariableEncrypted] = (
            x
            for (ns, path), x in self.variables.items()
            if namespace in ("*", ns) and path.startswith(prefix)
        )
        return sorted(found, key=lambda x: (x.namespace, x.path))

    def active_key(self) -> RootKey | None:
        return next((k for k in self.root_keys.values() if k.meta.state == "active"), None)

    # -- changes ----------------------------------------------------------------------

    def apply(self, idx: int, cmd: v.VarCommand) -> tuple[VariableTables, str, tuple[str, ...]]:
        """The tables after ``cmd`` at index ``idx``, an error ('' when applied) and the
        tables it touched."""
        match cmd:
            case v.UpsertVariable():
                new = cmd.variable
                key = (new.namespace, new.path)
                old = self.variables.get(key)
                if not _cas_ok(old, cmd.cas):
                    return self, v.CAS_CONFLICT, ()
                stored = replace(
                    new,
                    create_index=idx if old is None else old.create_index,
                    create_time=cmd.now if old is None else old.create_time,
                    modify_index=idx,
                    modify_time=cmd.now,
                )
                tables = VariableTables(self.variables.set(key, stored), self.root_keys)
                return tables, "", ("variables",)
            case v.DeleteVariable():
                key = (cmd.namespace, cmd.path)
                old = self.variables.get(key)
                if cmd.cas is not None and (old is None or old.modify_index != cmd.cas):
                    return self, v.CAS_CONFLICT, ()
                if old is None:
                    return self, "", ()  # Nomad: deleting a missing variable succeeds
                return (
                    VariableTables(self.variables.delete(key), self.root_keys),
                    "",
                    ("variables",),
                )
            case v.UpsertRootKey():
                keys = self.root_keys.mutate()
                if cmd.key.meta.state == "active":
                    for key_id, old_key in self.root_keys.items():
                        if old_key.meta.state == "active":
                            meta = replace(old_key.meta, state="inactive", modify_index=idx)
                            keys[key_id] = replace(old_key, meta=meta)
                prior = keys.get(cmd.key.meta.key_id)
                created = idx if prior is None else prior.meta.create_index
                meta = replace(cmd.key.meta, create_index=created, modify_index=idx)
                keys[cmd.key.meta.key_id] = replace(cmd.key, meta=meta)
                return VariableTables(self.variables, keys.finish()), "", ("root_keys",)
            case _:
                assert_never(cmd)


def _cas_ok(old: VariableEncrypted | None, cas: int | None) -> bool:
    if cas is None:
        return True
    if cas == 0:
        return old is None
    return old is not None and old.modify_index == cas
