"""The HCL2 adapter: values, line numbers, interpolation and heredoc forms, syntax errors."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import hcl

DOC = """\
# a comment
job "web" {
  datacenters = ["dc1", "dc2"]
  priority    = 70
  ratio       = 1.5
  big         = 1e3
  enabled     = true
  nothing     = null
  meta = {
    "team.name" = "core"
    n           = 2
  }

  group "app" {
    task "srv" {
      driver = "docker"
    }
  }
}
"""


def test_blocks_attributes_and_lines() -> None:
    body = hcl.parse(DOC, "jobs/web.nomad.hcl")
    (job,) = body.blocks
    assert (job.type, job.labels, job.line, job.end_line) == ("job", ("web",), 2, 19)
    attrs = job.body.attributes
    assert attrs["datacenters"].value == ["dc1", "dc2"]
    assert attrs["datacenters"].line == 3
    assert attrs["priority"].value == 70
    assert attrs["ratio"].value == 1.5
    assert attrs["big"].value == 1000.0
    assert attrs["enabled"].value is True
    assert attrs["nothing"].value is None
    assert attrs["meta"].value == {"team.name": "core", "n": 2}
    (group,) = job.body.blocks_of("group")
    assert group.line == 14
    (task,) = group.body.blocks_of("task")
    assert task.labels == ("srv",)
    assert task.body.attributes["driver"].line == 16


def test_to_dict_drops_labels_and_lists_blocks() -> None:
    body = hcl.parse(
        'config {\n  image = "x"\n  mount {\n    a = 1\n  }\n  mount {\n    a = 2\n  }\n}\n'
    )
    assert body.to_dict() == {"config": [{"image": "x", "mount": [{"a": 1}, {"a": 2}]}]}


def test_interpolations_and_bare_expressions_become_template_strings() -> None:
    text = """\
a = "${attr.kernel.name}"
b = var.count
c = "web-${var.n}-x"
d = "$${NOT_INTERPOLATED}"
e = local.items[0]
f = "${env["HOME"]}"
g = [var.a, "lit"]
"""
    attrs = hcl.parse(text).attributes
    assert attrs["a"].value == "${attr.kernel.name}"
    assert attrs["b"].value == "${var.count}"
    assert attrs["c"].value == "web-${var.n}-x"
    assert attrs["d"].value == "$${NOT_INTERPOLATED}"
    assert attrs["e"].value == "${local.items[0]}"
    assert attrs["f"].value == '${env["HOME"]}'
    assert attrs["g"].value == ["${var.a}", "lit"]


def test_quoted_string_escapes_are_resolved() -> None:
    attrs = hcl.parse('s = "say \\"hi\\"\\tand\\\\ \\u00e9\\n"\n').attributes
    assert attrs["s"].value == 'say "hi"\tand\\ é\n'


def test_heredoc_is_verbatim_with_final_newline() -> None:
    text = 'data = <<EOF\n{{ key "x" }} "q" \\n ${NOMAD_TASK_NAME}\n\nEOF\nafter = 1\n'
    attrs = hcl.parse(text).attributes
    assert attrs["data"].value == '{{ key "x" }} "q" \\n ${NOMAD_TASK_NAME}\n\n'
    assert attrs["after"].line == 5


def test_indented_heredoc_is_dedented() -> None:
    text = "x {\n  data = <<-EOT\n    one\n      two\n    EOT\n}\n"
    (block,) = hcl.parse(text).blocks
    assert block.body.attributes["data"].value == "one\n  two\n"


def test_crlf_input() -> None:
    attrs = hcl.parse("a = 1\r\nb = <<EOF\r\nx\r\nEOF\r\n").attributes
    assert attrs["a"].value == 1
    assert attrs["b"].value == "x\n"


def test_parse_value() -> None:
    assert hcl.parse_value('["a", 2]') == ["a", 2]
    assert hcl.parse_value("{ k = true }") == {"k": True}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('job "a" {\n  type = "service"\n  group "x" {\n', 3),
        ('job "a" {\n  type = "service"\n  x = @\n}\n', 3),
        ('job "a" {\n\n  type = = "service"\n}\n', 3),
        ('job "a" {\n  count = 1 2\n}\n', 2),
    ],
)
def test_syntax_error_names_file_and_line(text: str, line: int) -> None:
    with pytest.raises(JobspecError) as info:
        hcl.parse(text, "jobs/broken.nomad.hcl")
    err = info.value
    assert (err.file, err.line) == ("jobs/broken.nomad.hcl", line)
    assert str(err).startswith(f"jobs/broken.nomad.hcl:{line}: HCL syntax error")


def test_duplicate_attribute_is_an_error() -> None:
    with pytest.raises(JobspecError, match=r"f\.hcl:3: attribute \"a\" is set twice"):
        hcl.parse("a = 1\n\na = 2\n", "f.hcl")


def test_attribute_and_block_of_one_name_is_an_error() -> None:
    with pytest.raises(JobspecError, match=r"f\.hcl:1: \"meta\" is both"):
        hcl.parse('meta = {}\nmeta {\n  a = "b"\n}\n', "f.hcl")
