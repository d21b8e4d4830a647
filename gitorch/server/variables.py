"""Variables on the server: validate, seal with the active root key, write through the
log; read back and open. The keyring's root keys are made here too (the first write,
the first identity or ``rotate`` makes one) and enter the log wrapped.

Items are sealed *before* the command is submitted, so the log and snapshots never
hold them in the clear; errors and logs name paths and key IDs, never an item.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from gitorch.core import varcommands as v
from gitorch.core.model.base import replace
from gitorch.core.model.variable import (
    RootKey,
    RootKeyMeta,
    VariableDecrypted,
    VariableEncrypted,
    VariableMetadata,
    check_items,
    check_path,
)
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import BadRequestError, ConflictError, NotFoundError
from gitorch.server.keyring import Keyring

Submit = Callable[[v.VarCommand], ApplyResult]


class VariableConflict(ConflictError):
    """A check-and-set that did not hold: ``current`` is the variable as it stands
    (None when there is none); the API answers 409 with it."""

    def __init__(self, message: str, current: VariableDecrypted | None) -> None:
        super().__init__(message)
        self.current = current


def _aad(namespace: str, path: str) -> bytes:
    return f"{namespace}\x00{path}".encode()


class VariableService:
    def __init__(
        self,
        state: Callable[[], StateView],
        submit: Submit,
        keyring: Keyring,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._submit = submit
        self.keyring = keyring
        self.clock = clock
        self._key_lock = threading.Lock()

    # -- root keys --------------------------------------------------------------------

    def active_key(self) -> RootKey:
        """The active root key, made (and replicated, wrapped) if there is none yet."""
        key = self._state().vars.active_key()
        if key is not None:
            return key
        with self._key_lock:
            key = self._state().vars.active_key()
            if key is None:
                self.rotate()
                key = self._state().vars.active_key()
        assert key is not None
        return key

    def rotate(self) -> RootKeyMeta:
        """A new active root key; the others stay to open what they sealed."""
        now = self.clock()
        key = self.keyring.new_root_key(str(uuid.uuid4()), now)
        self._submit(v.UpsertRootKey(now=now, key=key))
        stored = self._state().vars.root_keys[key.meta.key_id]
        return stored.meta

    def key_list(self) -> list[RootKeyMeta]:
        keys = self._state().vars.root_keys.values()
        return sorted((k.meta for k in keys), key=lambda m: (m.create_index, m.key_id))

    # -- variables --------------------------------------------------------------------

    def _open(self, enc: VariableEncrypted) -> VariableDecrypted:
        key = self._state().vars.root_keys.get(enc.key_id)
        if key is None:
            raise NotFoundError(f"root key {enc.key_id} of variable {enc.path!r} is missing")
        items = self.keyring.unseal(key, _aad(enc.namespace, enc.path), enc.data)
        return VariableDecrypted(
            namespace=enc.namespace,
            path=enc.path,
            items=items,
            create_index=enc.create_index,
            modify_index=enc.modify_index,
            create_time=enc.create_time,
            modify_time=enc.modify_time,
        )

    def read(self, namespace: str, path: str) -> VariableDecrypted | None:
        enc = self._state().vars.get(namespace, path)
        return None if enc is None else self._open(enc)

    def listed(self, namespace: str, prefix: str) -> list[VariableMetadata]:
        return [x.metadata() for x in self._state().vars.listed(namespace, prefix)]

    def put(
        self, namespace: str, path: str, items: dict[str, str], cas: int | None = None
    ) -> VariableDecrypted:
        path = path.strip("/") if path.strip("/") else path
        why = check_path(path) or check_items(items)
        if why:
            raise BadRequestError(why)
        key = self.active_key()
        data = self.keyring.seal(key, _aad(namespace, path), items)
        enc = VariableEncrypted(namespace=namespace, path=path, key_id=key.meta.key_id, data=data)
        result = self._submit(v.UpsertVariable(now=self.clock(), variable=enc, cas=cas))
        if result.error == v.CAS_CONFLICT:
            raise VariableConflict(
                f"cas error: variable {path!r} is not at index {cas}", self.read(namespace, path)
            )
        if result.error:
            raise BadRequestError(result.error)
        stored = self._state().vars.get(namespace, path)
        if stored is None or stored.modify_index < result.index:  # deleted meanwhile
            return replace(VariableDecrypted(namespace=namespace, path=path, items=items),
                           create_index=result.index, modify_index=result.index)  # fmt: skip
        return self._open(stored)

    def delete(self, namespace: str, path: str, cas: int | None = None) -> int:
        why = check_path(path.strip("/"))
        if why:
            raise BadRequestError(why)
        cmd = v.DeleteVariable(now=self.clock(), namespace=namespace, path=path.strip("/"), cas=cas)
        result = self._submit(cmd)
        if result.error == v.CAS_CONFLICT:
            raise VariableConflict(
                f"cas error: variable {path!r} is not at index {cas}", self.read(namespace, path)
            )
        return result.index
