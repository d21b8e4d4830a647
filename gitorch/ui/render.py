"""The UI's one jinja2 adapter: HTML pages with autoescaping on.

This is a different Environment from the repository-template sandbox in
``gitorch.jobspec.render``: these templates are ours (trusted), the values they show are
not (job names, meta, log lines), so autoescape is on for every template and nothing is
ever marked safe from API data.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gitorch.ui.guard import SECURITY_HEADERS

NS = 1_000_000_000

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("gitorch.ui", "templates"),
    autoescape=True,
    undefined=jinja2.ChainableUndefined,  # API JSON may lack a field: show nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


def short(sha: object, n: int = 8) -> str:
    return str(sha or "")[:n]


def age(ns: object, now: float | None = None) -> str:
    """A nanosecond timestamp as "3m ago"; "" for 0 or missing."""
    if not isinstance(ns, int) or ns <= 0:
        return ""
    secs = int((now if now is not None else time.time()) - ns / NS)
    if secs < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def clock(ns: object) -> str:
    """A nanosecond timestamp as UTC wall-clock time."""
    if not isinstance(ns, int) or ns <= 0:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / NS)) + "Z"


def duration(ns: object) -> str:
    if not isinstance(ns, int) or ns <= 0:
        return "0s"
    secs = ns / NS
    if secs < 1:
        return f"{ns // 1_000_000}ms"
    if secs < 120:
        return f"{secs:g}s"
    return f"{int(secs // 60)}m{int(secs % 60)}s"


def percent(part: object, whole: object) -> int:
    """0-100 for a progress bar; 0 when the whole is unknown."""
    if not isinstance(part, int) or not isinstance(whole, int) or whole <= 0:
        return 0
    return max(0, min(100, part * 100 // whole))


def error_text(err: object) -> str:
    """A file error's message without the ``file:line:`` the page already shows."""
    if not isinstance(err, dict):
        return ""
    message = str(err.get("Message", ""))
    prefix = f"{err.get('File', '')}:{err.get('Line', 0)}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def job_url(job_id: object, namespace: object = "") -> str:
    """A job's page: ``/ui/job/<id>``, with ``?namespace=`` outside ``default``."""
    url = "/ui/job/" + quote(str(job_id or ""), safe="")
    ns = str(namespace or "")
    return f"{url}?namespace={quote(ns, safe='')}" if ns and ns != "default" else url


_ENV.filters.update(short=short, age=age, clock=clock, duration=duration, error_text=error_text)
_ENV.globals.update(percent=percent, job_url=job_url)


def page(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` as a full page (or, for the live updater, the same page)."""
    html = _ENV.get_template(name).render(
        request_path=request.url.path,
        has_token=bool(request.cookies.get("gitorch_token")),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=dict(SECURITY_HEADERS))
