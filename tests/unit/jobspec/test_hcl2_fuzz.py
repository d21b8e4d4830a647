"""Whatever expression text a heredoc holds, evaluating it gives a value or a located
JobspecError: never another exception, never unbounded work."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitorch.errors import JobspecError
from gitorch.jobspec import hcl
from gitorch.jobspec.variables import resolve

FILE = "jobs/fuzz.nomad.hcl"
TOKENS = [
    "${", "}", "%{", "if ", "else", "endif", "for ", " in ", "endfor", "~", "(", ")", "[", "]",
    "{", "=>", "...", "?", ":", ",", ".", "*", "+", "-", "/", "%", "==", "!", "&&", "||", "<",
    '"', "\\", " ", "\n", "1", "0.5", "var.l", "var.m", "local.a", "upper(", "range(", "join(",
    "format(", "\"%9d\"", "merge(", "flatten(", "try(", "can(", "convert(", "string", "list(",
    "node.class", "NOMAD_ALLOC_ID", "x", "k => v", "[*]", ".*", "true", "null", "$${",
]  # fmt: skip
PRELUDE = (
    'variable "l" {\n  default = [1, "a", [2]]\n}\n'
    'variable "m" {\n  default = { a = 1, b = "x" }\n}\n'
    "locals {\n  a = [for v in var.l : v]\n}\n"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_any_expression_text_is_a_value_or_a_located_error(tokens: list[str]) -> None:
    body = "".join(tokens).replace("EOT", "E0T")
    text = f'{PRELUDE}job "a" {{\n  x = <<EOT\n{body}\nEOT\n}}\n'
    try:
        resolve(hcl.parse(text, FILE), FILE)
    except JobspecError as exc:
        assert exc.file == FILE
        assert exc.line >= 1
