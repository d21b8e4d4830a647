"""Does KVM really work? A probe VM answers, where the existence of /dev/kvm cannot.

/dev/kvm can exist, open fine, and still be useless: a nested hypervisor that rejects
an MSR makes QEMU abort when it sets up the vCPU (``error: failed to set MSR 0x10a``,
then an assertion and SIGABRT). So the probe starts the emulator exactly as the qemu
driver starts a task's VM (``-machine type=pc,accel=kvm -cpu host``), with no disk, no
devices and a QMP monitor on stdio; it asks whether KVM is enabled, lets the vCPU run
for a moment (``cont``), checks the VM still runs, and quits. Anything else (an exit
status other than 0, no answer, KVM disabled) is the reason KVM cannot be used, in
QEMU's own words. It takes about a tenth of a second.
"""

from __future__ import annotations

import json
import os
import signal as signals
import subprocess
import time
from typing import Any

PROBE_TIMEOUT_S = 10.0
RUN_FOR_S = 0.2
"""How long the probe's vCPU runs before the probe asks for the VM's status."""
KVM_MACHINE = ("-machine", "type=pc,accel=kvm", "-cpu", "host")
"""How the driver runs a VM on KVM: the probe must run the same CPU model."""


def kvm_device_problem(path: str = "/dev/kvm") -> str | None:
    """Why the KVM device cannot be opened (None: it can)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"{path} does not exist (no hardware virtualization, or kvm not loaded)"
    except OSError as exc:
        return f"{path} cannot be opened: {exc.strerror}"
    os.close(fd)
    return None


def probe_argv(emulator: str) -> list[str]:
    return [
        emulator,
        *KVM_MACHINE,
        "-m",
        "16M",
        "-S",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-qmp",
        "stdio",
    ]


def _qmp(proc: subprocess.Popen[str], *commands: str) -> None:
    assert proc.stdin is not None
    try:
        for command in commands:
            proc.stdin.write(json.dumps({"execute": command}) + "\n")
        proc.stdin.flush()
    except (BrokenPipeError, OSError):
        pass  # QEMU is gone already: its exit status and stderr say why


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signals.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _stderr_summary(emulator: str, stderr: str) -> str:
    prefix = f"{os.path.basename(emulator)}: "
    lines = [line.strip().removeprefix(prefix) for line in stderr.splitlines() if line.strip()]
    text = "; ".join(lines)
    return text if len(text) <= 300 else text[:297] + "..."


def _answers(stdout: str) -> list[Any]:
    out = []
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and "return" in message:
            out.append(message["return"])
    return out


def probe_kvm(emulator: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``emulator`` cannot run a VM on KVM here (None: it can)."""
    problem = kvm_device_problem()
    if problem is not None:
        return problem
    argv = probe_argv(emulator)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except OSError as exc:
        return f"cannot start {emulator}: {exc.strerror or exc}"
    _qmp(proc, "qmp_capabilities", "query-kvm", "cont")
    time.sleep(RUN_FOR_S)
    _qmp(proc, "query-status", "quit")
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"a probe VM on KVM did not answer within {timeout:g}s"
    said = _stderr_summary(emulator, stderr)
    if proc.returncode != 0:
        return f"a probe VM on KVM {_exit_reason(proc.returncode)}" + (f": {said}" if said else "")
    answers = _answers(stdout)
    kvm = next((a for a in answers if isinstance(a, dict) and "enabled" in a), None)
    if not (isinstance(kvm, dict) and kvm.get("enabled")):
        return f"QEMU reports KVM not enabled in a probe VM ({kvm})" + (f": {said}" if said else "")
    status = next((a for a in answers if isinstance(a, dict) and "status" in a), None)
    if not (isinstance(status, dict) and status.get("status") == "running"):
        return f"a probe VM on KVM did not keep running (status: {status})" + (
            f": {said}" if said else ""
        )
    return None
