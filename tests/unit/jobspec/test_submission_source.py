"""The source stored with a job (Nomad's JobSubmission), made where the file is parsed:
the text as parsed (a ``.j2`` file's rendering), var-file assignments and -var flags,
with the values of ``sensitive = true`` variables never stored."""

from __future__ import annotations

from gitorch.jobspec import parse_file
from gitorch.jobspec.isolate import parse_many_isolated
from gitorch.jobspec.submission import REDACTED, submission

SPEC = """
variable "password" {
  type      = string
  sensitive = true
}
variable "image" {
  type = string
}
job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      env {
        PW    = var.password
        IMAGE = var.image
      }
    }
  }
}
"""
VARS = ("web.vars.hcl", 'password = "hunter2-secret"\nimage = "nginx:1"\n')


def test_sensitive_values_are_left_out_of_variables_and_flags() -> None:
    found: dict[str, object] = {}
    parse_file("web.nomad.hcl", SPEC, var_files=[VARS], submitted=found)
    assert found["source"] == SPEC and found["sensitive"] == ["password"]
    sub = submission(SPEC, var_files=[VARS], flags={"password": "x2", "image": "y"},
                     sensitive=["password"])  # fmt: skip
    assert "hunter2-secret" not in sub.variables and "x2" not in str(sub.variable_flags)
    assert 'image = "nginx:1"' in sub.variables
    assert f'password = "{REDACTED}"' in sub.variables
    assert sub.variable_flags == {"password": REDACTED, "image": "y"}


def test_a_j2_file_is_stored_as_rendered_from_the_worker() -> None:
    text = 'job "[[ name ]]" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n' \
        '      config { command = "/bin/true" }\n    }\n  }\n}\n'  # fmt: skip
    subs: list[object] = []
    (job,) = parse_many_isolated(
        [("api.nomad.hcl.j2", text)], var_files=[("g.vars.hcl", 'name = "api"\n')],
        submissions=subs,  # type: ignore[arg-type]
    )  # fmt: skip
    assert not isinstance(job, Exception) and job.id == "api"
    (sub,) = subs
    assert 'job "api"' in sub.source and "[[" not in sub.source  # type: ignore[attr-defined]
    assert sub.variables == '# g.vars.hcl\nname = "api"\n'  # type: ignore[attr-defined]
