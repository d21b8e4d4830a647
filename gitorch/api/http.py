"""Shared plumbing of the v1 routes: Nomad's response headers, blocking queries, error
mapping and request-body decoding."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gitorch.codec import convert, to_json
from gitorch.core.model import Job
from gitorch.errors import (
    BadRequestError,
    ConflictError,
    GitorchError,
    JobspecError,
    NotFoundError,
    NotLeaderError,
    PermissionDeniedError,
    UnavailableError,
)
from gitorch.server.backend import Backend

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

MAX_WAIT = 300.0  # seconds: Nomad's default and cap for a blocking query
MAX_BODY_BYTES = 8 << 20  # a request body; a Raft entry is at most 1 MiB anyway
MAX_DEPTH = 64  # JSON nesting: a Nomad job is ~10 deep, free-form driver config a few more
INT64: Final = (-(1 << 63), (1 << 63) - 1)
UINT64_MAX: Final = (1 << 64) - 1
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def nomad_headers(index: int | None = None) -> dict[str, str]:
    headers = {"X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0"}
    if index is not None:
        headers["X-Nomad-Index"] = str(index)
    return headers


def json_response(value: Any, *, index: int | None = None, status_code: int = 200) -> Response:
    """Encode ``value`` (Structs, lists, dicts) as Nomad-style JSON."""
    return Response(
        to_json(value),
        status_code=status_code,
        media_type="application/json",
        headers=nomad_headers(index),
    )


def text_response(message: str, status_code: int) -> Response:
    return PlainTextResponse(message, status_code=status_code, headers=nomad_headers())


def error_response(exc: BaseException) -> Response:
    """Map an exception to Nomad's status codes; unknown errors become a logged 500."""
    match exc:
        case BadRequestError() | JobspecError() | msgspec.ValidationError():
            return text_response(str(exc), 400)
        case PermissionDeniedError():  # Nomad's words first; then why, if known
            why = f": {exc}" if str(exc) else ""
            return text_response(f"Permission denied{why}", 403)
        case NotFoundError():
            return text_response(str(exc) or "not found", 404)
        case ConflictError():
            return text_response(str(exc), 409)
        case NotLeaderError():
            return text_response(str(exc), 500)
        case UnavailableError():  # e.g. no disk space for the Raft log: retry later
            log.warning("write refused: %s", exc)
            return text_response(str(exc), 503)
        case GitorchError():  # our own errors say what went wrong and what to do
            log.warning("request failed: %s", exc)
            return text_response(str(exc), 500)
        case _:
            log.error("unhandled error in API handler", exc_info=exc)
            return text_response(f"internal error: {type(exc).__name__}", 500)


def endpoint(handler: Handler) -> Handler:
    """Wrap a route handler so that every exception becomes an HTTP error response."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:  # noqa: BLE001 - the server must never crash on a request
            return error_response(exc)

    return wrapped


# -- query parameters --------------------------------------------------------------


def namespace(request: Request) -> str:
    return request.query_params.get("namespace") or "default"


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadRequestError(f"Failed to parse value of {name!r} ({value!r}) as a bool")


def query_int(
    request: Request, name: str, default: int = 0, *, lo: int = INT64[0], hi: int = INT64[1]
) -> int:
    """An integer query parameter within ``lo..hi`` (int64 unless told), else 400."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    text = value.strip()
    digits = text.removeprefix("-").removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise BadRequestError(
            f"Failed to parse value of {name!r} ({_excerpt(value)!r}) as an integer"
        )
    number = int(text) if len(digits) <= 20 else None  # longer is out of any range
    if number is None or not lo <= number <= hi:
        raise BadRequestError(f"{name} must be between {lo} and {hi}, not {_excerpt(text)}")
    return number


def parse_wait(text: str | None) -> float:
    """A Go duration (``5s``, ``5m``, ``300000ms``, ``1m30s``) in seconds, capped at 5 min."""
    if text is None or text == "":
        return MAX_WAIT
    text = text.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise BadRequestError(f"Invalid wait time {text!r}")
    return min(total, MAX_WAIT)


def table_index(backend: Backend, tables: tuple[str, ...]) -> int:
    """The highest index among ``tables`` (at least 1, as Nomad never sends 0)."""
    current = backend.state.table_index
    return max(1, *(current.get(t, 0) for t in tables))


async def blocking_index(request: Request, backend: Backend, tables: tuple[str, ...]) -> int:
    """Honour ``?index=N&wait=D``: wait (on the event loop, holding no thread) until one
    of ``tables`` passes N or D elapses; return the index to send as ``X-Nomad-Index``."""
    min_index = query_int(request, "index", lo=0, hi=UINT64_MAX)
    wait = parse_wait(request.query_params.get("wait"))
    current = table_index(backend, tables)
    if min_index <= 0 or current > min_index:
        return current
    reached = await backend.wait_index_async(tables, min_index, wait)
    return max(1, reached, table_index(backend, tables))


async def blocking_node_allocs(request: Request, backend: Backend, node_id: str) -> int:
    """:func:`blocking_index` for one node's allocations: only a change to that node's
    allocations answers it (a client's watch), at the node's own index."""
    min_index = query_int(request, "index", lo=0, hi=UINT64_MAX)
    wait = parse_wait(request.query_params.get("wait"))
    current = backend.state.node_allocs_index(node_id)
    if min_index <= 0 or current > min_index:
        return current
    return await backend.wait_node_allocs(node_id, min_index, wait)


# -- request bodies -------------------------------------------------------------------


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (400) past ``limit`` bytes before more is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadRequestError(f"Request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestError(f"Request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, required: bool = True) -> Any:
    """Decode the request body; an empty body is ``{}`` unless ``required``. Bodies are
    bounded (``MAX_BODY_BYTES``, ``MAX_DEPTH`` levels, integers within int64: Nomad's
    widest signed type, so nothing decoded here fails to encode into Raft later)."""
    body = await read_body(request)
    if not body.strip():
        if required:
            raise BadRequestError("Request body is empty; expected JSON")
        return {}
    try:
        value = msgspec.json.decode(body)
    except RecursionError:
        raise BadRequestError(
            f"Failed to decode request body: nested deeper than {MAX_DEPTH} levels"
        ) from None
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"Failed to decode request body: {exc}") from exc
    check_bounds(value)
    return value


def check_bounds(value: Any) -> None:
    """Refuse (400) a decoded body nested deeper than ``MAX_DEPTH`` or holding an
    integer outside int64, naming where (``$.Job.TaskGroups[0].Count``). Iterative: no
    input can exhaust the stack."""
    stack: list[tuple[Any, int, _Path]] = [(value, 0, None)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise BadRequestError(
                    f"Request body is nested deeper than {MAX_DEPTH} levels "
                    f"(at {_path_text(where)})"
                )
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((v, depth + 1, (where, k)) for k, v in pairs)
        elif (
            isinstance(item, int)
            and not isinstance(item, bool)
            and not INT64[0] <= item <= INT64[1]
        ):
            raise BadRequestError(
                f"{_path_text(where)}: {_excerpt(str(item))} is outside the range of a "
                "64-bit integer"
            )


async def read_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    body = await read_json(request, required=required)
    if not isinstance(body, dict):
        raise BadRequestError("Request body must be a JSON object")
    return body


_Path = tuple["_Path", "str | int"] | None


def _path_text(where: _Path) -> str:
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    parts = [f"[{k}]" if isinstance(k, int) else f".{_excerpt(k)}" for k in reversed(keys)]
    return "$" + "".join(parts)


def _excerpt(text: str, size: int = 40) -> str:
    return text if len(text) <= size else f"{text[:size]}... ({len(text)} characters)"


def strip_nulls(value: Any) -> Any:
    """Drop ``null`` values recursively: Nomad clients send every unset field as null."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def decode_as(value: Any, type_: type[T], what: str) -> T:
    """Convert a decoded body (nulls stripped, unknown fields ignored) into ``type_``."""
    try:
        return convert(strip_nulls(value), type_)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"Failed to decode {what}: {exc}") from exc


def decode_job(raw: Any, *, default_namespace: str = "default") -> Job:
    """A Nomad API job (``{"ID": ..., "TaskGroups": [...]}``) as a gitorch ``Job``."""
    if not isinstance(raw, dict):
        raise BadRequestError("Job must be specified")
    raw = dict(raw)
    if not raw.get("ID"):
        raise BadRequestError("Job ID hasn't been provided")
    if not raw.get("Name"):
        raw["Name"] = raw["ID"]
    if not raw.get("Namespace"):
        raw["Namespace"] = default_namespace
    return decode_as(raw, Job, "job")


def job_from_body(body: dict[str, Any], request: Request, path_id: str | None = None) -> Job:
    """The ``Job`` of a register or plan body, checked against the ID in the path."""
    if body.get("Job") is None:
        raise BadRequestError("Job must be specified")
    job = decode_job(body["Job"], default_namespace=namespace(request))
    if path_id is not None and job.id != path_id:
        raise BadRequestError("Job ID does not match name")
    return job
