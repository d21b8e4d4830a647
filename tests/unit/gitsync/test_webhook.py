"""GitHub-style webhook signature checks."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gitorch.gitsync.webhook import sign, verify_signature

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_matches_githubs_documented_example() -> None:
    # The test vector from GitHub's "Validating webhook deliveries" page.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, BODY) == expected
    assert verify_signature(SECRET, BODY, expected)


def test_valid_signature() -> None:
    body = b'{"ref":"refs/heads/main","after":"' + b"a" * 40 + b'"}'
    header = sign("s3cret", body)
    assert header == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_signature("s3cret", body, header)
    assert verify_signature("s3cret", body, f"  {header.upper().replace('SHA256=', 'sha256=')} ")


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("wrong", BODY, sign(SECRET, BODY)),
        (SECRET, BODY + b" ", sign(SECRET, BODY)),
        (SECRET, BODY, None),
        (SECRET, BODY, ""),
        (SECRET, BODY, sign(SECRET, BODY)[len("sha256=") :]),
        (SECRET, BODY, "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()),
        (SECRET, BODY, sign(SECRET, BODY)[:-2]),
        (SECRET, BODY, sign(SECRET, BODY) + "00"),
        (SECRET, BODY, "sha256=" + "zz" * 32),
        (SECRET, BODY, "sha256=" + "é" * 64),
        ("", BODY, sign("", BODY)),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "missing-header",
        "empty-header",
        "no-prefix",
        "sha1",
        "short",
        "long",
        "not-hex",
        "non-ascii",
        "empty-secret",
    ],
)
def test_rejected(secret: str, body: bytes, header: str | None) -> None:
    assert verify_signature(secret, body, header) is False
