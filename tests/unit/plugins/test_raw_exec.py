"""raw_exec with real processes: the conformance suite, and what is raw_exec's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from gitorch.core.task import ExitResult, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import process
from gitorch.plugins.builtin.raw_exec import RawExecDriver
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import Behaviour, DriverConformance, ShellHarness


class RawExecHarness(ShellHarness):
    driver_name = "raw_exec"

    def make_driver(self) -> Driver:
        return RawExecDriver({"enabled": True})

    def kill_leftovers(self, handle: TaskHandle) -> None:
        ticks = handle.state.get("ticks")
        if isinstance(ticks, int):
            process.kill_tree(handle.pid, ticks)


class TestRawExecConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> RawExecHarness:
        return RawExecHarness(tmp_path)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[RawExecHarness]:
    harness = RawExecHarness(tmp_path)
    yield harness
    harness.close()


def test_disabled_unless_enabled(h: RawExecHarness) -> None:
    driver = RawExecDriver({})
    fp = driver.fingerprint()
    assert fp.health == "undetected" and "enabled = true" in fp.health_description
    cfg = h.task_config(h.config_for(Behaviour()))
    with pytest.raises(DriverError, match="disabled") as err:
        driver.start(cfg)
    assert cfg.id in str(err.value)


def test_config_problems_name_fields() -> None:
    driver = RawExecDriver({"enabled": True})
    assert driver.validate_config({}) == ["config.command: required"]
    assert driver.validate_config({"command": "x", "args": "y"}) == [
        "config.args: must be a list of strings"
    ]
    assert driver.validate_config({"command": 1, "args": [1]}) == [
        "config.command: must be a string",
        "config.args: must be a list of strings",
    ]
    assert RawExecDriver.validate_plugin_config({"enabled": "yes"}) == [
        "plugin.raw_exec.config.enabled: must be true or false"
    ]


def test_runs_in_task_dir_with_exactly_the_task_env(h: RawExecHarness) -> None:
    script = "pwd; env"
    cfg = h.task_config(
        {"command": "/bin/sh", "args": ["-c", script]}, env={"PATH": "/usr/bin:/bin", "FOO": "b r"}
    )
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    result = h.driver.wait(handle, 10)
    assert result is not None and result.exit_code == 0
    out = Path(cfg.stdout_path()).read_text().splitlines()
    assert out[0] == cfg.task_dir
    assert "FOO=b r" in out and "HOME" not in "".join(out)


def test_relative_command_is_found_in_task_dir(h: RawExecHarness) -> None:
    cfg = h.task_config({"command": "local/run.sh", "args": ["7"]})
    script = Path(cfg.task_dir, "local", "run.sh")
    script.write_text('#!/bin/sh\nexit "$1"\n')
    script.chmod(0o755)
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    result = h.driver.wait(handle, 10)
    assert result is not None and result.exit_code == 7


def test_missing_command_names_command_task_and_path(h: RawExecHarness) -> None:
    cfg = h.task_config({"command": "nope-cmd"})
    with pytest.raises(DriverError, match=r"nope-cmd.*not found.*PATH=/usr/bin:/bin"):
        h.driver.start(cfg)


def test_exited_supervisor_is_reaped(h: RawExecHarness) -> None:
    _, handle = h.start(Behaviour(exit_code=0))
    assert h.driver.wait(handle, 10) is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(handle.pid, os.WNOHANG)


def test_task_is_in_its_own_session(h: RawExecHarness) -> None:
    _, handle = h.start(Behaviour(run_for=60))
    leader = process.find_task_group(handle.pid)
    assert leader is not None and os.getsid(leader) == leader != os.getsid(0)
    assert os.getsid(handle.pid) == handle.pid


AGENT = textwrap.dedent(
    """
    import sys, time, msgspec
    from gitorch.core.task import TaskConfig
    from gitorch.plugins.builtin.raw_exec import RawExecDriver
    cfg = msgspec.json.decode(sys.argv[1], type=TaskConfig)
    handle = RawExecDriver({"enabled": True}).start(cfg)
    print(msgspec.json.encode(handle).decode(), flush=True)
    time.sleep(60)
    """
)


def _start_in_doomed_agent(h: RawExecHarness, script: str) -> tuple[str, TaskHandle]:
    """Start a task from a separate agent process, then kill -9 that agent."""
    cfg = h.task_config({"command": "/bin/sh", "args": ["-c", script]})
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, msgspec.json.encode(cfg).decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        line = agent.stdout.readline()
    finally:
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
    handle = msgspec.json.decode(line, type=TaskHandle)
    h.started.append((h.driver, handle))
    return cfg.stdout_path(), handle


def test_task_survives_agent_kill_and_exit_code_is_recovered(h: RawExecHarness) -> None:
    stdout, handle = _start_in_doomed_agent(h, "sleep 0.5; echo done; exit 6")
    assert process.is_running(handle.pid, handle.state["ticks"])
    agent2 = RawExecDriver({"enabled": True})
    assert agent2.recover(handle)
    result = agent2.wait(handle, 10)
    assert result is not None and result.exit_code == 6
    assert Path(stdout).read_text() == "done\n"


def test_new_agent_can_stop_a_recovered_task(h: RawExecHarness) -> None:
    _, handle = _start_in_doomed_agent(h, "exec sleep 60")
    agent2 = RawExecDriver({"enabled": True})
    assert agent2.recover(handle)
    assert agent2.inspect(handle).state == "running"
    agent2.stop(handle, "SIGTERM", 5)
    result = agent2.wait(handle, 5)
    assert result is not None and result.signal == signal.SIGTERM
    assert json.loads(msgspec.json.encode(agent2.inspect(handle)))["state"] == "exited"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_runs_as_the_tasks_user(h: RawExecHarness) -> None:
    cfg = h.task_config({"command": "id", "args": ["-u"]}, user="nobody")
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    result = h.driver.wait(handle, 10)
    assert result is not None and result.exit_code == 0
    assert Path(cfg.stdout_path()).read_text().strip() == "65534"


def test_unknown_user_is_a_start_error(h: RawExecHarness) -> None:
    cfg = h.task_config({"command": "id"}, user="no-such-user-xyz")
    with pytest.raises(DriverError, match="no-such-user-xyz"):
        h.driver.start(cfg)


def test_exit_status_encoding() -> None:
    assert process.exit_result(0, None) == ExitResult(exit_code=0)
    assert process.exit_result(143, None) == ExitResult(exit_code=143, signal=15)
    assert process.exit_result(None, 9) == ExitResult(exit_code=137, signal=9)  # killed
    assert process.exit_result(None, 3 << 8) == ExitResult(exit_code=3)
    lost = process.exit_result(None, None)
    assert lost.exit_code == -1 and lost.err is not None and "lost" in lost.err


@pytest.mark.parametrize("name", ["SIGTERM", "TERM", "term", "15", 15])
def test_signal_names(name: str | int) -> None:
    assert process.signal_number(name) == signal.SIGTERM


def test_unknown_signal_name() -> None:
    with pytest.raises(ValueError, match="SIGWHAT"):
        process.signal_number("SIGWHAT")
