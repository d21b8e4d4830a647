"""The pure ACL decision (gitorch.core.acl) and the ACL tables of the state store."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from gitorch.core import commands as c
from gitorch.core.acl import (
    NAMESPACE_POLICY,
    Capability,
    NamespaceRule,
    Rules,
    allow,
    glob_match,
)
from gitorch.core.model.acl import ACLPolicy, ACLToken
from gitorch.core.state import StateDump, StateStore

CLIENT = ACLToken(accessor_id="a", type="client")
MGMT = ACLToken(accessor_id="m", type="management")
SUBMIT = Capability("namespace", "submit-job")
READ_JOB = Capability("namespace", "read-job")

names = st.text(alphabet="abc-", min_size=1, max_size=6)
actions = st.sampled_from(sorted(NAMESPACE_POLICY["write"]))
levels = st.sampled_from(["read", "write", "scale"])


def ns_rules(pattern: str, *caps: str) -> Rules:
    return Rules(namespaces={pattern: NamespaceRule(capabilities=frozenset(caps))})


def with_policy(pattern: str, level: str) -> Rules:
    return ns_rules(pattern, *NAMESPACE_POLICY[level])


@given(names, actions, levels, st.lists(st.tuples(names, levels), max_size=4))
def test_deny_beats_any_allow(
    namespace: str, action: str, level: str, others: list[tuple[str, str]]
) -> None:
    grants = [with_policy(namespace, level), *(with_policy(p, lv) for p, lv in others)]
    denied = [*grants, ns_rules(namespace, "deny")]
    for order in (denied, list(reversed(denied))):
        assert not allow(CLIENT, order, Capability("namespace", action), namespace)


@given(names, actions, levels)
def test_exact_namespace_beats_every_glob(namespace: str, action: str, level: str) -> None:
    exact = ns_rules(namespace, "list-jobs")  # grants only list-jobs here
    wide = with_policy("*", level)
    expected = action == "list-jobs"
    assert allow(CLIENT, [wide, exact], Capability("namespace", action), namespace) is expected


@given(st.text(alphabet="ab", min_size=0, max_size=3), st.text(alphabet="ab", max_size=3), actions)
def test_most_specific_glob_wins(prefix: str, rest: str, action: str) -> None:
    namespace = f"{prefix}x{rest}"
    specific = f"{prefix}x*"  # fewer characters left to the star than "*"
    rules = [with_policy("*", "write"), ns_rules(specific, "deny")]
    assert not allow(CLIENT, rules, Capability("namespace", action), namespace)
    rules = [ns_rules("*", "deny"), with_policy(specific, "write")]
    assert allow(CLIENT, rules, Capability("namespace", action), namespace)


@given(st.lists(st.tuples(names, levels), max_size=5), names, actions)
def test_management_may_do_everything_and_anonymous_without_policy_nothing(
    grants: list[tuple[str, str]], namespace: str, action: str
) -> None:
    rules = [with_policy(p, lv) for p, lv in grants]
    assert allow(MGMT, rules, Capability("namespace", action), namespace)
    assert allow(MGMT, [], Capability("management", "*"))
    assert not allow(None, [], Capability("namespace", action), namespace)
    assert not allow(CLIENT, rules, Capability("management", "*"))


@given(names, actions, levels, st.integers(min_value=1, max_value=10**18))
def test_decision_is_pure_and_expiry_refuses(
    namespace: str, action: str, level: str, at: int
) -> None:
    rules = [with_policy(namespace, level)]
    need = Capability("namespace", action)
    first = allow(CLIENT, rules, need, namespace)
    assert allow(CLIENT, rules, need, namespace) is first
    assert first is (action in NAMESPACE_POLICY[level])
    expiring = msgspec.structs.replace(CLIENT, expires_at=at)
    assert not allow(expiring, rules, need, namespace, now=at)
    assert allow(expiring, rules, need, namespace, now=at - 1) is first


@given(st.lists(st.sampled_from(["deny", "read", "write"]), min_size=1, max_size=5))
def test_scope_level_is_strongest_unless_denied(policies: list[str]) -> None:
    rules = [Rules(scopes={"node": level}) for level in policies]
    can_read = allow(CLIENT, rules, Capability("node", "read"))
    can_write = allow(CLIENT, rules, Capability("node", "write"))
    assert can_read is ("deny" not in policies)
    assert can_write is ("deny" not in policies and "write" in policies)


def test_glob_matching() -> None:
    assert glob_match("*", "anything")
    assert glob_match("prod-*", "prod-eu")
    assert not glob_match("prod-*", "dev-eu")
    assert glob_match("*-eu", "prod-eu") and glob_match("a*b*c", "axxbyyc")
    assert not glob_match("a*b*c", "acb")
    assert glob_match("default", "default") and not glob_match("default", "defaults")


def test_variables_paths_use_the_closest_path() -> None:
    rule = NamespaceRule(
        capabilities=frozenset(),
        variables={"*": frozenset({"read"}), "secret/*": frozenset({"deny"})},
    )
    rules = [Rules(namespaces={"default": rule})]
    assert allow(CLIENT, rules, Capability("variables", "read", "app/config"))
    assert not allow(CLIENT, rules, Capability("variables", "read", "secret/db"))
    assert not allow(CLIENT, rules, Capability("variables", "write", "app/config"))


def test_acl_tables_survive_snapshot_dump_and_load() -> None:
    store = StateStore()
    token = ACLToken(accessor_id="acc", type="management", hash="h1")
    assert not store.apply(c.BootstrapACL(now=1, token=token)).error
    assert store.apply(c.BootstrapACL(now=2, token=token)).error == "ACL bootstrap already done"
    refused = store.apply(
        c.UpsertACLTokens(now=3, tokens=[ACLToken(accessor_id="b", policies=["nope"], hash="h2")])
    )
    assert "does not exist" in refused.error
    store.apply(c.UpsertACLPolicies(now=4, policies=[ACLPolicy(name="ro", rules="")]))
    store.apply(
        c.UpsertACLTokens(now=5, tokens=[ACLToken(accessor_id="b", policies=["ro"], hash="h2")])
    )
    snap = store.snapshot()
    store.apply(c.DeleteACLTokens(now=6, accessor_ids=["b"]))
    assert snap.acl.token_by_hash("h2") is not None  # the snapshot keeps its view
    assert store.acl.token_by_hash("h2") is None
    raw = msgspec.msgpack.encode(store.dump())
    loaded = StateStore.load(msgspec.msgpack.decode(raw, type=StateDump))
    assert loaded.acl.bootstrap_index == store.acl.bootstrap_index > 0
    assert set(loaded.acl.tokens) == {"acc"} and set(loaded.acl.policies) == {"ro"}
    assert loaded.acl.token_by_hash("h1") is not None
    assert loaded.table_index["acl_token"] == store.table_index["acl_token"] > 0


def test_old_snapshots_without_acl_tables_still_load() -> None:
    raw = msgspec.msgpack.encode(StateStore().dump())
    as_dict = msgspec.msgpack.decode(raw)
    del as_dict["acl"]
    loaded = StateStore.load(
        msgspec.msgpack.decode(msgspec.msgpack.encode(as_dict), type=StateDump)
    )
    assert loaded.acl.bootstrap_index == 0 and not loaded.acl.tokens
