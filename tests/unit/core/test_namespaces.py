"""The namespace table through the state store's one entry point: declared namespaces
keep their indexes, names are checked, a namespace still in use is never deleted (the
whole batch is refused), and the table survives a dump."""

from __future__ import annotations

from gitorch.codec import decode_state, encode_state
from gitorch.core import commands as c
from gitorch.core import nsstate
from gitorch.core.model import Job, Task, TaskGroup
from gitorch.core.model.namespace import Namespace
from gitorch.core.model.variable import VariableEncrypted
from gitorch.core.state import StateStore


def job(namespace: str, job_id: str = "web") -> Job:
    task = Task(name="t", driver="raw_exec")
    return Job(id=job_id, namespace=namespace, task_groups=[TaskGroup(name="g", tasks=[task])])


def declare(store: StateStore, *namespaces: Namespace) -> str:
    return store.apply(c.UpsertNamespaces(now=1, namespaces=list(namespaces))).error


def delete(store: StateStore, *names: str) -> str:
    return store.apply(c.DeleteNamespaces(now=1, names=list(names))).error


def test_declared_namespace_keeps_its_create_index_and_is_listed() -> None:
    store = StateStore()
    assert declare(store, Namespace(name="prod", description="p1")) == ""
    created = store.namespaces["prod"]
    assert created.create_index == created.modify_index == store.index
    assert declare(store, Namespace(name="prod", description="p2", meta={"a": "b"})) == ""
    changed = store.namespaces["prod"]
    assert changed.create_index == created.create_index
    assert changed.modify_index == store.index > created.modify_index
    assert changed.description == "p2" and changed.meta == {"a": "b"}
    assert nsstate.names(store) == ["default", "prod"]
    assert store.table_index["namespaces"] == store.index


def test_bad_names_are_refused_and_nothing_of_the_batch_is_written() -> None:
    store = StateStore()
    error = declare(store, Namespace(name="ok"), Namespace(name="no spaces"))
    assert "invalid name 'no spaces'" in error
    assert "ok" not in store.namespaces
    assert "longer than 256" in declare(store, Namespace(name="x", description="d" * 257))


def test_namespaces_in_use_exist_without_being_declared() -> None:
    store = StateStore()
    store.apply(c.RegisterJob(now=1, job=job("team")))
    assert nsstate.names(store) == ["default", "team"]
    found = nsstate.get(store, "team")
    assert found is not None and found.name == "team" and found.description == ""
    assert nsstate.get(store, "nowhere") is None
    default = nsstate.get(store, "default")
    assert default is not None and default.description == "Default shared namespace"


def test_a_namespace_in_use_is_not_deleted() -> None:
    store = StateStore()
    declare(store, Namespace(name="team"), Namespace(name="empty"))
    store.apply(c.RegisterJob(now=1, job=job("team")))
    error = delete(store, "empty", "team")
    assert error == "namespace 'team' has non-terminal jobs: web; stop and purge them first"
    assert "empty" in store.namespaces  # the batch is refused whole
    assert delete(store, "default") == "the default namespace can not be deleted"
    assert delete(store, "nowhere").startswith(nsstate.NOT_FOUND)

    variable = VariableEncrypted(namespace="vars", path="a", key_id="k", data=b"x")
    store.apply(c.UpsertVariable(now=1, variable=variable))
    assert delete(store, "vars") == "namespace 'vars' has variables; delete them first"

    store.apply(c.DeregisterJob(now=1, namespace="team", job_id="web", purge=True))
    assert delete(store, "empty", "team") == ""
    assert "empty" not in store.namespaces and "team" not in store.namespaces
    assert nsstate.names(store) == ["default", "vars"]


def test_declared_namespaces_survive_a_dump() -> None:
    store = StateStore()
    declare(store, Namespace(name="prod", description="production", meta={"owner": "ops"}))
    restored = StateStore.load(decode_state(encode_state(store.dump())))
    assert restored.namespaces == store.namespaces
    assert restored.snapshot().namespaces["prod"].meta == {"owner": "ops"}
