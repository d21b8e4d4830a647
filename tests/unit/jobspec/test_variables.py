"""HCL2 variables, locals, var files, overrides, and what stays literal."""

from __future__ import annotations

from typing import Any

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import hcl
from gitorch.jobspec.variables import declarations, load_var_file, resolve

FILE = "jobs/app.nomad.hcl"
DOC = """\
variable "count" {
  type        = number
  default     = 2
  description = "how many"
}

variable "image" {
  type = string
}

variable "dcs" {
  type    = list(string)
  default = ["dc1"]
}

variable "labels" {
  type    = map(string)
  default = { tier = "web" }
}

locals {
  name = "app-${var.image}"
  full = "${local.name}:${var.count}"
}

job "app" {
  datacenters = var.dcs
  count       = "${var.count}"
  first_dc    = var.dcs[0]
  tier        = "${var.labels["tier"]}-${var.labels.tier}"
  name        = local.full
  kernel      = "${attr.kernel.name}"
  node        = "${node.unique.name}"
  rack        = "${meta.rack}"
  alloc       = "id=${NOMAD_ALLOC_ID}"
  home        = "${env["HOME"]}"
  escaped     = "$${var.count} and %%{ x }"
}
"""


def job_attrs(**kwargs: Any) -> dict[str, Any]:
    body = resolve(hcl.parse(DOC, FILE), FILE, **kwargs)
    assert [b.type for b in body.blocks] == ["job"]
    return {n: a.value for n, a in body.blocks[0].body.attributes.items()}


def test_defaults_references_and_literals() -> None:
    attrs = job_attrs(overrides={"image": "nginx"})
    assert attrs["datacenters"] == ["dc1"]
    assert attrs["count"] == 2  # one interpolation keeps the value's type
    assert attrs["first_dc"] == "dc1"
    assert attrs["tier"] == "web-web"
    assert attrs["name"] == "app-nginx:2"
    assert attrs["kernel"] == "${attr.kernel.name}"
    assert attrs["node"] == "${node.unique.name}"
    assert attrs["rack"] == "${meta.rack}"
    assert attrs["alloc"] == "id=${NOMAD_ALLOC_ID}"
    assert attrs["home"] == '${env["HOME"]}'
    assert attrs["escaped"] == "${var.count} and %{ x }"


def test_precedence_default_then_var_files_then_overrides() -> None:
    var_files = [
        ("vars/a.vars.hcl", 'count = 5\nimage = "a"\n'),
        ("vars/b.vars.hcl", 'dcs = ["x", "y"]\nimage = "b"\n'),
    ]
    attrs = job_attrs(var_files=var_files, overrides={"image": "c"})
    assert attrs["count"] == 5
    assert attrs["datacenters"] == ["x", "y"]
    assert attrs["name"] == "app-c:5"


def test_override_strings_are_converted_to_the_declared_type() -> None:
    attrs = job_attrs(overrides={"image": "x", "count": "7", "dcs": '["q"]'})
    assert attrs["count"] == 7
    assert attrs["datacenters"] == ["q"]


def test_wrong_type_names_the_var_file_and_line() -> None:
    with pytest.raises(JobspecError) as info:
        job_attrs(var_files=[("vars/v.hcl", 'image = "x"\n\ncount = "many"\n')])
    assert (info.value.file, info.value.line) == ("vars/v.hcl", 3)
    assert "expected a number" in str(info.value)


def test_missing_value_names_file_line_and_variable() -> None:
    with pytest.raises(JobspecError) as info:
        job_attrs()
    err = info.value
    assert (err.file, err.line) == (FILE, 7)
    assert str(err).startswith(f'{FILE}:7: variable "image" has no default')


def test_undeclared_var_file_values_are_ignored_unless_strict() -> None:
    files = [("vars/v.hcl", 'image = "x"\nimgae = "y"\n')]
    assert job_attrs(var_files=files)["name"] == "app-x:2"
    with pytest.raises(JobspecError, match="undeclared variable \"imgae\"; did you mean 'image'"):
        job_attrs(var_files=files, strict=True)


def test_an_undeclared_override_is_an_error_as_nomads_undefined_var() -> None:
    with pytest.raises(
        JobspecError, match="undefined -var variable \"imgae\".*did you mean 'image'"
    ):
        job_attrs(overrides={"image": "x", "imgae": "y"})


def test_unknown_variable_reference() -> None:
    text = 'variable "image" {\n  default = "x"\n}\njob "a" {\n  x = var.imag\n}\n'
    with pytest.raises(JobspecError) as info:
        resolve(hcl.parse(text, FILE), FILE)
    assert info.value.line == 5
    assert 'unknown variable "imag"' in str(info.value)
    assert "did you mean 'image'" in str(info.value)


def test_arithmetic_on_variables_is_evaluated() -> None:
    text = 'variable "n" {\n  default = 1\n}\njob "a" {\n\n  count = var.n + 1\n}\n'
    body = resolve(hcl.parse(text, FILE), FILE)
    assert body.blocks[0].body.attributes["count"].value == 2


def test_function_calls_are_evaluated_and_runtime_references_stay_literal() -> None:
    text = 'job "a" {\n  x = "${upper("a")}"\n  y = "${node.unique.id}-${NOMAD_ALLOC_ID}"\n}\n'
    attrs = resolve(hcl.parse(text, FILE), FILE).blocks[0].body.attributes
    assert attrs["x"].value == "A"
    assert attrs["y"].value == "${node.unique.id}-${NOMAD_ALLOC_ID}"


def test_locals_cycle() -> None:
    text = 'locals {\n  a = local.b\n  b = "${local.a}"\n}\njob "x" {}\n'
    with pytest.raises(JobspecError, match="cycle: a -> b -> a"):
        resolve(hcl.parse(text, FILE), FILE)


def test_values_from_var_files_are_not_reinterpolated() -> None:
    text = 'variable "v" {}\njob "a" {\n  x = var.v\n  y = "<${var.v}>"\n}\n'
    body = resolve(hcl.parse(text, FILE), FILE, overrides={"v": "${var.v}"})
    attrs = body.blocks[0].body.attributes
    assert (attrs["x"].value, attrs["y"].value) == ("${var.v}", "<${var.v}>")


def test_template_directives_are_evaluated() -> None:
    text = 'job "a" {\n  x = "%{ if true }y%{ endif }"\n}\n'
    body = resolve(hcl.parse(text, FILE), FILE)
    assert body.blocks[0].body.attributes["x"].value == "y"


def test_list_in_a_string_is_an_error() -> None:
    text = 'variable "l" {\n  default = [1]\n}\njob "a" {\n  x = "a-${var.l}"\n}\n'
    with pytest.raises(JobspecError, match=r":5: cannot insert a list"):
        resolve(hcl.parse(text, FILE), FILE)


def test_declarations() -> None:
    found = declarations(hcl.parse(DOC, FILE), FILE)
    assert found["count"].default == 2
    assert found["count"].type == "number"
    assert found["count"].description == "how many"
    assert found["image"].has_default is False
    assert found["dcs"].type == "list(string)"


def test_variable_block_unknown_attribute() -> None:
    with pytest.raises(
        JobspecError, match=r"f\.hcl:2: variable \"x\": unknown attribute \"defualt\""
    ):
        declarations(hcl.parse('variable "x" {\n  defualt = 1\n}\n', "f.hcl"), "f.hcl")


def test_var_file_rules() -> None:
    assert load_var_file("v.hcl", 'a = 1\nb = "x"\n')["b"].value == "x"
    with pytest.raises(JobspecError, match=r"v\.hcl:2: .*variables cannot be used"):
        load_var_file("v.hcl", "a = 1\nb = var.a\n")
    with pytest.raises(JobspecError, match=r"v\.hcl:1: a var file holds only"):
        load_var_file("v.hcl", 'variable "a" {}\n')


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "foo-${BAR}",
        "foo-${attr.network.dev-us-east1-relay-vpc.external-ip.0}",
        '${env["BLAH"]}',
        '${mixed-indexing.0[3]["FOO"].5}',
    ],
)
def test_undefined_roots_stay_as_written(value: str) -> None:
    # The cases of Nomad's TestParse_UndefinedVariables.
    body = resolve(hcl.parse(f'job "example" {{\n  region = "{value}"\n}}\n', FILE), FILE)
    assert body.blocks[0].body.attributes["region"].value == value
