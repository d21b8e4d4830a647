"""Hostile and broken jobspecs: a fixed corpus of known triggers (``corpus/``) and a
Hypothesis fuzz over mutated jobspecs. Whatever a file holds, processing it returns a
Job or a located JobspecError (every error and every problem with a line), within its
time budget, with no secret in the message."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitorch.core.model.job import Job
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file
from gitorch.jobspec.isolate import parse_isolated, parse_many_isolated
from gitorch.jobspec.limits import Limits

pytestmark = pytest.mark.timeout(300)

CORPUS = sorted((Path(__file__).parent / "corpus").iterdir())
LIMITS = Limits(max_seconds=3.0)
GRACE_S = 3.0  # the worker's start and the kill after its own timer
SECRETS = ("hunter2-sensitive-default", "s3cr3t-env-value", "tok-9f8e7d6c5b4a")
GOOD = """job "web" {
  datacenters = ["dc1"]
  group "g" {
    count = 2
    reschedule {
      attempts  = 3
      interval  = "1h"
      unlimited = false
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_ALLOC_ID}"]
      }
      env {
        A = "b"
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"""


def check_outcome(result: Job | JobspecError, text: str) -> str:
    """The outcome's kind; fails unless it is a Job or a located, small, clean error."""
    if isinstance(result, Job):
        return "job"
    assert isinstance(result, JobspecError), type(result)
    assert result.line >= 1, result.located()
    assert all(p.line >= 1 for p in result.problems), result.located()
    message = result.located()
    assert len(message) < 8_000 + len(result.file)
    for secret in SECRETS:
        assert secret not in message, message
    return "error"


def test_corpus_is_the_known_triggers() -> None:
    names = {p.name for p in CORPUS}
    assert len(CORPUS) >= 40
    assert {"int_4301_digits.nomad.hcl", "quoted_if_directive.nomad.hcl",
            "pow_10_10_8.nomad.hcl.j2", "nested_range.nomad.hcl.j2", "lipsum_huge.nomad.hcl.j2",
            "reschedule_30m.nomad.hcl", "nested_lists_300.nomad.hcl"} <= names  # fmt: skip


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_file_in_worker_is_located_and_bounded(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    started = time.monotonic()
    result = parse_isolated(path.name, text, limits=LIMITS)
    assert time.monotonic() - started < LIMITS.max_seconds + GRACE_S
    check_outcome(result, text)
    if isinstance(result, JobspecError):
        assert result.file == path.name


def test_in_process_guard_turns_every_corpus_file_into_a_located_error() -> None:
    """The guard alone (no worker), on the triggers that need no time or memory budget."""
    outcomes = {"job": 0, "error": 0}
    needs_budget = {"nested_range_allowed.nomad.hcl.j2", "concat_doubling.nomad.hcl.j2"}
    for path in CORPUS:
        if path.name in needs_budget:
            continue
        started = time.monotonic()
        try:
            result: Job | JobspecError = parse_file(path.name, path.read_text(encoding="utf-8"))
        except JobspecError as exc:
            result = exc
        assert time.monotonic() - started < 2.0, path.name
        outcomes[check_outcome(result, "")] += 1
    assert outcomes["error"] >= 40


def test_reschedule_attempts_are_checked_by_arithmetic() -> None:
    text = GOOD.replace("attempts  = 3", "attempts  = 9000000000000000000")
    started = time.monotonic()
    with pytest.raises(JobspecError) as info:
        parse_file("r.nomad.hcl", text)
    assert time.monotonic() - started < 0.5
    assert "9000000000000000000 attempts" in info.value.message


def test_sensitive_variable_and_var_file_values_never_appear() -> None:
    text = 'variable "pw" {\n  sensitive = true\n}\n' + GOOD.replace("count = 2", "count = var.pw")
    with pytest.raises(JobspecError) as info:
        parse_file("s.nomad.hcl", text, var_files=[("v.vars.hcl", 'pw = "p4ssw0rd-from-file"\n')])
    assert "p4ssw0rd-from-file" not in str(info.value)
    assert "(hidden)" in str(info.value)
    assert info.value.line == 7
    with pytest.raises(JobspecError) as bad_var_file:
        parse_file("s.nomad.hcl", text, var_files=[("v.vars.hcl", 'pw = "p4ssw0rd-from-file\n')])
    assert "p4ssw0rd" not in str(bad_var_file.value)
    assert (bad_var_file.value.file, bad_var_file.value.line) == ("v.vars.hcl", 1)


def test_sensitive_must_be_a_boolean() -> None:
    text = 'variable "pw" {\n  default = "x"\n  sensitive = "yes"\n}\n' + GOOD
    with pytest.raises(JobspecError) as info:
        parse_file("s.nomad.hcl", text)
    assert info.value.line == 3 and "true or false" in info.value.message


def test_limits_are_settable() -> None:
    text = GOOD.replace('A = "b"', 'A = "' + "b" * 100 + '"')
    with pytest.raises(JobspecError) as info:
        parse_file("l.nomad.hcl", text, limits=Limits(max_string_length=50))
    assert info.value.line == 17 and "max_string_length" in info.value.message
    with pytest.raises(JobspecError) as size:
        parse_file("l.nomad.hcl", text, limits=Limits(max_file_size=100))
    assert size.value.line == 1 and "max_file_size" in size.value.message
    assert parse_file("l.nomad.hcl", text).id == "web"


def test_a_worker_over_its_memory_budget_reports_the_template_line() -> None:
    text = GOOD.replace(
        '      env {\n        A = "b"\n      }\n',
        '      env {\n        A = "[% set ns = namespace(s="xxxxxxxx") %]'
        '[% for i in range(40) %][% set ns.s = ns.s ~ ns.s %][% endfor %]"\n      }\n',
    )
    result = parse_isolated("m.nomad.hcl.j2", text, limits=Limits(max_memory=128 * 2**20))
    assert isinstance(result, JobspecError)
    assert result.line == 17 and "memory" in result.message


_TOKENS = ['"', "{", "}", "[", "]", "(", ")", "${", "%{", "$${", "=", "\n", "#", "//", "/*",
           "<<EOF\n", "EOF\n", "9" * 30, "1e308", "-", "var.", "local.", "job", "group",
           "task", "variable", "locals", "\\", "\x00", "é", ",", ":", "?", "null", "true",
           "attempts = 99999999999999", "[[", "]]", "[%", "%]"]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """GOOD with a few characters or tokens inserted, deleted or replaced."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    text = GOOD
    for _ in range(draw(st.integers(1, 8))):
        at = rng.randrange(len(text) + 1)
        kind = rng.random()
        token = rng.choice(_TOKENS) * rng.choice([1, 1, 1, 3, 40])
        if kind < 0.5:
            text = text[:at] + token + text[at:]
        elif kind < 0.8:
            text = text[:at] + text[at + rng.randrange(1, 20) :]
        else:
            text = text[:at] + token + text[at + len(token) :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated(), st.booleans())
def test_fuzz_every_outcome_is_a_job_or_a_located_error(text: str, template: bool) -> None:
    name = "fuzz.nomad.hcl.j2" if template else "fuzz.nomad.hcl"
    started = time.monotonic()
    try:
        result: Job | JobspecError = parse_file(name, text)
    except JobspecError as exc:
        result = exc
    assert time.monotonic() - started < 2.0
    check_outcome(result, text)


def test_a_batch_of_the_whole_corpus_and_good_files_in_workers() -> None:
    """A sync hands many files to one worker in turn: a file that exhausts its budget
    (killing the worker) costs only itself; good files before and after it still parse,
    and every result stays with its own file."""
    batch = [("good-first.nomad.hcl", GOOD)]
    for path in CORPUS:
        batch.append((path.name, path.read_text(encoding="utf-8")))
        batch.append((f"good-after-{path.name}.nomad.hcl", GOOD))
    results = parse_many_isolated(batch, limits=LIMITS)
    assert len(results) == len(batch)
    for (name, text), result in zip(batch, results, strict=True):
        check_outcome(result, text)
        if name.startswith("good-"):
            assert isinstance(result, Job), result
        elif isinstance(result, JobspecError):
            assert result.file == name
    one_by_one = {p.name: type(parse_isolated(p.name, p.read_text(encoding="utf-8"), limits=LIMITS)) for p in CORPUS[:10]}
    in_batch = {name: type(r) for (name, _), r in zip(batch, results, strict=True) if name in one_by_one}
    assert in_batch == one_by_one
