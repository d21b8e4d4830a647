"""The DNS responder's names: which service, namespace and tag a name asks for."""

from __future__ import annotations

from gitorch.agent.dns import Query, addr_label, parse


def labels(name: str) -> list[str]:
    return name.split(".")


def test_service_names_with_and_without_namespace_and_tag() -> None:
    assert parse(labels("web.service")) == Query("default", "web")
    assert parse(labels("web.service.prod")) == Query("prod", "web")
    assert parse(labels("v1.web.service")) == Query("default", "web", "v1")
    assert parse(labels("v1.web.service.prod")) == Query("prod", "web", "v1")


def test_names_the_responder_does_not_know() -> None:
    for name in ("web", "service", "a.b.web.service", "web.service.a.b", "web.node", ""):
        assert parse(labels(name) if name else []) is None, name


def test_addr_names_round_trip() -> None:
    assert addr_label("127.0.0.1") == "7f000001"
    assert parse(["7f000001", "addr"]) == "127.0.0.1"
    assert parse([addr_label("::1"), "addr"]) == "::1"
    assert parse(["zz", "addr"]) is None
    assert parse(["7f00", "addr"]) is None
