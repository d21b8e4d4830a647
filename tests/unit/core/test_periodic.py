"""The next-launch function and the cron adapter: Nomad's cron grammar (5, 6 and 7
fields, macros, names, L/W/#), time zones across daylight-saving changes, and the
errors an expression that cannot parse gives."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitorch.core import periodic
from gitorch.core.cron import CronError, parse
from gitorch.core.model import Job, TaskGroup
from gitorch.core.model.launch import PeriodicConfig

S = 1_000_000_000


def ns(*args: int, tz: str = "UTC") -> int:
    when = datetime(*args, tzinfo=ZoneInfo(tz))  # type: ignore[misc]
    return int(when.timestamp()) * S


def nexts(spec: str, start: int, n: int = 4, tz: str = "UTC") -> list[str]:
    config = PeriodicConfig(spec=spec, time_zone=tz)
    out, at = [], start
    for _ in range(n):
        due = periodic.next_launch(config, at)
        if due is None:
            out.append("none")
            break
        out.append(datetime.fromtimestamp(due / S, ZoneInfo(tz)).strftime("%Y-%m-%d %a %H:%M:%S"))
        at = due
    return out


START = ns(2024, 6, 1, 0, 0, 0)  # a Saturday


def test_five_fields_are_minute_hour_dom_month_dow() -> None:
    assert nexts("*/15 * * * *", START, 3) == [
        "2024-06-01 Sat 00:15:00",
        "2024-06-01 Sat 00:30:00",
        "2024-06-01 Sat 00:45:00",
    ]


def test_seven_fields_lead_with_seconds() -> None:
    assert nexts("*/2 * * * * * *", START, 3) == [
        "2024-06-01 Sat 00:00:02",
        "2024-06-01 Sat 00:00:04",
        "2024-06-01 Sat 00:00:06",
    ]
    assert nexts("30 0 12 * * * *", START, 2) == [
        "2024-06-01 Sat 12:00:30",
        "2024-06-02 Sun 12:00:30",
    ]


def test_six_fields_end_with_the_year_as_in_nomad() -> None:
    # Nomad (hashicorp/cronexpr) reads a sixth field as the year, not as seconds.
    assert nexts("*/2 * * * * *", START, 2) == [
        "2024-06-01 Sat 00:02:00",
        "2024-06-01 Sat 00:04:00",
    ]
    assert nexts("0 0 1 1 * 2030", START, 2) == ["2030-01-01 Tue 00:00:00", "none"]
    assert nexts("0 0 1 1 * 2020", START) == ["none"]


def test_seconds_and_year_together() -> None:
    assert nexts("15 30 6 1 1 * 2027", START, 2) == ["2027-01-01 Fri 06:30:15", "none"]


def test_macros() -> None:
    assert nexts("@hourly", START, 2) == ["2024-06-01 Sat 01:00:00", "2024-06-01 Sat 02:00:00"]
    assert nexts("@daily", START, 1) == ["2024-06-02 Sun 00:00:00"]
    assert nexts("@weekly", START, 1) == ["2024-06-02 Sun 00:00:00"]
    assert nexts("@monthly", START, 1) == ["2024-07-01 Mon 00:00:00"]
    assert nexts("@yearly", START, 1) == nexts("@annually", START, 1) == ["2025-01-01 Wed 00:00:00"]


def test_names_in_any_case_and_sunday_as_seven() -> None:
    assert nexts("0 9 * JANUARY,Feb mon", START, 2) == [
        "2025-01-06 Mon 09:00:00",
        "2025-01-13 Mon 09:00:00",
    ]
    assert (
        nexts("0 0 * * 7", START, 1)
        == nexts("0 0 * * sun", START, 1)
        == ["2024-06-02 Sun 00:00:00"]
    )
    # Nomad's fix: 5-7 and fri-sun run through Sunday; 0-0 is Sunday only.
    assert (
        nexts("0 0 * * 5-7", START, 3)
        == nexts("0 0 * * fri-sun", START, 3)
        == [
            "2024-06-02 Sun 00:00:00",
            "2024-06-07 Fri 00:00:00",
            "2024-06-08 Sat 00:00:00",
        ]
    )
    assert nexts("0 0 * * 0-0", START, 2) == ["2024-06-02 Sun 00:00:00", "2024-06-09 Sun 00:00:00"]


def test_steps_ranges_lists_and_question_mark() -> None:
    assert nexts("5/20 * * * *", START, 3) == [
        "2024-06-01 Sat 00:05:00",
        "2024-06-01 Sat 00:25:00",
        "2024-06-01 Sat 00:45:00",
    ]
    assert nexts("10-20/5 1 ? * *", START, 3) == [
        "2024-06-01 Sat 01:10:00",
        "2024-06-01 Sat 01:15:00",
        "2024-06-01 Sat 01:20:00",
    ]


def test_last_weekday_and_nth_day_forms() -> None:
    assert nexts("0 0 L * *", START, 2) == ["2024-06-30 Sun 00:00:00", "2024-07-31 Wed 00:00:00"]
    # June 15th 2024 is a Saturday: 15W is Friday the 14th.
    assert nexts("0 0 15W * *", START, 2) == ["2024-06-14 Fri 00:00:00", "2024-07-15 Mon 00:00:00"]
    assert nexts("0 0 * * 5L", START, 2) == ["2024-06-28 Fri 00:00:00", "2024-07-26 Fri 00:00:00"]
    assert nexts("0 0 * * 5#3", START, 2) == ["2024-06-21 Fri 00:00:00", "2024-07-19 Fri 00:00:00"]
    # Mixed forms the library holds apart are a union (cron's either-day rule).
    assert nexts("0 0 1,15W * *", START, 3) == [
        "2024-06-14 Fri 00:00:00",
        "2024-07-01 Mon 00:00:00",
        "2024-07-15 Mon 00:00:00",
    ]
    assert nexts("0 0 * * 1,5L", START, 4)[-1] == "2024-06-24 Mon 00:00:00"
    assert "2024-06-28 Fri 00:00:00" in nexts("0 0 * * 1,5L", START, 5)


def test_both_day_fields_restricted_match_either() -> None:
    assert nexts("0 0 1 * mon", START, 5) == [
        "2024-06-03 Mon 00:00:00",
        "2024-06-10 Mon 00:00:00",
        "2024-06-17 Mon 00:00:00",
        "2024-06-24 Mon 00:00:00",
        "2024-07-01 Mon 00:00:00",
    ]


def test_time_zone_reads_the_expression_in_that_zone() -> None:
    start = ns(2024, 5, 31, 12, 0, 0)  # 21:00 in Tokyo, 08:00 in New York
    assert nexts("0 9 * * *", start, 1, tz="Asia/Tokyo") == ["2024-06-01 Sat 09:00:00"]
    due = periodic.next_launch(PeriodicConfig(spec="0 9 * * *", time_zone="Asia/Tokyo"), start)
    assert due == ns(2024, 6, 1, 0, 0, 0)  # 09:00 JST is 00:00 UTC
    due_ny = periodic.next_launch(
        PeriodicConfig(spec="0 9 * * *", time_zone="America/New_York"), start
    )
    assert due_ny == ns(2024, 5, 31, 13, 0, 0)  # 09:00 EDT is 13:00 UTC, the same day


def test_daily_launch_keeps_local_time_across_daylight_saving() -> None:
    # New York leaves daylight saving on 2024-11-03: 09:00 local moves from 13:00 to 14:00 UTC.
    start = ns(2024, 11, 1, 12, 0, 0)
    config = PeriodicConfig(spec="0 9 * * *", time_zone="America/New_York")
    first = periodic.next_launch(config, start)
    assert first is not None
    second = periodic.next_launch(config, first)
    third = periodic.next_launch(config, second or 0)
    assert [first, second, third] == [
        ns(2024, 11, 1, 13, 0, 0),
        ns(2024, 11, 2, 13, 0, 0),
        ns(2024, 11, 3, 14, 0, 0),
    ]


def test_crons_launch_at_the_earliest_of_them() -> None:
    config = PeriodicConfig(specs=["0 12 * * *", "30 6 * * *"])
    assert periodic.next_launch(config, START) == ns(2024, 6, 1, 6, 30, 0)
    assert periodic.next_launch(config, ns(2024, 6, 1, 6, 30, 0)) == ns(2024, 6, 1, 12, 0, 0)


def test_next_is_strictly_after_in_whole_seconds() -> None:
    config = PeriodicConfig(spec="* * * * * * *")
    assert periodic.next_launch(config, START) == START + S
    assert periodic.next_launch(config, START + S // 2) == START + S
    assert periodic.next_launch(config, START + S - 1) == START + S


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "empty"),
        ("* * *", "missing field"),
        ("61 * * * *", "minute value 61"),
        ("* 24 * * *", "hour value 24"),
        ("* * 0 * *", "day-of-month value 0"),
        ("* * * 13 *", "month value 13"),
        ("* * * * 8", "day-of-week value 8"),
        ("*/0 * * * *", "invalid interval"),
        ("*/60 * * * *", "invalid interval"),
        ("50-10 * * * *", "reversed range"),
        ("x * * * *", "syntax error in minute field: 'x'"),
        ("0 0 LW * *", "LW"),
        ("0 0 * * 5#6", "day-of-week"),
        ("0 0 1 1 * 1969", "year value 1969"),
        ("@reboot", "missing field"),
        ("1,,2 * * * *", "syntax error in minute field"),
    ],
)
def test_bad_expressions_say_why(spec: str, why: str) -> None:
    with pytest.raises(CronError, match=why):
        parse(spec)
    assert periodic.next_launch(PeriodicConfig(spec=spec), START) is None


def test_problems_name_the_attribute() -> None:
    assert periodic.problems(PeriodicConfig(spec="*/2 * * * * * *")) == []
    assert periodic.problems(PeriodicConfig(spec="bad", enabled=False)) == []  # as Nomad
    found = periodic.problems(
        PeriodicConfig(spec="61 * * * *", specs=["* * * * *"], time_zone="Mars/Olympus")
    )
    attrs = [a for a, _ in found]
    assert attrs == ["crons", "time_zone", "cron"]
    assert "unknown time zone 'Mars/Olympus'" in found[1][1]
    assert periodic.problems(PeriodicConfig()) == [
        ("cron", 'a periodic block needs "cron" or "crons"')
    ]
    assert "Local" in periodic.problems(PeriodicConfig(spec="* * * * *", time_zone="Local"))[0][1]


def test_child_ids_and_launch_times() -> None:
    parent = Job(
        id="report",
        type="batch",
        periodic=PeriodicConfig(spec="* * * * *"),
        task_groups=[TaskGroup(name="g")],
        version=3,
        create_index=7,
    )
    child = periodic.derive_child(parent, ns(2024, 6, 1, 0, 1, 0) + 123)
    assert child.id == child.name == f"report/periodic-{ns(2024, 6, 1, 0, 1, 0) // S}"
    assert child.parent_id == "report" and child.periodic is None and child.source is None
    assert child.version == 0 and child.create_index == 0
    assert not child.is_parent() and parent.is_periodic_active()
    assert periodic.launch_of(child.id) == ns(2024, 6, 1, 0, 1, 0)
    assert periodic.launch_of("report") is None


@settings(max_examples=200, deadline=None)
@given(
    second=st.integers(0, 59),
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    start=st.integers(0, 4_000_000_000),
)
def test_next_launch_matches_the_expression_and_skips_nothing(
    second: int, minute: int, hour: int, start: int
) -> None:
    """A fixed daily time: the next launch has exactly those fields, is after the start,
    and is less than a day (plus a second) away."""
    config = PeriodicConfig(spec=f"{second} {minute} {hour} * * * *")
    due = periodic.next_launch(config, start * S)
    assert due is not None
    when = datetime.fromtimestamp(due / S, UTC)
    assert (when.hour, when.minute, when.second) == (hour, minute, second)
    assert start * S < due <= start * S + 86_400 * S
