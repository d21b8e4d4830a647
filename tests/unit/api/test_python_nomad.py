"""A real Nomad API client (python-nomad) against a live gitorch HTTP API over an
in-memory server whose scheduler workers run."""

from __future__ import annotations

from collections.abc import Iterator

import nomad
import nomad.api.exceptions as nomad_errors
import pytest
from fakes import in_memory_server, serve, simple_job, wait_for

from gitorch.api.app import make_app
from gitorch.server.server import Server

NODE = "3" * 36


@pytest.fixture
def backend() -> Iterator[Server]:
    server = in_memory_server(NODE, "n3")
    yield server
    server.stop()


@pytest.fixture
def api(backend: Server) -> Iterator[nomad.Nomad]:
    with serve(make_app(backend)) as address:
        host, port = address.split(":")
        yield nomad.Nomad(host=host, port=int(port), timeout=10)


def test_jobs_register_get_list_deregister(api: nomad.Nomad) -> None:
    assert api.jobs.get_jobs() == []
    result = api.jobs.register_job({"Job": simple_job("web")})
    assert result["EvalID"] and result["JobModifyIndex"] >= 1
    result = api.job.register_job("api", {"Job": simple_job("api")})
    assert result["EvalID"]

    assert [j["ID"] for j in api.jobs.get_jobs()] == ["api", "web"]
    assert [j["ID"] for j in api.jobs.get_jobs(prefix="we")] == ["web"]
    assert "web" in api.jobs and len(api.jobs) == 2

    job = api.job.get_job("web")
    assert job["ID"] == "web" and job["TaskGroups"][0]["Name"] == "web"
    assert [v["Version"] for v in api.job.get_versions("web")["Versions"]] == [0]
    wait_for(lambda: api.job.get_summary("web")["Summary"]["web"]["Starting"] == 2)
    assert len(api.job.get_evaluations("web")) == 1

    plan = api.job.plan_job("web", {"Job": simple_job("web", count=5)}, diff=True)
    assert plan["Diff"]["Type"] == "Edited"

    stopped = api.job.deregister_job("api")
    assert stopped["EvalID"]
    assert api.job.get_job("api")["Stop"] is True
    api.job.deregister_job("api", purge=True)
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        api.job.get_job("api")


def test_allocations_evaluations_nodes(api: nomad.Nomad) -> None:
    api.jobs.register_job({"Job": simple_job("web", count=2)})
    wait_for(lambda: len(api.job.get_allocations("web")) == 2)
    ids = [a["ID"] for a in api.job.get_allocations("web")]

    allocs = api.allocations.get_allocations()
    assert sorted(a["ID"] for a in allocs) == sorted(ids)
    alloc = api.allocation.get_allocation(ids[0])
    assert alloc["Job"]["ID"] == "web" and alloc["NodeID"] == NODE
    assert len(api.job.get_allocations("web")) == 2

    evals = api.evaluations.get_evaluations()
    assert len(evals) == 1
    assert api.evaluation.get_evaluation(evals[0]["ID"])["JobID"] == "web"
    assert len(api.evaluation.get_allocations(evals[0]["ID"])) == 2

    nodes = api.nodes.get_nodes()
    assert [n["ID"] for n in nodes] == [NODE]
    assert api.node.get_node(NODE)["Status"] == "ready"
    assert len(api.node.get_allocations(NODE)) == 2
    api.node.eligible_node(NODE, ineligible=True)
    assert api.node.get_node(NODE)["SchedulingEligibility"] == "ineligible"


def test_status_agent_and_validate(api: nomad.Nomad, backend: Server) -> None:
    assert api.status.leader.get_leader() == backend.leader()
    assert api.status.peers.get_peers() == backend.peers()
    assert "config" in api.agent.get_agent()
    validated = api.validate.validate_job({"Job": simple_job()})  # a requests.Response
    assert validated.json()["ValidationErrors"] == []


def test_errors_map_to_python_nomad_exceptions(api: nomad.Nomad) -> None:
    with pytest.raises(nomad_errors.URLNotFoundNomadException) as not_found:
        api.job.get_job("missing")
    assert not_found.value.nomad_resp.text == "job not found"
    with pytest.raises(nomad_errors.BadRequestNomadException) as bad:
        api.jobs.register_job({"Job": {"ID": "x", "TaskGroups": "nope"}})
    assert "TaskGroups" in bad.value.nomad_resp.text
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        api.allocation.get_allocation("0" * 36)


def test_parse_hcl(api: nomad.Nomad) -> None:
    hcl = 'job "hello" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n    }\n  }\n}\n'
    assert api.jobs.parse(hcl, canonicalize=True)["ID"] == "hello"


def test_acl_token(backend: Server) -> None:
    with serve(make_app(backend, acl_tokens={"s3cr3t"})) as address:
        host, port = address.split(":")
        anonymous = nomad.Nomad(host=host, port=int(port), timeout=10)
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            anonymous.jobs.get_jobs()
        authorized = nomad.Nomad(host=host, port=int(port), token="s3cr3t", timeout=10)
        assert authorized.jobs.get_jobs() == []
