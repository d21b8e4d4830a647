"""/v1/operator/scheduler/configuration and /v1/operator/snapshot on a real in-memory
server (scheduler workers running): the algorithm set over HTTP decides where the next
job goes, CAS as Nomad's, RejectJobRegistration refuses all but management tokens,
PauseEvalBroker holds evaluations, and a snapshot saved and restored brings the state
back; bad input is 400 with what is wrong."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import pytest

from gitorch.api.app import make_app
from gitorch.core.model import Node, NodeCpu, NodeDisk, NodeMemory, NodeResources
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)
PATH = "/v1/operator/scheduler/configuration"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server("aaaa0000-0000-4000-8000-000000000001", name="a")
    srv.register_node(
        Node(
            id="bbbb0000-0000-4000-8000-000000000002",
            name="b",
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=4000),
                memory=NodeMemory(memory_mb=8192),
                disk=NodeDisk(disk_mb=100_000),
            ),
            drivers=srv.state.nodes["aaaa0000-0000-4000-8000-000000000001"].drivers,
        )
    )
    yield srv
    srv.stop()


def node_of(server: Server, job_id: str) -> str:
    wait_for(lambda: len(server.state.allocs_for_job("default", job_id)) == 1)
    return server.state.allocs_for_job("default", job_id)[0].node_id


def test_get_set_and_cas_in_nomads_shape(server: Server) -> None:
    client = api_client(make_app(server))
    got = client.get(PATH)
    assert got.status_code == 200 and int(got.headers["X-Nomad-Index"]) >= 1
    config = got.json()["SchedulerConfig"]
    assert config["SchedulerAlgorithm"] == "binpack" and config["ModifyIndex"] == 0
    assert config["PreemptionConfig"]["SystemSchedulerEnabled"] is True
    put = client.put(PATH, params={"cas": 0}, json={**config, "SchedulerAlgorithm": "spread"})
    assert put.status_code == 200 and put.json()["Updated"] is True
    index = put.json()["Index"]
    stale = client.put(PATH, params={"cas": 0}, json={"SchedulerAlgorithm": "binpack"})
    assert stale.status_code == 200 and stale.json()["Updated"] is False
    now = client.get(PATH).json()["SchedulerConfig"]
    assert now["SchedulerAlgorithm"] == "spread" and now["ModifyIndex"] == index


def test_spread_set_over_http_puts_the_next_job_on_the_other_node(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.post("/v1/jobs", json={"Job": simple_job("one", count=1)}).status_code == 200
    first = node_of(server, "one")
    assert client.post("/v1/jobs", json={"Job": simple_job("two", count=1)}).status_code == 200
    assert node_of(server, "two") == first  # binpack: the used node
    assert client.put(PATH, json={"SchedulerAlgorithm": "spread"}).json()["Updated"] is True
    assert client.post("/v1/jobs", json={"Job": simple_job("three", count=1)}).status_code == 200
    assert node_of(server, "three") != first  # spread: the empty one


@pytest.mark.parametrize(
    ("body", "params", "says"),
    [
        ({"SchedulerAlgorithm": "random"}, {}, "invalid scheduler algorithm"),
        ({"SchedulerAlgorithm": 7}, {}, "Error parsing scheduler config"),
        ({"PauseEvalBroker": "yes"}, {}, "Error parsing scheduler config"),
        ({"SchedulerAlgorithm": "spread"}, {"cas": "x"}, "Error parsing cas value"),
        ([1, 2], {}, "JSON object"),
    ],
)
def test_bad_configuration_is_400_naming_the_problem(
    server: Server, body: object, params: dict[str, str], says: str
) -> None:
    client = api_client(make_app(server))
    resp = client.put(PATH, params=params, json=body)
    assert resp.status_code == 400 and says in resp.text
    assert client.put(PATH, content=b"{not json").status_code == 400
    assert client.get(PATH).json()["SchedulerConfig"]["ModifyIndex"] == 0


def test_reject_job_registration_refuses_all_but_management(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    rules = 'namespace "default" {\n  policy = "write"\n}\n'
    assert client.post("/v1/acl/policy/w", json={"Rules": rules}, headers=root).status_code == 200
    secret = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["w"]}, headers=root
    ).json()["SecretID"]
    writer = {"X-Nomad-Token": secret}
    assert client.put(PATH, json={"RejectJobRegistration": True}, headers=writer).status_code == 403
    assert client.put(PATH, json={"RejectJobRegistration": True}, headers=root).status_code == 200
    refused = client.post("/v1/jobs", json={"Job": simple_job("web")}, headers=writer)
    assert refused.status_code == 403
    assert "Job registration, dispatch, and scale are disabled" in refused.text
    assert client.post("/v1/jobs", json={"Job": simple_job("web")}, headers=root).status_code == 200
    scale = {"Count": 3, "Target": {"Group": "web"}}
    assert client.post("/v1/job/web/scale", json=scale, headers=writer).status_code == 403
    assert client.get("/v1/job/web", headers=writer).status_code == 200  # reads go on


def test_pause_eval_broker_holds_evaluations_until_unpaused(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.put(PATH, json={"PauseEvalBroker": True}).status_code == 200
    eval_id = client.post("/v1/jobs", json={"Job": simple_job("held", count=1)}).json()["EvalID"]
    assert not server.broker.enabled
    assert server.state.evals[eval_id].status == "pending" and not server.state.allocs
    assert client.put(PATH, json={"PauseEvalBroker": False}).status_code == 200
    wait_for(lambda: server.state.evals[eval_id].status == "complete")
    assert len(server.state.allocs_for_job("default", "held")) == 1


def test_snapshot_save_change_restore(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.post("/v1/jobs", json={"Job": simple_job("kept", count=1)}).status_code == 200
    wait_for(lambda: len(server.state.allocs) == 1)
    saved = client.get("/v1/operator/snapshot")
    assert saved.status_code == 200 and saved.headers["Digest"].startswith("sha-256=")
    assert client.post("/v1/jobs", json={"Job": simple_job("later", count=1)}).status_code == 200
    assert client.delete("/v1/job/kept", params={"purge": "true"}).status_code == 200
    before = server.state.index
    restored = client.put("/v1/operator/snapshot", content=saved.content)
    assert restored.status_code == 200 and restored.json()["Index"] > before
    jobs = [j["ID"] for j in client.get("/v1/jobs").json()]
    assert jobs == ["kept"]
    assert len(client.get("/v1/job/kept/allocations").json()) == 1
    later = client.post("/v1/jobs", json={"Job": simple_job("after", count=1)})  # still works
    assert later.status_code == 200
    wait_for(lambda: len(server.state.allocs_for_job("default", "after")) == 1)


def test_restore_of_a_bad_file_is_400_and_changes_nothing(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.post("/v1/jobs", json={"Job": simple_job("kept", count=1)}).status_code == 200
    good = client.get("/v1/operator/snapshot").content
    head, _, body = good.partition(b"\n")
    meta, _, state = body.partition(b"\n")
    bad = {
        b"garbage": "not a gitorch snapshot",
        b"": "empty",
        good[: len(good) - 20]: "cut off",
        head + b"\n" + meta + b"\n" + zlib.compress(b"\x01other"): "SHA-256 does not match",
        head + b"\n{oops\n" + state: "metadata line",
    }
    for data, says in bad.items():
        resp = client.put("/v1/operator/snapshot", content=data)
        assert resp.status_code == 400 and says in resp.text, (resp.status_code, resp.text)
    assert [j["ID"] for j in client.get("/v1/jobs").json()] == ["kept"]
    assert server.state.operator.staged == ()
