"""``gitorch system gc``, ``gitorch alloc stop`` and ``gitorch job scale`` against a
real in-memory server served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner, Result

from gitorch.api.app import make_app
from gitorch.cli.main import cli
from gitorch.server.server import Server
from tests.unit.api.fakes import in_memory_server, serve, simple_job, wait_for

pytestmark = pytest.mark.timeout(60)

NODE = "c11c0000-0000-4000-8000-000000000007"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE)
    yield srv
    srv.stop()


@pytest.fixture
def address(server: Server) -> Iterator[str]:
    with serve(make_app(server)) as addr:
        resp = httpx.post(f"http://{addr}/v1/jobs", json={"Job": simple_job("web", count=1)})
        assert resp.status_code == 200
        yield addr


def run(address: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--address", address, *args], catch_exceptions=False)


def live(server: Server) -> list[str]:
    return [a.id for a in server.state.allocs_for_job("default", "web") if not a.terminal()]


def test_job_scale_then_alloc_stop_then_gc(server: Server, address: str) -> None:
    wait_for(lambda: len(live(server)) == 1)
    scaled = run(address, "job", "scale", "we", "2")  # a prefix, the only group
    assert scaled.exit_code == 0, scaled.output
    assert scaled.output.startswith("Job scale successful\nEvaluation ID: ")
    wait_for(lambda: len(live(server)) == 2)
    victim = live(server)[0]
    stopped = run(address, "alloc", "stop", victim[:8])
    assert stopped.exit_code == 0, stopped.output
    assert stopped.output.strip() in server.state.evals
    assert server.state.allocs[victim].desired_status == "stop"
    wait_for(lambda: len(live(server)) == 2 and victim not in live(server))
    gc = run(address, "system", "gc")
    assert gc.exit_code == 0 and gc.output == ""
    assert victim in server.state.allocs  # a running job's allocations are kept
    bad = CliRunner().invoke(cli, ["--address", address, "job", "scale", "web", "many"])
    assert bad.exit_code != 0 and "COUNT" in bad.output
