"""Nomad's task environment and ${...} interpolation."""

from __future__ import annotations

import msgspec

from gitorch.agent.taskenv import ISOLATED_DIRS, TaskDirs, build, port_vars, task_config
from gitorch.core.model import (
    AllocatedDevice,
    AllocatedPort,
    Allocation,
    Job,
    Node,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.task import TaskConfig

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


PORTS = [
    AllocatedPort(label="http", value=8080, to=80, host_ip="10.0.0.5"),
    AllocatedPort(label="db", value=23456, host_ip="10.0.0.5"),
    AllocatedPort(label="my-port", value=23457, to=23457, host_ip="fe80::1"),
]
GPU = AllocatedDevice(vendor="nvidia", type="gpu", name="Tesla T4", device_ids=["GPU-1", "GPU-2"])
PORTED = replace(ALLOC, allocated_ports=PORTS, allocated_devices={"web": [GPU], "other": []})


def test_port_variables_follow_nomad() -> None:
    env = port_vars(PORTS)
    # a mapped port: the task binds "to", the host listens on "value"
    assert env["NOMAD_PORT_http"] == env["NOMAD_ALLOC_PORT_http"] == "80"
    assert env["NOMAD_HOST_PORT_http"] == "8080"
    assert env["NOMAD_IP_http"] == env["NOMAD_HOST_IP_http"] == "10.0.0.5"
    assert env["NOMAD_ADDR_http"] == env["NOMAD_HOST_ADDR_http"] == "10.0.0.5:8080"
    # no "to": everything is the host port
    assert env["NOMAD_PORT_db"] == env["NOMAD_HOST_PORT_db"] == "23456"
    assert env["NOMAD_ADDR_db"] == "10.0.0.5:23456"
    # names cleaned where Nomad cleans them; IPv6 addresses bracketed in addresses
    assert env["NOMAD_PORT_my_port"] == env["NOMAD_ALLOC_PORT_my-port"] == "23457"
    assert env["NOMAD_ADDR_my_port"] == env["NOMAD_HOST_ADDR_my-port"] == "[fe80::1]:23457"
    assert env["NOMAD_IP_my_port"] == env["NOMAD_HOST_IP_my-port"] == "fe80::1"
    assert "NOMAD_PORT_my-port" not in env
    assert len(env) == 21


def test_ports_are_in_the_environment_and_interpolate() -> None:
    task = replace(
        TASK,
        env={"LISTEN": ":${NOMAD_PORT_http}"},
        config={"args": ["--addr", "${NOMAD_ADDR_db}", "--port", "${NOMAD_HOST_PORT_http}"]},
    )
    te = build(PORTED, JOB, task, NODE, DIRS)
    assert te.env["LISTEN"] == ":80" and te.env["NOMAD_PORT_db"] == "23456"
    assert te.replace_config(task.config) == {
        "args": ["--addr", "10.0.0.5:23456", "--port", "8080"]
    }
    assert not any(k.startswith("NOMAD_PORT") for k in build(ALLOC, JOB, TASK, NODE, DIRS).env)


def test_task_config_carries_ports_and_this_tasks_devices() -> None:
    task = replace(TASK, config={"port": "${NOMAD_PORT_http}"})
    cfg = task_config(PORTED, JOB, task, NODE, "/data/a", {})
    assert cfg.ports == PORTS
    assert cfg.devices == [GPU]
    assert cfg.config == {"port": "80"}
    assert "NVIDIA_VISIBLE_DEVICES" not in cfg.env  # device plugins set that
    other = task_config(PORTED, JOB, replace(TASK, name="other"), NODE, "/data/a", {})
    assert other.devices == [] and other.ports == PORTS
    bare = task_config(ALLOC, JOB, TASK, NODE, "/data/a", {})
    assert bare.ports == [] and bare.devices == []


def test_task_config_round_trips_with_ports_and_devices() -> None:
    cfg = task_config(PORTED, JOB, TASK, NODE, "/data/a", {})
    again = msgspec.json.decode(msgspec.json.encode(cfg), type=TaskConfig)
    assert again == cfg
    old = msgspec.json.decode(b'{"alloc_id":"a","task_name":"t","driver":"d","task_dir":"/t",'
                              b'"alloc_dir":"/a","log_dir":"/l"}', type=TaskConfig)  # fmt: skip
    assert old.ports == [] and old.devices == []
