"""Nomad's HCL2 function library: each family against the results Nomad documents."""

from __future__ import annotations

from typing import Any

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import hcl
from gitorch.jobspec.function_library import LIBRARY, SPECIAL
from gitorch.jobspec.variables import resolve

FILE = "jobs/fn.nomad.hcl"

# The names Nomad's jobspec2/functions.go registers.
NOMAD_FUNCTIONS = """abs base64decode base64encode bcrypt can ceil chomp chunklist cidrhost
cidrnetmask cidrsubnet cidrsubnets coalesce coalescelist compact concat contains convert
csvdecode distinct element flatten floor format formatdate formatlist indent index join
jsondecode jsonencode keys length log lookup lower max md5 merge min parseint pow range
reverse replace regex_replace rsadecrypt setintersection setproduct setunion sha1 sha256
sha512 signum slice sort split strlen strrev substr timeadd title trim trimprefix trimspace
trimsuffix try upper urlencode uuidv4 uuidv5 values yamldecode yamlencode zipmap abspath
basename dirname file filebase64 fileexists fileset pathexpand""".split()


def value(expression: str, prelude: str = "") -> Any:
    text = f'{prelude}\njob "a" {{\n  x = {expression}\n}}\n'
    body = resolve(hcl.parse(text, FILE), FILE)
    return body.blocks[0].body.attributes["x"].value


def test_every_function_nomad_registers_is_known_and_no_other() -> None:
    assert set(LIBRARY) | set(SPECIAL) == set(NOMAD_FUNCTIONS)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r'chomp("hello\n")', "hello"),
        (r'chomp("hello\r\n")', "hello"),
        (r'chomp("hello\n\n")', "hello"),
        ('format("Hello, %s!", "Ander")', "Hello, Ander!"),
        ('format("There are %d lights", 4)', "There are 4 lights"),
        (
            'format("%05.2f|%-4d|%t|%q|%x|%X|%o|%b", 3.14159, 7, true, "a", 255, 255, 8, 5)',
            '03.14|7   |true|"a"|ff|FF|10|101',
        ),
        ('format("%[2]s %[1]s", "a", "b")', "b a"),
        ('format("%v %#v", 1.5, "x")', '1.5 "x"'),
        (
            'formatlist("Hello, %s!", ["Valentina", "Ander"])',
            ["Hello, Valentina!", "Hello, Ander!"],
        ),
        ('formatlist("%s=%s", ["a", "b"], "x")', ["a=x", "b=x"]),
        (
            r'"items: ${indent(2, "[\n  foo,\n  bar,\n]\n")}"',
            "items: [\n    foo,\n    bar,\n  ]\n  ",
        ),
        ('join(", ", ["foo", "bar", "baz"])', "foo, bar, baz"),
        ('join("-", ["a"], ["b", "c"])', "a-b-c"),
        ('lower("HELLO")', "hello"),
        ('upper("hello")', "HELLO"),
        ('regex_replace("hello world", "(\\\\w+) (\\\\w+)", "$2 $1")', "world hello"),
        ('replace("1 + 2 + 3", "+", "-")', "1 - 2 - 3"),
        ('split(",", "foo,bar,baz")', ["foo", "bar", "baz"]),
        ('split(",", "foo")', ["foo"]),
        ('strlen("hello world")', 11),
        ('strrev("hello")', "olleh"),
        ('substr("hello world", 1, 4)', "ello"),
        ('substr("hello world", -5, -1)', "world"),
        ('title("hello world")', "Hello World"),
        ('trim("?!hello?!", "!?")', "hello"),
        ('trimprefix("helloworld", "hello")', "world"),
        ('trimsuffix("helloworld", "world")', "hello"),
        (r'trimspace("  hello\n\n")', "hello"),
    ],
)
def test_string_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('chunklist(["a", "b", "c", "d", "e"], 2)', [["a", "b"], ["c", "d"], ["e"]]),
        ('coalesce("a", "b")', "a"),
        ('coalesce("", "b")', "b"),
        ("coalesce(null, 2)", 2),
        ('coalescelist(["a", "b"], ["c", "d"])', ["a", "b"]),
        ('coalescelist([], ["c", "d"])', ["c", "d"]),
        ('compact(["a", "", "b", "c"])', ["a", "b", "c"]),
        ('concat(["a", ""], ["b", "c"])', ["a", "", "b", "c"]),
        ('contains(["a", "b", "c"], "a")', True),
        ('contains(["a", "b", "c"], "d")', False),
        ('distinct(["a", "b", "a", "c", "d", "b"])', ["a", "b", "c", "d"]),
        ('element(["a", "b", "c"], 1)', "b"),
        ('element(["a", "b", "c"], 3)', "a"),
        ('flatten([["a", "b"], [], ["c"]])', ["a", "b", "c"]),
        ('flatten([[["a", "b"], []], ["c"]])', ["a", "b", "c"]),
        ('index(["a", "b", "c"], "b")', 1),
        ("keys({a = 1, c = 2, d = 3})", ["a", "c", "d"]),
        ("length([])", 0),
        ('length(["a", "b"])', 2),
        ('length({"a" = "b"})', 1),
        ('length("hello")', 5),
        ('lookup({a = "ay", b = "bee"}, "a", "what?")', "ay"),
        ('lookup({a = "ay", b = "bee"}, "c", "what?")', "what?"),
        ('merge({a = "b", c = "d"}, {e = "f", c = "z"})', {"a": "b", "c": "z", "e": "f"}),
        ("range(3)", [0, 1, 2]),
        ("range(1, 4)", [1, 2, 3]),
        ("range(1, 8, 2)", [1, 3, 5, 7]),
        ("range(1, 4, 0.5)", [1, 1.5, 2, 2.5, 3, 3.5]),
        ("range(4, 1)", [4, 3, 2]),
        ("range(10, 5, -2)", [10, 8, 6]),
        ("reverse([1, 2, 3])", [3, 2, 1]),
        ('setintersection(["a", "b"], ["b", "c"], ["b", "d"])', ["b"]),
        (
            'setproduct(["dev", "prod"], ["app1", "app2"])',
            [["dev", "app1"], ["dev", "app2"], ["prod", "app1"], ["prod", "app2"]],
        ),
        ('setunion(["a", "b"], ["b", "c"], ["d"])', ["a", "b", "c", "d"]),
        ('slice(["a", "b", "c", "d"], 1, 3)', ["b", "c"]),
        ('sort(["e", "d", "a", "x"])', ["a", "d", "e", "x"]),
        ("values({a = 3, c = 2, d = 1})", [3, 2, 1]),
        ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
    ],
)
def test_collection_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("abs(23)", 23),
        ("abs(0)", 0),
        ("abs(-12.4)", 12.4),
        ("ceil(5)", 5),
        ("ceil(5.1)", 6),
        ("floor(4.9)", 4),
        ("log(50, 10)", 1.6989700043360185),
        ("log(16, 2)", 4),
        ("log(1, 10)", 0),
        ("max(12, 54, 3)", 54),
        ("max([12, 54, 3]...)", 54),
        ("min(12, 54, 3)", 3),
        ('parseint("100", 10)', 100),
        ('parseint("FF", 16)', 255),
        ('parseint("-10", 16)', -16),
        ('parseint("1011111011101111", 2)', 48879),
        ('parseint("aA", 62)', 656),
        ("pow(3, 2)", 9),
        ("pow(4, 0)", 1),
        ("signum(-13)", -1),
        ("signum(0)", 0),
        ("signum(344)", 1),
    ],
)
def test_numeric_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('base64encode("Hello World")', "SGVsbG8gV29ybGQ="),
        ('base64decode("SGVsbG8gV29ybGQ=")', "Hello World"),
        (
            r'csvdecode("a,b,c\n1,2,3\n4,5,6")',
            [{"a": "1", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "6"}],
        ),
        (r'jsondecode("{\"hello\": \"world\"}")', {"hello": "world"}),
        ('jsondecode("true")', True),
        ('jsonencode({"hello" = "world"})', '{"hello":"world"}'),
        ('jsonencode({b = [1, 2.5], a = "<&>"})', '{"a":"\\u003c\\u0026\\u003e","b":[1,2.5]}'),
        ('urlencode("Hello World!")', "Hello+World%21"),
        (
            'urlencode("foo:bar@localhost?foo=bar&bar=baz")',
            "foo%3Abar%40localhost%3Ffoo%3Dbar%26bar%3Dbaz",
        ),
        ('yamldecode("hello: world")', {"hello": "world"}),
        ('yamldecode("{a: &foo [1, 2, 3], b: *foo}")', {"a": [1, 2, 3], "b": [1, 2, 3]}),
        ('yamlencode({"a" = "b", "c" = "d"})', '"a": "b"\n"c": "d"\n'),
        ('yamlencode({bar = "baz", foo = [1, 2, 3]})', '"bar": "baz"\n"foo":\n- 1\n- 2\n- 3\n'),
        ('md5("hello world")', "5eb63bbbe01eeed093cb22bb8f5acdc3"),
        ('sha1("hello world")', "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed"),
        (
            'sha256("hello world")',
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        ),
        (
            'sha512("hello world")',
            "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f"
            "989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f",
        ),
        ('uuidv5("dns", "www.terraform.io")', "a5008fae-b28c-5ba5-96cd-82b4c53552d6"),
        ('uuidv5("url", "https://www.terraform.io/")', "9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5"),
    ],
)
def test_encoding_and_hash_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


def test_uuidv4_is_a_random_version_4_uuid() -> None:
    first, second = value("uuidv4()"), value("uuidv4()")
    assert first != second
    assert first[14] == "4" and len(first) == 36


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('formatdate("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z")', "02 Jan 2018 23:12 UTC"),
        (
            'formatdate("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01Z")',
            "Tuesday, 02-Jan-18 23:12:01 UTC",
        ),
        (
            'formatdate("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00")',
            "Tue, 02 Jan 2018 23:12:01 -0800",
        ),
        ('formatdate("MMM DD, YYYY", "2018-01-02T23:12:01Z")', "Jan 02, 2018"),
        ('formatdate("HH:mmaa", "2018-01-02T23:12:01Z")', "11:12pm"),
        ("formatdate(\"h 'o''clock'\", \"2018-01-02T09:00:00Z\")", "9 o'clock"),
        ('timeadd("2017-11-22T00:00:00Z", "10m")', "2017-11-22T00:10:00Z"),
        ('timeadd("2017-11-22T00:00:00-05:00", "-1h30m")', "2017-11-21T22:30:00-05:00"),
    ],
)
def test_date_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('cidrhost("10.12.112.0/20", 16)', "10.12.112.16"),
        ('cidrhost("10.12.112.0/20", 268)', "10.12.113.12"),
        ('cidrhost("fd00:fd12:3456:7890:00a2::/72", 34)', "fd00:fd12:3456:7890::22"),
        ('cidrnetmask("172.16.0.0/12")', "255.240.0.0"),
        ('cidrsubnet("172.16.0.0/12", 4, 2)', "172.18.0.0/16"),
        ('cidrsubnet("10.1.2.0/24", 4, 15)', "10.1.2.240/28"),
        ('cidrsubnet("fd00:fd12:3456:7890::/56", 16, 162)', "fd00:fd12:3456:7800:a200::/72"),
        (
            'cidrsubnets("10.1.0.0/16", 4, 4, 8, 4)',
            ["10.1.0.0/20", "10.1.16.0/20", "10.1.32.0/24", "10.1.48.0/20"],
        ),
    ],
)
def test_network_functions(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('try(local.settings.port, "8080")', "8080"),
        ("try(local.settings.name, 1)", "web"),
        ("can(local.settings.port)", False),
        ("can(local.settings.name)", True),
        ('convert("5", number)', 5),
        ('convert(["b", "a", "b"], set(string))', ["b", "a"]),
        ("convert([1, 2], list(string))", ["1", "2"]),
        ("convert({a = 1}, map(string))", {"a": "1"}),
    ],
)
def test_type_functions(expression: str, expected: Any) -> None:
    assert value(expression, 'locals {\n  settings = { name = "web" }\n}\n') == expected


@pytest.mark.parametrize(
    ("expression", "function", "why"),
    [
        ('upper("a", "b")', "upper", "takes 1 argument, got 2"),
        ("upper([1])", "upper", "argument 1: a string is required, got a list"),
        ('abs("x")', "abs", "a number is required"),
        ("element([], 0)", "element", "empty list"),
        ('parseint("12", 2)', "parseint", "not a number in base 2"),
        ('index(["a"], "z")', "index", "not in the list"),
        ('formatdate("YYYY", "yesterday")', "formatdate", "RFC 3339"),
        ('timeadd("2017-11-22T00:00:00Z", "10 minutes")', "timeadd", "like 1h30m"),
        ('cidrsubnet("10.0.0.0/30", 8, 1)', "cidrsubnet", "cannot extend a /30 prefix by 8"),
        ('jsondecode("{")', "jsondecode", "not JSON"),
        ('lookup({}, "k")', "lookup", "no default"),
        ('file("/etc/passwd")', "file", "filesystem functions are disabled"),
        ('bcrypt("x")', "bcrypt", "not supported by gitorch"),
    ],
)
def test_a_function_called_wrongly_is_a_located_error_naming_it(
    expression: str, function: str, why: str
) -> None:
    with pytest.raises(JobspecError) as info:
        value(expression)
    assert info.value.file == FILE
    assert info.value.line == 3
    assert f'function "{function}"' in info.value.message
    assert why in info.value.message


def test_an_unknown_function_is_an_error() -> None:
    with pytest.raises(JobspecError, match=r'fn.nomad.hcl:3: there is no function "uppercase"'):
        value('uppercase("a")')


@pytest.mark.parametrize(
    "expression",
    [
        "range(1000000000)",
        'format("%999999999d", 1)',
        'format("%1000000000d", 1)',
        'indent(100000000, "a\\nb")',
        'join(",", [for i in range(50000) : "0123456789"])',
        "setproduct(range(1000), range(1000))",
        'replace(join("", [for i in range(10000) : "a"]), "a", format("%50s", "b"))',
        "pow(10, 100000)",
        'regex_replace("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "(a+)+$", "")',
        'regex_replace("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "(a|aa)*$", "")',
        '[for i in range(200) : format("%250000s", "")]',
        'yamldecode("a: &a [x, x, x, x, x, x, x, x, x, x]\\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]")',
    ],
)
def test_work_and_sizes_are_bounded(expression: str) -> None:
    text = f'job "a" {{\n  x = {expression}\n}}\n'
    with pytest.raises(JobspecError) as info:
        resolve(hcl.parse(text, FILE), FILE, max_string=400_000)
    assert info.value.line == 2
