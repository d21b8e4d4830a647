"""Nomad's docker task options against a real Docker engine: each option group is
checked where a user would look (``docker inspect``, and what the process in the
container sees), and what the agent forbids is refused naming the plugin option."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from images import IMAGE, busybox_tar, ensure_busybox_image

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.errors import DriverError, JobspecError
from gitorch.jobspec import parse_text
from gitorch.plugins.builtin.docker import DockerDriver
from gitorch.plugins.builtin.docker_options import NOMAD_DEFAULT_CAPS
from gitorch.plugins.driver import Driver
from gitorch.plugins.testing import Behaviour, DriverHarness
from gitorch.plugins.validation import installed_driver_check

pytestmark = pytest.mark.timeout(120)
MIB = 1024 * 1024
NO_GC: dict[str, Any] = {"gc": [{"image": False}]}
CAP_CHOWN, CAP_NET_ADMIN, CAP_NET_RAW = 0, 12, 13


@pytest.fixture(scope="module")
def image() -> str:
    driver = DockerDriver(NO_GC)
    fp = driver.fingerprint()
    if not fp.healthy:
        pytest.skip(f"no docker engine: {fp.health_description}")
    ensure_busybox_image(driver.client())
    return IMAGE


class Harness(DriverHarness):
    driver_name = "docker"

    def __init__(self, tmp_path: Path, plugin_config: dict[str, Any]) -> None:
        self.plugin_config = plugin_config
        super().__init__(tmp_path)

    def make_driver(self) -> Driver:
        return DockerDriver(self.plugin_config)

    def config_for(self, behaviour: Behaviour) -> dict[str, Any]:
        return {"image": IMAGE}

    def missing_command_config(self) -> tuple[dict[str, Any], str]:
        return {"image": IMAGE, "command": "nope"}, "nope"

    def run(
        self, script: str, config: dict[str, Any], **overrides: Any
    ) -> tuple[TaskConfig, TaskHandle]:
        full = {"image": IMAGE, "command": "/bin/sh", "args": ["-c", script], **config}
        cfg = self.task_config(full, **overrides)
        handle = self.driver.start(cfg)
        self.started.append((self.driver, handle))
        return cfg, handle

    def finish(
        self, script: str, config: dict[str, Any], **overrides: Any
    ) -> tuple[str, dict[str, Any]]:
        """Run ``script`` to its end; (its stdout, docker inspect of its container)."""
        cfg, handle = self.run(script, config, **overrides)
        result = self.driver.wait(handle, 30)
        assert result is not None, "the container did not finish"
        out = Path(cfg.stdout_path()).read_text()
        assert result.exit_code == 0, (out, Path(cfg.stderr_path()).read_text())
        assert isinstance(self.driver, DockerDriver)
        info: dict[str, Any] = self.driver.client().inspect_container(handle.state["container_id"])
        return out, info


@pytest.fixture
def harness(tmp_path: Path, image: str) -> Iterator[Harness]:
    allow = [*NOMAD_DEFAULT_CAPS, "net_admin"]
    h = Harness(tmp_path, {**NO_GC, "allow_caps": allow, "pids_limit": 100})
    yield h
    h.close()


SCRIPT = """
hostname
grep db.internal /etc/hosts
cat /proc/sys/net/core/somaxconn
echo nofile=$(ulimit -n):$(ulimit -Hn)
touch /probe 2>/dev/null && echo rootfs=rw || echo rootfs=ro
echo shm=$(df -k /dev/shm | tail -1 | awk '{print $2}')
cat /etc/resolv.conf
grep CapEff /proc/self/status
echo oom=$(cat /proc/self/oom_score_adj)
test -c /dev/gitorch-null && echo device=ok
echo groups=$(id -G)
touch /scratch/x && echo scratch=ok
echo pwd=$(pwd)
"""


def test_option_groups_take_effect_in_the_container(harness: Harness) -> None:
    config = {
        "hostname": "gitorch-box",
        "cap_add": ["net_admin"],
        "cap_drop": ["CAP_CHOWN"],
        "ulimit": [{"nofile": "1024:2048"}],
        "labels": [{"team": "infra"}],
        "readonly_rootfs": True,
        "extra_hosts": ["db.internal:10.1.2.3"],
        "sysctl": [{"net.core.somaxconn": "512"}],
        "shm_size": 32 * MIB,
        "dns_servers": ["192.0.2.53"],
        "dns_search_domains": ["corp.example"],
        "dns_options": ["ndots:2"],
        "security_opt": ["no-new-privileges"],
        "memory_hard_limit": 128,
        "healthchecks": [{"disable": True}],
        "oom_score_adj": 500,
        "pids_limit": 64,
        "group_add": ["100"],
        "work_dir": "/local",
        "init": True,
        "logging": [{"type": "json-file", "config": [{"max-size": "1m", "max-file": "2"}]}],
        "mount": [{"type": "tmpfs", "target": "/scratch"}],
        "devices": [
            {
                "host_path": "/dev/null",
                "container_path": "/dev/gitorch-null",
                "cgroup_permissions": "rw",
            }
        ],
    }
    assert harness.driver.validate_config({"image": IMAGE, **config}) == []
    out, info = harness.finish(SCRIPT, config, memory_mb=64)
    lines = out.splitlines()
    assert lines[0] == "gitorch-box"
    assert "10.1.2.3" in lines[1] and lines[2] == "512"
    for want in ("nofile=1024:2048", "rootfs=ro", f"shm={32 * 1024}", "oom=500"):
        assert want in lines, (want, out)
    assert "nameserver 192.0.2.53" in out and "search corp.example" in out
    assert "options ndots:2" in out
    assert "device=ok" in lines and "scratch=ok" in lines and "pwd=/local" in lines
    assert "100" in next(line for line in lines if line.startswith("groups=")).split("=")[1].split()
    cap_eff = int(next(line for line in lines if line.startswith("CapEff")).split()[1], 16)
    assert cap_eff >> CAP_NET_ADMIN & 1 and not cap_eff >> CAP_CHOWN & 1
    assert not cap_eff >> CAP_NET_RAW & 1  # not in the agent's allow_caps: dropped
    host, container = info["HostConfig"], info["Config"]
    assert container["Hostname"] == "gitorch-box" and container["Labels"]["team"] == "infra"
    assert container["Healthcheck"]["Test"] == ["NONE"]
    assert host["CapAdd"] == ["NET_ADMIN"] and set(host["CapDrop"]) == {"CHOWN", "NET_RAW"}
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["ReadonlyRootfs"] is True and host["ExtraHosts"] == ["db.internal:10.1.2.3"]
    assert host["Sysctls"] == {"net.core.somaxconn": "512"} and host["ShmSize"] == 32 * MIB
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["PidsLimit"] == 64
    assert host["Memory"] == 128 * MIB and host["MemoryReservation"] == 64 * MIB
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert host["Init"] is True and host["OomScoreAdj"] == 500
    assert host["Devices"][0]["PathInContainer"] == "/dev/gitorch-null"


def test_namespaces_tty_and_cpu_hard_limit(harness: Harness) -> None:
    config = {
        "pid_mode": "host",
        "ipc_mode": "host",
        "uts_mode": "host",
        "tty": True,
        "interactive": True,
        "cpu_hard_limit": True,
        "cpu_cfs_period": 50000,
    }
    host_pid1 = Path("/proc/1/comm").read_text().strip()
    out, info = harness.finish("cat /proc/1/comm; hostname", config, cpu_mhz=500)
    assert host_pid1 in out and Path("/proc/sys/kernel/hostname").read_text().strip() in out
    host = info["HostConfig"]
    assert (host["PidMode"], host["IpcMode"], host["UTSMode"]) == ("host", "host", "host")
    assert info["Config"]["Tty"] is True and info["Config"]["OpenStdin"] is True
    assert host["CpuPeriod"] == 50000 and host["CpuQuota"] > 0


def test_plugin_extra_labels_and_default_logging(tmp_path: Path, image: str) -> None:
    plugin = {
        **NO_GC,
        "extra_labels": ["job_name", "task_group_*"],
        "logging": [{"type": "json-file", "config": [{"max-size": "2m"}]}],
    }
    h = Harness(tmp_path, plugin)
    try:
        _, info = h.finish("true", {}, job_name="web", group_name="frontend")
    finally:
        h.close()
    labels = info["Config"]["Labels"]
    assert labels["com.hashicorp.nomad.job_name"] == "web"
    assert labels["com.hashicorp.nomad.task_group_name"] == "frontend"
    assert "com.hashicorp.nomad.task_name" not in labels
    assert info["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "2m"}}


def test_user_defined_network_address_aliases_and_mac(harness: Harness) -> None:
    assert isinstance(harness.driver, DockerDriver)
    api = harness.driver.client()
    name = f"gitorch-test-{int(time.time() * 1000) % 10**8}"
    ipam = {"Config": [{"Subnet": "172.31.250.0/24"}]}
    api.create_network(name, driver="bridge", ipam=ipam)
    try:
        config = {
            "network_mode": name,
            "ipv4_address": "172.31.250.10",
            "network_aliases": ["db-primary"],
            "mac_address": "02:42:ac:1f:fa:0a",
        }
        cfg, handle = harness.run("ip addr; exec sleep 30", config)
        log = Path(cfg.stdout_path())
        deadline = time.monotonic() + 20
        while "172.31.250.10" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "02:42:ac:1f:fa:0a" in log.read_text()
        info = api.inspect_container(handle.state["container_id"])
        network = info["NetworkSettings"]["Networks"][name]
        assert network["IPAddress"] == "172.31.250.10" and "db-primary" in network["Aliases"]
        assert network["MacAddress"] == "02:42:ac:1f:fa:0a"
    finally:
        harness.close()
        harness.started.clear()
        api.remove_network(name)


def test_load_an_image_archive_from_the_task_dir(harness: Harness) -> None:
    assert isinstance(harness.driver, DockerDriver)
    api = harness.driver.client()
    loaded = "gitorch-test/loaded:1"
    api.tag(IMAGE, "gitorch-test/loaded", "1")
    try:
        archive = b"".join(api.get_image(loaded))
        api.remove_image(loaded)
        cfg = harness.task_config({"image": loaded, "load": "local/image.tar"})
        Path(cfg.task_dir, "local", "image.tar").write_bytes(archive)
        cfg = harness.task_config(
            {
                "image": loaded,
                "load": "local/image.tar",
                "command": "/bin/echo",
                "args": ["loaded"],
            },
            task_dir=cfg.task_dir,
            alloc_dir=cfg.alloc_dir,
            log_dir=cfg.log_dir,
        )
        handle = harness.driver.start(cfg)
        harness.started.append((harness.driver, handle))
        result = harness.driver.wait(handle, 30)
        assert result is not None and result.exit_code == 0
        assert Path(cfg.stdout_path()).read_text() == "loaded\n"
        missing = harness.task_config({"image": loaded, "load": "local/none.tar"})
        with pytest.raises(DriverError, match=r"config.load: cannot read image archive .*artifact"):
            harness.driver.start(missing)
    finally:
        harness.close()
        harness.started.clear()
        api.remove_image(loaded, force=True)


def test_what_the_agent_forbids_is_refused_naming_the_plugin_option(harness: Harness) -> None:
    base = {"image": IMAGE}
    refused = {
        "cap_add": (["sys_admin"], "allow_caps"),
        "runtime": ("kata", "allow_runtimes"),
        "pids_limit": (500, "pids_limit = 100"),
        "volume_driver": ("local", "volumes { enabled = true }"),
        "privileged": (True, "allow_privileged = true"),
    }
    for key, (value, option) in refused.items():
        problems = harness.driver.validate_config({**base, key: value})
        assert len(problems) == 1 and problems[0].startswith(f"config.{key}:"), problems
        assert option in problems[0]
        # ... and a task asking for it does not start
        with pytest.raises(DriverError, match=f"config.{key}"):
            harness.driver.start(harness.task_config({**base, key: value}))
        # a server without this agent's config sees nothing wrong
        assert DockerDriver.schema_problems({**base, key: value}) == []


def test_invalid_options_are_named() -> None:
    problems = DockerDriver.schema_problems(
        {
            "image": IMAGE,
            "isolation": "hyperv",
            "cap_add": ["cap_flying"],
            "ulimit": [{"nofile": "lots", "bogus": "1"}],
            "extra_hosts": ["no-address"],
            "dns_servers": ["not-an-ip"],
            "ipv4_address": "10.0.0.1",
            "pid_mode": "private",
            "oom_score_adj": -5,
            "shm_size": "64m",
            "sysctl": "x",
            "logging": [{"type": "syslog", "options": {}}],
            "devices": [{"container_path": "/dev/x", "cgroup_permissions": "rwx"}],
            "load": "../../etc/image.tar",
            "healthchecks": [{"disabled": True}],
            "cpu_cfs_period": 100000,
        }
    )
    text = "\n".join(problems)
    for field in (
        "config.isolation: Windows containers only",
        "config.cap_add: unknown capability 'cap_flying'",
        "config.ulimit.nofile:",
        "config.ulimit.bogus: unknown",
        "config.extra_hosts[0]:",
        "config.dns_servers[0]:",
        "config.ipv4_address: needs network_mode set to a user-defined network",
        "config.pid_mode:",
        "config.oom_score_adj:",
        "config.shm_size: must be an integer",
        "config.sysctl:",
        "config.logging.options: unknown field",
        "config.devices[0].host_path:",
        "config.devices[0].cgroup_permissions:",
        "config.load:",
        "config.healthchecks.disabled: unknown field",
        "config.cpu_cfs_period: only applies with cpu_hard_limit",
    ):
        assert field in text, (field, problems)
    assert DockerDriver.validate_plugin_config(
        {"allow_caps": ["net_admin", "cap_bogus"], "extra_labels": ["colour"]}
    ) == [
        "plugin.docker.config.allow_caps: unknown capability 'cap_bogus'",
        "plugin.docker.config.extra_labels: unknown label 'colour' (known: job_name, job_id, "
        "task_group_name, task_name, namespace, node_name, or a glob)",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


NOMAD_JOB_INIT = """
job "example" {

  group "cache" {
    network {
      port "db" {
        to = 6379
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image          = "redis:7"
        ports          = ["db"]
        auth_soft_fail = true
      }

      identity {
        env  = true
        file = true
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
"""


def test_nomad_job_init_example_registers_and_runs(harness: Harness) -> None:
    job = parse_text(
        NOMAD_JOB_INIT, file="example.nomad.hcl", driver_check=installed_driver_check()
    )
    task = job.task_groups[0].tasks[0]
    assert task.config["auth_soft_fail"] is True
    bad = NOMAD_JOB_INIT.replace("auth_soft_fail = true", 'isolation = "hyperv"')
    with pytest.raises(JobspecError) as err:
        parse_text(bad, file="example.nomad.hcl", driver_check=installed_driver_check())
    assert "example.nomad.hcl:" in str(err.value) and "config.isolation" in str(err.value)
    assert isinstance(harness.driver, DockerDriver)
    api = harness.driver.client()
    # An offline "redis:7": busybox whose default command says it is ready.
    api.import_image_from_data(
        busybox_tar(shutil.which("busybox") or "/bin/busybox"),
        repository="redis",
        tag="7",
        changes=["ENV PATH=/bin", 'CMD ["/bin/sh", "-c", "echo redis-ready"]'],
    )
    try:
        env = {"PATH": "/bin", "NOMAD_PORT_db": "6379", "NOMAD_HOST_PORT_db": str(_free_port())}
        cfg = harness.task_config(task.config, env=env, memory_mb=256, cpu_mhz=500)
        handle = harness.driver.start(cfg)
        harness.started.append((harness.driver, handle))
        result = harness.driver.wait(handle, 30)
        assert result is not None and result.exit_code == 0
        assert Path(cfg.stdout_path()).read_text() == "redis-ready\n"
    finally:
        harness.close()
        harness.started.clear()
        api.remove_image("redis:7")


def test_port_map_gives_the_container_port_of_a_group_port(tmp_path: Path) -> None:
    from gitorch.plugins.builtin import docker_config as dc

    cfg = TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver="docker",
        config={"image": IMAGE, "port_map": [{"db": 6379}]},
        env={"NOMAD_HOST_PORT_db": "25000", "NOMAD_PORT_db": "25000"},
        task_dir=str(tmp_path / "task"),
        alloc_dir=str(tmp_path / "alloc"),
        log_dir=str(tmp_path / "alloc" / "logs"),
    )
    spec = dc.build_spec(cfg)
    assert spec.host["port_bindings"] == {"6379/tcp": 25000, "6379/udp": 25000}
