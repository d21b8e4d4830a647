"""Nomad Variables and workload identities through a real dev agent.

A variable written with ``gitorch var put`` appears in a raw_exec task's template; a
check-and-set conflict is 409 (and the CLI says so without printing the items); the
task's workload identity (``NOMAD_TOKEN``) reads its own variable and is refused
another job's and everything else; a tampered or expired token is 403; an oversized
variable and a path with ``..`` are 400; and no file of the server's data dir (Raft
journal, snapshots) nor the agent log holds the plaintext item.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)

SECRET = "hunter2-e2e-plaintext"
OTHER_SECRET = "other-job-plaintext"

PROBE = """
import json, os, sys, time, urllib.error, urllib.request
addr, token = sys.argv[1], os.environ.get("NOMAD_TOKEN", "")
def get(path):
    req = urllib.request.Request(addr + path, headers={"X-Nomad-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return [r.status, r.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
out = {name: get(path) for name, path in [
    ("own", "/v1/var/nomad/jobs/app"), ("other", "/v1/var/nomad/jobs/other"),
    ("jobs", "/v1/jobs"), ("list", "/v1/vars")]}
task_dir = os.environ["NOMAD_TASK_DIR"]
with open(os.path.join(task_dir, "probe.tmp"), "w") as f:
    json.dump(out, f)
os.rename(os.path.join(task_dir, "probe.tmp"), os.path.join(task_dir, "probe.json"))
time.sleep(3600)
"""

APP = """
job "app" {
  group "app" {
    restart {
      attempts = 30
      interval = "10m"
      delay    = "1s"
      mode     = "delay"
    }
    task "reader" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      identity {
        env  = true
        file = true
      }
      template {
        destination = "local/secret.txt"
        data        = "{{ with nomadVar \\"nomad/jobs/app\\" }}{{ .password }}{{ end }}"
      }
      template {
        destination = "local/probe.py"
        data        = <<EOT
%(probe)s
EOT
      }
      config {
        command = "%(python)s"
        args    = ["local/probe.py", "%(url)s"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
    task "short" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      identity {
        file = true
        ttl  = "1s"
      }
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    a = Agent(tmp_path / "data", "--dev", "--repo", str(tmp_path / "repo"), "--path", "jobs")
    repo = GitRepo(tmp_path / "repo")
    job = APP % {"probe": PROBE.strip(), "python": sys.executable, "url": a.url}
    repo.commit("app", **{"jobs__app.nomad.hcl": job})
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def cli(agent: Agent, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitorch", f"-address={agent.url}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def raw_put(agent: Agent, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """A PUT with the path sent exactly as given (no client-side dot-segment removal)."""
    conn = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=10)
    try:
        conn.request(
            "PUT", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def task_file(agent: Agent, alloc_id: str, rel: str) -> Path:
    return next(agent.data_dir.glob(f"**/{alloc_id}/{rel}"))


def with_token(agent: Agent, token: str, path: str) -> httpx.Response:
    return agent.http.get(path, headers={"X-Nomad-Token": token})


def test_variables_templates_and_workload_identity(agent: Agent) -> None:
    # the template waits for its variable; the CLI writes it (and another job's)
    put = cli(agent, "var", "put", "nomad/jobs/app", f"password={SECRET}")
    assert put.returncode == 0, put.stderr
    assert SECRET not in put.stdout
    assert cli(agent, "var", "put", "nomad/jobs/other", f"password={OTHER_SECRET}").returncode == 0

    (alloc,) = wait_for(lambda: agent.running("app"), 90, "app running")
    alloc_id = alloc["ID"]
    secret_file = wait_for(
        lambda: next(agent.data_dir.glob(f"**/{alloc_id}/reader/local/secret.txt"), None),
        30,
        "the rendered template",
    )
    assert secret_file.read_text() == SECRET

    # check-and-set: create-only on an existing variable is a 409 with the current one
    current = agent.get("/v1/var/nomad/jobs/app")
    resp = agent.http.put(
        "/v1/var/nomad/jobs/app", params={"cas": 0}, json={"Items": {"password": "x"}}
    )
    assert resp.status_code == 409
    assert resp.json()["ModifyIndex"] == current["ModifyIndex"]
    conflict = cli(agent, "var", "put", "-check-index", "0", "nomad/jobs/app", "password=y")
    assert conflict.returncode != 0
    assert "Check-and-Set conflict" in conflict.stderr and "409" in conflict.stderr
    assert SECRET not in conflict.stderr + conflict.stdout
    assert agent.get("/v1/var/nomad/jobs/app")["Items"] == {"password": SECRET}
    # the list carries metadata only
    listed = agent.get("/v1/vars", prefix="nomad/jobs")
    assert [v["Path"] for v in listed] == ["nomad/jobs/app", "nomad/jobs/other"]
    assert all("Items" not in v for v in listed)

    # the task's identity (NOMAD_TOKEN) reads its own variable, nothing else
    probe_file = wait_for(
        lambda: next(agent.data_dir.glob(f"**/{alloc_id}/reader/local/probe.json"), None),
        30,
        "the task's probe results",
    )
    probe = json.loads(probe_file.read_text())
    assert probe["own"][0] == 200 and json.loads(probe["own"][1])["Items"] == {"password": SECRET}
    assert probe["other"][0] == 403 and OTHER_SECRET not in probe["other"][1]
    assert probe["jobs"][0] == 403
    assert probe["list"][0] == 200
    assert [v["Path"] for v in json.loads(probe["list"][1])] == ["nomad/jobs/app"]

    # the same token from secrets/nomad_token; a tampered one is refused
    token = task_file(agent, alloc_id, "reader/secrets/nomad_token").read_text()
    assert with_token(agent, token, "/v1/var/nomad/jobs/app").status_code == 200
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["nomad_job_id"], claims["nomad_task"]) == ("app", "reader")
    claims["nomad_job_id"] = "other"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    refused = with_token(agent, forged, "/v1/var/nomad/jobs/other")
    assert refused.status_code == 403 and "does not verify" in refused.text
    assert token not in refused.text

    # a token with ttl = "1s" stops working once it expires
    short = task_file(agent, alloc_id, "short/secrets/nomad_token").read_text()
    assert json.loads(base64.urlsafe_b64decode(short.split(".")[1] + "=="))["exp"]

    def expired() -> bool:
        r = with_token(agent, short, "/v1/var/nomad/jobs/app")
        return r.status_code == 403 and "expired" in r.text

    wait_for(expired, 15, "the short-lived identity to expire")

    # the keys verifying identities are published
    jwks = agent.get("/.well-known/jwks.json")
    assert [k["kid"] for k in jwks["keys"]] == [
        json.loads(base64.urlsafe_b64decode(header + "=="))["kid"]
    ]

    # bad input: 400 with the reason, nothing secret in it
    big = agent.http.put("/v1/var/big", json={"Items": {"blob": "z" * (65 * 1024)}})
    assert big.status_code == 400 and "64KiB" in big.text and "zzzz" not in big.text
    status, text = raw_put(agent, "/v1/var/nomad/jobs/../escape", {"Items": {"k": SECRET}})
    assert status == 400 and "'..' is not allowed" in text and SECRET not in text
    dots = cli(agent, "var", "put", "a/../b", "k=v")
    assert dots.returncode != 0 and "'..' is not allowed" in dots.stderr
    assert agent.http.get("/v1/var/b").status_code == 404

    # rotating the root key keeps old variables readable
    assert cli(agent, "operator", "root", "keyring", "rotate").returncode == 0
    keys = json.loads(cli(agent, "-json", "operator", "root", "keyring", "list").stdout or "[]")
    assert sorted(k["State"] for k in keys) == ["active", "inactive"]
    got = cli(agent, "var", "get", "-item", "password", "nomad/jobs/app")
    assert got.returncode == 0 and got.stdout.strip() == SECRET

    # at rest: the Raft journal and snapshots hold the path, never the item
    server_files = [p for p in (agent.data_dir / "server").rglob("*") if p.is_file()]
    blobs = b"".join(p.read_bytes() for p in server_files)
    assert b"nomad/jobs/app" in blobs  # the entries are there, in the files scanned
    assert SECRET.encode() not in blobs and OTHER_SECRET.encode() not in blobs
    assert SECRET not in agent.output()
