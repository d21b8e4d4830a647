"""``gitorch namespace list|status|apply|delete`` against a real in-memory server served
over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner, Result

from gitorch.api.app import make_app
from gitorch.cli.main import cli
from gitorch.server.server import Server
from tests.unit.api.fakes import in_memory_server, serve, simple_job

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def address() -> Iterator[str]:
    srv: Server = in_memory_server("c11c0000-0000-4000-8000-000000000008")
    try:
        with serve(make_app(srv)) as addr:
            job = {**simple_job("web", count=1), "Namespace": "team"}
            resp = httpx.post(f"http://{addr}/v1/jobs?namespace=team", json={"Job": job})
            assert resp.status_code == 200, resp.text
            yield addr
    finally:
        srv.stop()


def run(address: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--address", address, *args])


def test_apply_status_list_delete(address: str) -> None:
    made = run(address, "namespace", "apply", "prod", "-description", "production")
    assert made.exit_code == 0 and made.output == 'Successfully applied namespace "prod"!\n'
    meta = run(address, "namespace", "apply", "prod", "-meta", "owner=ops")
    assert meta.exit_code == 0, meta.output
    shown = run(address, "namespace", "status", "prod")
    assert "production" in shown.output and "owner" in shown.output  # description kept
    listed = run(address, "-json", "namespace", "list")
    names = [n["Name"] for n in json.loads(listed.output)]
    assert names == ["default", "prod", "team"]
    busy = run(address, "namespace", "delete", "team")
    assert busy.exit_code == 1 and "non-terminal jobs: web" in busy.output
    gone = run(address, "namespace", "delete", "prod")
    assert gone.exit_code == 0 and gone.output == 'Successfully deleted namespace "prod"!\n'
    missing = run(address, "namespace", "status", "prod")
    assert missing.exit_code == 1 and "namespace not found" in missing.output
    bad = run(address, "namespace", "apply", "x", "-meta", "novalue")
    assert bad.exit_code == 2 and "key=value" in bad.output
