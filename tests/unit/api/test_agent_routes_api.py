"""The agent, node and system routes on a real in-memory server: servers, join,
force-leave, host (secrets redacted), schedulers, monitor (log lines at the asked
level), node evaluate and purge, reconcile summaries, Enterprise paths 501, and the ACL
capability each needs."""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Iterator

import pytest

from gitorch.api.app import make_app
from gitorch.server.server import Server
from tests.unit.api.fakes import api_client, in_memory_server, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)
NODE = "cccc0000-0000-4000-8000-000000000003"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


def test_servers_schedulers_join_and_force_leave(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.get("/v1/agent/servers").json() == server.peers()
    workers = client.get("/v1/agent/schedulers").json()
    assert workers["server_id"] == server.name and len(workers["schedulers"]) == 2
    first = workers["schedulers"][0]
    assert first["status"] == "Started" and "service" in first["enabled_schedulers"]
    assert first["workload_status"] in ("WaitingToDequeue", "Scheduling")
    joined = client.put("/v1/agent/join", params={"address": server.peers()[0]}).json()
    assert joined == {"num_joined": 1, "error": "", "warning": ""}
    stranger = client.put("/v1/agent/join", params={"address": "10.9.9.9:4647"}).json()
    assert stranger["num_joined"] == 0 and "not a member" in stranger["error"]
    assert client.put("/v1/agent/join").status_code == 400
    assert client.put("/v1/agent/force-leave").status_code == 400
    lone = client.put("/v1/agent/force-leave", params={"node": "x"})
    assert lone.status_code == 400 and "lone server" in lone.text
    assert client.put("/v1/agent/servers", params={"address": "x"}).status_code == 400


def test_host_data_redacts_secrets(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "s3cr3t-value")
    monkeypatch.setenv("PLAIN_SETTING", "visible")
    client = api_client(make_app(server))
    resp = client.get("/v1/agent/host")
    assert resp.status_code == 200 and "s3cr3t-value" not in resp.text
    data = resp.json()["HostData"]
    assert data["Environment"]["MY_API_TOKEN"] == "<redacted>"
    assert data["Environment"]["PLAIN_SETTING"] == "visible"
    assert data["OS"].startswith(os.uname().sysname) and "/" in data["Disk"]
    assert any(n["address"] == "127.0.0.1" for n in data["Network"])
    assert client.get("/v1/agent/host", params={"node_id": "x"}).status_code == 400


def test_monitor_streams_log_lines_at_the_asked_level(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.get("/v1/agent/monitor", params={"log_level": "loud"}).status_code == 400
    logger = logging.getLogger("gitorch.test.monitor")
    root = logging.getLogger()
    level_before = root.level
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            logger.debug("debug line from the test")
            logger.info("info line from the test")
            time.sleep(0.05)

    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        for params, wanted, unwanted in (
            ({"log_level": "debug", "plain": "true"}, "debug line", None),
            ({"log_level": "info", "plain": "true"}, "info line", "debug line"),
        ):
            with client.stream("GET", "/v1/agent/monitor", params=params) as resp:
                assert resp.status_code == 200
                seen = ""
                for chunk in resp.iter_text():
                    seen += chunk
                    if seen.count("info line") >= 3:
                        break
            assert wanted in seen and (unwanted is None or unwanted not in seen)
        with client.stream("GET", "/v1/agent/monitor", params={"log_level": "info"}) as resp:
            frame = json.loads(next(resp.iter_lines()))
            assert "info line" in base64.b64decode(frame["Data"]).decode()
    finally:
        stop.set()
        talker.join()
    wait_for(lambda: root.level == level_before)  # the agent's own level is back


def test_node_evaluate_and_purge(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.post("/v1/jobs", json={"Job": simple_job("web", count=1)}).status_code == 200
    wait_for(lambda: len(server.state.allocs) == 1)
    evaluated = client.put(f"/v1/node/{NODE}/evaluate")
    assert evaluated.status_code == 200
    ids = evaluated.json()["EvalIDs"]
    assert len(ids) == 1 and server.state.evals[ids[0]].job_id == "web"
    assert client.put("/v1/node/nope/evaluate").status_code == 404
    purged = client.put(f"/v1/node/{NODE}/purge")
    assert purged.status_code == 200 and len(purged.json()["EvalIDs"]) == 1
    assert client.get(f"/v1/node/{NODE}").status_code == 404
    alloc_id = next(iter(server.state.allocs))
    wait_for(lambda: server.state.allocs[alloc_id].client_status == "lost")
    assert client.put(f"/v1/node/{NODE}/purge").status_code == 404


def test_reconcile_summaries_and_enterprise_paths(server: Server) -> None:
    client = api_client(make_app(server))
    assert client.put("/v1/system/reconcile/summaries").status_code == 200
    for method, path in (("GET", "/v1/quotas"), ("PUT", "/v1/quota/q1"),
                         ("GET", "/v1/sentinel/policies"), ("DELETE", "/v1/recommendation/r"),
                         ("GET", "/v1/recommendations")):  # fmt: skip
        resp = client.request(method, path)
        assert resp.status_code == 501 and resp.text == "Nomad Enterprise only endpoint"


def test_acl_capabilities_of_the_new_routes(server: Server) -> None:
    client = api_client(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": client.post("/v1/acl/bootstrap").json()["SecretID"]}
    rules = 'agent {\n  policy = "read"\n}\nnode {\n  policy = "read"\n}\n'
    assert client.post("/v1/acl/policy/r", json={"Rules": rules}, headers=root).status_code == 200
    secret = client.post(
        "/v1/acl/token", json={"Type": "client", "Policies": ["r"]}, headers=root
    ).json()["SecretID"]
    reader = {"X-Nomad-Token": secret}
    for path in ("/v1/agent/servers", "/v1/agent/host", "/v1/agent/schedulers"):
        assert client.get(path, headers=reader).status_code == 200
        assert client.get(path).status_code == 403
    for path in ("/v1/agent/join?address=x", "/v1/agent/force-leave?node=x",
                 f"/v1/node/{NODE}/evaluate", f"/v1/node/{NODE}/purge",
                 "/v1/system/reconcile/summaries", "/v1/operator/snapshot"):  # fmt: skip
        refused = client.put(path, headers=reader)
        assert refused.status_code == 403, path
    assert client.get("/v1/operator/snapshot", headers=reader).status_code == 403
    assert client.get("/v1/operator/scheduler/configuration", headers=reader).status_code == 403
    assert client.get("/v1/quotas").status_code == 501  # anonymous: 501 as Nomad's
