"""The containerd driver against a real containerd (the one .ci/setup starts at
/run/containerd/containerd.sock): the conformance suite, then what is containerd's
own (a broken daemon in the fingerprint, recovery with logs that kept flowing, exit
codes kept across restarts, limits and options in the container's spec, cleanup).

The test image is a busybox root filesystem packed as an OCI image tarball and
imported with ``ctr images import`` (no registry is reachable); it lives in a
containerd namespace of its own and is removed when the session ends. Skipped, saying
why, only when the ``ctr``/``containerd`` binaries are absent."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from images import oci_image_tarball

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin.containerd import ContainerdDriver
from gitorch.plugins.builtin.containerd_ctr import Ctr, CtrError
from gitorch.plugins.driver import Driver
from gitorch.plugins.manager import load
from gitorch.plugins.testing import Behaviour, DriverConformance, ShellHarness, _roundtrip

NAMESPACE = "gitorch-test"
IMAGE = "gitorch-test/busybox:latest"
FULL_IMAGE = "docker.io/gitorch-test/busybox:latest"
PLUGIN = {"namespace": NAMESPACE}
MIB = 1024 * 1024
# PID 1 of a PID namespace ignores signals it has no handler for: the conformance tasks
# run under tini (a docker.io dependency), bound in from the host as a user would.
TINI = shutil.which("tini-static") or "/usr/bin/tini-static"

needs_binaries = pytest.mark.skipif(
    shutil.which("ctr") is None or shutil.which("containerd") is None,
    reason="containerd is not installed (apt-get install containerd; .ci/setup does)",
)
pytestmark = needs_binaries


def _ctr(driver: ContainerdDriver) -> Ctr:
    return driver.ctr


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    driver = ContainerdDriver(PLUGIN)
    fp = driver.fingerprint()
    assert fp.healthy, f"containerd is installed but does not work: {fp.health_description}"
    tarball = tmp_path_factory.mktemp("image") / "busybox.tar"
    tarball.write_bytes(oci_image_tarball(FULL_IMAGE))
    _ctr(driver).import_image(str(tarball), timeout=60)
    yield IMAGE
    ctr = _ctr(driver)
    for cid in ctr.call("containers", "ls", "-q").split():
        if ctr.container_labels(cid).get("com.gitorch.alloc_id", "").startswith("conformance-"):
            ctr.delete_task(cid, force=True) if cid in ctr.tasks() else None
            ctr.remove_container(cid)
    ctr.remove_image(FULL_IMAGE)
    for _ in range(20):  # the namespace goes too, once containerd's GC has emptied it
        try:
            ctr.call("namespaces", "rm", NAMESPACE)
            break
        except CtrError:
            time.sleep(0.1)


class ContainerdHarness(ShellHarness):
    driver_name = "containerd"
    plugin_config: dict[str, Any] = PLUGIN

    def make_driver(self) -> Driver:
        return ContainerdDriver(self.plugin_config)

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        script = super().config_for(behaviour)["args"][1]
        return {
            "image": IMAGE,
            "entrypoint": ["/sbin/tini", "--"],
            "command": "/bin/sh",
            "args": ["-c", script],
            "cwd": "/local",
            "mounts": [
                {"type": "bind", "source": TINI, "target": "/sbin/tini", "options": ["rbind", "ro"]}
            ],
        }

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"image": IMAGE, "command": "no-such-command-xyz"}, "no-such-command-xyz"

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        marker = Path(cfg.task_dir, "local", "ready")
        return marker.exists() or self.driver.wait(handle, 0) is not None

    def run(self, script: str, **overrides: Any) -> tuple[TaskConfig, TaskHandle]:
        """Start ``sh -c script`` and return at once."""
        config = {"image": IMAGE, "command": "/bin/sh", "args": ["-c", script]}
        config.update(overrides.pop("config", {}))
        cfg = self.task_config(config, **overrides)
        handle = self.driver.start(cfg)
        self.started.append((self.driver, handle))
        return cfg, handle

    def close(self) -> None:
        super().close()
        for driver, _ in self.started:
            assert isinstance(driver, ContainerdDriver)
            driver.close()


class TestContainerdConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path, image: str) -> ContainerdHarness:
        return ContainerdHarness(tmp_path)


@pytest.fixture
def h(tmp_path: Path, image: str) -> Iterator[ContainerdHarness]:
    harness = ContainerdHarness(tmp_path)
    yield harness
    harness.close()


def _spec(h: ContainerdHarness, handle: TaskHandle) -> dict[str, Any]:
    assert isinstance(h.driver, ContainerdDriver)
    info: dict[str, Any] = json.loads(
        h.driver.ctr.call("containers", "info", handle.state["container_id"])
    )
    return dict(info["Spec"])


def _containers(driver: Driver) -> list[str]:
    assert isinstance(driver, ContainerdDriver)
    return driver.ctr.call("containers", "ls", "-q").split()


def _until(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- fingerprint: a probe, not a file check ----------------------------------------------


def test_fingerprint_reports_a_socket_nobody_answers_on(tmp_path: Path) -> None:
    dead = tmp_path / "containerd.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(dead))  # bound, never listening: connections are refused
    try:
        fp = ContainerdDriver({"address": str(dead)}).fingerprint()
    finally:
        listener.close()
    assert fp.health == "unhealthy"
    assert str(dead) in fp.health_description and "does not answer" in fp.health_description


def test_fingerprint_reports_a_missing_socket(tmp_path: Path) -> None:
    fp = ContainerdDriver({"address": str(tmp_path / "none.sock")}).fingerprint()
    assert fp.health == "unhealthy" and "none.sock" in fp.health_description


def test_fingerprint_without_ctr_is_undetected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    fp = ContainerdDriver(PLUGIN).fingerprint()
    assert fp.health == "undetected" and "ctr" in fp.health_description


def test_healthy_fingerprint_names_the_daemon_version(image: str) -> None:
    fp = ContainerdDriver(PLUGIN).fingerprint()
    assert fp.healthy
    assert fp.attributes["driver.containerd.namespace"] == NAMESPACE
    assert fp.attributes["driver.containerd.containerd_version"][:1].isdigit()


def test_registered_as_a_builtin_driver() -> None:
    assert load().driver_classes()["containerd"] is ContainerdDriver


# -- config -------------------------------------------------------------------------------


def test_invalid_config_fields_are_named(h: ContainerdHarness) -> None:
    problems = h.driver.validate_config(
        {
            "image": 3,
            "privileged": True,
            "args": ["x"],
            "seccomp_profile": "/p.json",
            "memory_hard_limit": 0,
            "mounts": [{"type": "bind", "target": "/t", "bogus": 1}],
        }
    )
    text = "\n".join(problems)
    for field in (
        "config.image:",
        "config.privileged:",
        "allow_privileged",
        "config.args: needs command or entrypoint",
        "config.seccomp_profile: needs seccomp",
        "config.memory_hard_limit:",
        "config.mounts[0].bogus:",
        "config.mounts[0].source:",
    ):
        assert field in text, (field, problems)
    assert any(p.startswith("config.image: required") for p in h.driver.validate_config({}))
    # What this agent forbids is its own business: the schema alone allows it.
    assert ContainerdDriver.schema_problems({"image": IMAGE, "privileged": True}) == []


def test_missing_image_is_a_clear_start_error(h: ContainerdHarness) -> None:
    cfg = h.task_config({"image": "gitorch-test/no-such-image:1.0", "command": "true"})
    with pytest.raises(DriverError) as err:
        h.driver.start(cfg)
    message = str(err.value)
    assert cfg.id in message and "docker.io/gitorch-test/no-such-image:1.0" in message


# -- containerd's own behaviour ------------------------------------------------------------


def test_output_keeps_flowing_into_the_log_files_while_no_agent_runs(
    h: ContainerdHarness,
) -> None:
    cfg, handle = h.run(
        "echo before; while [ ! -e /local/go ]; do sleep 0.05; done; echo after; echo oops >&2"
    )
    _until(lambda: Path(cfg.stdout_path()).read_text() == "before\n", "first line")
    assert isinstance(h.driver, ContainerdDriver)
    h.driver.close()  # the agent goes away
    Path(cfg.task_dir, "local", "go").touch()
    _until(lambda: "after" in Path(cfg.stdout_path()).read_text(), "output with no agent")
    agent2 = ContainerdDriver(PLUGIN)
    h.started.append((agent2, handle))
    assert agent2.recover(_roundtrip(handle))
    result = agent2.wait(handle, 10)
    assert result is not None and result.exit_code == 0
    assert Path(cfg.stdout_path()).read_text() == "before\nafter\n"
    assert Path(cfg.stderr_path()).read_text() == "oops\n"


AGENT = """
import sys, msgspec, time
from gitorch.core.task import TaskConfig
from gitorch.plugins.builtin.containerd import ContainerdDriver
cfg = msgspec.json.decode(sys.stdin.buffer.read(), type=TaskConfig)
handle = ContainerdDriver({"namespace": sys.argv[1]}).start(cfg)
sys.stdout.buffer.write(msgspec.json.encode(handle) + b"\\n")
sys.stdout.flush()
time.sleep(600)
"""


def test_task_outlives_an_agent_killed_with_sigkill(h: ContainerdHarness) -> None:
    cfg = h.task_config(
        {
            "image": IMAGE,
            "command": "/bin/sh",
            "args": ["-c", "echo up; while [ ! -e /local/go ]; do sleep 0.05; done; exit 9"],
        }
    )
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, NAMESPACE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert agent.stdin is not None
        agent.stdin.write(msgspec.json.encode(cfg))
        agent.stdin.close()
        assert agent.stdout is not None
        handle = msgspec.json.decode(agent.stdout.readline(), type=TaskHandle)
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    agent2 = ContainerdDriver(PLUGIN)
    h.started.append((agent2, handle))
    assert agent2.recover(handle)
    assert agent2.inspect(handle).state == "running"
    Path(cfg.task_dir, "local", "go").touch()
    result = agent2.wait(handle, 10)
    assert result is not None and result.exit_code == 9
    assert Path(cfg.stdout_path()).read_text() == "up\n"
    agent2.close()


def test_output_of_a_stopping_task_is_all_in_the_log_when_wait_returns(
    h: ContainerdHarness,
) -> None:
    cfg, handle = h.run(
        "trap 'i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done; exit 0' TERM; "
        "echo up; while true; do sleep 0.1; done"
    )
    _until(lambda: Path(cfg.stdout_path()).read_text() == "up\n", "the task to run")
    h.driver.stop(handle, "SIGTERM", 10)
    result = h.driver.wait(handle, 1)
    assert result is not None and result.exit_code == 0
    lines = Path(cfg.stdout_path()).read_text().splitlines()
    assert len(lines) == 3001 and lines[-1] == "line2999"


def test_exit_code_survives_more_than_one_agent_restart(h: ContainerdHarness) -> None:
    _, handle = h.run("exit 7")
    result = h.driver.wait(handle, 10)
    assert result is not None and result.exit_code == 7
    for _ in range(2):
        agent = ContainerdDriver(PLUGIN)
        h.started.append((agent, handle))
        assert agent.recover(_roundtrip(handle))
        status = agent.inspect(handle)
        assert status.state == "exited" and status.exit_result is not None
        assert status.exit_result.exit_code == 7


def test_resources_and_options_reach_the_container(h: ContainerdHarness, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("from the host\n")
    cfg, handle = h.run(
        "cat /proc/self/status | grep CapEff; echo x > /x 2>/dev/null || echo read-only; "
        "cat /data/hello; exec sleep 60",
        config={
            "readonly_rootfs": True,
            "cap_drop": ["ALL"],
            "memory_hard_limit": 96,
            "mounts": [
                {"type": "bind", "target": "/data", "source": str(data), "options": ["rbind", "ro"]}
            ],
        },
        cpu_mhz=300,
    )
    spec = _spec(h, handle)
    resources = spec["linux"]["resources"]
    assert resources["memory"]["limit"] == 96 * MIB
    assert resources["cpu"]["shares"] == 300
    assert spec["root"].get("readonly") is True
    assert spec["process"]["capabilities"].get("effective") in (None, [])
    _until(lambda: "host" in Path(cfg.stdout_path()).read_text(), "the task's report")
    out = Path(cfg.stdout_path()).read_text()
    assert "CapEff:\t0000000000000000" in out and "read-only" in out
    h.driver.stop(handle, "SIGKILL", 1)


def test_extra_hosts_are_in_etc_hosts(h: ContainerdHarness) -> None:
    cfg, handle = h.run(
        "cat /etc/hosts", config={"extra_hosts": ["db.internal:10.0.0.7", "v6.internal:fd00::1"]}
    )
    assert h.driver.wait(handle, 10) is not None
    lines = [line.split() for line in Path(cfg.stdout_path()).read_text().splitlines()]
    assert ["10.0.0.7", "db.internal"] in lines and ["fd00::1", "v6.internal"] in lines
    assert ["127.0.0.1", "localhost"] in lines
    problems = h.driver.validate_config({"image": IMAGE, "extra_hosts": ["nocolon", "a:b"]})
    assert [p.split(":")[0] for p in problems] == ["config.extra_hosts[0]", "config.extra_hosts[1]"]


def test_memory_limit_defaults_to_the_task_resources(h: ContainerdHarness) -> None:
    _, handle = h.run("exec sleep 60", memory_mb=48)
    assert _spec(h, handle)["linux"]["resources"]["memory"]["limit"] == 48 * MIB
    h.driver.stop(handle, "SIGKILL", 1)


def test_host_network_shares_the_hosts_interfaces(h: ContainerdHarness) -> None:
    cfg, handle = h.run("ls /sys/class/net", config={"host_network": True})
    assert h.driver.wait(handle, 10) is not None
    host = set(os.listdir("/sys/class/net"))
    assert set(Path(cfg.stdout_path()).read_text().split()) == host
    cfg2, isolated = h.run("ls /sys/class/net")
    assert h.driver.wait(isolated, 10) is not None
    assert Path(cfg2.stdout_path()).read_text().split() == ["lo"]


def test_stats_see_a_busy_task_use_cpu_and_memory(h: ContainerdHarness) -> None:
    cfg, handle = h.run("echo busy; while :; do :; done")
    _until(lambda: Path(cfg.stdout_path()).read_text() == "busy\n", "the task to run")
    first = h.driver.stats(handle)
    samples = [first]
    # The sample that first sees more CPU time than the one before it has a share > 0.
    _until(
        lambda: samples.append(h.driver.stats(handle)) or samples[-1].cpu_user_s > first.cpu_user_s,
        "CPU time to grow",
    )
    assert samples[-1].cpu_percent > 0 and samples[-1].memory_usage_bytes > 0
    h.driver.stop(handle, "SIGKILL", 1)


def test_destroy_removes_the_container(h: ContainerdHarness) -> None:
    _, handle = h.run("exit 0")
    assert h.driver.wait(handle, 10) is not None
    cid = handle.state["container_id"]
    assert cid in _containers(h.driver)
    h.driver.destroy(handle)
    assert cid not in _containers(h.driver)


def test_a_stopped_container_of_an_earlier_run_is_replaced(h: ContainerdHarness) -> None:
    cfg, first = h.run("exit 1")
    assert h.driver.wait(first, 10) is not None
    again = h.driver.start(cfg)  # same alloc and task: same container ID
    h.started.append((h.driver, again))
    result = h.driver.wait(again, 10)
    assert result is not None and result.exit_code == 1


def test_ctr_agrees_the_task_is_gone_after_stop(h: ContainerdHarness) -> None:
    _, handle = h.run("trap 'exit 3' TERM; while true; do sleep 0.1; done")
    h.driver.stop(handle, "SIGTERM", 5)
    result = h.driver.wait(handle, 1)
    assert result is not None and result.exit_code == 3
    listed = subprocess.run(
        ["ctr", "-n", NAMESPACE, "tasks", "ls", "-q"], capture_output=True, text=True, check=True
    )
    assert handle.state["container_id"] not in listed.stdout.split()
