"""HCL2 expressions as Nomad evaluates them: operators, conditionals, for, splats,
templates with directives, and what stays literal for run time."""

from __future__ import annotations

from typing import Any

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import hcl
from gitorch.jobspec.variables import resolve

FILE = "jobs/expr.nomad.hcl"
PRELUDE = """\
variable "env" {
  default = "prod"
}
variable "names" {
  default = ["web", "", "api"]
}
variable "ports" {
  default = [{ name = "http", to = 80 }, { name = "grpc", to = 9090 }]
}
variable "sizes" {
  default = { small = 1, large = 4 }
}
"""


def value(expression: str) -> Any:
    text = f'{PRELUDE}job "a" {{\n  x = {expression}\n}}\n'
    body = resolve(hcl.parse(text, FILE), FILE)
    return body.blocks[0].body.attributes["x"].value


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("8 / 2", 4),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ('"3" + 1', 4),
        ("!true", False),
        ("1 < 2 && 2 <= 2", True),
        ("false || 3 > 4", False),
        ("1 == 1.0", True),
        ('1 == "1"', False),
        ('[1, "a"] == [1, "a"]', True),
        ("{a = 1} != {a = 2}", True),
    ],
)
def test_operators(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('var.env == "prod" ? 3 : 1', 3),
        ('var.env != "prod" ? "x" : upper(var.env)', "PROD"),
        ('[for n in var.names : upper(n) if n != ""]', ["WEB", "API"]),
        ("[for i, n in var.names : i]", [0, 1, 2]),
        ("{for k, v in var.sizes : k => v * 2}", {"large": 8, "small": 2}),
        ("{for p in var.ports : p.name => p.to}", {"grpc": 9090, "http": 80}),
        ('{for n in ["a", "b", "a"] : n => n...}', {"a": ["a", "a"], "b": ["b"]}),
        ("var.ports[*].name", ["http", "grpc"]),
        ("var.ports.*.to", [80, 9090]),
        ("var.ports[1].name", "grpc"),
        ('var.sizes["large"]', 4),
        ("var.names.0", "web"),
    ],
)
def test_conditionals_for_expressions_and_splats(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"${var.env}-${upper("x")}"', "prod-X"),
        ('"%{ if var.env == "prod" }live%{ else }test%{ endif }"', "live"),
        ('"%{ for n in var.names }[${n}]%{ endfor }"', "[web][][api]"),
        ('"%{ for k, v in var.sizes }${k}=${v};%{ endfor }"', "large=4;small=1;"),
        ('"a  %{~ if true ~}  b  %{~ endif ~}  c"', "abc"),
        ('"$${literal} %%{ not a directive }"', "${literal} %{ not a directive }"),
        ('"${var.env == "prod" ? "p" : "t"}"', "p"),
    ],
)
def test_string_templates_with_directives(expression: str, expected: Any) -> None:
    assert value(expression) == expected


def test_a_heredoc_with_a_for_directive() -> None:
    expression = "<<EOT\n%{ for p in var.ports ~}\nlisten ${p.name} ${p.to}\n%{ endfor ~}\nEOT"
    assert value(expression) == "listen http 80\nlisten grpc 9090\n"


@pytest.mark.parametrize(
    "literal",
    [
        "${attr.kernel.name}",
        "${node.unique.id}",
        "${meta.rack}",
        "${NOMAD_ALLOC_ID}",
        '${env["HOME"]}',
        "${node.datacenter}-${NOMAD_TASK_NAME}",
    ],
)
def test_run_time_references_stay_literal(literal: str) -> None:
    assert value(f'"{literal}"') == literal


@pytest.mark.parametrize(
    "expression", ['"${upper(node.class)}"', '"%{ if node.class == "x" }y%{ endif }"']
)
def test_computing_with_a_run_time_reference_is_an_error(expression: str) -> None:
    with pytest.raises(JobspecError) as info:
        value(expression)
    assert info.value.line == 14
    assert "node.* is known only when the job is placed or run" in info.value.message


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ('"a-${var.names}"', "cannot insert a list into a string"),
        ("var.names[5]", "index 5 is out of range for a list of 3"),
        ('var.sizes["medium"]', 'no element "medium"'),
        ('1 + "x"', "the operands of + must be numbers, got a string"),
        ("1 / 0", "division by zero"),
        ('"x" ? 1 : 2', "a condition must be true or false"),
        ('{for n in ["a", "a"] : n => 1}', 'makes key "a" twice'),
        ('"%{ if true }x"', "Unterminated template if directive"),
        ('"${1 +}"', "HCL syntax error"),
        ("<<EOT\n%{ if true }x\nEOT", "%{ if } has no %{ endif }"),
        ("<<EOT\n${1 +}\nEOT", "cannot parse"),
        ("<<EOT\n%{ while true }x%{ endwhile }\nEOT", "unknown template directive %{ while }"),
        ("<<EOT\n${FOO:-bar}\nEOT", "write $${ for a literal ${"),
        ("local.missing", 'unknown local "missing"'),
    ],
)
def test_bad_expressions_are_located_errors(expression: str, why: str) -> None:
    with pytest.raises(JobspecError) as info:
        value(expression)
    assert (info.value.file, info.value.line) == (FILE, 14)
    assert why in info.value.message


def test_sensitive_values_stay_out_of_expression_errors() -> None:
    text = (
        'variable "token" {\n  default   = "s3cr3t-t0ken"\n  sensitive = true\n}\n'
        'job "a" {\n  x = "${var.token}" + 1\n}\n'
    )
    from gitorch.jobspec import parse_text

    with pytest.raises(JobspecError) as info:
        parse_text(text, file=FILE)
    assert "s3cr3t-t0ken" not in str(info.value)
    assert info.value.line == 6
