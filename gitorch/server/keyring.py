"""The servers' keyring: the one import of ``cryptography``.

Two layers, as Nomad's keyring has them:

* **Root keys** (``RootKey`` in the replicated state): each holds a 256-bit AES key that
  seals variables (AES-GCM) and an Ed25519 key that signs workload identities. The
  state holds the secret half only *wrapped*: AES-GCM under the key-encryption key.
* **The key-encryption key (KEK)**: 32 random bytes that never enter the log, kept in
  ``<data_dir>/server/keyring.key`` (mode 0600, made on first start) or given in the
  ``GITORCH_KEYRING_KEY`` environment variable (base64). Every server of a cluster must
  hold the same KEK (copy the file, or set the variable) to open each other's keys.

So the Raft journal and snapshots hold ciphertext, key IDs, wrapped keys and public keys,
never a variable's items nor a usable key. Someone who holds a server's whole data dir
(journal *and* keyring.key) can decrypt, as with Nomad's on-disk keystore.
"""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitorch.core.model.variable import RootKey, RootKeyMeta
from gitorch.errors import GitorchError

KEK_ENV = "GITORCH_KEYRING_KEY"
KEK_FILE = "keyring.key"
_NONCE = 12
_items = msgspec.json.Decoder(dict[str, str])


class KeyringError(GitorchError):
    """A key cannot be opened (another KEK) or a ciphertext does not verify. The message
    names the key, never a secret."""


def load_kek(server_dir: Path | None) -> bytes:
    """The KEK: from ``GITORCH_KEYRING_KEY``, else ``<server_dir>/keyring.key`` (made
    with mode 0600 when missing), else (no data dir: tests) a fresh one in memory."""
    env = os.environ.get(KEK_ENV, "")
    if env:
        key = base64.b64decode(env)
        if len(key) != 32:
            raise KeyringError(f"{KEK_ENV} must be 32 bytes, base64-encoded")
        return key
    if server_dir is None:
        return secrets.token_bytes(32)
    path = server_dir / KEK_FILE
    if not path.exists():
        server_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    key = base64.b64decode(path.read_text().strip())
    if len(key) != 32:
        raise KeyringError(f"{path} does not hold a 32-byte base64 key")
    return key


class _Opened:
    __slots__ = ("aes", "signer")

    def __init__(self, aes: AESGCM, signer: Ed25519PrivateKey) -> None:
        self.aes = aes
        self.signer = signer


class Keyring:
    """Makes root keys, opens them with the KEK (cached), and seals and opens items."""

    def __init__(self, kek: bytes) -> None:
        self._kek = AESGCM(kek)
        self._opened: dict[str, _Opened] = {}
        self._lock = threading.Lock()

    def new_root_key(self, key_id: str, now: int) -> RootKey:
        aes_key = AESGCM.generate_key(bit_length=256)
        signer = Ed25519PrivateKey.generate()
        seed = signer.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        nonce = secrets.token_bytes(_NONCE)
        wrapped = nonce + self._kek.encrypt(nonce, aes_key + seed, key_id.encode())
        public = signer.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        meta = RootKeyMeta(key_id=key_id, create_time=now, state="active")
        return RootKey(meta=meta, wrapped=wrapped, public_key=public)

    def _open(self, key: RootKey) -> _Opened:
        key_id = key.meta.key_id
        with self._lock:
            found = self._opened.get(key_id)
        if found is not None:
            return found
        try:
            raw = self._kek.decrypt(key.wrapped[:_NONCE], key.wrapped[_NONCE:], key_id.encode())
        except InvalidTag:
            raise KeyringError(
                f"root key {key_id} cannot be opened with this server's key-encryption key: "
                f"every server needs the same {KEK_FILE} (or {KEK_ENV})"
            ) from None
        opened = _Opened(AESGCM(raw[:32]), Ed25519PrivateKey.from_private_bytes(raw[32:]))
        with self._lock:
            self._opened[key_id] = opened
        return opened

    def seal(self, key: RootKey, aad: bytes, items: dict[str, str]) -> bytes:
        """AES-GCM of the items under ``key``: nonce then ciphertext."""
        nonce = secrets.token_bytes(_NONCE)
        plain = msgspec.json.encode(items)
        return nonce + self._open(key).aes.encrypt(nonce, plain, aad)

    def unseal(self, key: RootKey, aad: bytes, data: bytes) -> dict[str, str]:
        try:
            plain = self._open(key).aes.decrypt(data[:_NONCE], data[_NONCE:], aad)
        except InvalidTag:
            raise KeyringError(
                f"a variable sealed by root key {key.meta.key_id} does not verify"
            ) from None
        return _items.decode(plain)

    def signing_pem(self, key: RootKey) -> bytes:
        """The Ed25519 private key (PKCS#8 PEM) that signs identities under ``key``."""
        return self._open(key).signer.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def public_pem(public_raw: bytes) -> bytes:
    """A raw Ed25519 public key as SubjectPublicKeyInfo PEM (what JWT libraries take)."""
    return Ed25519PublicKey.from_public_bytes(public_raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk(key: RootKey) -> dict[str, Any]:
    """The public half of ``key`` as an RFC 8037 JSON Web Key."""
    x = base64.urlsafe_b64encode(key.public_key).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.meta.key_id, "alg": "EdDSA",
            "use": "sig"}  # fmt: skip
