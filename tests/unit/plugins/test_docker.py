"""The docker driver against a real Docker engine: the conformance suite, then what is
docker's own (images, labels, signals, logs across an agent restart, limits, volumes,
ports). The test image is busybox (busybox-static) imported offline with ``docker
import``; no registry is needed. Skipped, saying why, only when no engine answers."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from images import IMAGE, ensure_busybox_image

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import docker as docker_module
from gitorch.plugins.builtin.docker import DockerDriver
from gitorch.plugins.builtin.docker_task import checkpoint_paths
from gitorch.plugins.driver import Driver
from gitorch.plugins.manager import PluginManager
from gitorch.plugins.testing import Behaviour, DriverConformance, ShellHarness, _roundtrip

MIB = 1024 * 1024
NO_GC = {"gc": [{"image": False}]}


@pytest.fixture(scope="session")
def image() -> str:
    driver = DockerDriver(NO_GC)
    fp = driver.fingerprint()
    if not fp.healthy:
        pytest.skip(f"no docker engine: {fp.health_description}")
    ensure_busybox_image(driver.client())
    return IMAGE


class DockerHarness(ShellHarness):
    driver_name = "docker"
    plugin_config: dict[str, Any] = NO_GC

    def make_driver(self) -> Driver:
        return DockerDriver(self.plugin_config)

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        # docker-init as PID 1, so that an untrapped SIGTERM ends the shell (a PID 1
        # ignores signals it has no handler for); the ready marker lands in /local.
        config = super().config_for(behaviour)
        return {"image": IMAGE, **config, "work_dir": "/local", "init": True}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"image": IMAGE, "command": "no-such-command-xyz"}, "no-such-command-xyz"

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        marker = Path(cfg.task_dir, "local", "ready")
        return marker.exists() or self.driver.wait(handle, 0) is not None

    def run(self, script: str, **overrides: Any) -> tuple[TaskConfig, TaskHandle]:
        """Start ``sh -c script`` (sh is PID 1: no init) and return at once."""
        config = {"image": IMAGE, "command": "/bin/sh", "args": ["-c", script]}
        config.update(overrides.pop("config", {}))
        cfg = self.task_config(config, **overrides)
        handle = self.driver.start(cfg)
        self.started.append((self.driver, handle))
        return cfg, handle


class TestDockerConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path, image: str) -> DockerHarness:
        return DockerHarness(tmp_path)


@pytest.fixture
def h(tmp_path: Path, image: str) -> Iterator[DockerHarness]:
    harness = DockerHarness(tmp_path)
    yield harness
    harness.close()


def _inspect(h: DockerHarness, handle: TaskHandle) -> dict[str, Any]:
    assert isinstance(h.driver, DockerDriver)
    info: dict[str, Any] = h.driver.client().inspect_container(handle.state["container_id"])
    return info


def _until(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_missing_image_is_a_clear_start_error(h: DockerHarness) -> None:
    cfg = h.task_config({"image": "gitorch-test/no-such-image:1.0"})
    with pytest.raises(DriverError) as err:
        h.driver.start(cfg)
    message = str(err.value)
    assert cfg.id in message and "gitorch-test/no-such-image:1.0" in message
    assert "docker load" in message and "registry" in message


def test_invalid_config_fields_are_named(h: DockerHarness) -> None:
    problems = h.driver.validate_config(
        {
            "image": 3,
            "command": ["not", "a", "string"],
            "privileged": True,
            "labels": {"com.gitorch.alloc_id": "x"},
            "mounts": [{"type": "nfs", "target": "relative"}],
            "work_dir": "relative",
            "auth": {"user": "me"},
            "volumes": ["/etc:/etc"],
            "ports": "http",
        }
    )
    text = "\n".join(problems)
    for field in (
        "config.image:",
        "config.command:",
        "config.privileged:",
        "config.labels.com.gitorch.alloc_id:",
        "config.mounts[0].type:",
        "config.mounts[0].target:",
        "config.work_dir:",
        "config.auth.user:",
        "config.volumes[0]:",
        "config.ports:",
    ):
        assert field in text, (field, problems)
    assert any(p.startswith("config.image: required") for p in h.driver.validate_config({}))
    assert DockerDriver.validate_plugin_config({"volumes": [{"enable": True}]}) == [
        "plugin.docker.config.volumes.enable: unknown field (known: enabled)"
    ]


def test_labels_env_and_alloc_dirs(h: DockerHarness) -> None:
    script = 'echo a > "$NOMAD_ALLOC_DIR/a"; echo l > "$NOMAD_TASK_DIR/l"; echo s > /secrets/s'
    cfg, handle = h.run(script, job_name="web", config={"labels": [{"team": "infra"}]})
    result = h.driver.wait(handle, 10)
    assert result is not None and result.exit_code == 0
    labels = _inspect(h, handle)["Config"]["Labels"]
    assert labels["com.gitorch.alloc_id"] == cfg.alloc_id
    assert labels["com.gitorch.task_name"] == cfg.task_name
    assert labels["com.gitorch.job_name"] == "web" and labels["team"] == "infra"
    assert Path(cfg.alloc_dir, "a").read_text() == "a\n"
    assert Path(cfg.task_dir, "local", "l").read_text() == "l\n"
    assert Path(cfg.task_dir, "secrets", "s").read_text() == "s\n"


def test_kill_signal_is_honoured(h: DockerHarness) -> None:
    script = "trap 'echo int > /local/marker; exit 3' INT; : > /local/ready; sleep 60 & wait $!"
    cfg, handle = h.run(script, kill_signal="SIGINT")
    _until(lambda: Path(cfg.task_dir, "local", "ready").exists(), "the trap")
    h.driver.stop(handle, cfg.kill_signal, 5.0)
    result = h.driver.wait(handle, 5)
    assert result is not None and result.exit_code == 3 and result.signal == 0
    assert Path(cfg.task_dir, "local", "marker").read_text() == "int\n"


def test_kill_timeout_then_sigkill(h: DockerHarness) -> None:
    # sh as PID 1 with no SIGTERM handler: the kernel drops SIGTERM, so only SIGKILL ends it.
    cfg, handle = h.run(": > /local/ready; sleep 60 & wait $!")
    _until(lambda: Path(cfg.task_dir, "local", "ready").exists(), "the task")
    began = time.monotonic()
    h.driver.stop(handle, "SIGTERM", 1.0)
    assert 1.0 <= time.monotonic() - began < 8
    result = h.driver.wait(handle, 5)
    assert result is not None and result.signal == 9 and result.exit_code == 137


def test_logs_in_task_files(h: DockerHarness) -> None:
    script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf no-newline"
    cfg, handle = h.run(script)
    assert h.driver.wait(handle, 10) is not None
    assert Path(cfg.stdout_path()).read_text() == "out1\nout2\nout3\nno-newline"
    assert Path(cfg.stderr_path()).read_text() == "err1\nerr2\nerr3\n"


LINES = "i=0; while [ $i -lt 60 ]; do echo line$i; echo e$i >&2; i=$((i+1)); sleep 0.05; done"


def _all_lines(cfg: TaskConfig) -> None:
    assert Path(cfg.stdout_path()).read_text() == "".join(f"line{i}\n" for i in range(60))
    assert Path(cfg.stderr_path()).read_text() == "".join(f"e{i}\n" for i in range(60))


@pytest.mark.parametrize("checkpoint", ["kept", "stale", "lost"])
def test_recover_continues_logs_without_duplicates(h: DockerHarness, checkpoint: str) -> None:
    cfg, handle = h.run(LINES)
    _until(lambda: Path(cfg.stdout_path()).read_text().count("\n") >= 3, "first lines")
    early = {path: Path(path).read_bytes() for path in checkpoint_paths(handle)}
    _until(lambda: Path(cfg.stdout_path()).read_text().count("\n") >= 10, "more lines")
    assert isinstance(h.driver, DockerDriver)
    h.driver.close()  # the agent exits; the container does not
    time.sleep(0.5)
    for path, data in early.items():
        if checkpoint == "lost":  # the agent died before saving any position
            os.unlink(path)
        elif checkpoint == "stale":  # ... or long after its last save
            Path(path).write_bytes(data)
    agent2 = h.make_driver()
    saved = _roundtrip(handle)
    assert agent2.recover(saved)
    h.started.append((agent2, saved))
    assert agent2.inspect(saved).state == "running"
    assert _inspect(h, handle)["Id"] == handle.state["container_id"]
    result = agent2.wait(saved, 20)
    assert result is not None and result.exit_code == 0
    _all_lines(cfg)


def test_broken_log_stream_resumes(h: DockerHarness) -> None:
    cfg, handle = h.run(LINES)
    assert isinstance(h.driver, DockerDriver)
    task = h.driver._tasks[handle.state["container_id"]]
    for _ in range(3):
        _until(lambda: all(f._live is not None for f in task.followers), "log streams")
        time.sleep(0.4)
        for follower in task.followers:  # as when the daemon drops the connection
            follower._live.close()
    result = h.driver.wait(handle, 20)
    assert result is not None and result.exit_code == 0
    _all_lines(cfg)


def test_task_restart_appends_to_its_logs(h: DockerHarness) -> None:
    cfg = h.task_config({"image": IMAGE, "command": "/bin/sh", "args": ["-c", "echo run"]})
    for _ in range(2):  # the second start finds the stopped container holding the name
        handle = h.driver.start(cfg)
        h.started.append((h.driver, handle))
        assert (r := h.driver.wait(handle, 10)) is not None and r.exit_code == 0
    assert Path(cfg.stdout_path()).read_text() == "run\nrun\n"


def test_recover_checks_labels(h: DockerHarness) -> None:
    _, handle = h.run("sleep 60")
    other = TaskHandle(
        driver="docker", alloc_id="someone-else", task_name="task", state=handle.state
    )
    assert h.make_driver().recover(other) is False


def test_memory_and_cpu_limits(h: DockerHarness) -> None:
    _, handle = h.run("true", memory_mb=64, cpu_mhz=250)
    host = _inspect(h, handle)["HostConfig"]
    assert host["Memory"] == 64 * MIB and host["CpuShares"] == 250
    _, handle = h.run("true", memory_mb=64, memory_max_mb=128, cpu_limit_cores=0.5)
    host = _inspect(h, handle)["HostConfig"]
    assert host["Memory"] == 128 * MIB and host["MemoryReservation"] == 64 * MIB
    assert host["NanoCpus"] == 500_000_000


def test_oom_killed(h: DockerHarness) -> None:
    _, handle = h.run('x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', memory_mb=16)
    result = h.driver.wait(handle, 30)
    assert result is not None and result.oom_killed and result.exit_code == 137


def test_volumes_refused_unless_enabled(h: DockerHarness, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    config = {"image": IMAGE, "command": "/bin/sh", "args": ["-c", "echo hi > /data/f"]}
    config["volumes"] = [f"{shared}:/data"]
    problems = h.driver.validate_config(config)
    assert len(problems) == 1 and "volumes" in problems[0] and "enabled = true" in problems[0]
    with pytest.raises(DriverError, match="volumes"):
        h.driver.start(h.task_config(config))
    # Relative paths stay inside the alloc dir: allowed without volumes.
    assert h.driver.validate_config({**config, "volumes": ["local/data:/data"]}) == []
    h.plugin_config = {**NO_GC, "volumes": [{"enabled": True}]}
    h.driver = h.make_driver()
    _, handle = h.run("echo hi > /data/f", config={"volumes": [f"{shared}:/data"]})
    assert (r := h.driver.wait(handle, 10)) is not None and r.exit_code == 0
    assert (shared / "f").read_text() == "hi\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_mapping(h: DockerHarness) -> None:
    port = _free_port()
    env = {"PATH": "/bin", "NOMAD_PORT_http": "8080", "NOMAD_HOST_PORT_http": str(port)}
    script = "echo hello-port > /local/index.html; exec httpd -f -p 8080 -h /local"
    cfg, handle = h.run(script, env=env, config={"ports": ["http"]})
    bindings = _inspect(h, handle)["HostConfig"]["PortBindings"]
    assert bindings["8080/tcp"] == [{"HostIp": "", "HostPort": str(port)}]
    deadline, body = time.monotonic() + 10, b""
    while time.monotonic() < deadline and b"hello-port" not in body:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2) as r:
                body = r.read()
        except OSError:
            time.sleep(0.1)
    assert body == b"hello-port\n"
    with pytest.raises(DriverError, match="'db'"):
        h.run("true", config={"ports": ["db"]})


def test_exec_stats_signal(h: DockerHarness) -> None:
    _, handle = h.run("sleep 60", memory_mb=64)
    output, code = h.driver.exec(handle, ["/bin/sh", "-c", "echo $NOMAD_TASK_DIR; exit 4"], 10)
    assert output == b"/local\n" and code == 4
    stats = h.driver.stats(handle)
    assert stats.memory_usage_bytes > 0 and stats.cpu_user_s >= 0
    h.driver.signal(handle, "SIGKILL")
    result = h.driver.wait(handle, 10)
    assert result is not None and result.signal == 9
    with pytest.raises(DriverError, match="not running"):
        h.driver.signal(handle, "SIGTERM")


def test_fingerprint_undetected_and_unhealthy() -> None:
    fp = DockerDriver({"endpoint": "unix:///nonexistent/docker.sock"}).fingerprint()
    assert fp.health == "undetected" and "/nonexistent/docker.sock" in fp.health_description
    fp = DockerDriver({"endpoint": "tcp://127.0.0.1:1"}).fingerprint()
    assert fp.health == "unhealthy" and fp.health_description


def test_without_the_sdk_the_driver_is_undetected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(docker_module, "load_sdk", lambda: None)
    pm = PluginManager()
    pm.load_plugins(entrypoints=False)
    driver = pm.drivers({"docker": NO_GC})["docker"]
    fp = driver.fingerprint()
    assert fp.health == "undetected" and "pip install docker" in fp.health_description
    assert pm.errors == []


def test_healthy_fingerprint_attributes(image: str) -> None:
    attrs = DockerDriver(NO_GC).fingerprint().attributes
    assert attrs["driver.docker.version"] and attrs["driver.docker.os_type"] == "linux"


def test_registry_auth_and_force_pull(
    h: DockerHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pulls: list[tuple[str, Any]] = []

    def fake_pull(repo: str, tag: str, **kwargs: Any) -> Iterator[dict[str, str]]:
        pulls.append((f"{repo}:{tag}", kwargs.get("auth_config")))
        yield {"error": "pull access denied"}

    config_json = tmp_path / "docker.json"
    token = base64.b64encode(b"bob:s3cret").decode()
    config_json.write_text(json.dumps({"auths": {"registry.example.com": {"auth": token}}}))
    h.plugin_config = {**NO_GC, "auth": [{"config": str(config_json)}]}
    h.driver = h.make_driver()
    assert isinstance(h.driver, DockerDriver)
    monkeypatch.setattr(h.driver.client(), "pull", fake_pull)
    image = "registry.example.com/team/app:1"
    with pytest.raises(DriverError, match="pull access denied") as err:
        h.driver.start(h.task_config({"image": image}))
    assert image in str(err.value)
    assert pulls[-1][0] == image and pulls[-1][1]["username"] == "bob"
    assert pulls[-1][1]["password"] == "s3cret"
    task_auth = {"username": "u", "password": "p", "server_address": "registry.example.com"}
    with pytest.raises(DriverError):
        h.driver.start(h.task_config({"image": image, "auth": [task_auth]}))
    assert pulls[-1][1] == {
        "username": "u",
        "password": "p",
        "serveraddress": "registry.example.com",
    }
    with pytest.raises(DriverError, match=IMAGE):
        h.driver.start(h.task_config({"image": IMAGE, "force_pull": True}))
    assert pulls[-1][0] == IMAGE


def test_image_gc_after_destroy(h: DockerHarness) -> None:
    probe = "gitorch-test/gc-probe:1"
    assert isinstance(h.driver, DockerDriver)
    api = h.driver.client()
    api.tag(IMAGE, "gitorch-test/gc-probe", "1")
    h.plugin_config = {"gc": [{"image": True, "image_delay": "200ms"}]}
    h.driver = h.make_driver()
    _, handle = h.run("true", config={"image": probe})
    assert h.driver.wait(handle, 10) is not None
    h.driver.destroy(handle)
    _until(lambda: not api.images(name=probe), "the image to be collected")
    assert api.images(name=IMAGE)
