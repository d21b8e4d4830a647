"""HCL's date and time functions, as Nomad registers them: ``formatdate`` and ``timeadd``.

Timestamps are RFC 3339 strings (``2018-01-02T23:12:01Z``, ``2018-01-02T23:12:01-08:00``)
and keep their offset. ``formatdate``'s specification language: ``YYYY``/``YY`` year,
``MMMM``/``MMM``/``MM``/``M`` month, ``DD``/``D`` day, ``EEEE``/``EEE`` weekday,
``hh``/``h`` 24-hour, ``HH``/``H`` 12-hour, ``mm``/``m`` minute, ``ss``/``s`` second,
``AA``/``aa`` AM/PM, ``ZZZZZ`` (``-08:00``), ``ZZZZ`` (``-0800``), ``ZZZ`` (``UTC`` or
``-0800``), ``Z`` (``Z`` or ``-08:00``); text in single quotes is literal (``''`` is a
quote) and other non-letters are copied. There is no ``timestamp()``: as in Nomad, a
jobspec means the same thing whenever it is parsed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from gitorch.jobspec.functions import Function, FunctionError

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)"
)
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+")


def parse_timestamp(text: str) -> datetime:
    match = _RFC3339.fullmatch(text)
    if not match:
        raise FunctionError("the timestamp is not in RFC 3339 form (2006-01-02T15:04:05Z)")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7) or "", match.group(8)
    zone = UTC
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    try:
        stamp = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise FunctionError(f"the timestamp is not a real time: {exc}") from None
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    return stamp.replace(microsecond=micros)


def _offset(stamp: datetime, colon: bool) -> str:
    delta = stamp.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{mins:02d}"


def _is_utc(stamp: datetime) -> bool:
    return (stamp.utcoffset() or timedelta(0)) == timedelta(0)


def _field(token: str, stamp: datetime) -> str:  # noqa: C901, PLR0911, PLR0912
    hour12 = stamp.hour % 12 or 12
    table = {
        "YYYY": f"{stamp.year:04d}",
        "YY": f"{stamp.year % 100:02d}",
        "MMMM": stamp.strftime("%B"),
        "MMM": stamp.strftime("%b"),
        "MM": f"{stamp.month:02d}",
        "M": str(stamp.month),
        "DD": f"{stamp.day:02d}",
        "D": str(stamp.day),
        "EEEE": stamp.strftime("%A"),
        "EEE": stamp.strftime("%a"),
        "hh": f"{stamp.hour:02d}",
        "h": str(stamp.hour),
        "HH": f"{hour12:02d}",
        "H": str(hour12),
        "mm": f"{stamp.minute:02d}",
        "m": str(stamp.minute),
        "ss": f"{stamp.second:02d}",
        "s": str(stamp.second),
        "AA": "PM" if stamp.hour >= 12 else "AM",
        "aa": "pm" if stamp.hour >= 12 else "am",
        "ZZZZZ": _offset(stamp, True),
        "ZZZZ": _offset(stamp, False),
        "ZZZ": "UTC" if _is_utc(stamp) else _offset(stamp, False),
        "Z": "Z" if _is_utc(stamp) else _offset(stamp, True),
    }
    if token not in table:
        raise FunctionError(f"invalid date format verb {token!r}")
    return table[token]


def _formatdate(spec: str, timestamp: str) -> str:
    stamp = parse_timestamp(timestamp)
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(spec):
        if match.start() != pos:
            raise FunctionError("a quoted literal in the format is not closed")
        pos = match.end()
        token = match.group()
        if token.startswith("'"):
            out.append(token[1:-1].replace("''", "'") if token != "''" else "'")
        elif token[0].isalpha():
            out.append(_field(token, stamp))
        else:
            out.append(token)
    if pos != len(spec):
        raise FunctionError("a quoted literal in the format is not closed")
    return "".join(out)


def parse_duration(text: str) -> timedelta:
    """A Go duration (``1h30m``, ``-10s``, ``1.5h``)."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if body == "0":
        return timedelta(0)
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            break
        pos = match.end()
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
    if not body or pos != len(body):
        raise FunctionError("the duration is not like 1h30m (units: ns, us, ms, s, m, h)")
    try:
        return sign * timedelta(seconds=seconds)
    except OverflowError:
        raise FunctionError("the duration is too long") from None


def _timeadd(timestamp: str, duration: str) -> str:
    stamp = parse_timestamp(timestamp)
    try:
        result = stamp + parse_duration(duration)
    except OverflowError:
        raise FunctionError("the result is outside the years 1 to 9999") from None
    text = result.strftime("%Y-%m-%dT%H:%M:%S")
    if result.microsecond:
        text += f".{result.microsecond:06d}".rstrip("0")
    return text + ("Z" if _is_utc(result) else _offset(result, True))


FUNCTIONS: dict[str, Function] = {
    "formatdate": Function(("string", "string"), _formatdate),
    "timeadd": Function(("string", "string"), _timeadd),
}
