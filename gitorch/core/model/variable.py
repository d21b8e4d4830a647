"""Nomad Variables: secret key/value items under a path, per namespace.

The state store holds a variable only encrypted (``VariableEncrypted``: its metadata in
the clear, its items as AES-GCM ciphertext with the ID of the root key that sealed
them); the servers decrypt on read (``VariableDecrypted``, Nomad's wire shape with
``Items``). Lists carry ``VariableMetadata`` only, never items.

Root keys live in the state wrapped by a key the servers hold outside the log
(``RootKey``): the log and snapshots carry ciphertext, key IDs and wrapped keys only.

``check_path`` and ``check_items`` are Nomad's rules for a variable (``400`` when one
fails); their messages never quote an item's value.
"""

from __future__ import annotations

import re
from typing import Literal

from gitorch.core.model.base import Model

MAX_ITEMS_BYTES = 64 * 1024  # Nomad: variables are limited to 64 KiB in total size
MAX_PATH_LEN = 128
_PATH = re.compile(r"^[a-zA-Z0-9\-_~/]{1,128}$")  # Nomad's validVariablePath
RootKeyState = Literal["active", "inactive"]


class VariableMetadata(Model, frozen=True, kw_only=True):
    """What ``/v1/vars`` lists: never the items."""

    namespace: str = "default"
    path: str
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0  # unix nanoseconds, as Nomad
    modify_time: int = 0


class VariableDecrypted(Model, frozen=True, kw_only=True):
    """A variable with its items: what ``/v1/var/:path`` reads and writes."""

    namespace: str = "default"
    path: str = ""
    items: dict[str, str] = {}
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def metadata(self) -> VariableMetadata:
        return VariableMetadata(
            namespace=self.namespace,
            path=self.path,
            create_index=self.create_index,
            modify_index=self.modify_index,
            create_time=self.create_time,
            modify_time=self.modify_time,
        )


class VariableEncrypted(Model, frozen=True, kw_only=True):
    """A variable as the log and the state store hold it: ``data`` is the AES-GCM
    nonce and ciphertext of the encoded items, sealed by root key ``key_id`` with the
    namespace and path as associated data (a ciphertext moved to another path does not
    open)."""

    namespace: str = "default"
    path: str
    key_id: str
    data: bytes
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def metadata(self) -> VariableMetadata:
        return VariableMetadata(
            namespace=self.namespace,
            path=self.path,
            create_index=self.create_index,
            modify_index=self.modify_index,
            create_time=self.create_time,
            modify_time=self.modify_time,
        )


class RootKeyMeta(Model, frozen=True, kw_only=True):
    """Nomad's ``RootKeyMeta``: what ``/v1/operator/keyring/keys`` lists."""

    key_id: str
    algorithm: str = "aes256-gcm"
    create_time: int = 0
    create_index: int = 0
    modify_index: int = 0
    state: RootKeyState = "active"


class RootKey(Model, frozen=True, kw_only=True):
    """A root key as the state holds it: ``wrapped`` is its secret material (the AES
    key for variables and the Ed25519 seed for workload identities) sealed by the
    servers' key-encryption key; ``public_key`` (raw Ed25519) verifies identities."""

    meta: RootKeyMeta
    wrapped: bytes
    public_key: bytes


def check_path(path: str) -> str:
    """Nomad's rules for a variable path; the reason when it breaks one, else ''."""
    if not path:
        return "variable requires a path"
    if ".." in path:
        return f"invalid path {path!r}: '..' is not allowed in a variable path"
    if len(path) > MAX_PATH_LEN:
        return f"invalid path: a variable path is at most {MAX_PATH_LEN} characters"
    if not _PATH.match(path):
        return f"invalid path {path!r}: a variable path holds only letters, digits and - _ ~ /"
    if "//" in path or path.startswith("/") or path.endswith("/"):
        return f"invalid path {path!r}: empty path segment"
    parts = path.split("/")
    if parts == ["nomad"]:
        return (
            '"nomad" is a reserved top-level directory path, but you may write variables '
            'to "nomad/jobs", "nomad/job-templates", or below'
        )
    if len(parts) >= 2 and parts[0] == "nomad" and parts[1] not in ("jobs", "job-templates"):
        return (
            f'invalid path {path!r}: only paths at or below "nomad/jobs" or '
            '"nomad/job-templates" are allowed under the reserved "nomad" directory'
        )
    return ""


def items_size(items: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in items.items())


def check_items(items: dict[str, str]) -> str:
    """Nomad's rules for a variable's items; the reason (never a value) or ''."""
    if not items:
        return "empty variables are invalid: give at least one item"
    if any(not k for k in items):
        return "variable item keys must not be empty"
    size = items_size(items)
    if size > MAX_ITEMS_BYTES:
        return f"variables are limited to 64KiB in total size (these items hold {size} bytes)"
    return ""


__all__ = [
    "MAX_ITEMS_BYTES",
    "RootKey",
    "RootKeyMeta",
    "VariableDecrypted",
    "VariableEncrypted",
    "VariableMetadata",
    "check_items",
    "check_path",
    "items_size",
]
