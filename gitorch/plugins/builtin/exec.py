"""The exec driver: run a command isolated with bubblewrap, limited by cgroups (Nomad's
exec driver).

The task gets its own PID, mount, IPC, UTS (and, where the kernel allows, cgroup)
namespaces. Its root is the task dir (as Nomad's chroot): ``local/``, ``secrets/`` and
``tmp/`` are the task dir's, the alloc dir is bound at ``/alloc``, the host's system
directories (plugin config ``chroot_env``, Nomad's default list) are bound read-only,
``/proc`` is a new procfs for the PID namespace and ``/dev`` a minimal one, plus the
device nodes (``--dev-bind``) and mounts that device plugins reserved. The task is
PID 2 of its namespace (bwrap's init is PID 1, so default signal actions still apply).

Before bwrap runs, the wrapper joins the task's cgroup(s) (``cgroups``), so everything
the task starts is limited and accounted, and destroy can kill all of it.

Healthy only as root, with writable cgroups and a ``bwrap`` that works: the fingerprint
runs ``/bin/true`` in a probe sandbox with the task's isolation flags, and reports
bubblewrap's own error when it cannot (unprivileged user namespaces disabled, no mount
namespaces in this container...).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gitorch.core.task import DriverFingerprint, FSIsolation, TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import cgroups, process
from gitorch.plugins.builtin.cgroups import Cgroups
from gitorch.plugins.builtin.supervised import (
    SupervisedDriver,
    _Task,
    ensure_dir,
    resolve_on_path,
    user_prefix,
)
from gitorch.plugins.driver import Field

# Nomad's default chroot_env (host path -> path in the chroot).
DEFAULT_CHROOT = {
    "/bin": "/bin",
    "/etc": "/etc",
    "/lib": "/lib",
    "/lib32": "/lib32",
    "/lib64": "/lib64",
    "/run/resolvconf": "/run/resolvconf",
    "/sbin": "/sbin",
    "/usr": "/usr",
}
TASK_SUBDIRS = ("local", "secrets", "tmp")
PROBE_TIMEOUT_S = 10.0
# Nomad's default allow_caps for exec (Docker's default set without net_raw).
DEFAULT_CAPS = (
    "audit_write",
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "mknod",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
)


def _cap(name: str) -> str:
    """``net_bind_service`` / ``CAP_NET_BIND_SERVICE`` -> ``net_bind_service``."""
    name = name.strip().lower()
    return name[4:] if name.startswith("cap_") else name


def _cgroup_dirs(handle: TaskHandle) -> list[str]:
    dirs = handle.state.get("cgroups", [])
    return [d for d in dirs if isinstance(d, str)] if isinstance(dirs, list) else []


class ExecDriver(SupervisedDriver):
    name: ClassVar[str] = "exec"
    fs_isolation: ClassVar[FSIsolation] = "chroot"
    config_schema: ClassVar[dict[str, Field]] = {
        "command": Field("string", required=True, doc="program to run, as seen in the chroot"),
        "args": Field("list(string)", doc="arguments"),
        "pid_mode": Field("string", choices=("private", "host"), doc="PID namespace"),
        "ipc_mode": Field("string", choices=("private", "host"), doc="IPC namespace"),
        "cap_add": Field("list(string)", doc="capabilities to add (within allow_caps)"),
        "cap_drop": Field("list(string)", doc='capabilities to drop ("all" for all)'),
    }
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "cgroup_parent": Field("string", doc="parent cgroup (relative: under the agent's)"),
        "chroot_env": Field("map(string)", doc="host dir -> chroot dir, bound read-only"),
        "allow_caps": Field("list(string)", doc="capabilities tasks may have (Nomad's list)"),
    }

    def __init__(self, plugin_config: Any = None) -> None:
        super().__init__(plugin_config)
        self._bwrap = shutil.which("bwrap")
        self._nsenter = shutil.which("nsenter")
        self._setpriv = shutil.which("setpriv")
        chroot = self.plugin_config.get("chroot_env") or DEFAULT_CHROOT
        self._chroot: list[tuple[str, str]] = [
            (src, dst) for src, dst in chroot.items() if os.path.lexists(src)
        ]
        self._binds: list[str] = []
        self._links: list[tuple[str, str]] = []
        for src, dst in self._chroot:
            if os.path.islink(src):
                self._links.append((dst.lstrip("/"), os.readlink(src)))
            else:
                self._binds += ["--ro-bind", src, dst]
        self._layout: Cgroups | str | None = None
        self._sandbox_problem = ""
        self._allow_caps = {_cap(c) for c in self.plugin_config.get("allow_caps", DEFAULT_CAPS)}

    def _cgroups(self) -> Cgroups | str:
        """The cgroup layout (detected once it works; retried while it does not)."""
        if not isinstance(self._layout, Cgroups):
            self._layout = Cgroups.detect(str(self.plugin_config.get("cgroup_parent", "")))
        return self._layout

    def _unready(self) -> tuple[str, str] | None:
        """(health, reason) when the driver cannot run tasks; None when it can."""
        if os.geteuid() != 0:
            return "undetected", "the exec driver must run as root"
        if self._bwrap is None:
            return "undetected", "bubblewrap (bwrap) not found on PATH: apt-get install bubblewrap"
        if self._sandbox_problem:
            return "unhealthy", self._sandbox_problem
        layout = self._cgroups()
        if isinstance(layout, str):
            return "unhealthy", layout
        return None

    def _isolation(self) -> list[str]:
        """bwrap's namespace and capability flags of every task (pid/ipc: private)."""
        assert self._bwrap is not None
        return [
            self._bwrap, "--new-session", "--die-with-parent", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL",
        ]  # fmt: skip

    def _probe_sandbox(self) -> str:
        """Run ``/bin/true`` in a sandbox as tasks get one; bwrap's error, or ""."""
        with tempfile.TemporaryDirectory(prefix="gitorch-exec-probe-") as root:
            argv = [*self._isolation(), "--bind", root, "/", *self._binds]
            for name, target in self._links:
                argv += ["--symlink", target, "/" + name]
            argv += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/", "--", "/bin/true"]
            try:
                done = subprocess.run(
                    argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"bubblewrap cannot make a sandbox: {exc}"
        if done.returncode == 0:
            return ""
        why = done.stderr.strip() or f"exit code {done.returncode}"
        return f"bubblewrap cannot make a sandbox: {why}"

    def fingerprint(self) -> DriverFingerprint:
        if os.geteuid() == 0 and self._bwrap is not None:
            self._sandbox_problem = self._probe_sandbox()
        problem = self._unready()
        if problem is not None:
            health, reason = problem
            return DriverFingerprint(
                health="unhealthy" if health == "unhealthy" else "undetected",
                health_description=reason,
            )
        layout = self._cgroups()
        assert isinstance(layout, Cgroups)
        return DriverFingerprint(
            health="healthy",
            health_description="Healthy",
            attributes={
                "driver.exec": "1",
                "driver.exec.isolation": "bubblewrap",
                "driver.exec.cgroups.version": str(layout.version),
            },
        )

    def validate_config(self, config: Mapping[str, Any]) -> list[str]:
        problems = super().validate_config(config)
        added = config.get("cap_add", [])
        if not problems and isinstance(added, list):
            extra = sorted({_cap(c) for c in added} - self._allow_caps)
            if extra:
                problems.append(
                    f"config.cap_add: not in the plugin's allow_caps: {', '.join(extra)}"
                )
        return problems

    def _caps(self, cfg: TaskConfig) -> list[str]:
        """The task's capabilities, as Nomad computes them: the defaults allowed by
        ``allow_caps``, plus ``cap_add``, minus ``cap_drop``. A root task keeps no
        others, so it cannot remount the read-only binds or mount the host's disks."""
        caps = (set(DEFAULT_CAPS) & self._allow_caps) | {
            _cap(c) for c in cfg.config.get("cap_add", [])
        }
        dropped = {_cap(c) for c in cfg.config.get("cap_drop", [])}
        return [] if "all" in dropped else sorted(caps - dropped)

    def _check_ready(self, cfg: TaskConfig) -> None:
        problem = self._unready()
        if problem is not None:
            raise DriverError(f"task {cfg.id}: the exec driver cannot run tasks: {problem[1]}")

    def _host_path(self, cfg: TaskConfig, path: str) -> str:
        """Where a path inside the chroot lives on the host."""
        for src, dst in self._chroot:
            if path == dst or path.startswith(dst.rstrip("/") + "/"):
                return src + path[len(dst) :]
        if path == "/alloc" or path.startswith("/alloc/"):
            return cfg.alloc_dir + path[len("/alloc") :]
        return cfg.task_dir.rstrip("/") + path

    def _command(self, cfg: TaskConfig) -> list[str]:
        command: str = cfg.config["command"]
        args: list[str] = list(cfg.config.get("args", []))
        if not command:
            raise DriverError(f"task {cfg.id}: config.command is empty")

        def exists(path: str) -> bool:
            host = self._host_path(cfg, os.path.join("/", path))
            return os.path.isfile(host) and os.access(host, os.X_OK)

        if resolve_on_path(command, cfg.env, exists) is None:
            path = cfg.env.get("PATH", os.defpath)
            raise DriverError(
                f"task {cfg.id}: command {command!r} not found in the task's chroot "
                f"(looked in the task dir and on PATH={path})"
            )
        argv = self._isolation()
        if cfg.config.get("pid_mode", "private") == "host":
            argv.remove("--unshare-pid")
        if cfg.config.get("ipc_mode", "private") == "host":
            argv.remove("--unshare-ipc")
        for cap in self._caps(cfg):
            argv += ["--cap-add", "CAP_" + cap.upper()]
        argv += ["--bind", cfg.task_dir, "/"]
        argv += self._binds
        for name, target in self._links:
            if not os.path.lexists(os.path.join(cfg.task_dir, name)):
                argv += ["--symlink", target, "/" + name]
        argv += ["--proc", "/proc", "--dev", "/dev", "--bind", cfg.alloc_dir, "/alloc"]
        for spec in cfg.device_specs:  # reserved by device plugins
            argv += ["--dev-bind", spec.host_path, spec.target]
        binds = [(m.host_path, m.task_path, m.read_only) for m in cfg.device_mounts]
        binds += [(m.host_path, m.task_path, m.read_only) for m in cfg.mounts]  # host volumes
        for host, target, read_only in binds:
            argv += ["--ro-bind" if read_only else "--bind", host, target]
        argv += ["--chdir", "/", "--", *user_prefix(cfg, self._setpriv), command, *args]
        return argv

    def _prepare(self, cfg: TaskConfig) -> tuple[list[str], dict[str, Any]]:
        try:
            for sub in TASK_SUBDIRS:
                ensure_dir(os.path.join(cfg.task_dir, sub))
            ensure_dir(cfg.alloc_dir)
        except OSError as exc:
            raise DriverError(f"task {cfg.id}: cannot prepare the chroot: {exc}") from exc
        layout = self._cgroups()
        assert isinstance(layout, Cgroups)
        name = f"{cfg.alloc_id}.{cfg.task_name}".replace("/", "_")
        try:
            dirs = layout.create(
                name,
                memory_mb=cfg.memory_mb,
                memory_max_mb=cfg.memory_max_mb,
                cpu_mhz=cfg.cpu_mhz,
                cpu_cores=cfg.cpu_limit_cores,
            )
        except OSError as exc:
            raise DriverError(f"task {cfg.id}: cannot create cgroup {name}: {exc}") from exc
        return layout.procs_files(dirs), {
            "cgroups": dirs,
            "caps": self._caps(cfg),
            "user": cfg.user,
        }

    def _release(self, state: dict[str, Any]) -> None:
        dirs = state.get("cgroups", [])
        if isinstance(dirs, list):
            cgroups.remove([d for d in dirs if isinstance(d, str)])

    def _kill_all(self, handle: TaskHandle) -> None:
        spare = frozenset({handle.pid}) if process.is_running(handle.pid, _ticks(handle)) else None
        cgroups.kill_all(_cgroup_dirs(handle), timeout=1.0, spare=spare or frozenset())

    def _oom_killed(self, handle: TaskHandle) -> bool:
        return cgroups.oom_killed(_cgroup_dirs(handle))

    def _memory_usage(self, handle: TaskHandle) -> int | None:
        return cgroups.memory_usage(_cgroup_dirs(handle))

    def _exec_argv(self, task: _Task, cmd: Sequence[str]) -> list[str]:
        """nsenter into the task's namespaces and root, in its cgroup, with its
        capabilities (setpriv's bounding set) and user."""
        leader = process.find_task_group(task.handle.pid)
        if leader is None or self._nsenter is None or self._setpriv is None:
            why = "task process not found" if leader is None else "nsenter/setpriv not found"
            raise DriverError(f"task {task.handle.id}: cannot exec: {why}")
        state = task.handle.state
        caps = [c for c in state.get("caps", []) if isinstance(c, str)]
        procs = Cgroups.procs_files(_cgroup_dirs(task.handle))
        join = 'while [ "$1" != -- ]; do echo $$ >"$1"; shift; done; shift; exec "$@"'
        enter = [self._nsenter, "-t", str(leader), "-m", "-u", "-i", "-p", "-r", "-w", "--"]
        drop = [self._setpriv, "--bounding-set", ",".join(["-all", *("+" + c for c in caps)])]
        user = state.get("user")
        if isinstance(user, str) and user:
            entry = pwd.getpwnam(user)
            drop += ["--reuid", str(entry.pw_uid), "--regid", str(entry.pw_gid), "--init-groups"]
        return [process.SH, "-c", join, "gitorch-exec", *procs, "--", *enter, *drop, "--", *cmd]


def _ticks(handle: TaskHandle) -> int:
    ticks = handle.state.get("ticks", 0)
    return ticks if isinstance(ticks, int) else 0
