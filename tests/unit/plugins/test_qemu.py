"""The qemu driver with real QEMU (KVM where a probe VM proves it works, else TCG).

Whether KVM works is decided by the driver's own probe, never by /dev/kvm existing; a
fake emulator on PATH that aborts on ``accel=kvm`` as a broken nested KVM does (``failed
to set MSR 0x10a``) shows the driver falling back to TCG and saying why.

The VM image is an empty qcow2 disk: no OS, so the firmware (SeaBIOS, then iPXE) runs
and idles. That is enough to prove start, QMP, stop, recover and cleanup; it cannot
exit with a chosen code, write chosen output or react to signals, so the conformance
tests that need such a task are skipped (with the reason) or adapted below.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import kvm_probe, process
from gitorch.plugins.builtin.qemu import QemuDriver
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import Behaviour, DriverConformance, DriverHarness

QEMU = shutil.which("qemu-system-x86_64") is not None and shutil.which("qemu-img") is not None
if not QEMU:
    print("test_qemu: skipped: qemu-system-x86_64/qemu-img not on PATH")
pytestmark = pytest.mark.skipif(not QEMU, reason="qemu-system-x86 and qemu-utils not installed")
EMULATOR = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
KVM_PROBLEM = kvm_probe.probe_kvm(EMULATOR) if QEMU else "no QEMU"
if KVM_PROBLEM:
    print(f"test_qemu: KVM tests skipped, VMs run on TCG: {KVM_PROBLEM}")
MSR_ERROR = "error: failed to set MSR 0x10a to 0x2000000e1"
NO_GUEST = "an OS-less guest cannot exit with a chosen code, print chosen output or trap"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "16M"], check=True)
    return path


class QemuHarness(DriverHarness):
    driver_name = "qemu"
    supports_traps = False
    supports_exec = False
    image: Path

    def make_driver(self) -> Driver:
        return QemuDriver({})

    def task_config(self, config: dict[str, Any], **overrides: Any) -> TaskConfig:
        """As the suite's, with the empty disk image in the task dir."""
        cfg = super().task_config(config, **overrides)
        shutil.copy(self.image, Path(cfg.task_dir, "disk.qcow2"))
        return cfg

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        return {"image_path": "disk.qcow2"}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"image_path": "no-such.qcow2"}, "no-such.qcow2"

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        """QMP answers (so QEMU's main loop and signal handlers are up), or it exited."""
        if self.driver.wait(handle, 0) is not None:
            return True
        if not Path(cfg.task_dir, "qmp.sock").exists():
            return False
        assert isinstance(self.driver, QemuDriver)
        try:
            self.driver.qmp(handle, "query-status", timeout=1.0)
        except DriverError:
            return False
        return True

    def kill_leftovers(self, handle: TaskHandle) -> None:
        ticks = handle.state.get("ticks")
        if isinstance(ticks, int):
            process.kill_tree(handle.pid, ticks)


def _gone(pid: int) -> bool:
    return not os.path.exists(f"/proc/{pid}") or Path(f"/proc/{pid}/stat").read_text().split(") ")[
        1
    ].startswith(("Z", "X"))


def _roundtrip(handle: TaskHandle) -> TaskHandle:
    return msgspec.json.decode(msgspec.json.encode(handle), type=TaskHandle)


class TestQemuConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path, image: Path) -> QemuHarness:
        harness = QemuHarness(tmp_path)
        harness.image = image
        return harness

    @pytest.mark.skip(reason=NO_GUEST)
    @pytest.mark.parametrize("code", [0])
    def test_exit_code(self, h: DriverHarness, code: int) -> None: ...

    @pytest.mark.skip(reason=NO_GUEST)
    def test_logs_land_in_log_files(self, h: DriverHarness) -> None: ...

    @pytest.mark.skip(reason=NO_GUEST)
    def test_inspect_after_exit(self, h: DriverHarness) -> None: ...

    @pytest.mark.skip(reason=NO_GUEST)
    def test_stop_after_exit_is_harmless(self, h: DriverHarness) -> None: ...

    @pytest.mark.skip(reason=NO_GUEST)
    def test_recover_task_that_exited_while_agent_was_down(self, h: DriverHarness) -> None: ...

    @pytest.mark.skip(reason=NO_GUEST)
    def test_destroy_after_exit(self, h: DriverHarness) -> None: ...

    @pytest.mark.skip(reason="QEMU has no way to report a signal it received (" + NO_GUEST + ")")
    def test_signal_is_delivered(self, h: DriverHarness) -> None: ...

    @pytest.mark.parametrize("sig,num", [("SIGTERM", 15), ("SIGINT", 2)])
    def test_stop_delivers_kill_signal(self, h: DriverHarness, sig: str, num: int) -> None:
        """Adapted: QEMU handles SIGTERM/SIGINT itself, says so on stderr and exits 0."""
        cfg, handle = h.start(Behaviour(run_for=60))
        h.driver.stop(handle, sig, 5.0)
        result = h.driver.wait(handle, 5)
        assert result is not None and result.exit_code == 0
        assert f"terminating on signal {num}" in Path(cfg.stderr_path()).read_text()

    def test_stop_kills_after_timeout(self, h: DriverHarness) -> None:
        """Adapted: a graceful stop whose QMP socket is gone ends with SIGKILL."""
        cfg, handle = h.start(Behaviour(run_for=60))
        handle = msgspec.structs.replace(handle, state={**handle.state, "graceful_shutdown": True})
        os.unlink(Path(cfg.task_dir, "qmp.sock"))
        began = time.monotonic()
        h.driver.stop(handle, "SIGTERM", 0.5)
        assert 0.45 <= time.monotonic() - began < 15
        result = h.driver.wait(handle, 5)
        assert result is not None and result.signal == 9 and result.exit_code == 137

    def test_recover_running_task_after_agent_restart(self, h: DriverHarness) -> None:
        """Adapted: the VM exits 0 on the kill signal."""
        _, handle = h.start(Behaviour(run_for=60))
        agent2 = h.make_driver()
        saved = _roundtrip(handle)
        assert agent2.recover(saved)
        h.started.append((agent2, saved))
        assert agent2.inspect(saved).state == "running"
        agent2.stop(saved, "SIGTERM", 5.0)
        result = agent2.wait(saved, 5)
        assert result is not None and result.exit_code == 0


@pytest.fixture
def h(tmp_path: Path, image: Path) -> Iterator[QemuHarness]:
    harness = QemuHarness(tmp_path)
    harness.image = image
    fp = harness.driver.fingerprint()
    if not fp.healthy:
        print(f"test_qemu: skipped: {fp.health_description}")
        pytest.skip(fp.health_description)
    yield harness
    harness.close()


def _start(h: QemuHarness, **config: Any) -> tuple[TaskConfig, TaskHandle, int]:
    """Start a VM and wait for QMP; (config, handle, QEMU's PID)."""
    env = config.pop("env", {"PATH": "/usr/bin:/bin"})
    cfg = h.task_config({"image_path": "disk.qcow2", **config}, env=env)
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    deadline = time.monotonic() + 20
    while not h.is_ready(cfg, handle):
        assert time.monotonic() < deadline, "QEMU never opened its QMP socket"
        time.sleep(0.01)
    pid = h.driver.inspect(handle).pid
    assert Path(f"/proc/{pid}/comm").read_text().strip().startswith("qemu-system")
    return cfg, handle, pid


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


@pytest.mark.skipif(KVM_PROBLEM is not None, reason=f"KVM unusable: {KVM_PROBLEM}")
def test_kvm_vm_runs_and_graceful_stop_ends_with_qmp_quit(h: QemuHarness) -> None:
    driver = h.driver
    assert isinstance(driver, QemuDriver)
    cfg, handle, pid = _start(h, accelerator="kvm", graceful_shutdown=True)
    assert "type=pc,accel=kvm" in _cmdline(pid) and "-nographic" in _cmdline(pid)
    assert _cmdline(pid)[_cmdline(pid).index("-m") + 1] == "64M"
    status = driver.inspect(handle)
    assert status.state == "running" and status.attributes["vm_status"] == "running"
    assert driver.qmp(handle, "query-kvm") == {"enabled": True, "present": True}
    deadline = time.monotonic() + 30
    while "SeaBIOS" not in Path(cfg.stdout_path()).read_text():  # the serial console
        assert time.monotonic() < deadline, "no firmware output in the stdout log"
        time.sleep(0.05)
    began = time.monotonic()
    driver.stop(handle, "SIGINT", 1.0)  # system_powerdown is ignored without an OS
    assert 1.0 <= time.monotonic() - began < 10
    result = driver.wait(handle, 0)
    assert result is not None and result.exit_code == 0 and result.signal == 0
    assert _gone(pid) and not Path(cfg.task_dir, "qmp.sock").exists()


def test_tcg_vm(h: QemuHarness) -> None:
    driver = h.driver
    assert isinstance(driver, QemuDriver)
    _, handle, pid = _start(h, accelerator="tcg")
    assert "type=pc,accel=tcg" in _cmdline(pid) and "-cpu" not in _cmdline(pid)
    assert driver.qmp(handle, "query-kvm")["enabled"] is False
    driver.qmp(handle, "quit")  # the VM ends on its own: wait sees it
    result = driver.wait(handle, 10)
    assert result is not None and result.exit_code == 0 and _gone(pid)
    driver.destroy(handle)


def test_recover_after_agent_restart_reconnects_qmp(h: QemuHarness) -> None:
    cfg, handle, pid = _start(h, graceful_shutdown=True)
    agent2 = QemuDriver({})
    saved = _roundtrip(handle)
    assert agent2.recover(saved)
    h.started.append((agent2, saved))
    status = agent2.inspect(saved)
    assert status.pid == pid and status.attributes["vm_status"] == "running"
    assert agent2.qmp(saved, "query-status")["status"] == "running"
    agent2.stop(saved, "SIGINT", 0.2)
    assert _gone(pid) and not Path(cfg.task_dir, "qmp.sock").exists()
    agent2.destroy(saved)


def test_qmp_works_with_a_socket_path_longer_than_unix_allows(tmp_path: Path, image: Path) -> None:
    long_dir = tmp_path / ("deep-" * 20)
    long_dir.mkdir()
    harness = QemuHarness(long_dir)
    harness.image = image
    try:
        cfg, handle, _ = _start(harness)
        assert len(str(Path(cfg.task_dir, "qmp.sock"))) > 108
        driver = harness.driver
        assert isinstance(driver, QemuDriver)
        assert driver.qmp(handle, "query-status")["status"] == "running"
    finally:
        harness.close()


def test_port_map_forwards_the_allocated_host_port(h: QemuHarness) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": "/usr/bin:/bin", "NOMAD_HOST_PORT_ssh": str(port)}
    _, _, pid = _start(h, port_map={"ssh": 22}, env=env)
    netdev = _cmdline(pid)[_cmdline(pid).index("-netdev") + 1]
    assert f"hostfwd=tcp::{port}-:22" in netdev and f"hostfwd=udp::{port}-:22" in netdev
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # QEMU's user-mode network listens on the host port


def test_port_map_without_a_host_port_is_a_start_error(h: QemuHarness) -> None:
    cfg = h.task_config({"image_path": "disk.qcow2", "port_map": {"http": 80}})
    with pytest.raises(DriverError, match="NOMAD_HOST_PORT_http is not set") as err:
        h.driver.start(cfg)
    assert cfg.id in str(err.value)


def test_missing_image_is_a_start_error_naming_the_path(h: QemuHarness) -> None:
    cfg = h.task_config({"image_path": "images/missing.qcow2"})
    with pytest.raises(DriverError) as err:
        h.driver.start(cfg)
    assert cfg.id in str(err.value)
    assert str(Path(cfg.task_dir, "images/missing.qcow2")) in str(err.value)


@pytest.fixture
def broken_kvm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A qemu-system-x86_64 first on PATH that dies as QEMU does on a host whose KVM
    rejects an MSR (stderr, then SIGABRT) whenever asked for KVM, and is the real QEMU
    otherwise."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "qemu-system-x86_64"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *accel=kvm*)\n'
        f'  echo "qemu-system-x86_64: {MSR_ERROR}" >&2\n'
        '  echo "qemu-system-x86_64: kvm.c:3241: kvm_buf_set_msrs: Assertion failed." >&2\n'
        "  kill -ABRT $$ ;;\n"
        "esac\n"
        f'exec {EMULATOR} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return fake


def test_probe_reports_a_kvm_that_aborts_in_qemus_words(broken_kvm: Path) -> None:
    problem = kvm_probe.probe_kvm(str(broken_kvm))
    if Path("/dev/kvm").exists():
        assert problem is not None
        assert "killed by SIGABRT" in problem and MSR_ERROR in problem
    else:
        assert problem is not None and "/dev/kvm does not exist" in problem


def test_broken_kvm_is_reported_and_vms_run_on_tcg(
    broken_kvm: Path, tmp_path: Path, image: Path
) -> None:
    harness = QemuHarness(tmp_path / "h")
    harness.image = image
    try:
        driver = harness.driver
        assert isinstance(driver, QemuDriver)
        fp = driver.fingerprint()
        assert fp.healthy and fp.attributes["driver.qemu.accelerator"] == "tcg"
        assert "KVM unusable, VMs run on TCG" in fp.health_description
        if Path("/dev/kvm").exists():
            assert MSR_ERROR in fp.health_description
        _, handle, pid = _start(harness)  # no accelerator asked: TCG
        assert "type=pc,accel=tcg" in _cmdline(pid) and "-cpu" not in _cmdline(pid)
        assert driver.qmp(handle, "query-kvm")["enabled"] is False
        cfg = harness.task_config({"image_path": "disk.qcow2", "accelerator": "kvm"})
        with pytest.raises(DriverError, match=r'accelerator = "kvm" but KVM is unusable') as err:
            driver.start(cfg)
        assert cfg.id in str(err.value) and fp.health_description.split(": ", 1)[1] in str(
            err.value
        )
    finally:
        harness.close()


def test_fingerprint_reports_the_qemu_version(h: QemuHarness) -> None:
    fp = h.driver.fingerprint()
    out = subprocess.run(
        ["qemu-system-x86_64", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert fp.healthy and fp.attributes["driver.qemu"] == "1"
    accel = "tcg" if KVM_PROBLEM else "kvm"
    assert fp.attributes["driver.qemu.accelerator"] == accel
    assert f"version {fp.attributes['driver.qemu.version']}" in out
    missing = QemuDriver({"emulator": "no-such-qemu-system"}).fingerprint()
    assert missing.health == "undetected" and "no-such-qemu-system" in missing.health_description


def test_validate_config_names_fields() -> None:
    driver = QemuDriver({})
    assert driver.validate_config({}) == ["config.image_path: required"]
    assert driver.validate_config(
        {"image_path": "a", "accelerator": "xen", "port_map": {"http": "eighty"}}
    ) == [
        "config.accelerator: must be one of kvm, tcg (got 'xen')",
        "config.port_map.http: must be a port number (1-65535)",
    ]
    assert driver.validate_config({"image_path": "a", "port_map": [{"a": 1}, {"b": 2}]}) == []


def test_exec_is_not_supported(h: QemuHarness) -> None:
    _, handle, _ = _start(h)
    with pytest.raises(DriverError, match="cannot exec"):
        h.driver.exec(handle, ["true"], 5)
