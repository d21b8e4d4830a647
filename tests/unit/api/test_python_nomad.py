"""A real Nomad API client (python-nomad) against a live gitorch HTTP API over an
in-memory server whose scheduler workers run: jobs, allocations, evaluations, nodes,
status, validation, errors, and the features grown since (namespaces, variables,
ACLs, deployments, scaling, drain, search, system GC, metrics, regions). A server
agent's own routes are in tests/integration/test_python_nomad_agent.py."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

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


def scaled_job(job_id: str = "web", count: int = 2) -> dict[str, Any]:
    job = copy.deepcopy(simple_job(job_id, count))
    job["TaskGroups"][0]["Scaling"] = {"Min": 1, "Max": 5, "Enabled": True, "Policy": {}}
    job["TaskGroups"][0]["Update"] = {"MaxParallel": 1, "MinHealthyTime": 0}
    return job


def test_namespaces(api: nomad.Nomad) -> None:
    assert api.namespace.create_namespace({"Name": "dev", "Description": "for devs"}).ok
    assert api.namespace.get_namespace("dev")["Description"] == "for devs"
    names = [n["Name"] for n in api.namespaces.get_namespaces()]
    assert "default" in names and "dev" in names
    assert api.namespace.update_namespace("dev", {"Name": "dev", "Description": "d2"}).ok
    assert api.namespace.get_namespace("dev")["Description"] == "d2"
    assert api.namespace.delete_namespace("dev").ok
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        api.namespace.get_namespace("dev")


def test_variables(api: nomad.Nomad) -> None:
    made = api.variable.create_variable("app/db", {"Items": {"user": "u", "pass": "p"}})
    assert made["Path"] == "app/db"
    got = api.variable.get_variable("app/db")
    assert got["Items"] == {"user": "u", "pass": "p"}
    listed = api.variables.get_variables(prefix="app/")
    assert [v["Path"] for v in listed] == ["app/db"]
    assert "Items" not in listed[0]  # listings carry metadata only, as Nomad's
    with pytest.raises(nomad_errors.BaseNomadException):  # 409: a stale check-and-set
        api.variable.create_variable("app/db", {"Items": {"user": "x"}}, cas=0)
    index = got["ModifyIndex"]
    api.variable.create_variable("app/db", {"Items": {"user": "v"}}, cas=index)
    assert api.variable.get_variable("app/db")["Items"] == {"user": "v"}
    assert api.variable.delete_variable("app/db").ok
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        api.variable.get_variable("app/db")


def test_deployments_and_scaling(api: nomad.Nomad) -> None:
    api.jobs.register_job({"Job": scaled_job("web")})
    wait_for(lambda: len(api.job.get_allocations("web")) == 2)
    api.job.register_job("web", {"Job": scaled_job("web", count=3)})
    wait_for(lambda: bool(api.deployments.get_deployments()))
    deployment = api.job.get_deployment("web")
    assert deployment["JobID"] == "web"
    assert api.deployment.get_deployment(deployment["ID"])["ID"] == deployment["ID"]
    ids = [d["ID"] for d in api.job.get_deployments("web")]  # one per version: 0 and 1
    assert len(ids) == 2 and deployment["ID"] in ids
    assert isinstance(api.deployment.get_deployment_allocations(deployment["ID"]), list)

    policies = api.scaling.get_scaling_policies(job="web")
    assert len(policies) == 1 and policies[0]["Target"]["Group"] == "web"
    policy = api.scaling.get_scaling_policy(policies[0]["ID"])
    assert policy["Min"] == 1 and policy["Max"] == 5


def test_drain_node(api: nomad.Nomad) -> None:
    answer = api.node.drain_node_with_spec(NODE, {"Deadline": 60_000_000_000})
    assert answer["NodeModifyIndex"] > 0
    # Nothing runs on the node, so the drain is done at once (as Nomad's): no strategy
    # left, the node ineligible, the last drain recorded as complete.
    wait_for(lambda: api.node.get_node(NODE)["LastDrain"] is not None)
    node = api.node.get_node(NODE)
    assert node["SchedulingEligibility"] == "ineligible"
    assert node["DrainStrategy"] is None and node["LastDrain"]["Status"] == "complete"
    api.node.drain_node_with_spec(NODE, None, mark_eligible=True)
    node = api.node.get_node(NODE)
    assert node["DrainStrategy"] is None and node["SchedulingEligibility"] == "eligible"


def test_search_gc_metrics_regions(api: nomad.Nomad) -> None:
    api.jobs.register_job({"Job": simple_job("searchable")})
    found = api.search.search("search", "jobs")
    assert [m for m in found["Matches"]["jobs"]] == ["searchable"]
    fuzzy = api.search.fuzzy_search("archab", "jobs")
    assert [m["ID"] for m in fuzzy["Matches"]["jobs"]] == ["searchable"]
    assert api.system.initiate_garbage_collection() is True
    assert api.system.reconcile_summaries() is True
    assert "Gauges" in api.metrics.get_metrics()
    assert api.regions.get_regions() == ["global"]


def test_acl_bootstrap_policies_tokens(backend: Server) -> None:
    with serve(make_app(backend, acl_tokens=set())) as address:
        host, port = address.split(":")
        anonymous = nomad.Nomad(host=host, port=int(port), timeout=10)
        root = anonymous.acl.generate_bootstrap()
        assert root["Type"] == "management" and root["SecretID"]
        api = nomad.Nomad(host=host, port=int(port), token=root["SecretID"], timeout=10)
        assert api.acl.get_self_token()["AccessorID"] == root["AccessorID"]

        rules = 'namespace "default" {\n  policy = "read"\n}\n'
        api.acl.create_policy("readonly", {"Name": "readonly", "Rules": rules})
        assert api.acl.get_policy("readonly")["Rules"] == rules
        assert [p["Name"] for p in api.acl.get_policies()] == ["readonly"]

        token = api.acl.create_token({"Name": "ci", "Type": "client", "Policies": ["readonly"]})
        assert token["Policies"] == ["readonly"] and token["SecretID"]
        assert api.acl.get_token(token["AccessorID"])["Name"] == "ci"
        assert {t["AccessorID"] for t in api.acl.get_tokens()} >= {token["AccessorID"]}

        reader = nomad.Nomad(host=host, port=int(port), token=token["SecretID"], timeout=10)
        assert reader.jobs.get_jobs() == []
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            reader.jobs.register_job({"Job": simple_job("nope")})

        api.acl.delete_token(token["AccessorID"])
        with pytest.raises(nomad_errors.BaseNomadException):
            reader.jobs.get_jobs()
        api.acl.delete_policy("readonly")
        assert api.acl.get_policies() == []
