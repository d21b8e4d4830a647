"""What drivers do with a task's reserved devices: exec binds the device nodes and
mounts into its sandbox; docker passes them as devices/binds, and NVIDIA GPUs as a
device request with their UUIDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch.core.model import AllocatedDevice
from gitorch.core.task import DeviceMount, DeviceSpec, TaskConfig
from gitorch.plugins.builtin import docker_config as dc
from gitorch.plugins.builtin.exec import ExecDriver

SPEC = DeviceSpec(host_path="/dev/null", task_path="/dev/acme0", permissions="rw")
MOUNT = DeviceMount(host_path="/usr/share", task_path="/opt/acme", read_only=True)


def cfg(tmp_path: Path, driver: str, config: dict[str, object]) -> TaskConfig:
    return TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver=driver,
        config=config,
        env={"PATH": "/usr/bin:/bin"},
        task_dir=str(tmp_path / "t"),
        alloc_dir=str(tmp_path / "alloc"),
        log_dir=str(tmp_path / "alloc/logs"),
        devices=[
            AllocatedDevice(vendor="nvidia", type="gpu", name="T4", device_ids=["GPU-a", "GPU-b"]),
            AllocatedDevice(vendor="acme", type="fpga", name="x1", device_ids=["f0"]),
        ],
        device_specs=[SPEC, DeviceSpec(host_path="/dev/zero")],
        device_mounts=[MOUNT],
    )


def test_exec_dev_binds_device_nodes_and_binds_mounts(tmp_path: Path) -> None:
    driver = ExecDriver({})
    driver._bwrap = "/usr/bin/bwrap"  # the argv is built, not run
    argv = driver._command(cfg(tmp_path, "exec", {"command": "/bin/sh"}))
    pairs = list(zip(argv, argv[1:], argv[2:], strict=False))
    assert ("--dev-bind", "/dev/null", "/dev/acme0") in pairs
    assert ("--dev-bind", "/dev/zero", "/dev/zero") in pairs
    assert ("--ro-bind", "/usr/share", "/opt/acme") in pairs
    assert argv.index("--dev-bind") > argv.index("--dev")  # on top of the minimal /dev


def test_docker_passes_devices_mounts_and_an_nvidia_device_request(tmp_path: Path) -> None:
    spec = dc.build_spec(cfg(tmp_path, "docker", {"image": "busybox"}))
    assert spec.host["devices"] == ["/dev/null:/dev/acme0:rw", "/dev/zero:/dev/zero:rwm"]
    assert spec.host["device_requests"] == [
        {"driver": "nvidia", "device_ids": ["GPU-a", "GPU-b"], "capabilities": [["gpu"]]}
    ]
    assert "/usr/share:/opt/acme:ro" in spec.host["binds"]


def test_docker_without_devices_passes_none(tmp_path: Path) -> None:
    plain = TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver="docker",
        config={"image": "busybox"},
        task_dir=str(tmp_path / "t"),
        alloc_dir=str(tmp_path / "alloc"),
        log_dir=str(tmp_path / "alloc/logs"),
    )
    spec = dc.build_spec(plain)
    assert spec.host["devices"] is None and spec.host["device_requests"] is None


def test_exec_task_sees_and_uses_its_device_node(tmp_path: Path) -> None:
    driver = ExecDriver({})
    health = driver.fingerprint()
    if not health.healthy:
        pytest.skip(f"exec driver unavailable here: {health.health_description}")
    script = "test -c /dev/acme0 && echo hi > /dev/acme0 && ls /opt/acme >/dev/null && echo ok"
    task = cfg(tmp_path, "exec", {"command": "/bin/sh", "args": ["-c", script]})
    Path(task.log_dir).mkdir(parents=True)
    handle = driver.start(task)
    try:
        result = driver.wait(handle, timeout=30)
        assert result is not None and result.successful, Path(task.stderr_path()).read_text()
        assert Path(task.stdout_path()).read_text() == "ok\n"
    finally:
        driver.destroy(handle, force=True)
