"""Nomad's ``Warnings`` on POST /v1/jobs, /v1/job/:id/plan and /v1/validate/job: a JSON
job is checked against the same table of what gitorch does not do as a jobspec file."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fakes import FakeBackend, TestClient, api_client, simple_job

from gitorch.api.app import make_app
from gitorch.jobspec.unsupported import UNSUPPORTED


@pytest.fixture
def client() -> TestClient:
    return api_client(make_app(FakeBackend()))


def with_field(kind: str, field: str, value: Any) -> dict[str, Any]:
    """``simple_job`` with ``field`` set in the first object of kind ``kind``."""
    job = copy.deepcopy(simple_job())
    group = job["TaskGroups"][0]
    task = group["Tasks"][0]
    group["Networks"] = [{"Mode": "host", "DynamicPorts": [{"Label": "http"}]}]
    check = {"Name": "c", "Type": "http", "Path": "/", "Interval": 10**10, "Timeout": 10**9}
    group["Services"] = [{"Name": "web", "PortLabel": "http", "Checks": [check]}]
    task["LogConfig"] = {"MaxFiles": 10}
    task["RestartPolicy"] = {"Attempts": 2}
    task["Templates"] = [{"EmbeddedTmpl": "x", "DestPath": "local/x"}]
    where = {
        "job": job,
        "group": group,
        "task": task,
        "resources": task["Resources"],
        "network": group["Networks"][0],
        "port": group["Networks"][0]["DynamicPorts"][0],
        "restart": task["RestartPolicy"],
        "logs": task["LogConfig"],
        "template": task["Templates"][0],
        "ephemeral_disk": group["EphemeralDisk"],
        "service": group["Services"][0],
        "check": group["Services"][0]["Checks"][0],
    }[kind]
    where[field] = value
    return job


def value_for(key: str) -> Any:
    h = UNSUPPORTED[key].harmless
    if True in h:
        return False
    if False in h:
        return True
    numbers = [v for v in h if type(v) is int]
    if numbers:  # nanoseconds for a duration, a count or a size otherwise
        return numbers[0] + 5_000_000_000
    if "host" in h:
        return "bridge"
    if "" in h:
        return "x"
    return {"Something": "set"}


API_WARNINGS = sorted(k for k, e in UNSUPPORTED.items() if e.severity == "warning" and e.api)
API_ERRORS = sorted(k for k, e in UNSUPPORTED.items() if e.severity == "error" and e.api)


@pytest.mark.parametrize("key", API_WARNINGS)
def test_each_warning_reaches_register_plan_and_validate(client: TestClient, key: str) -> None:
    kind, name = key.split(".")
    entry = UNSUPPORTED[key]
    job = with_field(kind, entry.api, value_for(key))
    expected = f'"{entry.api}" ({name}) is ignored: {entry.instead}'
    resp = client.post("/v1/jobs", json={"Job": job})
    assert resp.status_code == 200, resp.text
    assert expected in resp.json()["Warnings"]
    assert 'job "web"' in resp.json()["Warnings"]
    plan = client.post("/v1/job/web/plan", json={"Job": job})
    assert plan.status_code == 200, plan.text
    assert expected in plan.json()["Warnings"]
    valid = client.post("/v1/validate/job", json={"Job": job}).json()
    assert expected in valid["Warnings"] and valid["ValidationErrors"] == []


@pytest.mark.parametrize("key", API_ERRORS)
def test_each_error_is_a_400_naming_the_block_and_field(client: TestClient, key: str) -> None:
    kind, name = key.split(".")
    entry = UNSUPPORTED[key]
    job = with_field(kind, entry.api, value_for(key))
    resp = client.post("/v1/jobs", json={"Job": job})
    assert resp.status_code == 400, resp.text
    assert f'"{entry.api}" ({name}) is not supported by gitorch' in resp.text
    assert 'job "web"' in resp.text
    assert client.get("/v1/job/web").status_code == 404  # nothing registered
    valid = client.post("/v1/validate/job", json={"Job": job}).json()
    assert any(f'"{entry.api}" ({name})' in p for p in valid["ValidationErrors"])


def test_nomads_empty_and_default_fields_warn_of_nothing(client: TestClient) -> None:
    job = simple_job()
    job.update({"Multiregion": None, "UI": None, "ConsulToken": "", "VaultToken": ""})
    group = job["TaskGroups"][0]
    group.update({"ShutdownDelay": 0, "Scaling": None})
    group["Consul"] = {"Namespace": "", "Cluster": "default"}  # as Nomad canonicalizes it
    group["EphemeralDisk"] = {"SizeMB": 300, "Sticky": False, "Migrate": False}
    group["Networks"] = [{"Mode": "host", "MBits": 0, "DNS": None, "CNI": None}]
    task = group["Tasks"][0]
    task.update({"Vault": None, "Artifacts": [], "Kind": "", "LogConfig": {"Disabled": False}})
    resp = client.post("/v1/jobs", json={"Job": job})
    assert resp.status_code == 200, resp.text
    assert resp.json()["Warnings"] == ""


def test_several_warnings_are_joined_with_newlines(client: TestClient) -> None:
    job = with_field("job", "UI", {"Description": "d"})
    job["TaskGroups"][0]["ShutdownDelay"] = 5_000_000_000
    warnings = client.post("/v1/jobs", json={"Job": job}).json()["Warnings"].split("\n")
    assert len(warnings) == 2
    assert warnings[0].startswith('job "web": "UI" (ui) is ignored')
    assert warnings[1].startswith('job "web" > group "web": "ShutdownDelay"')
