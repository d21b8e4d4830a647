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


# -- re-rendering when inputs change (gitorch.agent.templatewatch) ---------------------

QUICK = """
        wait {
          min = "200ms"
          max = "1s"
        }
        splay = "100ms"
"""

WEB = """
job "web" {
  group "web" {
    count = %(count)d
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
    }
    task "server" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""

LISTER = """
job "lister" {
  group "g" {
    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo \\"start count=$WEB_COUNT\\"; cat local/peers.txt; exec sleep 600"]
      }
      template {
        destination = "local/peers.txt"
        data        = <<EOT
{{ range nomadService "web" }}peer {{ .Address }}:{{ .Port }}
{{ end }}
EOT
        change_mode = "restart"
%(quick)s
      }
      template {
        destination = "local/web.env"
        env         = true
        data        = "WEB_COUNT={{ len (nomadService \\"web\\") }}"
%(quick)s
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""

# A task that writes what it sees on SIGHUP; templates on variables with each change_mode.
WATCHER = """
job "%(job)s" {
  group "g" {
    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }
    task "t" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "trap 'cat local/v.txt >> local/hups.txt' HUP; while :; do sleep 0.1; done"]
      }
      template {
        destination = "local/v.txt"
        data        = "{{ with nomadVar \\"nomad/jobs/%(job)s\\" }}{{ .v }}{{ end }}"
        %(mode)s
%(quick)s
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""

MODES = {
    "sig": 'change_mode = "signal"\n        change_signal = "SIGHUP"',
    "nop": 'change_mode = "noop"',
    "scr": """change_mode = "script"
        change_script {
          command = "/bin/sh"
          args    = ["-c", "cp local/v.txt local/script-saw.txt"]
          timeout = "5s"
        }""",
}


ONCE = """
      template {
        destination = "local/once.txt"
        data        = "{{ with nomadVar \\"nomad/jobs/nop\\" }}{{ .v }}{{ end }}"
        once        = true
      }"""

# A template that cannot render the variable's new value: the task is killed and failed.
BAD = WATCHER.replace("{{ .v }}", "{{ (.v | parseJSON).n }}")


def watcher_job(job_id: str) -> str:
    text = WATCHER % {"job": job_id, "mode": MODES[job_id], "quick": QUICK}
    if job_id == "nop":
        text = text.replace("      resources {", ONCE.lstrip("\n") + "\n      resources {", 1)
    return text


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Agent, GitRepo]]:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "web and lister",
        **{
            "jobs__web.nomad.hcl": WEB % {"count": 1},
            "jobs__lister.nomad.hcl": LISTER % {"quick": QUICK},
        },
    )
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a, repo
    finally:
        a.stop_jobs()
        a.stop()


def task_file(agent: Agent, alloc_id: str, rel: str) -> str:
    path = agent.data_dir / "alloc" / alloc_id / "t" / rel
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def task_state(agent: Agent, alloc_id: str) -> dict[str, Any]:
    alloc = agent.get(f"/v1/allocation/{alloc_id}")
    return dict((alloc.get("TaskStates") or {}).get("t") or {})


def peers(agent: Agent, alloc_id: str) -> list[str]:
    return [ln for ln in task_file(agent, alloc_id, "local/peers.txt").splitlines() if ln]


def test_template_restarts_the_task_when_a_service_scales(live: tuple[Agent, GitRepo]) -> None:
    agent, repo = live
    (lister,) = wait_for(lambda: agent.running("lister"), 60, "lister running")
    alloc_id = lister["ID"]
    wait_for(lambda: len(peers(agent, alloc_id)) == 1 or None, 60, "one web instance listed")
    # the task (re)started with the list it now holds
    wait_for(
        having(lambda: stdout(agent, alloc_id), "start count=1\npeer 127.0.0.1:"), 30, "output"
    )
    wait_for(lambda: task_state(agent, alloc_id).get("State") == "running" or None, 30, "up")
    restarts = task_state(agent, alloc_id)["Restarts"]

    repo.commit("scale web to 2", **{"jobs__web.nomad.hcl": WEB % {"count": 2}})
    wait_for(lambda: len(agent.running("web")) == 2 or None, 60, "two web instances")
    ports = sorted(f"peer 127.0.0.1:{r['Port']}" for r in agent.get("/v1/service/web"))
    wait_for(lambda: sorted(peers(agent, alloc_id)) == ports or None, 30, "both listed")
    state = wait_for(
        lambda: (
            (s := task_state(agent, alloc_id))["Restarts"] == restarts + 1
            and s["State"] == "running"
            and s
        ),
        30,
        "the lister restarted",
    )
    signaled = [e for e in state["Events"] if e["Type"] == "Restart Signaled"]
    assert signaled[-1]["DisplayMessage"] == "Template with change_mode restart re-rendered"
    assert not state["Failed"]
    # the restarted task read the new file and the new environment (env = true)
    out = wait_for(having(lambda: stdout(agent, alloc_id), "start count=2"), 30, "new output")
    after = out[out.rindex("start count=2") :].splitlines()
    assert sorted(after[1:3]) == ports
    assert agent.running("lister")[0]["ID"] == alloc_id  # the same allocation


def put_var(agent: Agent, path: str, value: str) -> None:
    r = agent.http.put(f"/v1/var/{path}", json={"Items": {"v": value}})
    assert r.status_code == 200, r.text


def test_variable_changes_signal_rewrite_and_run_the_change_script(
    live: tuple[Agent, GitRepo],
) -> None:
    agent, repo = live
    for job_id in MODES:
        put_var(agent, f"nomad/jobs/{job_id}", "one")
    repo.commit("watchers", **{f"jobs__{j}.nomad.hcl": watcher_job(j) for j in MODES})
    allocs = {j: wait_for(lambda j=j: agent.running(j), 60, f"{j} running")[0]["ID"] for j in MODES}
    for alloc_id in allocs.values():
        assert task_file(agent, alloc_id, "local/v.txt") == "one"
        assert task_state(agent, alloc_id)["Restarts"] == 0

    for job_id in MODES:
        put_var(agent, f"nomad/jobs/{job_id}", "two")

    # signal: the file holds the new value when the task gets SIGHUP; no restart
    sig = allocs["sig"]
    wait_for(lambda: task_file(agent, sig, "local/hups.txt") == "two" or None, 30, "SIGHUP seen")
    signaling = wait_for(
        lambda: [e for e in task_state(agent, sig)["Events"] if e["Type"] == "Signaling"],
        15,
        "the Signaling event",
    )
    assert [(e["DisplayMessage"], e["TaskSignal"]) for e in signaling] == [
        ("Template re-rendered", "SIGHUP")
    ]
    # noop: the file is rewritten, nothing else happens
    nop = allocs["nop"]
    wait_for(lambda: task_file(agent, nop, "local/v.txt") == "two" or None, 30, "noop rewrite")
    # script: it ran inside the task (its working dir) after the file changed
    scr = allocs["scr"]
    wait_for(
        lambda: task_file(agent, scr, "local/script-saw.txt") == "two" or None, 30, "script ran"
    )
    ran = wait_for(
        lambda: [e for e in task_state(agent, scr)["Events"] if e["Type"] == "Task hook message"],
        15,
        "the script's event",
    )
    assert ran[-1]["DisplayMessage"] == (
        "Template successfully ran script /bin/sh with arguments: "
        "[-c cp local/v.txt local/script-saw.txt]. Exit code: 0"
    )
    for job_id, alloc_id in allocs.items():
        state = task_state(agent, alloc_id)
        assert (state["State"], state["Restarts"], state["Failed"]) == ("running", 0, False)
        kinds = [e["Type"] for e in state["Events"]]
        assert "Restart Signaled" not in kinds and "Killing" not in kinds, (job_id, kinds)
    nop_kinds = [e["Type"] for e in task_state(agent, nop)["Events"]]
    assert nop_kinds == ["Received", "Task Setup", "Started"]
    assert task_file(agent, nop, "local/once.txt") == "one"  # once = true: never again
    # a second change signals again
    put_var(agent, "nomad/jobs/sig", "three")
    wait_for(
        lambda: task_file(agent, sig, "local/hups.txt") == "twothree" or None, 30, "second HUP"
    )


def test_a_template_that_cannot_render_any_more_fails_the_task(
    live: tuple[Agent, GitRepo],
) -> None:
    agent, repo = live
    put_var(agent, "nomad/jobs/bad", '{"n": 7}')
    job_text = BAD % {"job": "bad", "mode": 'change_mode = "noop"', "quick": QUICK}
    repo.commit("bad", **{"jobs__bad.nomad.hcl": job_text})
    (alloc,) = wait_for(lambda: agent.running("bad"), 60, "bad running")
    assert task_file(agent, alloc["ID"], "local/v.txt") == "7"
    put_var(agent, "nomad/jobs/bad", "not json")
    state = wait_for(
        lambda: (s := task_state(agent, alloc["ID"]))["State"] == "dead" and s,
        30,
        "the task killed",
    )
    assert state["Failed"] is True
    killing = [e for e in state["Events"] if e["Type"] == "Killing"]
    assert killing[0]["DisplayMessage"].startswith("Template failed: template: local/v.txt:1:")
    assert "error calling parseJSON" in killing[0]["DisplayMessage"]
    assert killing[0]["FailsTask"] is True
    assert task_file(agent, alloc["ID"], "local/v.txt") == "7"  # the last output is kept
    wait_for(lambda: agent.allocs("bad")[0]["ClientStatus"] == "failed" or None, 30, "alloc failed")


def test_templates_are_watched_again_after_an_agent_restart(
    live: tuple[Agent, GitRepo],
) -> None:
    agent, repo = live
    put_var(agent, "nomad/jobs/sig", "one")
    repo.commit("a watcher", **{"jobs__sig.nomad.hcl": watcher_job("sig")})
    (alloc,) = wait_for(lambda: agent.running("sig"), 60, "sig running")
    wait_for(lambda: task_file(agent, alloc["ID"], "local/v.txt") == "one" or None, 30, "render")

    agent.stop()  # the task keeps running; the restarted agent re-attaches it
    agent.start()
    again = wait_for(lambda: agent.running("sig"), 30, "sig running after the restart")
    assert [a["ID"] for a in again] == [alloc["ID"]]
    put_var(agent, "nomad/jobs/sig", "two")
    wait_for(
        lambda: task_file(agent, alloc["ID"], "local/hups.txt") == "two" or None,
        40,
        "the re-attached task's template re-rendered and signalled",
    )
    assert task_state(agent, alloc["ID"])["Restarts"] == 0
