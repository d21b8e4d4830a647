"""GitHub-style webhook signatures: `X-Hub-Signature-256: sha256=<hex HMAC of the body>`."""

from __future__ import annotations

import hashlib
import hmac
import re

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def sign(secret: str, body: bytes) -> str:
    """The header value a sender puts on `body`: `sha256=<lowercase hex>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is a valid signature of `body` under `secret` (constant-time).

    An empty secret never verifies: it would let anyone sign.
    """
    if not secret or not header:
        return False
    value = header.strip()
    if not value[: len(_PREFIX)].lower() == _PREFIX:
        return False
    given = value[len(_PREFIX) :]
    if not _HEX64.fullmatch(given):
        return False
    expected = sign(secret, body)[len(_PREFIX) :]
    return hmac.compare_digest(given.lower().encode("ascii"), expected.encode("ascii"))
