"""The podman driver against the node's real podman: gitorch's driver conformance suite,
then what is podman's own (ulimits, labels, limits, logs and recovery across an agent
restart, images). Skipped, printing why, only when podman is not usable here."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from gitorch.core.model.alloc import AllocatedPort
from gitorch.core.task import TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.testing import DriverConformance, _roundtrip
from podman_helpers import IMAGE, PodmanHarness, podman, until

from gitorch_podman import PodmanDriver, follower, spec


class TestPodmanConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path, image: str) -> PodmanHarness:
        return PodmanHarness(tmp_path)


def _inspect(handle: TaskHandle) -> dict[str, Any]:
    data = json.loads(podman("container", "inspect", handle.state["container_id"]))
    assert isinstance(data, list)
    info: dict[str, Any] = data[0]
    return info


def _read(path: str) -> str:
    return Path(path).read_text() if os.path.exists(path) else ""


# -- rlimits -----------------------------------------------------------------------


def test_ceilings_are_within_the_hosts_hard_limits() -> None:
    import resource

    ceilings = spec.host_ceilings()
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        assert hard == resource.RLIM_INFINITY or ceilings[name] <= hard
    assert ceilings["nproc"] <= spec.PODMAN_NPROC_CEILING


def test_default_ulimits_are_applied(h: PodmanHarness) -> None:
    cfg, handle = h.run("ulimit -Sn; ulimit -Hn; ulimit -Su; ulimit -Hu")
    result = h.driver.wait(handle, 20)
    assert result is not None and result.exit_code == 0, _read(cfg.stderr_path())
    ceilings = spec.host_ceilings()
    nofile, nproc = str(ceilings["nofile"]), str(ceilings["nproc"])
    assert _read(cfg.stdout_path()).split() == [nofile, nofile, nproc, nproc]


def test_task_ulimits_lower_the_defaults(h: PodmanHarness) -> None:
    limits = {"nofile": "256:512", "nproc": "100"}
    cfg, handle = h.run("ulimit -Sn; ulimit -Hn; ulimit -Su", config={"ulimit": [limits]})
    assert h.driver.wait(handle, 20) is not None
    assert _read(cfg.stdout_path()).split() == ["256", "512", "100"]
    assert any(u["Name"] == "RLIMIT_NOFILE" for u in _inspect(handle)["HostConfig"]["Ulimits"])


def test_ulimits_above_the_host_are_config_errors(h: PodmanHarness) -> None:
    top = spec.host_ceilings()["nproc"]
    config = {"image": IMAGE, "ulimit": {"nproc": f"{top + 1}", "nofile": "9:3", "x1": "1"}}
    problems = "\n".join(h.driver.validate_config(config))
    assert f"config.ulimit.nproc: {top + 1} is above this host's limit of {top}" in problems
    assert "config.ulimit.nofile: soft 9 is above hard 3" in problems
    assert "config.ulimit.x1: not an rlimit name" in problems


# -- labels, limits, mounts --------------------------------------------------------


def test_labels_env_mounts_and_limits(h: PodmanHarness) -> None:
    script = 'echo a > /alloc/a; echo l > /local/l; echo s > /secrets/s; echo "$GREETING"'
    cfg, handle = h.run(
        script,
        job_name="web",
        memory_mb=48,
        memory_max_mb=96,
        cpu_limit_cores=0.5,
        env={"PATH": "/bin", "GREETING": "hello podman"},
        config={"labels": [{"team": "infra"}]},
    )
    result = h.driver.wait(handle, 20)
    assert result is not None and result.exit_code == 0, _read(cfg.stderr_path())
    info = _inspect(handle)
    labels = info["Config"]["Labels"]
    assert labels[spec.ALLOC_LABEL] == cfg.alloc_id and labels[spec.TASK_LABEL] == "task"
    assert labels[spec.JOB_LABEL] == "web" and labels["team"] == "infra"
    assert info["HostConfig"]["Memory"] == 96 * 1024 * 1024
    assert info["HostConfig"]["MemoryReservation"] == 48 * 1024 * 1024
    assert info["HostConfig"]["NanoCpus"] == 500_000_000
    assert Path(cfg.alloc_dir, "a").read_text() == "a\n"
    assert Path(cfg.task_dir, "local", "l").read_text() == "l\n"
    assert Path(cfg.task_dir, "secrets", "s").read_text() == "s\n"
    assert _read(cfg.stdout_path()) == "hello podman\n"


def test_driver_labels_cannot_be_overridden(h: PodmanHarness) -> None:
    problems = h.driver.validate_config({"image": IMAGE, "labels": {spec.ALLOC_LABEL: "x"}})
    assert problems == [
        f"config.labels.{spec.ALLOC_LABEL}: the com.gitorch.* labels are the driver's own"
    ]


def test_published_ports_need_an_alloc_port(h: PodmanHarness) -> None:
    cfg = h.task_config({"image": IMAGE, "ports": ["http"]}, ports=[])
    with pytest.raises(DriverError, match="no port 'http'") as err:
        h.driver.start(cfg)
    assert cfg.id in str(err.value)
    ports = [AllocatedPort(label="http", value=28080, to=80)]
    args = spec.create_args(h.task_config({"image": IMAGE, "ports": ["http"]}, ports=ports),
                            "n", {}, "")  # fmt: skip
    assert "28080:80/tcp" in args and "28080:80/udp" in args


def test_kill_signal_is_honoured_without_init(h: PodmanHarness) -> None:
    script = "trap 'echo int > /local/marker; exit 3' INT; : > /local/ready; sleep 60 & wait $!"
    cfg, handle = h.run(script, kill_signal="SIGINT")
    until(lambda: Path(cfg.task_dir, "local", "ready").exists(), "the trap")
    h.driver.stop(handle, cfg.kill_signal, 5.0)
    result = h.driver.wait(handle, 5)
    assert result is not None and result.exit_code == 3 and result.signal == 0
    assert Path(cfg.task_dir, "local", "marker").read_text() == "int\n"


# -- logs and recovery -------------------------------------------------------------


def _report_script() -> str:
    return (
        "trap 'echo got-usr1; echo err-usr1 >&2' USR1; echo before; : > /local/ready; "
        "while :; do sleep 60 & wait $!; done"
    )


def test_recover_with_a_new_driver_keeps_logging(h: PodmanHarness) -> None:
    cfg, handle = h.run(_report_script())
    until(lambda: Path(cfg.task_dir, "local", "ready").exists(), "the task")
    saved = _roundtrip(handle)
    agent2 = PodmanDriver()
    assert agent2.recover(saved)
    h.started.append((agent2, saved))
    assert agent2.inspect(saved).state == "running"
    agent2.signal(saved, "USR1")
    until(lambda: "got-usr1" in _read(cfg.stdout_path()), "the signal's output")
    until(lambda: "err-usr1" in _read(cfg.stderr_path()), "the signal's stderr")
    agent2.stop(saved, "SIGKILL", 5.0)
    result = agent2.wait(saved, 10)
    assert result is not None and result.signal == 9
    assert _read(cfg.stdout_path()) == "before\ngot-usr1\n"


def test_recover_restarts_a_killed_log_follower(h: PodmanHarness) -> None:
    cfg, handle = h.run(_report_script())
    until(lambda: "before" in _read(cfg.stdout_path()), "the first line")
    pid, ticks = handle.state["follower_pid"], handle.state["follower_ticks"]
    os.kill(pid, signal.SIGKILL)  # the follower dies while "the agent is down"
    follower.wait_gone(pid, ticks, 5)
    follower.reap(pid, ticks)
    agent2 = PodmanDriver()
    saved = _roundtrip(handle)
    assert agent2.recover(saved)
    h.started.append((agent2, saved))
    agent2.signal(saved, "USR1")
    until(lambda: "got-usr1" in _read(cfg.stdout_path()), "output after recovery")
    assert _read(cfg.stdout_path()).count("before") == 1


def test_recover_refuses_a_container_of_another_task(h: PodmanHarness) -> None:
    _, handle = h.run("sleep 30")
    other = TaskHandle(
        driver="podman", alloc_id="someone-else", task_name="task", state=dict(handle.state)
    )
    assert PodmanDriver().recover(other) is False
    assert PodmanDriver().recover(TaskHandle(driver="podman", alloc_id="a", task_name="t")) is False


def test_destroy_removes_container_and_follower(h: PodmanHarness) -> None:
    _, handle = h.run("sleep 60")
    pid, ticks = handle.state["follower_pid"], handle.state["follower_ticks"]
    h.driver.destroy(handle, force=True)
    assert podman("ps", "-aq", "--filter", f"id={handle.state['container_id']}").strip() == ""
    assert not follower.alive(pid, ticks)


# -- images ------------------------------------------------------------------------


def test_missing_image_is_a_clear_start_error(h: PodmanHarness) -> None:
    missing = "localhost/gitorch-podman-test/no-such-image:1.0"
    cfg = h.task_config({"image": missing, "command": "/bin/true"})
    with pytest.raises(DriverError) as err:
        h.driver.start(cfg)
    message = str(err.value)
    assert cfg.id in message and missing in message and "podman load" in message


def test_fingerprint_attributes(h: PodmanHarness) -> None:
    fp = h.driver.fingerprint()
    assert fp.healthy and fp.attributes["driver.podman"] == "1"
    assert fp.attributes["driver.podman.version"]
    assert fp.attributes["driver.podman.ulimit.nproc"] == str(spec.host_ceilings()["nproc"])


def test_fingerprint_without_podman_is_undetected() -> None:
    fp = PodmanDriver({"podman_path": "no-such-podman-binary"}).fingerprint()
    assert fp.health == "undetected" and "no-such-podman-binary" in fp.health_description


def test_plugin_config_is_validated() -> None:
    problems = PodmanDriver.validate_plugin_config({"pull_timeout": "soon", "nope": 1})
    assert any(p.startswith("plugin.podman.config.pull_timeout:") for p in problems)
    assert any(p.startswith("plugin.podman.config.nope: unknown field") for p in problems)
