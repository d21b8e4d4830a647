"""Variables and workload identities on a server over the in-memory log: check-and-set
decided in the FSM, items sealed before they reach the log (and bound to their path),
keys that another KEK cannot open, and identities refused once tampered with, signed
by an unknown key, or belonging to an allocation that stopped."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from gitorch import codec
from gitorch.core import commands as c
from gitorch.core.model import Job, Plan, Task, TaskGroup
from gitorch.core.model.base import replace
from gitorch.core.model.plan import Placement
from gitorch.core.model.variable import check_items, check_path
from gitorch.core.workload import WorkloadClaims, may_call
from gitorch.errors import BadRequestError, PermissionDeniedError
from gitorch.server.keyring import Keyring, KeyringError
from gitorch.server.server import Server
from gitorch.server.variables import VariableConflict

PLAIN = "s3cr3t-item-value"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server.in_memory()
    try:
        yield s
    finally:
        s.stop()


def test_cas_create_only_then_by_index(server: Server) -> None:
    v = server.variables
    first = v.put("default", "nomad/jobs/web", {"password": PLAIN}, cas=0)
    with pytest.raises(VariableConflict) as conflict:
        v.put("default", "nomad/jobs/web", {"password": "x"}, cas=0)
    assert conflict.value.current is not None
    assert conflict.value.current.modify_index == first.modify_index
    assert PLAIN not in str(conflict.value)
    second = v.put("default", "nomad/jobs/web", {"password": "y"}, cas=first.modify_index)
    assert second.items == {"password": "y"} and second.create_index == first.create_index
    with pytest.raises(VariableConflict):
        v.delete("default", "nomad/jobs/web", cas=first.modify_index)
    v.delete("default", "nomad/jobs/web", cas=second.modify_index)
    assert v.read("default", "nomad/jobs/web") is None


def test_items_are_sealed_in_the_log_and_bound_to_their_path(server: Server) -> None:
    seen: list[bytes] = []
    server.fsm.listen(lambda cmd, _: seen.append(codec.encode_command(cmd)))
    server.variables.put("default", "app/db", {"password": PLAIN})
    assert seen and all(PLAIN.encode() not in entry for entry in seen)
    assert PLAIN.encode() not in codec.encode_state(server.fsm.state.dump())
    enc = server.fsm.state.vars.get("default", "app/db")
    assert enc is not None
    moved = replace(enc, path="app/other")  # a ciphertext copied to another path
    server.log.submit(c.UpsertVariable(now=1, variable=moved))
    with pytest.raises(KeyringError) as err:
        server.variables.read("default", "app/other")
    assert PLAIN not in str(err.value)


def test_another_kek_cannot_open_the_root_key(server: Server) -> None:
    key = server.variables.active_key()
    stranger = Keyring(b"\x01" * 32)
    with pytest.raises(KeyringError, match="cannot be opened"):
        stranger.unseal(key, b"x", b"\x00" * 40)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("a/../b", "'..' is not allowed"),
        ("a b", "only letters"),
        ("nomad", "reserved"),
        ("nomad/secrets/x", "reserved"),
        ("a//b", "empty path segment"),
        ("x" * 129, "at most 128"),
    ],
)
def test_path_rules(path: str, reason: str) -> None:
    assert reason in check_path(path)


def test_item_rules_never_quote_a_value() -> None:
    assert check_path("nomad/jobs/web/web/server") == ""
    why = check_items({"blob": "q" * (64 * 1024)})
    assert "64KiB" in why and "qqq" not in why
    assert "empty" in check_items({})


def test_put_refuses_bad_input_with_400(server: Server) -> None:
    with pytest.raises(BadRequestError, match=r"'\.\.'"):
        server.variables.put("default", "a/../b", {"k": "v"})


def _running_alloc(server: Server) -> None:
    job = Job(
        id="api", task_groups=[TaskGroup(name="g", tasks=[Task(name="t", driver="raw_exec")])]
    )
    server.log.submit(c.RegisterJob(now=1, job=job))
    place = Placement(id="a1", node_id="n1", task_group="g", index=0)
    server.log.submit(c.ApplyPlan(now=2, plan=Plan(eval_id="e1", job_id="api", placements=[place])))


def test_identity_claims_verify_and_refusals(server: Server) -> None:
    _running_alloc(server)
    token = server.identity.sign("a1", "t", node_id="n1", ttl_ns=3600 * 10**9)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["nomad_namespace"], claims["nomad_job_id"], claims["nomad_task"]) == (
        "default", "api", "t",
    )  # fmt: skip
    assert claims["nomad_allocation_id"] == "a1" and claims["aud"] == ["nomadproject.io"]
    assert claims["exp"] > claims["iat"]
    got = server.identity.verify(token)
    assert (got.job_id, got.group, got.task) == ("api", "g", "t")
    kid = jwt.get_unverified_header(token)["kid"]
    assert [k["kid"] for k in server.identity.jwks()["keys"]] == [kid]

    # signed with a key the servers do not hold, under the real key's ID
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"kid": kid})  # fmt: skip
    with pytest.raises(PermissionDeniedError, match="does not verify"):
        server.identity.verify(forged)
    with pytest.raises(PermissionDeniedError, match="well-formed"):
        server.identity.verify("eyJ.not.jwt")
    with pytest.raises(PermissionDeniedError):
        server.identity.sign("a1", "t", node_id="other-node")

    # the allocation ends: its token stops working
    done = c.AllocClientUpdate(id="a1", client_status="complete")
    server.log.submit(c.UpdateAllocsFromClient(now=3, updates=[done]))
    with pytest.raises(PermissionDeniedError, match="no longer running"):
        server.identity.verify(token)


def test_workload_may_call_only_its_own_variables() -> None:
    me = WorkloadClaims(namespace="default", job_id="api", group="g", task="t", alloc_id="a1")
    route = "/v1/var/{path:path}"
    for ok in ("nomad/jobs/api", "nomad/jobs/api/g", "nomad/jobs/api/g/t", "nomad/jobs"):
        assert may_call(me, "GET", route, {"path": ok}, "default") == "", ok
    for bad in ("nomad/jobs/other", "nomad/jobs/api/h", "nomad/jobs/api2", "app/db"):
        assert "own job" in may_call(me, "GET", route, {"path": bad}, "default"), bad
    assert may_call(me, "GET", route, {"path": "nomad/jobs/api"}, "prod") != ""
    assert may_call(me, "PUT", route, {"path": "nomad/jobs/api"}, "default") != ""
    assert may_call(me, "GET", "/v1/jobs", {}, "default") != ""
    assert may_call(me, "GET", "/v1/service/{name:str}", {"name": "db"}, "default") == ""
