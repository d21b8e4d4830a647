"""The mock driver: the conformance suite (real clock), then deterministic behaviour
with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.plugins.driver import Driver, parse_duration
from gitorch.plugins.testing import Behaviour, DriverConformance, DriverHarness


class MockHarness(DriverHarness):
    driver_name = "mock"
    supports_traps = False

    def make_driver(self) -> Driver:
        return MockDriver()

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        config: dict[str, Any] = {"run_for": behaviour.run_for, "exit_code": behaviour.exit_code}
        if behaviour.stdout:
            config["stdout_string"] = behaviour.stdout
        if behaviour.stderr:
            config["stderr_string"] = behaviour.stderr
        if behaviour.ignore:
            config["kill_after"] = "1h"
        return config

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"start_error": "command 'no-such-command' not found"}, "no-such-command"

    def echo_command(self, text: str) -> list[str]:
        return ["echo", text]

    def saw_signal(self, cfg: TaskConfig, handle: TaskHandle, sig: str) -> bool:
        assert isinstance(self.driver, MockDriver)
        return f"SIG{sig}" in [s.name for s in _signals(self.driver.signals(handle))]


def _signals(nums: list[int]) -> list[Any]:
    import signal

    return [signal.Signals(n) for n in nums]


class TestMockConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path) -> MockHarness:
        return MockHarness(tmp_path)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mock(clock: FakeClock, tmp_path: Path) -> Iterator[tuple[MockDriver, MockHarness]]:
    harness = MockHarness(tmp_path)
    harness.driver = MockDriver(clock=clock, sleep=clock.sleep)
    yield harness.driver, harness
    harness.close()


def _start(pair: tuple[MockDriver, MockHarness], **config: Any) -> TaskHandle:
    driver, harness = pair
    handle = driver.start(harness.task_config(config))
    harness.started.append((driver, handle))
    return handle


def test_run_for_and_exit_code_follow_the_clock(
    mock: tuple[MockDriver, MockHarness], clock: FakeClock
) -> None:
    driver, _ = mock
    handle = _start(mock, run_for="5s", exit_code=2)
    assert driver.wait(handle, 1.0) is None and clock.now == 101.0
    assert driver.inspect(handle).state == "running"
    result = driver.wait(handle)
    assert result is not None and result.exit_code == 2 and clock.now == 105.0


def test_stop_within_kill_after_exits_on_the_signal(
    mock: tuple[MockDriver, MockHarness], clock: FakeClock
) -> None:
    driver, _ = mock
    handle = _start(mock, run_for="1h", kill_after=3)
    driver.stop(handle, "SIGTERM", 10)
    assert clock.now == 103.0
    result = driver.wait(handle, 0)
    assert result is not None and result.signal == 15 and result.exit_code == 143


def test_stop_beyond_kill_after_is_a_sigkill_at_the_timeout(
    mock: tuple[MockDriver, MockHarness], clock: FakeClock
) -> None:
    driver, _ = mock
    handle = _start(mock, run_for="1h", kill_after="30s")
    driver.stop(handle, "INT", 10)
    assert clock.now == 110.0
    result = driver.wait(handle, 0)
    assert result is not None and result.signal == 9 and driver.signals(handle) == [2]


def test_exit_signal_and_error_message(mock: tuple[MockDriver, MockHarness]) -> None:
    driver, _ = mock
    handle = _start(mock, exit_signal=6, exit_err_msg="boom")
    result = driver.wait(handle)
    assert result is not None
    assert (result.exit_code, result.signal, result.err) == (134, 6, "boom")


def test_start_error_and_block(mock: tuple[MockDriver, MockHarness], clock: FakeClock) -> None:
    driver, harness = mock
    cfg = harness.task_config({"start_error": "no capacity", "start_block_for": "2s"})
    with pytest.raises(DriverError, match=f"{cfg.id}: no capacity"):
        driver.start(cfg)
    assert clock.now == 102.0


def test_signal_error(mock: tuple[MockDriver, MockHarness]) -> None:
    driver, _ = mock
    handle = _start(mock, run_for="1h", signal_error="nope")
    with pytest.raises(DriverError, match="nope"):
        driver.signal(handle, "SIGHUP")


def test_bad_config_names_the_field(mock: tuple[MockDriver, MockHarness]) -> None:
    driver, _ = mock
    assert driver.validate_config({"run_for": "soon", "exit_code": "1"}) == [
        "config.run_for: not a duration (want e.g. '5s', '1m30s', '250ms'): 'soon'",
        "config.exit_code: must be an integer",
    ]


def test_recover_in_a_new_instance_then_destroyed_is_gone(
    mock: tuple[MockDriver, MockHarness], clock: FakeClock
) -> None:
    _, harness = mock
    handle = _start(mock, run_for="10s", exit_code=1)
    agent2 = MockDriver(clock=clock, sleep=clock.sleep)
    assert agent2.recover(handle)
    result = agent2.wait(handle)
    assert result is not None and result.exit_code == 1
    agent2.destroy(handle)
    assert not MockDriver().recover(handle)
    with pytest.raises(DriverError, match="unknown"):
        agent2.wait(handle)


def test_unhealthy_by_plugin_config() -> None:
    fp = MockDriver({"health": "unhealthy", "health_description": "sad"}).fingerprint()
    assert (fp.health, fp.health_description, fp.attributes) == ("unhealthy", "sad", {})
    assert MockDriver.validate_plugin_config({"health": "meh"}) == [
        "plugin.mock.config.health: must be one of healthy, unhealthy, undetected (got 'meh')"
    ]


def test_exec_understands_echo_true_false(mock: tuple[MockDriver, MockHarness]) -> None:
    driver, _ = mock
    handle = _start(mock, run_for="1h")
    assert driver.exec(handle, ["echo", "a", "b"], 1) == (b"a b\n", 0)
    assert driver.exec(handle, ["false"], 1) == (b"", 1)
    assert driver.exec(handle, ["ls"], 1)[1] == 127


@pytest.mark.parametrize(
    "text,seconds",
    [("5s", 5.0), ("1m30s", 90.0), ("250ms", 0.25), ("1h", 3600.0), (2, 2.0), ("1.5", 1.5)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 s", "s", "-1", True, None, "1d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
