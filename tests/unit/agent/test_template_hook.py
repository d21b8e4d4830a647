"""The task's template hook on a real task dir, with the in-memory data source."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gitorch.agent.templates import TemplateFailed, TemplateWaiting, parse_env, render_templates
from gitorch.core.model import Template
from gitorch.core.task import TaskConfig
from gitorch.templating.source import MemorySource, ServiceInstance


def config(tmp_path: Path) -> TaskConfig:
    task_dir = tmp_path / "t"
    (task_dir / "local").mkdir(parents=True, exist_ok=True)
    return TaskConfig(
        alloc_id="a1", task_name="t", driver="raw_exec", task_dir=str(task_dir),
        alloc_dir=str(tmp_path), log_dir=str(tmp_path), env={"NOMAD_TASK_NAME": "t"},
    )  # fmt: skip


SOURCE = MemorySource(
    service_map={"db": [ServiceInstance(ID="1", ServiceName="db", Address="10.1.1.1", Port=5432)]},
    variables={"nomad/jobs/app": {"user": "u1"}},
)


def test_renders_services_variables_env_and_env_file(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    templates = [
        Template(
            dest_path="local/app.conf",
            perms="0600",
            embedded_tmpl='{{ range nomadService "db" }}db={{ .Address }}:{{ .Port }}{{ end }}\n'
            '{{ with nomadVar "nomad/jobs/app" }}user={{ .user }}{{ end }} task={{ env "NOMAD_TASK_NAME" }}\n',
        ),
        Template(
            dest_path="secrets/app.env",
            env=True,
            embedded_tmpl='# c\nexport A="x y"\nB={{ env "NOMAD_TASK_NAME" }}\n',
        ),
    ]
    out = render_templates(cfg, templates, SOURCE)
    conf = Path(cfg.task_dir, "local/app.conf")
    assert conf.read_text() == "db=10.1.1.1:5432\nuser=u1 task=t\n"
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    assert out.env["A"] == "x y" and out.env["B"] == "t"


def test_source_file_in_the_task_dir(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    Path(cfg.task_dir, "local/in.tpl").write_text('<% env "NOMAD_TASK_NAME" %>')
    tpl = Template(
        source_path="local/in.tpl", dest_path="local/out", left_delim="<%", right_delim="%>"
    )
    render_templates(cfg, [tpl], SOURCE)
    assert Path(cfg.task_dir, "local/out").read_text() == "t"


def test_syntax_error_names_template_line_and_column(tmp_path: Path) -> None:
    tpl = Template(dest_path="local/x.conf", embedded_tmpl="ok\n  {{ nope }}")
    with pytest.raises(
        TemplateFailed, match=r'template: local/x.conf:2:6: function "nope" not defined'
    ):
        render_templates(config(tmp_path), [tpl], SOURCE)


def test_error_on_missing_key(tmp_path: Path) -> None:
    text = '{{ with nomadVar "nomad/jobs/app" }}{{ .password }}{{ end }}'
    lax = Template(dest_path="local/a", embedded_tmpl=text)
    render_templates(config(tmp_path), [lax], SOURCE)
    assert Path(tmp_path, "t/local/a").read_text() == "<no value>"
    strict = Template(dest_path="local/a", embedded_tmpl=text, error_on_missing_key=True)
    with pytest.raises(TemplateFailed, match='map has no entry for key "password"'):
        render_templates(config(tmp_path), [strict], SOURCE)


def test_a_missing_variable_waits_then_says_what_for(tmp_path: Path) -> None:
    tpl = Template(
        dest_path="local/a", embedded_tmpl='{{ with nomadVar "nomad/jobs/other" }}x{{ end }}'
    )
    slept: list[float] = []
    clock = iter(x * 0.5 for x in range(100))
    with pytest.raises(TemplateWaiting) as err:
        render_templates(
            config(tmp_path),
            [tpl],
            SOURCE,
            wait_s=2.0,
            sleep=slept.append,
            clock=lambda: next(clock),
        )
    assert err.value.what == "variable nomad/jobs/other"
    assert str(err.value) == "Template local/a: Missing: waiting for variable nomad/jobs/other"
    assert slept and not Path(tmp_path, "t/local/a").exists()


@pytest.mark.parametrize("dest", ["../escape", "/etc/passwd", "local/../../x"])
def test_destination_must_stay_in_the_task_dir(tmp_path: Path, dest: str) -> None:
    with pytest.raises(TemplateFailed, match="escapes the task dir"):
        render_templates(config(tmp_path), [Template(dest_path=dest, embedded_tmpl="x")], SOURCE)


def test_env_file_with_a_bad_line_is_located() -> None:
    with pytest.raises(TemplateFailed, match="line 2: expected KEY=VALUE"):
        parse_env("A=1\nnot a pair\n", "local/e.env")
