"""The java driver with a real JVM in exec's sandbox: the conformance suite (tasks are
a Java program built here with javac + jar) and the java-specific promises."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitorch.core.task import ExitResult, TaskConfig, TaskHandle
from gitorch.errors import DriverError
from gitorch.plugins.builtin import cgroups, process
from gitorch.plugins.builtin.java import JavaDriver, find_java_home, parse_version
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import Behaviour, DriverConformance, ShellHarness

JDK = shutil.which("javac") is not None and shutil.which("jar") is not None
if not JDK:
    print("test_java: skipped: javac/jar not on PATH (install openjdk-17-jdk-headless)")
pytestmark = [
    pytest.mark.skipif(not JDK, reason="java tests need a JDK (javac, jar) on PATH"),
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("bwrap") is None, reason="java needs root and bwrap"
    ),
]

SOURCES = {
    "Main.java": """
public class Main {
    public static void main(String[] args) {
        System.out.println("args=" + String.join(",", args));
        System.out.println("prop=" + System.getProperty("gitorch.greeting"));
        System.out.println("maxheap=" + Runtime.getRuntime().maxMemory());
        System.out.println("pid=" + ProcessHandle.current().pid());
    }
}
""",
    "Sleeper.java": """
public class Sleeper {
    public static void main(String[] args) throws Exception {
        java.nio.file.Files.write(java.nio.file.Paths.get("ready"), new byte[0]);
        Thread.sleep(Long.parseLong(args[0]) * 1000);
    }
}
""",
    "Exiter.java": """
public class Exiter {
    public static void main(String[] args) {
        System.exit(Integer.parseInt(args[0]));
    }
}
""",
    "Writer.java": """
import java.nio.file.*;
public class Writer {
    public static void main(String[] args) {
        for (String path : args) {
            try {
                Files.write(Paths.get(path), "x".getBytes());
                System.out.println("wrote " + path);
            } catch (Exception e) {
                System.out.println("denied " + path);
            }
        }
    }
}
""",
    # The conformance behaviours, given as key value pairs.
    "Conformance.java": """
import java.nio.file.*;
import sun.misc.Signal;
import sun.misc.SignalHandler;
public class Conformance {
    public static void main(String[] a) throws Exception {
        int exit = 0;
        long runMs = 0;
        for (int i = 0; i + 1 < a.length; i += 2) {
            String v = a[i + 1];
            switch (a[i]) {
                case "exit": exit = Integer.parseInt(v); break;
                case "run": runMs = (long) (Double.parseDouble(v) * 1000); break;
                case "stdout": System.out.print(v); System.out.flush(); break;
                case "stderr": System.err.print(v); System.err.flush(); break;
                case "trap":
                    String[] t = v.split(":");
                    int code = Integer.parseInt(t[1]);
                    Signal.handle(new Signal(t[0]), s -> Runtime.getRuntime().halt(code));
                    break;
                case "ignore": Signal.handle(new Signal(v), SignalHandler.SIG_IGN); break;
                case "report":
                    Signal.handle(new Signal(v), s -> {
                        System.out.println("got-" + v);
                        System.out.flush();
                    });
                    break;
                default: throw new IllegalArgumentException(a[i]);
            }
        }
        Files.write(Paths.get("ready"), new byte[0]);
        if (runMs > 0) Thread.sleep(runMs);
        System.exit(exit);
    }
}
""",
}


@pytest.fixture(scope="module")
def jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """app.jar: Main-Class Main, plus Sleeper, Exiter, Writer and Conformance."""
    root = tmp_path_factory.mktemp("jar")
    for name, text in SOURCES.items():
        (root / name).write_text(text)
    classes = root / "classes"
    javac = ["javac", "-nowarn", "-XDignore.symbol.file", "-d", str(classes)]
    subprocess.run([*javac, *(str(root / n) for n in SOURCES)], check=True, capture_output=True)
    subprocess.run(
        ["jar", "cfe", str(root / "app.jar"), "Main", "-C", str(classes), "."], check=True
    )
    return root / "app.jar"


class JavaHarness(ShellHarness):
    driver_name = "java"
    jar: Path

    def make_driver(self) -> Driver:
        return JavaDriver({})

    def task_config(self, config: dict[str, Any], **overrides: Any) -> TaskConfig:
        """As the suite's, with the test jar in the task's local/ (as an artifact)."""
        cfg = super().task_config(config, **overrides)
        shutil.copy(self.jar, Path(cfg.task_dir, "local", "app.jar"))
        return cfg

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        args: list[str] = []
        if behaviour.trap:
            args += ["trap", f"{behaviour.trap[0]}:{behaviour.trap[1]}"]
        if behaviour.ignore:
            args += ["ignore", behaviour.ignore]
        if behaviour.report:
            args += ["report", behaviour.report]
        if behaviour.stdout:
            args += ["stdout", behaviour.stdout]
        if behaviour.stderr:
            args += ["stderr", behaviour.stderr]
        args += ["run", str(behaviour.run_for), "exit", str(behaviour.exit_code)]
        return {"class": "Conformance", "class_path": "/local/app.jar", "args": args}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"jar_path": "local/no-such.jar"}, "local/no-such.jar"

    def kill_leftovers(self, handle: TaskHandle) -> None:
        ticks = handle.state.get("ticks")
        if isinstance(ticks, int):
            process.kill_tree(handle.pid, ticks)
        cgroups.remove([d for d in handle.state.get("cgroups", []) if isinstance(d, str)])


class TestJavaConformance(DriverConformance):
    @pytest.fixture
    def harness(self, tmp_path: Path, jar: Path) -> JavaHarness:
        harness = JavaHarness(tmp_path)
        harness.jar = jar
        return harness


@pytest.fixture
def h(tmp_path: Path, jar: Path) -> Iterator[JavaHarness]:
    harness = JavaHarness(tmp_path)
    harness.jar = jar
    fp = harness.driver.fingerprint()
    if not fp.healthy:
        print(f"test_java: skipped: {fp.health_description}")
        pytest.skip(fp.health_description)
    yield harness
    harness.close()


def _run(h: JavaHarness, config: dict[str, Any], **overrides: Any) -> tuple[ExitResult, str]:
    cfg = h.task_config(config, **overrides)
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    result = h.driver.wait(handle, 30)
    assert result is not None, "java task did not finish"
    return result, Path(cfg.stdout_path()).read_text() + Path(cfg.stderr_path()).read_text()


def _lines(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_jar_path_with_jvm_options_and_args(h: JavaHarness) -> None:
    config = {
        "jar_path": "local/app.jar",
        "jvm_options": ["-Dgitorch.greeting=hello", "-Xmx48m"],
        "args": ["a", "b c"],
    }
    result, out = _run(h, config)
    values = _lines(out)
    assert result.exit_code == 0, out
    assert values["args"] == "a,b c" and values["prop"] == "hello"
    assert int(values["maxheap"]) <= 48 << 20
    assert int(values["pid"]) <= 2  # the JVM is alone in its PID namespace


def test_class_with_class_path(h: JavaHarness) -> None:
    result, out = _run(h, {"class": "Main", "class_path": "/local/app.jar", "args": ["x"]})
    assert result.exit_code == 0 and _lines(out)["args"] == "x", out


def test_heap_defaults_to_the_task_memory(h: JavaHarness) -> None:
    cfg = h.task_config({"jar_path": "local/app.jar"}, memory_mb=96)
    assert h.driver.java_args(cfg)[0] == "-Xmx96m"  # type: ignore[attr-defined]
    result, out = _run(h, {"jar_path": "local/app.jar"}, memory_mb=96)
    assert result.exit_code == 0 and 32 << 20 < int(_lines(out)["maxheap"]) <= 96 << 20
    cfg = h.task_config({"class": "Main", "jvm_options": ["-XX:MaxHeapSize=40m"]})
    assert not any(a.startswith("-Xmx") for a in JavaDriver({}).java_args(cfg))


def test_exit_code_of_a_program_that_traps_nothing(h: JavaHarness) -> None:
    result, _ = _run(h, {"class": "Exiter", "class_path": "/local/app.jar", "args": ["7"]})
    assert result.exit_code == 7 and result.signal == 0


def test_stop_a_sleeping_program(h: JavaHarness) -> None:
    cfg = h.task_config({"class": "Sleeper", "class_path": "/local/app.jar", "args": ["60"]})
    handle = h.driver.start(cfg)
    h.started.append((h.driver, handle))
    while not Path(cfg.task_dir, "ready").exists():
        assert h.driver.wait(handle, 0.02) is None
    h.driver.stop(handle, "SIGINT", 5.0)
    result = h.driver.wait(handle, 5)
    assert result is not None and result.signal == 2 and result.exit_code == 130


def test_bad_jar_path_is_a_clear_start_error(h: JavaHarness) -> None:
    cfg = h.task_config({"jar_path": "local/missing.jar"})
    with pytest.raises(DriverError, match="local/missing.jar") as err:
        h.driver.start(cfg)
    assert cfg.id in str(err.value) and str(Path(cfg.task_dir, "local/missing.jar")) in str(
        err.value
    )


def test_task_cannot_write_outside_its_task_dir(h: JavaHarness) -> None:
    outside = h.tmp_path / "outside"
    targets = ["/local/ok", "/usr/gitorch-x", "/etc/gitorch-x", str(outside), "/alloc/shared"]
    result, out = _run(h, {"class": "Writer", "class_path": "/local/app.jar", "args": targets})
    assert result.exit_code == 0
    lines = out.splitlines()
    assert "wrote /local/ok" in lines and "wrote /alloc/shared" in lines
    for path in targets[1:4]:
        assert f"denied {path}" in lines, out
    assert not outside.exists() and not Path("/usr/gitorch-x").exists()
    assert not Path("/etc/gitorch-x").exists()


def test_fingerprint_reports_the_jvm(h: JavaHarness) -> None:
    fp = h.driver.fingerprint()
    done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=True)
    assert fp.healthy and fp.attributes["driver.java"] == "1"
    assert f'"{fp.attributes["driver.java.version"]}"' in done.stderr
    assert "Runtime Environment" in fp.attributes["driver.java.runtime"]
    assert "VM" in fp.attributes["driver.java.vm"]


def test_parse_version() -> None:
    text = (
        'openjdk version "17.0.15" 2025-04-15\n'
        "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n"
        "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)\n"
    )
    assert parse_version("Picked up JAVA_TOOL_OPTIONS: -Xss1m\n" + text) == {
        "version": "17.0.15",
        "runtime": "OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)",
        "vm": "OpenJDK 64-Bit Server VM (build 17.0.15+6-Debian-1deb12u1, mixed mode, sharing)",
    }
    assert isinstance(parse_version("garbage"), str)


def test_undetected_without_java_unhealthy_without_isolation() -> None:
    fp = JavaDriver({"java": "/nonexistent/java"}).fingerprint()
    assert fp.health == "undetected" and "no java" in fp.health_description
    driver = JavaDriver({})
    driver._bwrap = None
    fp = driver.fingerprint()
    assert fp.health == "unhealthy" and "bwrap" in fp.health_description
    assert fp.attributes["driver.java.version"]


def test_validate_config_names_fields() -> None:
    driver = JavaDriver({})
    assert driver.validate_config({}) == ["config.jar_path: required unless class is set"]
    assert driver.validate_config({"jar_path": 3, "jvm_options": "-Xmx1g"}) == [
        "config.jar_path: must be a string",
        "config.jvm_options: must be a list of strings",
    ]
    assert driver.validate_config({"jar_path": "a.jar", "class": "Main"}) == [
        "config.class: set either jar_path or class, not both"
    ]
    assert driver.validate_config({"class": "Main", "class_path": "/local/a.jar"}) == []


def test_jvm_outside_the_system_dirs_is_bound_read_only(tmp_path: Path) -> None:
    home = find_java_home()
    assert home is not None
    driver = JavaDriver({"chroot_env": {"/bin": "/bin", "/etc": "/etc"}})
    cfg = TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver="java",
        config={"class": "Main"},
        task_dir=str(tmp_path),
        alloc_dir=str(tmp_path / "alloc"),
        log_dir=str(tmp_path / "logs"),
    )
    argv = driver._command(cfg)
    i = argv.index(home)
    assert argv[i - 1 : i + 2] == ["--ro-bind", home, home]
    assert argv[argv.index("--") + 1] == os.path.join(home, "bin", "java")
