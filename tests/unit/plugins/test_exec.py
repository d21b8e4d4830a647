"""exec with real sandboxes (bubblewrap, namespaces, cgroups): the conformance suite
and the isolation it promises. Needs root and bwrap (the CI script installs it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitorch.core.task import ExitResult, TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import cgroups, process
from gitorch.plugins.builtin.cgroups import Cgroups
from gitorch.plugins.builtin.exec import ExecDriver
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import DriverConformance, ShellHarness

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None, reason="exec needs root and bwrap"
)


class ExecHarness(ShellHarness):
    driver_name = "exec"

    def make_driver(self) -> Driver:
        return ExecDriver({})

    def kill_leftovers(self, handle: TaskHandle) -> None:
        ticks = handle.state.get("ticks")
        if isinstance(ticks, int):
            process.kill_tree(handle.pid, ticks)
        cgroups.remove([d for d in handle.state.get("cgroups", []) if isinstance(d, str)])


class TestExecConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> ExecHarness:
        return ExecHarness(tmp_path)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[ExecHarness]:
    harness = ExecHarness(tmp_path)
    if not harness.driver.fingerprint().healthy:
        pytest.skip(harness.driver.fingerprint().health_description)
    yield harness
    harness.close()


def _run(h: ExecHarness, script: str, **overrides: Any) -> tuple[TaskConfig, ExitResult, str]:
    config = overrides.pop("config", {"command": "/bin/sh", "args": ["-c", script]})
    cfg = h.task_config(config, **overrides)
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    result = h.driver.wait(handle, 20)
    assert result is not None, "task did not finish"
    return cfg, result, Path(cfg.stdout_path()).read_text()


def _running(h: ExecHarness, **overrides: object) -> tuple[TaskHandle, int]:
    cfg = h.task_config({"command": "/bin/sleep", "args": ["60"]}, **overrides)
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    for _ in range(2000):
        leader = process.find_task_group(handle.pid)
        if leader is not None and os.path.exists(f"/proc/{leader}/task/{leader}/children"):
            kids = process.children(leader)
            if kids and Path(f"/proc/{kids[0]}/comm").read_text().strip() == "sleep":
                return handle, kids[0]
        os.sched_yield()
        import time

        time.sleep(0.005)
    raise AssertionError("sandboxed sleep never started")


def _cgroup_dir(pid: int, controller: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (names == "" and controller == ""):
            layout = Cgroups.detect()
            assert isinstance(layout, Cgroups)
            if layout.version == 2:
                return layout.root + path
            parent = layout.parents[controller]
            mount = parent[: parent.index("/", len("/sys/fs/cgroup/"))]
            return mount + path
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_task_is_pid_2_in_its_own_pid_namespace(h: ExecHarness) -> None:
    _, result, out = _run(h, "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = out.split()
    assert result.exit_code == 0 and int(pid) <= 2 and int(count) <= 4


def test_filesystem_is_the_task_dir_with_readonly_system_dirs(h: ExecHarness) -> None:
    script = (
        "echo hi > /local/ok && echo local-ok; echo a > /alloc/shared && echo alloc-ok;"
        "touch /usr/x 2>/dev/null || echo usr-ro; touch /etc/x 2>/dev/null || echo etc-ro;"
        "touch /bin/x 2>/dev/null || echo bin-ro; ls /root 2>/dev/null || echo no-root;"
        "ls /dev"
    )
    cfg, result, out = _run(h, script)
    lines = out.split()
    for word in ("local-ok", "alloc-ok", "usr-ro", "etc-ro", "bin-ro", "no-root", "null"):
        assert word in lines, out
    assert "sda" not in lines and "vda" not in lines
    assert Path(cfg.task_dir, "local", "ok").read_text() == "hi\n"
    assert Path(cfg.alloc_dir, "shared").read_text() == "a\n"
    assert not Path("/usr/x").exists() and not Path("/etc/x").exists()


def test_root_in_the_sandbox_cannot_remount_or_mount(h: ExecHarness) -> None:
    script = (
        "mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED;"
        "mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED;"
        "touch /usr/x 2>/dev/null && echo WROTE; grep CapEff /proc/self/status"
    )
    _, _, out = _run(h, script)
    assert "REMOUNTED" not in out and "MOUNTED" not in out and "WROTE" not in out
    eff = int(out.split()[-1], 16)
    assert not eff & (1 << 21)  # CAP_SYS_ADMIN
    assert eff & (1 << 0)  # CAP_CHOWN, in Nomad's default set


def test_capabilities_follow_allow_caps_cap_add_and_cap_drop(h: ExecHarness) -> None:
    driver = ExecDriver({"allow_caps": ["chown", "kill", "sys_time"]})
    assert driver.validate_config({"command": "x", "cap_add": ["CAP_SYS_ADMIN"]}) == [
        "config.cap_add: not in the plugin's allow_caps: sys_admin"
    ]
    h.driver = driver
    _, _, out = _run(
        h,
        "grep CapEff /proc/self/status",
        config={
            "command": "/bin/sh",
            "args": ["-c", "grep CapEff /proc/self/status"],
            "cap_add": ["sys_time"],
            "cap_drop": ["chown"],
        },
    )
    assert int(out.split()[-1], 16) == (1 << 5) | (1 << 25)  # kill, sys_time


def test_exec_gets_the_tasks_capabilities_not_the_agents(h: ExecHarness) -> None:
    handle, _ = _running(h)
    out, code = h.driver.exec(handle, ["/bin/sh", "-c", "grep CapEff /proc/self/status"], 10)
    assert code == 0 and not int(out.split()[-1], 16) & (1 << 21)


def test_runs_as_the_tasks_user(h: ExecHarness) -> None:
    _, result, out = _run(h, "id -u", user="nobody")
    assert result.exit_code == 0 and out.strip() == "65534"


def test_uts_and_ipc_are_private(h: ExecHarness) -> None:
    _, _, out = _run(h, "readlink /proc/self/ns/uts /proc/self/ns/ipc")
    uts, ipc = out.split()
    assert uts != os.readlink("/proc/self/ns/uts") and ipc != os.readlink("/proc/self/ns/ipc")


def test_memory_and_cpu_limits_are_in_the_tasks_cgroup(h: ExecHarness) -> None:
    handle, pid = _running(h, memory_mb=96, cpu_mhz=700, cpu_limit_cores=0.5)
    layout = Cgroups.detect()
    assert isinstance(layout, Cgroups)
    if layout.version == 1:
        mem, cpu = _cgroup_dir(pid, "memory"), _cgroup_dir(pid, "cpu")
        assert Path(mem, "memory.limit_in_bytes").read_text().strip() == str(96 << 20)
        assert Path(cpu, "cpu.shares").read_text().strip() == "700"
        assert Path(cpu, "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert str(pid) in Path(mem, "cgroup.procs").read_text().split()
        dirs = [mem, cpu]
    else:
        d = _cgroup_dir(pid, "")
        assert Path(d, "memory.max").read_text().strip() == str(96 << 20)
        assert Path(d, "cpu.max").read_text().split()[0] == "50000"
        dirs = [d]
    assert sorted(dirs) == sorted(handle.state["cgroups"])
    h.driver.stop(handle, "SIGTERM", 5)
    h.driver.destroy(handle)
    assert not any(os.path.exists(d) for d in dirs)


def test_memory_max_is_the_hard_limit(h: ExecHarness) -> None:
    handle, pid = _running(h, memory_mb=32, memory_max_mb=128)
    layout = Cgroups.detect()
    assert isinstance(layout, Cgroups)
    if layout.version == 1:
        mem = _cgroup_dir(pid, "memory")
        assert Path(mem, "memory.limit_in_bytes").read_text().strip() == str(128 << 20)
        assert Path(mem, "memory.soft_limit_in_bytes").read_text().strip() == str(32 << 20)
    else:
        assert Path(_cgroup_dir(pid, ""), "memory.max").read_text().strip() == str(128 << 20)


def test_exceeding_memory_is_oom_killed(h: ExecHarness) -> None:
    _, result, _ = _run(h, "head -c 200000000 /dev/zero | tail > /dev/null", memory_mb=16)
    assert result.oom_killed and result.exit_code != 0


def test_destroy_force_kills_everything_in_the_cgroup(h: ExecHarness) -> None:
    cfg = h.task_config({"command": "/bin/sh", "args": ["-c", "setsid sleep 60 & : >ready; wait"]})
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    while not Path(cfg.task_dir, "ready").exists():
        assert h.driver.wait(handle, 0.01) is None
    dirs = list(handle.state["cgroups"])
    assert cgroups.pids(dirs)
    h.driver.destroy(handle, force=True)
    assert not any(os.path.exists(d) for d in dirs)


def test_exec_runs_inside_the_sandbox(h: ExecHarness) -> None:
    handle, _ = _running(h)
    out, code = h.driver.exec(handle, ["/bin/sh", "-c", "echo $$; ls /"], 10)
    lines = out.decode().split()
    assert code == 0 and int(lines[0]) < 10 and "local" in lines and "root" not in lines


def test_missing_command_is_looked_up_in_the_chroot(h: ExecHarness) -> None:
    Path(h.tmp_path, "outside.sh").write_text("#!/bin/sh\n")
    cfg = h.task_config({"command": str(h.tmp_path / "outside.sh")})
    with pytest.raises(Exception, match="not found in the task's chroot"):
        h.driver.start(cfg)


def test_unhealthy_without_bwrap_or_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = ExecDriver({})
    driver._bwrap = None
    assert driver.fingerprint().health == "undetected"
    assert "bwrap" in driver.fingerprint().health_description
    monkeypatch.setattr(cgroups, "_mounts", lambda: ({}, None))
    fp = ExecDriver({}).fingerprint()
    assert fp.health == "unhealthy" and "no cgroup" in fp.health_description


def test_cgroup_v2_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    monkeypatch.setattr(cgroups, "_mounts", lambda: ({}, str(root)))
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"": "/agent.scope"})
    layout = Cgroups.detect()
    assert isinstance(layout, Cgroups) and layout.version == 2
    assert layout.parents == {"": str(root / "gitorch.slice")}
    assert (root / "gitorch.slice" / "cgroup.subtree_control").read_text() == "+memory +cpu"
    dirs = layout.create("a1.web", memory_mb=64, memory_max_mb=0, cpu_mhz=500, cpu_cores=1.5)
    assert Path(dirs[0], "memory.max").read_text() == str(64 << 20)
    assert Path(dirs[0], "cpu.max").read_text() == "150000 100000"
    assert Path(dirs[0], "cpu.weight").read_text() == str(1 + (498 * 9999) // 262142)
    monkeypatch.setattr(cgroups, "_mounts", lambda: ({}, str(root)))
    (root / "cgroup.controllers").write_text("cpuset io pids\n")
    assert "lacks the memory, cpu" in str(Cgroups.detect())


def _fake_bwrap(folder: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``bwrap`` first on PATH, running ``body`` (sh)."""
    fake = folder / "bwrap"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ.get('PATH', '')}")


def test_a_bwrap_that_cannot_sandbox_is_unhealthy_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = (
        "bwrap: No permissions to creating new namespace, likely because the kernel "
        "does not allow non-privileged user namespaces."
    )
    _fake_bwrap(tmp_path, f"echo '{message}' >&2; exit 1", monkeypatch)
    driver = ExecDriver({})
    fp = driver.fingerprint()
    assert fp.health == "unhealthy" and message in fp.health_description
    harness = ExecHarness(tmp_path / "allocs")
    cfg = harness.task_config({"command": "/bin/true"})
    with pytest.raises(DriverError, match="non-privileged user namespaces") as err:
        driver.start(cfg)
    assert cfg.id in str(err.value)


def test_the_probe_uses_the_tasks_isolation_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("bwrap")
    # A kernel without PID namespaces, as far as this bwrap can tell.
    _fake_bwrap(
        tmp_path,
        'for a; do [ "$a" = --unshare-pid ] && '
        '{ echo "bwrap: Creating new namespace failed: Invalid argument" >&2; exit 1; }; done; '
        f'exec {real} "$@"',
        monkeypatch,
    )
    fp = ExecDriver({}).fingerprint()
    assert fp.health == "unhealthy"
    assert "Creating new namespace failed: Invalid argument" in fp.health_description


def test_the_probe_runs_a_real_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which("bwrap")
    seen = tmp_path / "ran"
    # The real bwrap, noting that /bin/true really ran inside the sandbox it made.
    _fake_bwrap(tmp_path, f'{real} "$@" && echo ok >{seen}', monkeypatch)
    assert ExecDriver({}).fingerprint().healthy
    assert seen.read_text() == "ok\n"
