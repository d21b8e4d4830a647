"""The Raft commands of Variables and the keyring. A variable enters the log already
encrypted (the server that took the request sealed it); a root key enters it wrapped
by the servers' key-encryption key. Nothing in these commands is plaintext secret."""

from __future__ import annotations

import msgspec

from gitorch.core.model.variable import RootKey, VariableEncrypted
from gitorch.core.naming import nomad_name


class _VarCmd(msgspec.Struct, frozen=True, kw_only=True, tag=True, rename=nomad_name):
    now: int


class UpsertVariable(_VarCmd, frozen=True, kw_only=True):
    """Write one variable. ``cas`` (check-and-set): None writes unconditionally, 0
    only creates, N only replaces the variable whose modify index is N."""

    variable: VariableEncrypted
    cas: int | None = None


class DeleteVariable(_VarCmd, frozen=True, kw_only=True):
    """Delete one variable (``cas`` as for ``UpsertVariable``; 0 never matches)."""

    namespace: str
    path: str
    cas: int | None = None


class UpsertRootKey(_VarCmd, frozen=True, kw_only=True):
    """Add a root key; when it is ``active`` every other key becomes inactive."""

    key: RootKey


VarCommand = UpsertVariable | DeleteVariable | UpsertRootKey
CAS_CONFLICT = "cas conflict"
