"""Nomad's task environment, as pure functions.

``build`` computes the ``NOMAD_*`` variables a task sees, adds the task's own ``env``
block (interpolated), and returns a ``TaskEnv`` that interpolates ``${...}`` in any
string or nested config. Interpolation knows:

* ``${NOMAD_ALLOC_ID}``, ``${NOMAD_PORT_http}`` and any other variable of the task's
  environment;
* ``${env.X}``: the variable ``X`` of the task's environment;
* ``${attr.<name>}``, ``${meta.<key>}``, ``${node.unique.id}``, ``${node.unique.name}``,
  ``${node.datacenter}``, ``${node.class}``, ``${node.pool}``: the node's values.

Anything else stays literal, as in Nomad (it may mean something to the program).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from gitorch.agent.volumes import host_mounts, volume_env
from gitorch.core.model import AllocatedPort, Allocation, Job, Node, Task
from gitorch.core.task import TaskConfig

_REF = re.compile(r"\$\{([^{}]+)\}")
_NOT_ENV_CHAR = re.compile(r"[^A-Za-z0-9_]")


class TaskDirs(msgspec.Struct, frozen=True, kw_only=True):
    """The three directories as the task sees them: host paths for drivers without
    filesystem isolation (raw_exec), in-chroot paths (``/alloc``, ``/local``,
    ``/secrets``) for drivers with it."""

    alloc_dir: str
    task_dir: str
    secrets_dir: str


ISOLATED_DIRS = TaskDirs(alloc_dir="/alloc", task_dir="/local", secrets_dir="/secrets")


class TaskEnv(msgspec.Struct, frozen=True, kw_only=True):
    """A task's environment variables and the node values interpolation can see."""

    env: dict[str, str]
    node_values: dict[str, str]

    def lookup(self, name: str) -> str | None:
        """The value of one ``${name}``, or None when it is unknown."""
        if name.startswith("env."):
            return self.env.get(name[4:])
        if name in self.node_values:
            return self.node_values[name]
        return self.env.get(name)

    def replace(self, text: str) -> str:
        """Interpolate every known ``${...}`` in ``text``; leave the rest literal."""
        if "${" not in text:
            return text

        def sub(match: re.Match[str]) -> str:
            value = self.lookup(match.group(1).strip())
            return match.group(0) if value is None else value

        return _REF.sub(sub, text)

    def replace_config(self, value: Any) -> Any:
        """Interpolate strings in a driver config, recursing into dicts and lists."""
        if isinstance(value, str):
            return self.replace(value)
        if isinstance(value, dict):
            return {k: self.replace_config(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.replace_config(v) for v in value]
        return value


def node_values(node: Node) -> dict[str, str]:
    """The ``attr.*``, ``meta.*`` and ``node.*`` values of a node."""
    values = {f"attr.{k}": v for k, v in node.attributes.items()}
    values.update({f"meta.{k}": v for k, v in node.meta.items()})
    values.update(
        {
            "node.unique.id": node.id,
            "node.unique.name": node.name,
            "node.datacenter": node.datacenter,
            "node.class": node.node_class,
            "node.pool": node.node_pool,
        }
    )
    return values


def nomad_vars(
    alloc: Allocation, job: Job, task: Task, node: Node, dirs: TaskDirs
) -> dict[str, str]:
    """The ``NOMAD_*`` variables Nomad sets for ``task`` of ``alloc``."""
    group = job.group(alloc.task_group)
    env = {
        "NOMAD_ALLOC_ID": alloc.id,
        "NOMAD_SHORT_ALLOC_ID": alloc.id[:8],
        "NOMAD_ALLOC_NAME": alloc.name,
        "NOMAD_ALLOC_INDEX": str(alloc.index()) if "[" in alloc.name else "0",
        "NOMAD_ALLOC_DIR": dirs.alloc_dir,
        "NOMAD_TASK_DIR": dirs.task_dir,
        "NOMAD_SECRETS_DIR": dirs.secrets_dir,
        "NOMAD_TASK_NAME": task.name,
        "NOMAD_GROUP_NAME": alloc.task_group,
        "NOMAD_JOB_ID": job.id,
        "NOMAD_JOB_NAME": job.name or job.id,
        "NOMAD_NAMESPACE": alloc.namespace,
        "NOMAD_REGION": job.region,
        "NOMAD_DC": node.datacenter,
        "NOMAD_CPU_LIMIT": str(task.resources.cpu),
        "NOMAD_MEMORY_LIMIT": str(task.resources.memory_mb),
    }
    if task.resources.memory_max_mb:
        env["NOMAD_MEMORY_MAX_LIMIT"] = str(task.resources.memory_max_mb)
    if job.parent_id:
        env["NOMAD_JOB_PARENT_ID"] = job.parent_id
    env.update(port_vars(alloc.allocated_ports))
    meta = {**job.meta, **(group.meta if group else {}), **task.meta}
    for key, value in meta.items():
        clean = _NOT_ENV_CHAR.sub("_", key)
        env[f"NOMAD_META_{clean}"] = value
        env[f"NOMAD_META_{clean.upper()}"] = value
    return env


def port_vars(ports: Iterable[AllocatedPort]) -> dict[str, str]:
    """Nomad's variables for an allocation's ports: ``NOMAD_PORT_<label>`` and
    ``NOMAD_ALLOC_PORT_<label>`` are the port the task binds (``to`` when set, else the
    host port); ``NOMAD_HOST_PORT_<label>`` the host port; ``NOMAD_IP_``,
    ``NOMAD_HOST_IP_``, ``NOMAD_ADDR_`` and ``NOMAD_HOST_ADDR_`` the host address. As
    in Nomad, the names of the ``PORT``, ``HOST_PORT``, ``IP`` and ``ADDR`` variables
    have characters other than letters, digits and ``_`` replaced by ``_``."""
    env: dict[str, str] = {}
    for p in ports:
        label, host = p.label, str(p.value)
        clean = _NOT_ENV_CHAR.sub("_", label)
        bind = str(p.to) if p.to > 0 else host
        addr = f"[{p.host_ip}]:{host}" if ":" in p.host_ip else f"{p.host_ip}:{host}"
        env[f"NOMAD_PORT_{clean}"] = bind
        env[f"NOMAD_ALLOC_PORT_{label}"] = bind
        env[f"NOMAD_HOST_PORT_{clean}"] = host
        env[f"NOMAD_IP_{clean}"] = p.host_ip
        env[f"NOMAD_HOST_IP_{label}"] = p.host_ip
        env[f"NOMAD_ADDR_{clean}"] = addr
        env[f"NOMAD_HOST_ADDR_{label}"] = addr
    return env


def build(
    alloc: Allocation,
    job: Job,
    task: Task,
    node: Node,
    dirs: TaskDirs,
    *,
    host_env: dict[str, str] | None = None,
) -> TaskEnv:
    """The task's environment: the agent's (filtered) ``host_env``, then ``NOMAD_*``,
    then the task's ``env`` block with keys and values interpolated against those."""
    base = TaskEnv(
        env={**(host_env or {}), **nomad_vars(alloc, job, task, node, dirs)},
        node_values=node_values(node),
    )
    env = dict(base.env)
    for key, value in task.env.items():
        env[base.replace(key)] = base.replace(value)
    return TaskEnv(env=env, node_values=base.node_values)


def task_config(
    alloc: Allocation,
    job: Job,
    task: Task,
    node: Node,
    alloc_root: str,
    isolation: dict[str, str],
    host_env: dict[str, str] | None = None,
) -> TaskConfig:
    """What a driver is asked to run: Nomad's directory layout under ``alloc_root``
    (host paths), the task's environment, and its config interpolated. ``isolation``
    maps driver names to their filesystem isolation; isolated tasks see ``/alloc``,
    ``/local`` and ``/secrets``."""
    alloc_dir = posixpath.join(alloc_root, "alloc")
    task_dir = posixpath.join(alloc_root, task.name)
    dirs = ISOLATED_DIRS
    if isolation.get(task.driver, "none") == "none":
        dirs = TaskDirs(
            alloc_dir=alloc_dir,
            task_dir=posixpath.join(task_dir, "local"),
            secrets_dir=posixpath.join(task_dir, "secrets"),
        )
    env = build(alloc, job, task, node, dirs, host_env=host_env)
    mounts = host_mounts(job, alloc.task_group, task, node)
    unisolated = isolation.get(task.driver, "none") == "none"
    task_env = {**env.env, **volume_env(mounts)} if unisolated and mounts else env.env
    return TaskConfig(
        alloc_id=alloc.id,
        task_name=task.name,
        driver=task.driver,
        job_name=job.id,
        group_name=alloc.task_group,
        namespace=alloc.namespace,
        config=env.replace_config(task.config),
        env=task_env,
        task_dir=task_dir,
        alloc_dir=alloc_dir,
        log_dir=posixpath.join(alloc_dir, "logs"),
        user=task.user,
        cpu_mhz=task.resources.cpu,
        memory_mb=task.resources.memory_mb,
        memory_max_mb=task.resources.memory_max_mb,
        kill_signal=task.kill_signal,
        kill_timeout_s=task.kill_timeout / 1e9,
        ports=list(alloc.allocated_ports),
        devices=list(alloc.allocated_devices.get(task.name, [])),
        mounts=mounts,
    )
