"""What keeps the UI's pages and actions safe: the token cookie, the same-origin check
on every POST (CSRF), and the response headers that forbid inline script and framing."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

TOKEN_COOKIE = "gitorch_token"

# No inline script or style anywhere: an escaped-but-mistaken value can never run.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


def token_of(request: Request) -> str:
    """The user's ACL token: an explicit ``X-Nomad-Token`` header wins over the cookie."""
    return request.headers.get("x-nomad-token") or request.cookies.get(TOKEN_COOKIE, "")


def same_origin(request: Request) -> bool:
    """A POST is ours only when the browser says it came from this origin.

    Browsers send ``Origin`` on every POST (``Referer`` is the fallback for old ones);
    a request with neither, or a cross-site ``Sec-Fetch-Site``, is refused. The token
    cookie is also ``SameSite=Strict``, so a cross-site form never carries it.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.scheme == request.url.scheme and parts.netloc == host
