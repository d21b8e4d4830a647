"""The ``?filter=`` expression language: what matches, and where a bad one fails."""

from __future__ import annotations

import pytest

from gitorch.core.filterexpr import FilterError, evaluate, parse

JOB = {
    "ID": "web-1",
    "Status": "running",
    "Priority": 50,
    "Stop": False,
    "Meta": {"owner": "ops", "tier": ""},
    "Datacenters": ["dc1", "dc2"],
    "JobSummary": {"Summary": {"web": {"Running": 2}}},
}


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ('Status == "running"', True),
        ("Status == running", True),
        ("Status != `running`", False),
        ("Priority == 50", True),
        ("Priority == 51", False),
        ("Stop == false", True),
        ("Meta.owner == ops", True),
        ("JobSummary.Summary.web.Running == 2", True),
        ('"dc2" in Datacenters', True),
        ('"dc3" in Datacenters', False),
        ('"dc3" not in Datacenters', True),
        ('"owner" in Meta', True),
        ('ID contains "eb"', True),
        ('ID not contains "db"', True),
        ('ID matches "^web-[0-9]+$"', True),
        ('ID not matches "^web"', False),
        ("Meta.tier is empty", True),
        ("Meta.missing is empty", True),
        ("Meta is not empty", True),
        ("Missing.field == x", False),
        ("Missing.field != x", True),
        ("not Status == dead", True),
        ("Status == dead or Priority == 50", True),
        ("Status == dead or Priority == 50 and Stop == true", False),
        ("(Status == dead or Priority == 50) and not (Stop == true)", True),
    ],
)
def test_matches(expr: str, want: bool) -> None:
    assert evaluate(parse(expr), JOB) is want


@pytest.mark.parametrize(
    ("expr", "column", "says"),
    [
        ("Status ==", 10, "expected a value"),
        ("Status = running", 8, "unexpected character '='"),
        ("(Status == x", 13, "expected ')'"),
        ("and == x", 1, "expected a selector"),
        ("Status == x y", 13, "unexpected 'y'"),
        ('ID matches "["', 12, "invalid regular expression"),
        ("Status is full", 11, "expected 'empty'"),
        ("Status like x", 8, "expected an operator"),
        ("   ", 1, "empty"),
    ],
)
def test_parse_errors_name_the_column(expr: str, column: int, says: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(expr)
    assert caught.value.column == column
    assert says in str(caught.value) and f"column {column}" in str(caught.value)
