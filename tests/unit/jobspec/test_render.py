"""Jinja2 rendering of .j2 repository files: delimiters, strictness, sandbox, includes."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec.render import render, repo_path

FILE = "jobs/cache.nomad.hcl.j2"


def test_square_delimiters_render_and_curly_braces_pass_through() -> None:
    text = (
        "[# a comment #]\n"
        'job "[[ name ]]" {\n'
        "[% for dc in dcs %]  # [[ dc ]]\n[% endfor %]"
        '  data = "{{ key \\"x\\" }} {{ with nomadVar \\"a\\" }}{{ .b }}{{ end }}"\n'
        "}\n"
    )
    out = render(text, FILE, {"name": "cache", "dcs": ["dc1", "dc2"]})
    assert out == (
        "\n"
        'job "cache" {\n'
        "  # dc1\n  # dc2\n"
        '  data = "{{ key \\"x\\" }} {{ with nomadVar \\"a\\" }}{{ .b }}{{ end }}"\n'
        "}\n"
    )


def test_trailing_newline_is_kept() -> None:
    assert render("a\n", FILE, {}) == "a\n"


def test_missing_value_names_file_and_line() -> None:
    text = (
        'job "x" {\n  count = [[ count ]]\n[% if true %]\n'
        '  region = "[[ region ]]"\n[% endif %]\n}\n'
    )
    with pytest.raises(JobspecError) as info:
        render(text, FILE, {"count": 2})
    err = info.value
    assert (err.file, err.line) == (FILE, 4)
    assert "'region' is undefined" in str(err)
    assert str(err).startswith(f"{FILE}:4: ")


def test_syntax_error_names_line() -> None:
    with pytest.raises(JobspecError) as info:
        render("ok\nok\n[% for %]\n", FILE, {})
    assert info.value.line == 3
    assert "template syntax error" in str(info.value)


def test_runtime_error_names_line() -> None:
    with pytest.raises(JobspecError, match=r":2: template error: ZeroDivisionError"):
        render("a\n[[ 1 / 0 ]]\n", FILE, {})


@pytest.mark.parametrize(
    "expr",
    ["x.__class__.__mro__", "''.__class__.__subclasses__()", "x.__init__.__globals__"],
)
def test_sandbox_blocks_python_internals(expr: str) -> None:
    with pytest.raises(JobspecError, match="unsafe"):
        render(f"[[ {expr} ]]", FILE, {"x": 1})


def test_include_needs_a_reader() -> None:
    with pytest.raises(JobspecError, match="includes are not enabled"):
        render('[% include "jobs/common.j2" %]', FILE, {})


def test_include_reads_through_the_reader_only_inside_the_repo() -> None:
    files = {"jobs/common.j2": 'region = "[[ region ]]"\n'}
    out = render('[% include "jobs/common.j2" %]', FILE, {"region": "eu"}, read=files.get)
    assert out == 'region = "eu"\n'
    for bad in ("../secret", "/etc/passwd", "jobs/../../x"):
        with pytest.raises(JobspecError, match="only paths inside the repository"):
            render(f'[% include "{bad}" %]', FILE, {}, read=files.get)


def test_error_inside_an_included_file_names_that_file() -> None:
    files = {"jobs/common.j2": "ok\n[[ nope ]]\n"}
    with pytest.raises(JobspecError) as info:
        render('a\n[% include "jobs/common.j2" %]\n', FILE, {}, read=files.get)
    assert (info.value.file, info.value.line) == ("jobs/common.j2", 2)


def test_repo_path() -> None:
    assert repo_path("a/./b/../c.j2") == "a/c.j2"
    assert repo_path("..") is None
    assert repo_path("/abs") is None
    assert repo_path("a\\b") is None
