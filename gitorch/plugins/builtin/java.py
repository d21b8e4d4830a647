"""The java driver: run a JVM program under the exec driver's isolation (Nomad's java
driver).

Task config (Nomad's keys): ``jar_path`` (relative to the task dir, which is the task's
root) or ``class`` with an optional ``class_path``; ``jvm_options`` and ``args`` (lists);
and exec's ``pid_mode``/``ipc_mode``/``cap_add``/``cap_drop``. The command is::

    <JAVA_HOME>/bin/java [-Xmx<memory_mb>m] <jvm_options> [-cp <class_path>]
                         (-jar <jar_path> | <class>) <args>

``-Xmx`` is added from the task's memory unless ``jvm_options`` sets the heap itself.

Isolation is exec's (``ExecDriver``: bubblewrap namespaces, the task dir as root with the
system dirs bound read-only, cgroup limits), plus the JVM's real install dir (``java``
on PATH resolved through its symlinks) bound read-only where exec's binds miss it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from gitorch.core.task import DriverFingerprint, TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.builtin.exec import ExecDriver
from gitorch.plugins.driver import Field

HEAP_OPTIONS = ("-Xmx", "-XX:MaxHeapSize=", "-XX:MaxRAM")


@functools.lru_cache(maxsize=8)
def java_info(java: str) -> dict[str, str] | str:
    """``java -version`` of the binary at ``java``, parsed (version, runtime, vm), or a
    sentence saying why it cannot be read. Cached: run once per binary and process."""
    try:
        done = subprocess.run(
            [java, "-version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {java} -version: {exc}"
    return parse_version(done.stderr.decode(errors="replace") + done.stdout.decode())


def parse_version(text: str) -> dict[str, str] | str:
    """Nomad's parse of ``java -version``: the quoted version on the first line, the
    runtime on the second, the VM on the third."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("Picked up ")]
    match = re.search(r'version "([^"]+)"', lines[0]) if lines else None
    if match is None:
        return f"cannot parse java -version output: {text.strip()[:200]!r}"
    return {
        "version": match.group(1),
        "runtime": lines[1] if len(lines) > 1 else "",
        "vm": lines[2] if len(lines) > 2 else "",
    }


def find_java_home(java: str | None = None) -> str | None:
    """The JVM's install dir: ``java`` on PATH (or the path given) through its symlinks
    (``/usr/bin/java`` -> ``/etc/alternatives`` -> ``/usr/lib/jvm/<jdk>/bin/java``)."""
    found = shutil.which(java or "java")
    if found is None:
        return None
    real = os.path.realpath(found)
    return os.path.dirname(os.path.dirname(real))


class JavaDriver(ExecDriver):
    name: ClassVar[str] = "java"
    config_schema: ClassVar[dict[str, Field]] = {
        "jar_path": Field("string", doc="jar to run, relative to the task dir"),
        "class": Field("string", doc="main class (instead of jar_path)"),
        "class_path": Field("string", doc="-cp for class (paths inside the task dir)"),
        "jvm_options": Field("list(string)", doc="JVM options, before the class or jar"),
        "args": Field("list(string)", doc="arguments of the program"),
        **{k: ExecDriver.config_schema[k] for k in ("pid_mode", "ipc_mode", "cap_add", "cap_drop")},
    }
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        **ExecDriver.plugin_config_schema,
        "java": Field("string", doc="the java binary (default: java on the agent's PATH)"),
    }

    def __init__(self, plugin_config: Any = None) -> None:
        super().__init__(plugin_config)
        self._java_home = find_java_home(self.plugin_config.get("java"))
        home = self._java_home
        if home is not None and self._host_path_of(home) is None:
            # The JVM lives outside the chroot's system dirs (e.g. /opt/jdk): bind it.
            self._chroot.append((home, home))
            self._binds += ["--ro-bind", home, home]

    def _host_path_of(self, path: str) -> str | None:
        """The chroot bind that covers host ``path`` (None: not visible in the task)."""
        for src, dst in self._chroot:
            if src == dst and (path == src or path.startswith(src.rstrip("/") + "/")):
                return src
        return None

    @property
    def java(self) -> str | None:
        """The JVM binary run in the task (inside the chroot, the same path)."""
        return None if self._java_home is None else os.path.join(self._java_home, "bin", "java")

    def _java_info(self) -> dict[str, str] | str:
        java = self.java
        if java is None or not os.access(java, os.X_OK):
            return "no java found on PATH (install a JDK/JRE, e.g. openjdk-17-jre-headless)"
        return java_info(java)

    def fingerprint(self) -> DriverFingerprint:
        info = self._java_info()
        if isinstance(info, str):
            return DriverFingerprint(health="undetected", health_description=info)
        attributes = {
            "driver.java": "1",
            "driver.java.version": info["version"],
            "driver.java.runtime": info["runtime"],
            "driver.java.vm": info["vm"],
        }
        problem = self._unready()
        if problem is not None:
            return DriverFingerprint(
                health="unhealthy",
                health_description=f"java found but tasks cannot be isolated: {problem[1]}",
                attributes=attributes,
            )
        return DriverFingerprint(
            health="healthy", health_description="Healthy", attributes=attributes
        )

    @classmethod
    def schema_problems(cls, config: Mapping[str, Any]) -> list[str]:
        problems = super().schema_problems(config)
        if not isinstance(config, Mapping):
            return problems
        jar, main_class = config.get("jar_path"), config.get("class")
        if not jar and not main_class:
            problems.append("config.jar_path: required unless class is set")
        elif jar and main_class:
            problems.append("config.class: set either jar_path or class, not both")
        if config.get("class_path") and not main_class:
            problems.append("config.class_path: only used with class")
        return problems

    def _check_ready(self, cfg: TaskConfig) -> None:
        info = self._java_info()
        problem = info if isinstance(info, str) else None
        unready = self._unready()
        if problem is None and unready is not None:
            problem = unready[1]
        if problem is not None:
            raise DriverError(f"task {cfg.id}: the java driver cannot run tasks: {problem}")

    def java_args(self, cfg: TaskConfig) -> list[str]:
        """The JVM's arguments for the task (everything after the java binary)."""
        config = cfg.config
        options: list[str] = list(config.get("jvm_options", []))
        args: list[str] = []
        if not any(o.startswith(HEAP_OPTIONS) for o in options):
            args.append(f"-Xmx{cfg.memory_mb}m")
        args += options
        if config.get("class_path"):
            args += ["-cp", str(config["class_path"])]
        jar = config.get("jar_path")
        if jar:
            inside = os.path.normpath(os.path.join("/", str(jar)))
            host = self._host_path(cfg, inside)
            if not os.path.isfile(host):
                raise DriverError(
                    f"task {cfg.id}: config.jar_path {jar!r} not found: no file {host} "
                    "(jar_path is relative to the task dir; fetch it with an artifact block)"
                )
            args += ["-jar", inside]
        else:
            args.append(str(config["class"]))
        return args + list(config.get("args", []))

    def _command(self, cfg: TaskConfig) -> list[str]:
        assert self.java is not None
        exec_config = {k: v for k, v in cfg.config.items() if k in ExecDriver.config_schema}
        exec_config.update(command=self.java, args=self.java_args(cfg))
        return super()._command(msgspec.structs.replace(cfg, config=exec_config))
