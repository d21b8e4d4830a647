"""Page handlers' common frame: API failures become pages a user can act on (403: set a
token; 404: a way back), never a stack trace."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import ApiFailure
from gitorch.ui.render import page

Handler = Callable[[Request], Awaitable[Response]]


def view(fn: Handler) -> Handler:
    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiFailure as exc:
            return failure_page(request, exc.status, exc.message)

    return wrapper


def failure_page(request: Request, status: int, message: str) -> Response:
    titles = {403: "Permission denied", 404: "Not found"}
    return page(
        request,
        "error.html",
        {"title": titles.get(status, f"Error {status}"), "status": status, "message": message},
        status_code=status if status in (400, 403, 404, 409) else 502,
    )
