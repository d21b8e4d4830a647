"""Runtime templates through a real dev agent: a raw_exec task cats a template rendered
with ``env`` and ``range``; a template waiting for a variable and one with a syntax
error say so in the task's events, with what is missing or where the error is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(150)


def job(job_id: str, template: str, extra: str = "") -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    restart {{
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }}
    reschedule {{
      attempts  = 0
      unlimited = false
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "cat local/out.txt; echo \\"from-env=$GREETING\\"; exec sleep 300"]
      }}
      template {{
        destination = "local/out.txt"
        data        = <<EOT
{template}
EOT
        {extra}
      }}
      template {{
        destination = "local/vars.env"
        env         = true
        data        = "GREETING=hi-{{{{ env \\"NOMAD_JOB_NAME\\" }}}}"
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


GOOD = """task={{ env "NOMAD_TASK_NAME" }} alloc={{ env "NOMAD_ALLOC_INDEX" }}
{{- range $i, $s := split "," "red,green,blue" }}
{{ $i }}: {{ $s | toUpper }}
{{- end }}
[[ .not_an_action ]]"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "templates",
        **{
            "jobs__good.nomad.hcl": job("good", GOOD),
            "jobs__waits.nomad.hcl": job(
                "waits", '{{ with nomadVar "nomad/jobs/waits" }}{{ .pw }}{{ end }}'
            ),
            "jobs__broken.nomad.hcl": job("broken", "line one {{ range .x }}unclosed"),
            "jobs__delims.nomad.hcl": job(
                "delims",
                '[[ env "NOMAD_TASK_NAME" ]] {{ kept }}',
                'left_delimiter = "[["\n right_delimiter = "]]"',
            ),
        },
    )
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def having(fn: Any, needle: str) -> Any:
    def check() -> str | None:
        text = fn()
        return text if needle in text else None

    return check


def stdout(agent: Agent, alloc_id: str) -> str:
    params = {"task": "t", "type": "stdout", "plain": "true"}
    return str(agent.http.get(f"/v1/client/fs/logs/{alloc_id}", params=params).text)


def events(agent: Agent, job_id: str) -> list[dict[str, Any]]:
    allocs = agent.allocs(job_id)
    if not allocs:
        return []
    alloc = agent.get(f"/v1/allocation/{allocs[0]['ID']}")
    return list((alloc.get("TaskStates") or {}).get("t", {}).get("Events") or [])


def event_text(agent: Agent, job_id: str) -> str:
    return "\n".join(
        f"{e.get('Type')}: {e.get('DisplayMessage')} {e.get('Message', '')}"
        for e in events(agent, job_id)
    )


def test_template_renders_env_and_range_before_the_task_starts(agent: Agent) -> None:
    alloc = wait_for(lambda: agent.running("good"), 30, "good running")[0]
    out = wait_for(having(lambda: stdout(agent, alloc["ID"]), "from-env"), 15, "output")
    assert out == (
        "task=t alloc=0\n0: RED\n1: GREEN\n2: BLUE\n[[ .not_an_action ]]\nfrom-env=hi-good\n"
    )
    delims = wait_for(lambda: agent.running("delims"), 30, "delims running")[0]
    out = wait_for(having(lambda: stdout(agent, delims["ID"]), "from-env"), 15, "output")
    assert out.startswith("t {{ kept }}\n")


def test_missing_variable_and_syntax_error_are_task_events(agent: Agent) -> None:
    text = wait_for(
        having(lambda: event_text(agent, "waits"), "waiting for variable nomad/jobs/waits"),
        40,
        "the waiting event",
    )
    assert "Template local/out.txt: Missing: waiting for variable nomad/jobs/waits" in text
    assert agent.running("waits") == []
    broken = wait_for(
        having(lambda: event_text(agent, "broken"), "template:"), 40, "the syntax error event"
    )
    assert "template: local/out.txt:2:1: unexpected EOF" in broken
    wait_for(
        lambda: agent.allocs("broken")[0]["ClientStatus"] == "failed" or None, 20, "broken failed"
    )
