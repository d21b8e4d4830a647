"""The provider and the template source against the in-process fake Consul: what is
registered, replaced and removed; TTL check statuses; KV, ls, health (passing only),
the catalog; a blocking query waking on a change; a refused token named without the
token."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from fake_consul import FakeConsul
from gitorch.core.model.service import (
    CheckResult,
    Service,
    ServiceCheck,
    ServiceRegistration,
    check_id,
)
from gitorch.plugins.providers import ProviderContext, ProviderError, ProviderService, TaskIdentity

from gitorch_consul import ConsulServiceProvider, ConsulTemplateSource

TOKEN = "tok-4f1c-secret"
TASK = TaskIdentity(namespace="default", job_id="web", group="web", task="t", alloc_id="a1")


@pytest.fixture
def consul() -> Iterator[FakeConsul]:
    with FakeConsul(token=TOKEN) as fake:
        yield fake


def instance(alloc: str, name: str, port: int) -> ProviderService:
    check = ServiceCheck(name="alive", type="http", interval=10**9, timeout=10**9)
    svc = Service(name=name, provider="consul", checks=[check])
    reg = ServiceRegistration(
        id=f"_nomad-task-{alloc}-group-web-{name}-http", service_name=name, namespace="default",
        node_id="n1", datacenter="dc1", job_id="web", alloc_id=alloc, tags=["v1"],
        address="127.0.0.1", port=port,
    )  # fmt: skip
    return ProviderService(reg, svc, "", "web", (check_id(alloc, "web", "", name, "alive"),))


def provider(consul: FakeConsul, token: str = TOKEN) -> ConsulServiceProvider:
    return ConsulServiceProvider({"address": consul.address, "token": token}, ProviderContext())


def test_register_update_checks_replace_and_delete(consul: FakeConsul) -> None:
    p = provider(consul)
    web, api = instance("a1", "web", 8001), instance("a1", "api", 8002)
    p.upsert([web, api])
    assert consul.service_ids() == sorted([web.registration.id, api.registration.id])
    cid = web.check_ids[0]
    assert consul.check_status(cid) == "critical"  # a TTL check starts critical, as Consul's
    result = CheckResult(id=cid, check="alive", status="success", output="HTTP 200")
    p.update_checks("a1", [result])
    assert consul.check_status(cid) == "passing"
    assert consul.state.checks[cid]["Output"] == "HTTP 200"
    p.upsert([web])  # api's task stopped: its instance goes
    assert consul.service_ids() == [web.registration.id]
    p.upsert([instance("a2", "web", 8003)])  # another allocation is left alone
    p.delete(["a1"])
    assert consul.service_ids() == [instance("a2", "web", 8003).registration.id]
    p.close()


def test_a_refused_token_is_an_error_without_the_token(consul: FakeConsul) -> None:
    p = provider(consul, token="wrong-token-value")
    with pytest.raises(ProviderError) as err:
        p.upsert([instance("a1", "web", 8001)])
    assert consul.address in str(err.value) and "ACL not found" in str(err.value)
    assert "wrong-token-value" not in str(err.value)


def test_unreachable_consul_is_a_provider_error() -> None:
    with FakeConsul() as fake:
        address = fake.address
    p = ConsulServiceProvider({"address": address}, ProviderContext())
    with pytest.raises(ProviderError, match=f"consul at {address}"):
        p.delete(["a1"])


def test_bad_config_is_reported() -> None:
    assert ConsulServiceProvider.validate_plugin_config({"address": "ftp://x:1"})
    assert not ConsulServiceProvider.validate_plugin_config({"address": "10.0.0.1:8500"})


def test_template_reads_kv_ls_health_and_catalog(consul: FakeConsul) -> None:
    consul.put_key("app/config", "v1")
    consul.put_key("app/db/url", "nested")
    consul.put_key("app/port", "8080")
    p = provider(consul)
    p.upsert([instance("a1", "web", 8001)])
    src = ConsulTemplateSource({"address": consul.address, "token": TOKEN}, ProviderContext())
    r = src.reader(TASK)
    assert r.key("app/config") == "v1"
    assert r.key("app/missing") is None
    assert [(k.Key, k.Value) for k in r.key_list("app") or []] == [
        ("config", "v1"),
        ("port", "8080"),
    ]
    assert r.services("web") == []  # its check is critical: not passing
    web = instance("a1", "web", 8001)
    p.update_checks("a1", [CheckResult(id=web.check_ids[0], check="alive", status="success")])
    r = r.fresh()
    (found,) = r.services("web") or []
    got = (found.ServiceName, found.Address, found.Port, found.Tags)
    assert got == ("web", "127.0.0.1", 8001, ["v1"])
    assert [(s.Name, s.Tags) for s in r.service_list() or []] == [("web", ["v1"])]


def test_wait_change_wakes_on_a_kv_write(consul: FakeConsul) -> None:
    consul.put_key("app/config", "v1")
    src = ConsulTemplateSource({"address": consul.address, "token": TOKEN}, ProviderContext())
    r = src.reader(TASK)
    assert r.key("app/config") == "v1"
    timer = threading.Timer(0.3, lambda: consul.put_key("app/config", "v2"))
    timer.start()
    assert r.wait_change(10) is True
    assert r.fresh().key("app/config") == "v2"
