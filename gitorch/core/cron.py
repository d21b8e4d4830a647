"""The one adapter to the cron library (croniter): Nomad's cron syntax in, launch times out.

Nomad reads cron expressions with ``hashicorp/cronexpr``; this module accepts exactly
that grammar and gives its meaning, then lets croniter find the times:

* 5 fields: ``minute hour day-of-month month day-of-week`` (second 0, any year);
  6 fields: the same plus ``year``; 7 fields: ``second`` first, then those six.
  (So ``*/2 * * * * *`` is every two *minutes*, as in Nomad; every two seconds is
  ``*/2 * * * * * *``.) Fields past the seventh are ignored, as cronexpr does.
* ``@yearly``/``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@hourly``.
* In each field: ``*`` or ``?``, ``5``, ``5-20``, ``*/2``, ``5/2`` (5 to the end, step
  2), ``5-20/2``, lists with ``,``; month and day names (``jan``, ``january``, ``mon``,
  ``monday``, any case); day-of-week 0-7 with 7 for Sunday; ``L``, ``15W`` in
  day-of-month; ``5L`` (last Friday) and ``5#3`` (third Friday) in day-of-week.
* When both day fields are restricted, a day matches either (cron's rule).

Each field is parsed here into explicit values, so croniter sees only plain lists
(where its reading of steps, ranges and ``7`` could differ from cronexpr's), and an
expression croniter cannot hold in one piece (``1,15W``, ``1,5L``) becomes several
whose earliest next time is the answer. A reversed range (``50-10``), which cronexpr
takes as matching nothing, and ``LW`` are refused with the reason.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import product
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MAX_YEAR = 2099  # cronexpr's year field: 1970-2099
_MACROS = {
    "@yearly": "0 0 0 1 1 * *",
    "@annually": "0 0 0 1 1 * *",
    "@monthly": "0 0 0 1 * * *",
    "@weekly": "0 0 0 * * 0 *",
    "@daily": "0 0 0 * * * *",
    "@hourly": "0 0 * * * * *",
}
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_MONTH_NAMES = {m: i + 1 for i, m in enumerate(_MONTHS)} | {
    full: i + 1
    for i, full in enumerate(
        "january february march april may june july august september october november "
        "december".split()
    )
}
_DAYS = "sun mon tue wed thu fri sat".split()
_DAY_NAMES = {d: i for i, d in enumerate(_DAYS)} | {
    full: i
    for i, full in enumerate("sunday monday tuesday wednesday thursday friday saturday".split())
}
_STEP = re.compile(r"^(?P<base>.+?)/(?P<step>\d{1,4})$")


class CronError(ValueError):
    """An expression Nomad would refuse (or that gitorch cannot honour), with why."""


class _Field:
    def __init__(self, name: str, lo: int, hi: int, names: dict[str, int] | None = None):
        self.name, self.lo, self.hi, self.names = name, lo, hi, names or {}

    def value(self, token: str, entry: str) -> int:
        if token in self.names:
            return self.names[token]
        width = 4 if self.name == "year" else 2
        if not token.isdigit() or len(token) > width:
            raise CronError(f"syntax error in {self.name} field: '{entry}'")
        number = int(token)
        hi = 7 if self.name == "day-of-week" else self.hi
        if not self.lo <= number <= hi:
            raise CronError(
                f"{self.name} value {number} in '{entry}' is out of range ({self.lo}-{hi})"
            )
        return number

    def span(self, entry: str) -> set[int]:
        """The values of one ``a``, ``a-b``, ``*/n``, ``a/n`` or ``a-b/n`` entry."""
        step, base = 1, entry
        if m := _STEP.match(entry):
            base, step = m.group("base"), int(m.group("step"))
            if not 1 <= step <= min(self.hi, 59):
                raise CronError(f"invalid interval {entry} in {self.name} field")
        if base in ("*", "?"):
            first, last = self.lo, self.hi
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = self.value(a, entry), self.value(b, entry)
            if self.name == "day-of-week" and last == 0 and first > 0 and b in ("sun", "sunday"):
                last = 7  # fri-sun runs through Sunday
            if first > last:
                raise CronError(
                    f"reversed range '{entry}' in {self.name} field matches nothing "
                    "(write it as two ranges, e.g. 50-59,0-10)"
                )
        else:
            first = self.value(base, entry)
            last = self.hi if step != 1 or "/" in entry else first
        out = set(range(first, last + 1, step))
        if self.name == "day-of-week":
            out = {0 if v == 7 else v for v in out}
        return out


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 6, _DAY_NAMES)
_YEAR = _Field("year", 1970, MAX_YEAR)


def _entries(text: str, field: _Field) -> list[str]:
    entries = [e for e in text.lower().split(",")]
    if not entries or any(not e for e in entries):
        raise CronError(f"syntax error in {field.name} field: '{text}'")
    return entries


def _plain(text: str, field: _Field) -> str:
    """A field without special characters, as croniter's explicit list (or ``*``)."""
    entries = _entries(text, field)
    if any(e in ("*", "?") for e in entries):
        return "*"
    values: set[int] = set()
    for entry in entries:
        values |= field.span(entry)
    return ",".join(str(v) for v in sorted(values))


def _dom(text: str) -> list[str]:
    """Day-of-month alternatives for croniter (``*``, a list with ``L``, or ``nW``)."""
    entries = _entries(text, _DOM)
    if any(e in ("*", "?") for e in entries):
        return ["*"]
    values: set[int] = set()
    last, weekdays = False, []
    for entry in entries:
        if entry == "l":
            last = True
        elif entry == "lw":
            raise CronError(
                "'LW' (the last weekday of the month) in day-of-month is not supported by "
                "gitorch; use e.g. 'L' or a day-of-week such as '5L'"
            )
        elif entry.endswith("w") and "/" not in entry and "-" not in entry:
            weekdays.append(f"{_DOM.value(entry[:-1], entry)}W")
        else:
            values |= _DOM.span(entry)
    plain = [str(v) for v in sorted(values)] + (["L"] if last else [])
    return ([",".join(plain)] if plain else []) + weekdays


def _dow(text: str) -> list[str]:
    """Day-of-week alternatives: a plain list, and the ``Ln``/``n#k`` forms apart
    (croniter does not mix them in one field)."""
    entries = _entries(text, _DOW)
    if any(e in ("*", "?") for e in entries):
        return ["*"]
    values: set[int] = set()
    nth: list[str] = []
    for entry in entries:
        if entry.endswith("l") and entry[:-1] and "/" not in entry and "-" not in entry:
            nth.append(f"L{_DOW.value(entry[:-1], entry) % 7}")
        elif "#" in entry:
            day, _, week = entry.partition("#")
            if week not in ("1", "2", "3", "4", "5"):
                raise CronError(f"syntax error in day-of-week field: '{entry}'")
            nth.append(f"{_DOW.value(day, entry) % 7}#{week}")
        else:
            values |= _DOW.span(entry)
    plain = [",".join(str(v) for v in sorted(values))] if values else []
    return plain + ([",".join(nth)] if nth else [])


class Cron:
    """A parsed Nomad cron expression."""

    def __init__(self, spec: str, exprs: list[str]) -> None:
        self.spec = spec
        self.exprs = exprs  # croniter expressions (seconds first), the union of which

    def next_after(self, when: datetime) -> datetime | None:
        """The first matching time strictly after ``when`` (whole seconds), in
        ``when``'s time zone; None if there is none (a past year, the 31st of February)."""
        start = when.replace(microsecond=0)
        found: list[datetime] = []
        for expr in self.exprs:
            try:
                it = croniter(expr, start, second_at_beginning=True, max_years_between_matches=130)
                found.append(it.get_next(datetime))
            except CroniterBadDateError:
                continue
        return min(found) if found else None


@functools.lru_cache(maxsize=1024)
def parse(spec: str) -> Cron:
    """Parse ``spec`` with Nomad's grammar; raise CronError saying what is wrong."""
    text = spec
    for macro, expansion in _MACROS.items():
        text = text.replace(macro, expansion)
    fields = text.split()
    if len(fields) < 5:
        raise CronError("missing field(s)" if fields else "the expression is empty")
    fields = fields[:7]
    if len(fields) == 5:
        fields = ["0", *fields, "*"]
    elif len(fields) == 6:
        fields = ["0", *fields]
    sec, minute, hour, dom, month, dow, year = fields
    head = [_plain(sec, _SECOND), _plain(minute, _MINUTE), _plain(hour, _HOUR)]
    month_s, year_s = _plain(month, _MONTH), _plain(year, _YEAR)
    exprs = [" ".join([*head, d, month_s, w, year_s]) for d, w in product(_dom(dom), _dow(dow))]
    for expr in exprs:
        if not croniter.is_valid(expr, second_at_beginning=True):
            raise CronError(f"cannot be evaluated: {expr!r}")
    return Cron(spec, exprs)


def zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (UTC when empty); raise CronError if unknown."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        raise CronError(
            'time zone "Local" (the server\'s own zone) is not supported: name the zone, '
            'e.g. "Europe/Berlin"'
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(
            f'unknown time zone {name!r} (use an IANA name such as "America/New_York")'
        ) from exc


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ns: int, tz: tzinfo) -> datetime:
    """Unix nanoseconds as an aware datetime in ``tz``."""
    return (EPOCH + timedelta(microseconds=ns // 1000)).astimezone(tz)


def to_ns(when: datetime) -> int:
    """An aware datetime as unix nanoseconds."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
