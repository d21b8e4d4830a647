"""The qemu driver: run a virtual machine image with QEMU (Nomad's qemu driver).

Task config: ``image_path`` (required; relative to the task dir, or absolute),
``accelerator`` (``kvm`` where KVM works, else ``tcg``), ``drive_interface``,
``port_map`` (label -> guest port: user-mode networking forwards TCP and UDP from the
host port the agent allocated, read from ``NOMAD_HOST_PORT_<label>`` in the task's
env), ``args`` (extra QEMU arguments) and ``graceful_shutdown``. The VM gets
``-m <memory_mb>M``, no display (``-nographic -display none``: the serial console goes to
the task's stdout log) and a QMP socket ``qmp.sock`` in the task dir.

QEMU runs under the wrapper of ``process`` in its own session (as raw_exec: no chroot,
as in Nomad), so it outlives the agent and ``recover`` re-attaches to it; QMP needs no
re-attaching, the driver connects per operation (``qmp``).

Stop: with ``graceful_shutdown``, QMP ``system_powerdown`` (an ACPI power button press),
then after the kill timeout QMP ``quit``, then SIGKILL. Without it, the kill signal
(SIGKILL after the timeout): QEMU handles SIGINT/SIGTERM/SIGHUP itself and exits 0 (or
dies of the signal, 128+N, when it comes before QEMU has set up its handlers).

Whether KVM works is proved, not assumed (``kvm_probe``): the fingerprint starts a probe
VM with ``-accel kvm``. When it fails (/dev/kvm missing, or present but broken: QEMU
aborting with ``failed to set MSR 0x10a``), the driver stays healthy, says in its health
description that tasks run on TCG and why, sets ``driver.qemu.accelerator = "tcg"``,
runs tasks without ``accelerator`` on TCG, and refuses ``accelerator = "kvm"`` with the
probe's reason. The probe's answer is kept for ``KVM_PROBE_TTL_S`` between fingerprints.

There is no ``exec`` (nothing runs on the host side of a VM), and no cgroup limits:
the VM's memory is bounded by ``-m``.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import msgspec

from gitorch.core.task import (
    DriverFingerprint,
    DriverHealth,
    FSIsolation,
    TaskConfig,
    TaskHandle,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.builtin import kvm_probe, qmp
from gitorch.plugins.builtin.supervised import SupervisedDriver, user_prefix
from gitorch.plugins.driver import Field

EMULATOR = "qemu-system-x86_64"
QMP_SOCKET = "qmp.sock"
QUIT_WAIT_S = 5.0
KVM_PROBE_TTL_S = 300.0
DRIVE_INTERFACES = ("ide", "scsi", "sd", "mtd", "floppy", "pflash", "virtio", "none")


@functools.lru_cache(maxsize=8)
def qemu_version(emulator: str) -> str:
    """The version ``<emulator> --version`` prints (``7.2.22``); raises OSError."""
    try:
        done = subprocess.run(
            [emulator, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"{emulator} --version timed out") from exc
    match = re.search(r"version\s+(\d+(?:\.\d+)+)", done.stdout)
    if match is None:
        raise OSError(f"cannot parse {emulator} --version output: {done.stdout.strip()[:200]!r}")
    return match.group(1)


def port_map_problems(value: object) -> list[str]:
    """Problems of a ``port_map``: a map (or Nomad's list of maps) label -> guest port."""
    maps = value if isinstance(value, list) else [value]
    problems = []
    for item in maps:
        if not isinstance(item, Mapping):
            return ["config.port_map: must be a map of port label = guest port"]
        for label, port in item.items():
            ok = isinstance(port, int) and not isinstance(port, bool)
            if not (isinstance(label, str) and ok and 0 < port < 65536):
                problems.append(f"config.port_map.{label}: must be a port number (1-65535)")
    return problems


def port_map(config: Mapping[str, Any]) -> dict[str, int]:
    value = config.get("port_map") or {}
    merged: dict[str, int] = {}
    for item in value if isinstance(value, list) else [value]:
        merged.update(item)
    return merged


class QemuDriver(SupervisedDriver):
    name: ClassVar[str] = "qemu"
    fs_isolation: ClassVar[FSIsolation] = "image"
    config_schema: ClassVar[dict[str, Field]] = {
        "image_path": Field("string", required=True, doc="VM image (task-relative or absolute)"),
        "accelerator": Field("string", choices=("kvm", "tcg"), doc="default: kvm if usable"),
        "drive_interface": Field("string", choices=DRIVE_INTERFACES, doc="default: ide"),
        "port_map": Field("any", doc="port label = guest port"),
        "args": Field("list(string)", doc="extra QEMU arguments"),
        "graceful_shutdown": Field("bool", doc="stop with an ACPI power-off over QMP"),
    }
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "emulator": Field("string", doc=f"QEMU binary (default {EMULATOR} on PATH)"),
    }

    def __init__(self, plugin_config: Any = None) -> None:
        super().__init__(plugin_config)
        self._emulator = shutil.which(str(self.plugin_config.get("emulator", EMULATOR)))
        self._setsid = shutil.which("setsid")
        self._setpriv = shutil.which("setpriv")
        self._kvm: tuple[float, str | None] | None = None
        """(when probed, why KVM cannot be used or None): the last probe's answer."""

    def kvm_problem(self, refresh: bool = False) -> str | None:
        """Why VMs cannot run on KVM here (None: they can), from a probe VM; the answer
        is kept ``KVM_PROBE_TTL_S`` seconds unless ``refresh``."""
        now = time.monotonic()
        if refresh or self._kvm is None or now - self._kvm[0] > KVM_PROBE_TTL_S:
            assert self._emulator is not None
            self._kvm = (now, kvm_probe.probe_kvm(self._emulator))
        return self._kvm[1]

    def _unready(self) -> tuple[str, str] | None:
        if self._emulator is None:
            wanted = self.plugin_config.get("emulator", EMULATOR)
            return "undetected", f"{wanted} not found on PATH (apt-get install qemu-system-x86)"
        if self._setsid is None:
            return "unhealthy", "setsid (util-linux) not found on PATH"
        try:
            qemu_version(self._emulator)
        except OSError as exc:
            return "unhealthy", f"cannot run {self._emulator}: {exc}"
        return None

    def fingerprint(self) -> DriverFingerprint:
        problem = self._unready()
        if problem is not None:
            health: DriverHealth = "undetected" if problem[0] == "undetected" else "unhealthy"
            return DriverFingerprint(health=health, health_description=problem[1])
        assert self._emulator is not None
        kvm = self.kvm_problem(refresh=True)
        attributes = {
            "driver.qemu": "1",
            "driver.qemu.version": qemu_version(self._emulator),
            "driver.qemu.accelerator": "tcg" if kvm else "kvm",
        }
        description = "Healthy" if kvm is None else f"Healthy; KVM unusable, VMs run on TCG: {kvm}"
        return DriverFingerprint(
            health="healthy", health_description=description, attributes=attributes
        )

    @classmethod
    def schema_problems(cls, config: Mapping[str, Any]) -> list[str]:
        problems = super().schema_problems(config)
        if isinstance(config, Mapping) and "port_map" in config:
            problems += port_map_problems(config["port_map"])
        return problems

    def _check_ready(self, cfg: TaskConfig) -> None:
        problem = self._unready()
        if problem is not None:
            raise DriverError(f"task {cfg.id}: the qemu driver cannot run tasks: {problem[1]}")

    def _accelerator(self, cfg: TaskConfig) -> str:
        wanted = cfg.config.get("accelerator")
        if wanted == "tcg":
            return "tcg"
        problem = self.kvm_problem()
        if wanted == "kvm" and problem is not None:
            raise DriverError(
                f'task {cfg.id}: config.accelerator = "kvm" but KVM is unusable here: {problem}'
            )
        return str(wanted or ("tcg" if problem else "kvm"))

    def _network(self, cfg: TaskConfig) -> list[str]:
        forwards = []
        for label, guest in sorted(port_map(cfg.config).items()):
            var = f"NOMAD_HOST_PORT_{label}"
            host = cfg.env.get(var, "")
            if not host.isdigit():
                raise DriverError(
                    f"task {cfg.id}: config.port_map.{label}: no host port for label "
                    f"{label!r} ({var} is not set: add the port to the group's network block)"
                )
            forwards += [f"hostfwd=tcp::{host}-:{guest}", f"hostfwd=udp::{host}-:{guest}"]
        if not forwards:
            return []
        netdev = ",".join(["user", "id=user.0", *forwards])
        return ["-netdev", netdev, "-device", "virtio-net,netdev=user.0"]

    def _command(self, cfg: TaskConfig) -> list[str]:
        image = os.path.join(cfg.task_dir, str(cfg.config["image_path"]))
        if not os.path.isfile(image):
            raise DriverError(
                f"task {cfg.id}: config.image_path {cfg.config['image_path']!r}: "
                f"no such image file {image}"
            )
        accel = self._accelerator(cfg)
        drive = f"file={image.replace(',', ',,')}"
        if cfg.config.get("drive_interface"):
            drive += f",if={cfg.config['drive_interface']}"
        assert self._setsid is not None and self._emulator is not None
        argv = [self._setsid, "--", *user_prefix(cfg, self._setpriv), self._emulator]
        argv += ["-name", cfg.task_name, "-machine", f"type=pc,accel={accel}"]
        if accel == "kvm":
            argv += ["-cpu", "host"]
        argv += ["-m", f"{cfg.memory_mb}M", "-drive", drive, "-nographic", "-display", "none"]
        # Relative: QEMU runs in the task dir, and unix socket paths are short.
        argv += ["-qmp", f"unix:{QMP_SOCKET},server=on,wait=off"]
        return argv + self._network(cfg) + list(cfg.config.get("args", []))

    def _prepare(self, cfg: TaskConfig) -> tuple[list[str], dict[str, Any]]:
        socket_path = os.path.join(os.path.abspath(cfg.task_dir), QMP_SOCKET)
        _unlink(socket_path)
        return [], {
            "qmp_socket": socket_path,
            "graceful_shutdown": bool(cfg.config.get("graceful_shutdown", False)),
        }

    def _release(self, state: dict[str, Any]) -> None:
        path = state.get("qmp_socket")
        if isinstance(path, str):
            _unlink(path)

    # -- QMP -------------------------------------------------------------------------

    def qmp(
        self,
        handle: TaskHandle,
        command: str,
        arguments: dict[str, Any] | None = None,
        timeout: float = 5.0,
    ) -> Any:
        """Run a QMP command against the task's VM; its return value."""
        path = handle.state.get("qmp_socket")
        if not isinstance(path, str):
            raise DriverError(f"task {handle.id}: handle has no QMP socket")
        try:
            return qmp.execute(path, command, arguments, timeout)
        except qmp.QMPError as exc:
            raise qmp.QMPError(f"task {handle.id}: {exc}") from exc

    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        task = self._task(handle)
        if handle.state.get("graceful_shutdown") and not self._exited(task):
            for command, wait in (("system_powerdown", timeout), ("quit", QUIT_WAIT_S)):
                try:
                    self.qmp(handle, command, timeout=min(5.0, max(wait, 1.0)))
                except DriverError:
                    pass  # QEMU is going away, or QMP is broken: the next step follows
                if self._exited(task, wait):
                    break
            signal = "SIGKILL"
        super().stop(handle, signal, timeout)
        if self._exited(task):
            self._release(handle.state)

    def recover(self, handle: TaskHandle) -> bool:
        """Re-attach to the QEMU process; check QMP answers when it still runs."""
        if not super().recover(handle):
            return False
        if not self._exited(self._task(handle)):
            try:
                self.qmp(handle, "query-status", timeout=2.0)
            except DriverError:
                pass  # still ours; inspect reports QMP as unreachable
        return True

    def inspect(self, handle: TaskHandle) -> TaskStatus:
        status = super().inspect(handle)
        if status.state != "running":
            return status
        try:
            vm = self.qmp(handle, "query-status", timeout=2.0)
            vm_status = str(vm.get("status", "unknown")) if isinstance(vm, dict) else "unknown"
        except DriverError as exc:
            vm_status = f"QMP unreachable: {exc}"
        attributes = {**status.attributes, "vm_status": vm_status}
        return msgspec.structs.replace(status, attributes=attributes)

    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        raise DriverError(f"task {handle.id}: the qemu driver cannot exec in a VM")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
