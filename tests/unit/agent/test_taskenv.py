"""Nomad's task environment and ${...} interpolation."""

from __future__ import annotations

from gitorch.agent.taskenv import ISOLATED_DIRS, TaskDirs, build
from gitorch.core.model import Allocation, Job, Node, Resources, Task, TaskGroup

TASK = Task(
    name="web",
    driver="raw_exec",
    resources=Resources(cpu=250, memory_mb=128, memory_max_mb=256),
    meta={"tier": "front", "my-key": "x"},
    env={
        "GREETING": "hi from ${node.unique.name} in ${NOMAD_DC}",
        "UNKNOWN": "${foo.bar} and ${NOMAD_NOPE}",
        "${NOMAD_TASK_NAME}_PORT": "8080",
    },
    config={
        "command": "${NOMAD_TASK_DIR}/run",
        "args": ["--id", "${NOMAD_SHORT_ALLOC_ID}", {"k": "${attr.kernel.name}"}, 3],
        "env_ref": "${env.GREETING}",
        "meta": "${meta.rack}/${NOMAD_META_TIER}/${NOMAD_META_tier}",
    },
)
JOB = Job(
    id="shop",
    name="Shop",
    region="eu",
    meta={"owner": "ops", "tier": "job-level"},
    task_groups=[TaskGroup(name="frontend", meta={"team": "a"}, tasks=[TASK])],
)
ALLOC = Allocation(
    id="0123456789abcdef", name="shop.frontend[2]", namespace="prod", task_group="frontend"
)
NODE = Node(
    id="node-1",
    name="host-a",
    datacenter="dc2",
    node_class="big",
    attributes={"kernel.name": "linux"},
    meta={"rack": "r7"},
)
DIRS = TaskDirs(alloc_dir="/data/a/alloc", task_dir="/data/a/web/local", secrets_dir="/s")


def test_nomad_variables() -> None:
    env = build(ALLOC, JOB, TASK, NODE, DIRS).env
    assert env["NOMAD_ALLOC_ID"] == "0123456789abcdef"
    assert env["NOMAD_SHORT_ALLOC_ID"] == "01234567"
    assert env["NOMAD_ALLOC_NAME"] == "shop.frontend[2]"
    assert env["NOMAD_ALLOC_INDEX"] == "2"
    assert env["NOMAD_ALLOC_DIR"] == "/data/a/alloc"
    assert env["NOMAD_TASK_DIR"] == "/data/a/web/local"
    assert env["NOMAD_SECRETS_DIR"] == "/s"
    assert env["NOMAD_TASK_NAME"] == "web"
    assert env["NOMAD_GROUP_NAME"] == "frontend"
    assert env["NOMAD_JOB_ID"] == "shop"
    assert env["NOMAD_JOB_NAME"] == "Shop"
    assert env["NOMAD_NAMESPACE"] == "prod"
    assert env["NOMAD_REGION"] == "eu"
    assert env["NOMAD_DC"] == "dc2"
    assert env["NOMAD_CPU_LIMIT"] == "250"
    assert env["NOMAD_MEMORY_LIMIT"] == "128"
    assert env["NOMAD_MEMORY_MAX_LIMIT"] == "256"
    # task meta wins over group meta over job meta; keys cleaned and upper-cased too
    assert env["NOMAD_META_TIER"] == "front"
    assert env["NOMAD_META_OWNER"] == "ops"
    assert env["NOMAD_META_TEAM"] == "a"
    assert env["NOMAD_META_MY_KEY"] == "x"


def test_task_env_is_interpolated_and_unknowns_stay_literal() -> None:
    env = build(ALLOC, JOB, TASK, NODE, DIRS).env
    assert env["GREETING"] == "hi from host-a in dc2"
    assert env["UNKNOWN"] == "${foo.bar} and ${NOMAD_NOPE}"
    assert env["web_PORT"] == "8080"


def test_config_interpolation_recurses() -> None:
    te = build(
        ALLOC, JOB, TASK, NODE, DIRS, host_env={"HOME": "/home/x", "NOMAD_TASK_NAME": "spoof"}
    )
    config = te.replace_config(TASK.config)
    assert config == {
        "command": "/data/a/web/local/run",
        "args": ["--id", "01234567", {"k": "linux"}, 3],
        "env_ref": "hi from host-a in dc2",
        "meta": "r7/front/front",
    }
    assert te.replace("${node.unique.id}/${node.class}/${node.datacenter}") == "node-1/big/dc2"
    assert te.replace("${env.HOME} ${HOME} ${env.MISSING}") == "/home/x /home/x ${env.MISSING}"
    assert te.replace("no refs") == "no refs"
    assert te.env["NOMAD_TASK_NAME"] == "web"  # NOMAD_* win over the host's env


def test_isolated_paths() -> None:
    env = build(ALLOC, JOB, TASK, NODE, ISOLATED_DIRS).env
    assert (env["NOMAD_ALLOC_DIR"], env["NOMAD_TASK_DIR"], env["NOMAD_SECRETS_DIR"]) == (
        "/alloc",
        "/local",
        "/secrets",
    )
