"""A conformance suite any task driver (built-in or third-party) runs in its own tests.

Subclass ``DriverConformance`` and provide a ``harness`` fixture::

    from gitorch.plugins.testing import DriverConformance, ShellHarness

    class MyHarness(ShellHarness):
        driver_name = "mydriver"
        def make_driver(self):
            return MyDriver({"some": "plugin config"})

    class TestMyDriver(DriverConformance):
        @pytest.fixture
        def harness(self, tmp_path):
            return MyHarness(tmp_path)

A ``Behaviour`` says what a test task does (exit code, output, how long it runs, how
it treats signals); the harness turns it into the driver's task config. ``ShellHarness``
does so for drivers that run ``/bin/sh -c <snippet>`` (config ``command``/``args``);
others override ``config_for``. ``make_driver`` is called again to play "the agent
restarted": the suite then re-attaches with ``recover``. Every task a test starts is
destroyed (force) when it ends; ``kill_leftovers`` may add a harder cleanup.
"""

from __future__ import annotations

import json
import shlex
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.driver import Driver


@dataclass(frozen=True)
class Behaviour:
    """What a conformance task does."""

    exit_code: int = 0
    run_for: float = 0.0
    stdout: str = ""
    stderr: str = ""
    trap: tuple[str, int] | None = None
    """(signal, code): on this signal, exit with this code."""
    ignore: str | None = None
    """Ignore this signal (so that stop must SIGKILL)."""
    report: str | None = None
    """On this signal, note it and keep running."""


class DriverHarness(ABC):
    """How the suite drives one driver; see the module docstring."""

    driver_name: str = ""
    supports_traps = True
    supports_exec = True
    supports_stats = True

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.driver = self.make_driver()
        self.started: list[tuple[Driver, TaskHandle]] = []
        self._count = 0

    @abstractmethod
    def make_driver(self) -> Driver:
        """A new driver instance (a new agent process, as far as the driver knows)."""

    @abstractmethod
    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        """The task ``config {}`` block that makes the driver's task do ``behaviour``."""

    @abstractmethod
    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        """A config naming a command that does not exist, and that command's name."""

    def echo_command(self, text: str) -> list[str]:
        return ["/bin/sh", "-c", f"echo {shlex.quote(text)}"]

    def task_config(self, config: dict[str, Any], **overrides: Any) -> TaskConfig:
        """A TaskConfig in a fresh Nomad-style alloc dir under ``tmp_path``."""
        self._count += 1
        alloc_root = self.tmp_path / f"alloc{self._count}"
        task_dir = alloc_root / "task"
        for sub in ("local", "secrets", "tmp"):
            (task_dir / sub).mkdir(parents=True)
        (alloc_root / "alloc" / "logs").mkdir(parents=True)
        values: dict[str, Any] = {
            "alloc_id": f"conformance-{self._count}",
            "task_name": "task",
            "driver": self.driver_name,
            "config": config,
            "env": {"PATH": "/usr/bin:/bin"},
            "task_dir": str(task_dir),
            "alloc_dir": str(alloc_root / "alloc"),
            "log_dir": str(alloc_root / "alloc" / "logs"),
            "memory_mb": 64,
            "kill_signal": "SIGTERM",
            "kill_timeout_s": 2.0,
        }
        values.update(overrides)
        return TaskConfig(**values)

    def start(self, behaviour: Behaviour, **overrides: Any) -> tuple[TaskConfig, TaskHandle]:
        """Start a task doing ``behaviour``; wait until it is ready for signals."""
        cfg = self.task_config(self.config_for(behaviour), **overrides)
        handle = self.driver.start(cfg)
        self.started.append((self.driver, handle))
        deadline = time.monotonic() + 10.0
        while not self.is_ready(cfg, handle):
            assert time.monotonic() < deadline, f"task {cfg.id} never became ready"
            time.sleep(0.005)
        return cfg, handle

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        return True

    def saw_signal(self, cfg: TaskConfig, handle: TaskHandle, sig: str) -> bool:
        """Whether the task noted ``sig`` (a ``Behaviour.report`` signal)."""
        return f"got-{sig}" in Path(cfg.stdout_path()).read_text()

    def kill_leftovers(self, handle: TaskHandle) -> None:
        """Last-resort cleanup after destroy (e.g. kill the PIDs the test started)."""
        return None

    def close(self) -> None:
        for driver, handle in self.started:
            try:
                driver.destroy(handle, force=True)
            except DriverError:
                pass
            self.kill_leftovers(handle)


class ShellHarness(DriverHarness):
    """For drivers whose config is ``command`` + ``args`` and that have /bin/sh."""

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        q = shlex.quote
        lines = []
        if behaviour.trap:
            lines.append(f"trap 'exit {behaviour.trap[1]}' {behaviour.trap[0]}")
        if behaviour.ignore:
            lines.append(f"trap '' {behaviour.ignore}")
        if behaviour.report:
            lines.append(f"trap 'echo got-{behaviour.report}' {behaviour.report}")
        if behaviour.stdout:
            lines.append(f"printf %s {q(behaviour.stdout)}")
        if behaviour.stderr:
            lines.append(f"printf %s {q(behaviour.stderr)} >&2")
        if behaviour.run_for:
            # The sleeper keeps running through a reported signal; it marks the task
            # ready once every trap (its own included) is in place.
            keep = f"trap '' {behaviour.report}; " if behaviour.report else ""
            lines.append(f"({keep}: >ready; exec sleep {behaviour.run_for}) & p=$!")
            lines.append('while kill -0 "$p" 2>/dev/null; do wait "$p"; done')
        else:
            lines.append(": >ready")
        lines.append(f"exit {behaviour.exit_code}")
        return {"command": "/bin/sh", "args": ["-c", "\n".join(lines)]}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"command": "no-such-command-xyz", "args": []}, "no-such-command-xyz"

    def is_ready(self, cfg: TaskConfig, handle: TaskHandle) -> bool:
        return (Path(cfg.task_dir) / "ready").exists() or self.driver.wait(handle, 0) is not None


def _roundtrip(handle: TaskHandle) -> TaskHandle:
    data = json.loads(msgspec.json.encode(handle))
    return msgspec.json.decode(json.dumps(data).encode(), type=TaskHandle)


LONG = 60.0


class DriverConformance:
    """The suite. Subclasses provide the ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> DriverHarness:
        raise NotImplementedError("provide a `harness` fixture returning a DriverHarness")

    @pytest.fixture
    def h(self, harness: DriverHarness) -> Iterator[DriverHarness]:
        if not harness.driver.fingerprint().healthy:
            pytest.skip(f"{harness.driver_name}: {harness.driver.fingerprint().health_description}")
        yield harness
        harness.close()

    def test_fingerprint_is_healthy(self, h: DriverHarness) -> None:
        fp = h.driver.fingerprint()
        assert fp.health == "healthy" and all(isinstance(v, str) for v in fp.attributes.values())

    def test_validate_config(self, h: DriverHarness) -> None:
        assert h.driver.validate_config(h.config_for(Behaviour())) == []
        problems = h.driver.validate_config({**h.config_for(Behaviour()), "no_such_field": 1})
        assert any(p.startswith("config.no_such_field:") for p in problems), problems

    def test_invalid_config_fails_start_naming_task(self, h: DriverHarness) -> None:
        cfg = h.task_config({**h.config_for(Behaviour()), "no_such_field": 1})
        with pytest.raises(DriverError, match="no_such_field") as err:
            h.driver.start(cfg)
        assert cfg.id in str(err.value)

    @pytest.mark.parametrize("code", [0, 3])
    def test_exit_code(self, h: DriverHarness, code: int) -> None:
        _, handle = h.start(Behaviour(exit_code=code))
        result = h.driver.wait(handle, 10)
        assert result is not None and result.exit_code == code and result.signal == 0
        assert result.successful == (code == 0)

    def test_logs_land_in_log_files(self, h: DriverHarness) -> None:
        cfg, handle = h.start(Behaviour(stdout="to-stdout", stderr="to-stderr"))
        assert h.driver.wait(handle, 10) is not None
        assert Path(cfg.log_dir, "task.stdout.0").read_text() == "to-stdout"
        assert Path(cfg.log_dir, "task.stderr.0").read_text() == "to-stderr"

    def test_wait_times_out_while_running(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(run_for=LONG))
        began = time.monotonic()
        assert h.driver.wait(handle, 0.2) is None
        assert 0.15 <= time.monotonic() - began < 5
        assert h.driver.inspect(handle).state == "running"

    def test_inspect_after_exit(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(exit_code=4))
        assert h.driver.wait(handle, 10) is not None
        status = h.driver.inspect(handle)
        assert status.state == "exited" and status.exit_result is not None
        assert status.exit_result.exit_code == 4

    @pytest.mark.parametrize("sig,num", [("SIGTERM", 15), ("SIGINT", 2)])
    def test_stop_delivers_kill_signal(self, h: DriverHarness, sig: str, num: int) -> None:
        _, handle = h.start(Behaviour(run_for=LONG))
        h.driver.stop(handle, sig, 5.0)
        result = h.driver.wait(handle, 5)
        assert result is not None and result.signal == num and result.exit_code == 128 + num

    def test_stop_lets_task_handle_signal(self, h: DriverHarness) -> None:
        if not h.supports_traps:
            pytest.skip("driver cannot run a task that traps signals")
        _, handle = h.start(Behaviour(run_for=LONG, trap=("TERM", 3)))
        h.driver.stop(handle, "SIGTERM", 5.0)
        result = h.driver.wait(handle, 5)
        assert result is not None and result.exit_code == 3 and result.signal == 0

    def test_stop_kills_after_timeout(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(run_for=LONG, ignore="TERM"))
        began = time.monotonic()
        h.driver.stop(handle, "SIGTERM", 0.5)
        assert 0.45 <= time.monotonic() - began < 8
        result = h.driver.wait(handle, 5)
        assert result is not None and result.signal == 9 and result.exit_code == 137

    def test_stop_after_exit_is_harmless(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(exit_code=0))
        assert h.driver.wait(handle, 10) is not None
        h.driver.stop(handle, "SIGTERM", 1.0)
        result = h.driver.wait(handle, 1)
        assert result is not None and result.exit_code == 0

    def test_signal_is_delivered(self, h: DriverHarness) -> None:
        cfg, handle = h.start(Behaviour(run_for=LONG, report="USR1"))
        h.driver.signal(handle, "SIGUSR1")
        deadline = time.monotonic() + 5
        while not h.saw_signal(cfg, handle, "USR1"):
            assert time.monotonic() < deadline, "signal not delivered"
            time.sleep(0.01)
        assert h.driver.wait(handle, 0.1) is None

    def test_bad_signal_names_are_errors(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(run_for=LONG))
        with pytest.raises(DriverError, match="SIGNOPE"):
            h.driver.signal(handle, "SIGNOPE")

    def test_handle_round_trips_through_json(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(exit_code=0))
        assert _roundtrip(handle) == handle

    def test_recover_running_task_after_agent_restart(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(run_for=LONG))
        agent2 = h.make_driver()
        saved = _roundtrip(handle)
        assert agent2.recover(saved)
        h.started.append((agent2, saved))
        assert agent2.inspect(saved).state == "running"
        agent2.stop(saved, "SIGTERM", 5.0)
        result = agent2.wait(saved, 5)
        assert result is not None and result.signal == 15

    def test_recover_task_that_exited_while_agent_was_down(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(exit_code=5, run_for=0.2))
        time.sleep(0.5)
        agent2 = h.make_driver()
        saved = _roundtrip(handle)
        assert agent2.recover(saved)
        h.started.append((agent2, saved))
        result = agent2.wait(saved, 10)
        assert result is not None and result.exit_code == 5

    def test_recover_unknown_task_is_false(self, h: DriverHarness) -> None:
        bogus = TaskHandle(driver=h.driver_name, alloc_id="nope", task_name="nope", pid=2**22 + 7)
        assert h.make_driver().recover(bogus) is False

    def test_destroy_running_task_needs_force(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(run_for=LONG))
        with pytest.raises(DriverError, match="running"):
            h.driver.destroy(handle)
        h.driver.destroy(handle, force=True)
        assert h.make_driver().recover(_roundtrip(handle)) is False

    def test_destroy_after_exit(self, h: DriverHarness) -> None:
        _, handle = h.start(Behaviour(exit_code=0))
        assert h.driver.wait(handle, 10) is not None
        h.driver.destroy(handle)
        assert h.make_driver().recover(_roundtrip(handle)) is False

    def test_missing_command_is_a_start_error(self, h: DriverHarness) -> None:
        config, command = h.missing_command_config()
        cfg = h.task_config(config)
        with pytest.raises(DriverError) as err:
            h.driver.start(cfg)
        assert command in str(err.value) and cfg.id in str(err.value)

    def test_exec_in_task(self, h: DriverHarness) -> None:
        if not h.supports_exec:
            pytest.skip("driver has no exec")
        _, handle = h.start(Behaviour(run_for=LONG))
        output, code = h.driver.exec(handle, h.echo_command("hello exec"), 10)
        assert code == 0 and b"hello exec" in output

    def test_stats(self, h: DriverHarness) -> None:
        if not h.supports_stats:
            pytest.skip("driver has no stats")
        _, handle = h.start(Behaviour(run_for=LONG))
        stats = h.driver.stats(handle)
        assert stats.timestamp_ns > 0 and stats.cpu_user_s >= 0 and stats.memory_rss_bytes >= 0
