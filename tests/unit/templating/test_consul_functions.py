"""The consul-template function set over an in-memory data source."""

from __future__ import annotations

import datetime as dt

import pytest

from gitorch.templating import Template, TemplateExecError, WaitingFor
from gitorch.templating.consul import functions
from gitorch.templating.source import MemorySource, ServiceInstance

WHEN = dt.datetime(2024, 5, 17, 8, 9, 10, 123000, tzinfo=dt.UTC)


def web(i: int, tags: list[str] | None = None) -> ServiceInstance:
    return ServiceInstance(
        ID=f"_nomad-task-{i}", ServiceName="web", Address=f"10.0.0.{i}", Port=8000 + i,
        Tags=tags or [], JobID="web", AllocID=f"a{i}",
    )  # fmt: skip


def run(text: str, source: MemorySource | None = None, env: dict[str, str] | None = None) -> str:
    funcs = functions(source or MemorySource(service_map={}), env=env or {}, now=lambda: WHEN)
    return Template("t.tpl", text, funcs=funcs).render()


def test_nomad_service_range_renders_each_instance() -> None:
    src = MemorySource(service_map={"web": [web(1), web(2, ["canary"])]})
    text = '{{ range nomadService "web" }}server {{ .Address }}:{{ .Port }};\n{{ end }}'
    assert run(text, src) == "server 10.0.0.1:8001;\nserver 10.0.0.2:8002;\n"
    assert (
        run('{{ range service "canary.web" }}{{ .Name }}@{{ .Port }}{{ end }}', src) == "web@8002"
    )
    assert run("{{ range nomadServices }}{{ .Name }} {{ .Tags }}{{ end }}", src) == "web [canary]"


def test_a_service_with_no_instances_renders_empty_but_an_unknown_catalog_waits() -> None:
    assert run('[{{ range nomadService "db" }}x{{ end }}]', MemorySource(service_map={})) == "[]"
    with pytest.raises(WaitingFor, match="waiting for service db"):
        run('{{ range nomadService "db" }}x{{ end }}', MemorySource())


def test_nomad_var_and_friends() -> None:
    src = MemorySource(variables={"nomad/jobs/web": {"user": "app", "password": "s3cret"}})
    text = '{{ with nomadVar "nomad/jobs/web" }}{{ .user }}:{{ .password }}{{ end }}'
    assert run(text, src) == "app:s3cret"
    assert (
        run('{{ nomadVarExists "nomad/jobs/web" }} {{ nomadVarExists "nope" }}', src)
        == "true false"
    )
    assert run('{{ range nomadVarList "nomad/" }}{{ .Path }}{{ end }}', src) == "nomad/jobs/web"
    with pytest.raises(WaitingFor) as err:
        run('{{ with nomadVar "nomad/jobs/db" }}{{ .x }}{{ end }}', src)
    assert str(err.value) == "waiting for variable nomad/jobs/db"


def test_keys_and_secrets() -> None:
    src = MemorySource(
        keys={"app/a": "1", "app/b": "2", "app/sub/c": "3"}, secrets={"kv/db": {"pw": "x"}}
    )
    assert run('{{ key "app/a" }} {{ keyOrDefault "app/zz" "dflt" }}', src) == "1 dflt"
    assert run('{{ range ls "app" }}{{ .Key }}={{ .Value }} {{ end }}', src) == "a=1 b=2 "
    assert run('{{ with secret "kv/db" }}{{ .Data.pw }}{{ end }}', src) == "x"
    with pytest.raises(WaitingFor, match="waiting for key app/missing"):
        run('{{ key "app/missing" }}', src)
    with pytest.raises(WaitingFor, match="waiting for secret kv/other"):
        run('{{ secret "kv/other" }}', src)


def test_env_reads_the_task_environment() -> None:
    assert (
        run('{{ env "NOMAD_TASK_NAME" }}|{{ env "UNSET" }}|', env={"NOMAD_TASK_NAME": "api"})
        == "api||"
    )


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ "a,b,c" | split "," | join ";" }}', "a;b;c"),
        ('{{ toUpper "abc" }}{{ toLower "DEF" }}', "ABCdef"),
        ('{{ "a-b-c" | replaceAll "-" "+" }}', "a+b+c"),
        ('{{ regexMatch "^v[0-9]+$" "v12" }} {{ "x" | regexMatch "^v" }}', "true false"),
        ('{{ if "prod,eu" | split "," | contains "eu" }}yes{{ end }}', "yes"),
        ('{{ contains "ell" "hello" }}', "true"),
        ('[{{ trimSpace "  x \\n" }}]', "[x]"),
        ('{{ base64Encode "hello" }} {{ base64Decode "aGVsbG8=" }}', "aGVsbG8= hello"),
        (
            '{{ sha256Hex "abc" }}',
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("{{ timestamp }}", "2024-05-17T08:09:10Z"),
        (
            '{{ timestamp "2006-01-02 15:04:05.000" }} {{ timestamp "unix" }}',
            "2024-05-17 08:09:10.123 1715933350",
        ),
        ('{{ parseJSON `{"b":[1,2],"a":"x"}` | toJSON }}', '{"a":"x","b":[1,2]}'),
        ('{{ with parseJSON `{"n":{"m":3}}` }}{{ .n.m }}{{ end }}', "3"),
        ("{{ parseJSON `[1]` | toJSONPretty }}", "[\n  1\n]"),
        (
            '{{ scratch.Set "k" "v" }}{{ scratch.Get "k" }} {{ scratch.Key "k" }} {{ scratch.Key "z" }}',
            "v true false",
        ),
        (
            '{{ scratch.MapSet "m" "b" 2 }}{{ scratch.MapSet "m" "a" 1 }}{{ scratch.MapValues "m" }}',
            "[1 2]",
        ),
    ],
)
def test_helpers(text: str, want: str) -> None:
    assert run(text) == want


def test_to_json_of_services_uses_go_field_names() -> None:
    src = MemorySource(service_map={"web": [web(1)]})
    out = run('{{ nomadService "web" | toJSON }}', src)
    assert '"Address":"10.0.0.1"' in out and '"Port":8001' in out


@pytest.mark.parametrize("name", ["plugin", "writeToFile"])
def test_denied_functions_are_refused(name: str) -> None:
    with pytest.raises(TemplateExecError, match=f'function "{name}" is disabled'):
        run(f'{{{{ {name} "x" }}}}')


def test_bad_helper_input_is_a_located_error() -> None:
    with pytest.raises(TemplateExecError) as err:
        run('line\n{{ parseJSON "{nope" }}')
    assert (err.value.line, err.value.col) == (2, 4)
    assert "error calling parseJSON" in err.value.message
