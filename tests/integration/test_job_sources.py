"""Job sources, version diffs and scaling policies against a real dev agent on a real Git
repository: the submission of a GitOps job (and of a job posted with Nomad's Submission),
versions?diffs=true after a commit that changes count and an env var, the scaling
policies of a group's scaling block, and the UI's highlighted source and diff page (a
<script> in the jobspec shown as text)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(240)


def spec(count: int, mode: str) -> str:
    return f"""# owner: <script>alert(1)</script>
job "web" {{
  group "g" {{
    count = {count}
    scaling {{
      min     = 1
      max     = 5
      enabled = true
      policy {{
        cooldown = "1m"
      }}
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "exec sleep 300"]
      }}
      env {{
        MODE = "{mode}"
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "1s"
    }}
  }}
}}
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("sources")
    repo = GitRepo(root / "repo")
    repo.commit("web v0", **{"jobs__web.hcl": spec(1, "blue")})
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.get("/v1/job/web")["Version"] == 0 or None, 30, "web registered")
        repo.commit("web v1: count and env", **{"jobs__web.hcl": spec(2, "green")})
        wait_for(lambda: a.get("/v1/job/web")["Version"] == 1 or None, 30, "web v1")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def test_gitops_job_source_is_stored_per_version(agent: Agent) -> None:
    sub = agent.get("/v1/job/web/submission", version=1)
    assert sub["Source"] == spec(2, "green")
    assert (sub["Format"], sub["JobID"], sub["Version"], sub["Namespace"]) == (
        "hcl2", "web", 1, "default",
    )  # fmt: skip
    assert agent.get("/v1/job/web/submission", version=0)["Source"] == spec(1, "blue")
    missing = agent.http.get("/v1/job/web/submission", params={"version": 9})
    assert missing.status_code == 404 and "job source not found" in missing.text
    bad = agent.http.get("/v1/job/web/submission", params={"version": "x"})
    assert bad.status_code == 400


def test_a_job_posted_with_a_submission_keeps_it_and_a_huge_one_is_refused(agent: Agent) -> None:
    job = agent.post("/v1/jobs/parse", {"JobHCL": spec(1, "api").replace('"web"', '"api"')})
    source = 'job "api" { }  # as typed'
    body = {"Job": job, "Submission": {"Source": source, "Format": "hcl2",
                                       "VariableFlags": {"x": "1"}, "Variables": ""}}  # fmt: skip
    agent.post("/v1/jobs", body)
    sub = agent.get("/v1/job/api/submission", version=0)
    assert (sub["Source"], sub["VariableFlags"]) == (source, {"x": "1"})
    huge = {"Job": job, "Submission": {"Source": "#" * 1_000_001, "Format": "hcl2"}}
    r = agent.http.post("/v1/jobs", json=huge)
    assert r.status_code == 400 and "1000001 bytes" in r.text


def test_versions_with_diffs_show_count_and_env(agent: Agent) -> None:
    answer = agent.get("/v1/job/web/versions", diffs="true")
    assert [v["Version"] for v in answer["Versions"]] == [1, 0]
    (diff,) = answer["Diffs"]
    assert diff["Type"] == "Edited"
    (tg,) = diff["TaskGroups"]
    assert {"Type": "Edited", "Name": "Count", "Old": "1", "New": "2", "Annotations": []} in tg[
        "Fields"
    ]
    (task,) = tg["Tasks"]
    assert [(f["Name"], f["Old"], f["New"]) for f in task["Fields"]] == [
        ("Env[MODE]", "blue", "green")
    ]
    assert (
        "Diffs" not in agent.get("/v1/job/web/versions")
        or not agent.get("/v1/job/web/versions")["Diffs"]
    )


def test_scaling_policies_are_listed_and_read(agent: Agent) -> None:
    (stub,) = agent.get("/v1/scaling/policies", job="web")
    assert stub["Target"] == {"Namespace": "default", "Job": "web", "Group": "g"}
    assert (stub["Type"], stub["Enabled"]) == ("horizontal", True)
    policy = agent.get(f"/v1/scaling/policy/{stub['ID']}")
    assert (policy["Min"], policy["Max"], policy["Policy"]) == (1, 5, {"cooldown": "1m"})
    assert agent.get("/v1/job/web")["TaskGroups"][0]["Scaling"]["Max"] == 5
    assert agent.get("/v1/scaling/policies", job="nope") == []
    assert agent.http.get("/v1/scaling/policy/nope").status_code == 404


def test_ui_job_page_shows_highlighted_escaped_source_and_the_diff(agent: Agent) -> None:
    html = agent.http.get("/ui/job/web").text
    assert '<span class="hl-comment"># owner: &lt;script&gt;alert(1)&lt;/script&gt;</span>' in html
    assert "<script>alert(1)" not in html
    assert '<span class="hl-block">job</span>' in html
    assert "jobs/web.hcl" in html
    diff = agent.http.get("/ui/job/web/diff", params={"from": 0, "to": 1})
    assert diff.status_code == 200
    page = diff.text
    assert (
        'class="src del"><code>    <span class="hl-attr">count</span> = <span class="hl-number">1</span>'
        in page
    )
    assert (
        'class="src add"><code>    <span class="hl-attr">count</span> = <span class="hl-number">2</span>'
        in page
    )
    assert "<script>alert(1)" not in page
    assert agent.http.get("/ui/job/web/diff", params={"from": "a"}).status_code == 400
