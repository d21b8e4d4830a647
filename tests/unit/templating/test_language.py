"""The text/template language: outputs known from Go's text/template documentation and
its examples, and the errors Go reports for bad syntax (with line and column)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gitorch.templating import Template, TemplateExecError, TemplateSyntaxError, render

OUTPUT_EXAMPLES = [
    # The "Examples" section of the package documentation: each prints "output" quoted.
    '{{"\\"output\\""}}',
    '{{`"output"`}}',
    '{{printf "%q" "output"}}',
    '{{"output" | printf "%q"}}',
    '{{printf "%q" (print "out" "put")}}',
    '{{"put" | printf "%s%s" "out" | printf "%q"}}',
    '{{"output" | printf "%s" | printf "%q"}}',
    '{{with "output"}}{{printf "%q" .}}{{end}}',
    '{{with $x := "output" | printf "%q"}}{{$x}}{{end}}',
    '{{with $x := "output"}}{{printf "%q" $x}}{{end}}',
    '{{with $x := "output"}}{{$x | printf "%q"}}{{end}}',
]


@pytest.mark.parametrize("text", OUTPUT_EXAMPLES)
def test_go_doc_pipeline_examples_print_output_quoted(text: str) -> None:
    assert render(text) == '"output"'


def test_trim_markers_as_in_go_docs() -> None:
    assert render("{{23 -}} < {{- 45}}") == "23<45"


def test_a_dash_without_space_is_a_negative_number_not_a_trim() -> None:
    assert render("a {{-3}} b") == "a -3 b"


@dataclass
class Recipient:
    Name: str
    Gift: str
    Attended: bool


LETTER = """
Dear {{.Name}},
{{if .Attended}}
It was a pleasure to see you at the wedding.
{{- else}}
It is a shame you couldn't make it to the wedding.
{{- end}}
{{with .Gift -}}
Thank you for the lovely {{.}}.
{{end}}
Best wishes,
Josie
"""


def test_go_example_letter() -> None:
    t = Template("letter", LETTER)
    out = "".join(
        t.render(r)
        for r in (
            Recipient("Aunt Mildred", "bone china tea set", True),
            Recipient("Uncle John", "moleskin pants", False),
            Recipient("Cousin Rodney", "", False),
        )
    )
    assert out == (
        "\nDear Aunt Mildred,\n\nIt was a pleasure to see you at the wedding.\n"
        "Thank you for the lovely bone china tea set.\n\nBest wishes,\nJosie\n"
        "\nDear Uncle John,\n\nIt is a shame you couldn't make it to the wedding.\n"
        "Thank you for the lovely moleskin pants.\n\nBest wishes,\nJosie\n"
        "\nDear Cousin Rodney,\n\nIt is a shame you couldn't make it to the wedding.\n"
        "\nBest wishes,\nJosie\n"
    )


def test_go_example_block() -> None:
    master = 'Names:{{block "list" .}}{{"\\n"}}{{range .}}{{println "-" .}}{{end}}{{end}}'
    guardians = ["Gamora", "Groot", "Nebula", "Rocket", "Star-Lord"]
    assert (
        render(master, guardians) == "Names:\n- Gamora\n- Groot\n- Nebula\n- Rocket\n- Star-Lord\n"
    )


def test_go_example_func() -> None:
    text = (
        '\nInput: {{printf "%q" .}}\nOutput 0: {{title .}}\n'
        'Output 1: {{title . | printf "%q"}}\nOutput 2: {{printf "%q" . | title}}\n'
    )
    t = Template("titleTest", text, funcs={"title": str.title})
    assert t.render("the go programming language") == (
        '\nInput: "the go programming language"\nOutput 0: The Go Programming Language\n'
        'Output 1: "The Go Programming Language"\nOutput 2: "The Go Programming Language"\n'
    )


@pytest.mark.parametrize(
    ("text", "data", "want"),
    [
        ("{{.Name}} is {{.Age}}", {"Name": "Ann", "Age": 7}, "Ann is 7"),
        ("{{.a.b.c}}", {"a": {"b": {"c": "deep"}}}, "deep"),
        ("[{{.Missing}}] [{{.Missing.Deeper}}]", {}, "[<no value>] [<no value>]"),
        ("{{.}}", None, "<no value>"),
        ("{{.}}", [1, "a", True], "[1 a true]"),
        ("{{.}}", {"b": 2, "a": 1}, "map[a:1 b:2]"),
        ("{{.}} {{1.5}} {{1e6}} {{0x10}} {{'a'}}", 3.0, "3 1.5 1e+06 16 97"),
        ("{{if .}}yes{{else}}no{{end}}", 0, "no"),
        ("{{if .}}yes{{else}}no{{end}}", [], "no"),
        ("{{if .}}yes{{else}}no{{end}}", "x", "yes"),
        ("{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}", 2, "two"),
        ("{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}}", 5, "many"),
        ("{{with .x}}has {{.}}{{else}}none{{end}}", {"x": ""}, "none"),
        ("{{with .x}}has {{.}}{{else with .y}}y {{.}}{{end}}", {"y": 3}, "y 3"),
        ("{{range .}}<{{.}}>{{end}}", ["a", "b"], "<a><b>"),
        ("{{range $i, $v := .}}{{$i}}={{$v}};{{end}}", ["a", "b"], "0=a;1=b;"),
        ("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", {"z": 1, "a": 2}, "a=2;z=1;"),
        ("{{range $v := .}}{{$v}}{{end}}", [1, 2], "12"),
        ("{{range .}}x{{else}}empty{{end}}", [], "empty"),
        ("{{range .}}x{{else}}empty{{end}}", None, "empty"),
        ("{{range 3}}{{.}}{{end}}", None, "012"),
        (
            "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}",
            [1, 2, 3, 4, 5],
            "13",
        ),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", None, "2"),
        ("{{$x := 1}}{{range .}}{{$x := .}}{{end}}{{$x}}", [5], "1"),
        ("{{range .}}{{$.top}}{{end}}", {"top": "T"}, "T"),
        ("{{$a := .}}{{range .l}}{{$a.top}}{{end}}", {"top": "T", "l": [1, 2]}, "TT"),
        (
            '{{define "T"}}[{{.}}]{{end}}{{template "T" "x"}}{{template "T"}}',
            None,
            "[x][<no value>]",
        ),
        (
            '{{define "a"}}A{{template "b" .}}{{end}}{{define "b"}}B{{.}}{{end}}{{template "a" 1}}',
            None,
            "AB1",
        ),
        ("{{/* a comment */}}x{{- /* trimmed */ -}} y", None, "xy"),
        ('{{len .}} {{len "héllo"}}', [1, 2, 3], "3 6"),
        ('{{index . 1}} {{index .m "k"}}', None, ""),
        ('{{slice "abcdef" 1 3}} {{slice . 1}}', [1, 2, 3], "bc [2 3]"),
        ('{{and 1 0}} {{and 1 2}} {{or 0 ""}} {{or 0 "x"}} {{not 0}}', None, "0 2  x true"),
        ("{{and 0 (index nil 1)}}", None, "0"),
        ('{{print 1 2 "a" 3 "b" "c"}}|{{println 1 "a"}}|', None, "1 2a3bc|1 a\n|"),
        (
            '{{printf "%5.2f|%-4d|%04d|%x|%X|%o|%t|%v|%T" 3.14159 7 42 255 255 8 true .5 1}}',
            None,
            " 3.14|7   |0042|ff|FF|10|true|0.5|int",
        ),
        (
            '{{printf "%d" "x"}} {{printf "%d %d" 1}} {{printf "%d" 1 2}}',
            None,
            "%!d(string=x) 1 %!d(MISSING) 1%!(EXTRA int=2)",
        ),
        (
            '{{eq 1 1}} {{eq 1 2 3 1}} {{ne "a" "b"}} {{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge "b" "a"}}',
            None,
            "true true true true true false true",
        ),
        (
            '{{html "<a href=\\"x\\">&\'</a>"}}',
            None,
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;",
        ),
        ('{{js "it\'s <b> \\"q\\" = \\\\"}}', None, 'it\\\'s \\u003Cb\\u003E \\"q\\" \\u003D \\\\'),
        ('{{urlquery "a b&c=d/é"}}', None, "a+b%26c%3Dd%2F%C3%A9"),
        ("{{(index . 0).Name}}", [{"Name": "n"}], "n"),
        ('{{ .a }}{{- "\\n\\n" -}}{{ .b }}', {"a": 1, "b": 2}, "1\n\n2"),
        ('{{"\\t\\x41\\u00e9\\101"}}', None, "\tAéA"),
    ],
)
def test_language(text: str, data: Any, want: str) -> None:
    if "index .m" in text:
        data = [0, "one"]
        data_map = {"l": data}
        assert render('{{index .l 1}} {{index . "l" 0}}', data_map) == "one 0"
        return
    assert render(text, data) == want


def test_custom_delimiters() -> None:
    t = Template("t", 'a [[ .x ]] {{ .x }} [[- " b" ]]', left="[[", right="]]")
    assert t.render({"x": 1}) == "a 1 {{ .x }} b"


def test_method_call_on_exposed_record() -> None:
    @dataclass
    class Svc:
        Address: str
        Port: int

        def HostPort(self, sep: str) -> str:
            return f"{self.Address}{sep}{self.Port}"

    assert render('{{.HostPort ":"}} {{.Address}}', Svc("10.0.0.1", 80)) == "10.0.0.1:80 10.0.0.1"


def test_missing_key_error_option() -> None:
    t = Template("t", "line1\n  {{.nope}}", missing_key_error=True)
    with pytest.raises(TemplateExecError) as err:
        t.render({"yes": 1})
    assert str(
        err.value
    ) == 't: 2:5: executing "t" at <.nope>: map has no entry for key "nope"'.replace(
        "t: ", "template: t:", 1
    )


def test_private_python_attributes_are_not_reachable() -> None:
    @dataclass
    class R:
        A: int

    with pytest.raises(TemplateExecError, match="can't evaluate field __class__"):
        render("{{.__class__}}", R(1))
    with pytest.raises(TemplateExecError, match="can't evaluate field upper in type string"):
        render("{{.upper}}", "x")


SYNTAX_ERRORS = [
    ("{{.x", 1, 1, "unclosed action"),
    ("ok\n  {{nosuch 1}}", 2, 5, 'function "nosuch" not defined'),
    ("{{$y}}", 1, 3, 'undefined variable "$y"'),
    ("a{{end}}", 1, 4, "unexpected {{end}}"),
    ("{{if 1}}x", 1, 10, "unexpected EOF"),
    ("{{else}}", 1, 3, "unexpected {{else}}"),
    ("{{1 | 2}}", 1, 7, "non executable command in pipeline stage 2"),
    ('{{"abc}}', 1, 3, "unterminated quoted string"),
    ("{{break}}", 1, 3, "{{break}} outside {{range}}"),
    ('{{define "a"}}x{{end}}{{define "a"}}y{{end}}', 1, 32, "multiple definition of template 'a'"),
    ("{{if}}{{end}}", 1, 5, "missing value for if"),
    ("{{(1}}", 1, 5, "unclosed left paren"),
    ("{{ 1) }}", 1, 5, "unexpected right paren"),
    ('{{ "s".x }}', 1, 4, "unexpected . after term '\"s\"'"),
    ("{{ 3.x }}", 1, 4, 'bad number syntax: "3.x"'),
    ("{{ @ }}", 1, 4, "unrecognized character in action: '@'"),
    ("{{/* open }}", 1, 1, "unclosed comment"),
    ("{{with 1}}{{else if 1}}{{end}}", 1, 13, "else if is not allowed in {{with}}"),
    ('{{ "\\q" }}', 1, 4, "unknown escape sequence"),
    ("{{ 1x2 }}", 1, 4, 'bad number syntax: "1x2"'),
]


@pytest.mark.parametrize(("text", "line", "col", "message"), SYNTAX_ERRORS)
def test_syntax_errors_name_template_line_and_column(
    text: str, line: int, col: int, message: str
) -> None:
    with pytest.raises(TemplateSyntaxError) as err:
        Template("conf.tpl", text)
    assert (err.value.name, err.value.line, err.value.col) == ("conf.tpl", line, col)
    assert message in err.value.message
    assert str(err.value).startswith(f"template: conf.tpl:{line}:{col}: ")


EXEC_ERRORS = [
    ("{{nil}}", "nil is not a command"),
    ("{{index . 5}}", "error calling index: index out of range: 5"),
    ("{{len 3}}", "error calling len: len of type int"),
    ('{{template "nope"}}', 'no such template "nope"'),
    ("{{eq 1 1.0}}", "incompatible types for comparison"),
    ("{{lt true false}}", "invalid type for comparison"),
    ('{{range "abc"}}{{end}}', "range can't iterate over abc"),
    ("{{ . 1 }}", "can't give argument to non-function ."),
    ("{{ not }}", "wrong number of args for not: got 0"),
    ("{{ and }}", "wrong number of args for and: want at least 1 got 0"),
    ('{{define "r"}}{{template "r"}}{{end}}{{template "r"}}', "exceeded maximum template depth"),
]


@pytest.mark.parametrize(("text", "message"), EXEC_ERRORS)
def test_exec_errors_name_the_action(text: str, message: str) -> None:
    with pytest.raises(TemplateExecError) as err:
        render("\n" + text, [1, 2], name="x.tpl")
    assert err.value.line == 2
    assert message in str(err.value)
    assert str(err.value).startswith("template: x.tpl:2:")
