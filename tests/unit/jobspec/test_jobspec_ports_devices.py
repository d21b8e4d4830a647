"""Group ``network`` ports and task ``device`` requests: decoding and validation."""

from __future__ import annotations

import pytest

from gitorch.core.model.job import (
    Affinity,
    Constraint,
    Job,
    NetworkResource,
    Port,
    RequestedDevice,
    Resources,
    RestartPolicy,
    Task,
    TaskGroup,
)
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file, parse_text
from gitorch.jobspec.validate import problems

GPU_JOB = """\
job "train" {
  group "g" {
    network {
      mode = "host"
      port "http" {
        static       = 8080
        to           = 80
        host_network = "default"
      }
      port "db" {}
      port "same" {
        to = -1
      }
    }

    task "t" {
      driver = "docker"
      config {
        args = ["--port", "${NOMAD_PORT_http}"]
      }
      resources {
        device "nvidia/gpu" {
          count = 2
          constraint {
            attribute = "${device.attr.memory}"
            operator  = ">="
            value     = "2 GiB"
          }
          affinity {
            attribute = "${device.model}"
            value     = "Tesla T4"
            weight    = 50
          }
        }
        device "fpga" {}
      }
    }
  }
}
"""


def test_group_network_ports_decode_as_nomad_splits_them() -> None:
    job = parse_file("jobs/train.nomad.hcl", GPU_JOB)
    group = job.task_groups[0]
    assert group.networks == [
        NetworkResource(
            mode="host",
            reserved_ports=[Port(label="http", value=8080, to=80)],
            dynamic_ports=[Port(label="db"), Port(label="same", to=-1)],
        )
    ]
    # runtime variables stay literal until the task runs
    assert group.tasks[0].config["args"] == ["--port", "${NOMAD_PORT_http}"]


def test_task_devices_decode_with_constraints_and_affinities() -> None:
    job = parse_file("jobs/train.nomad.hcl", GPU_JOB)
    devices = job.task_groups[0].tasks[0].resources.devices
    assert devices == [
        RequestedDevice(
            name="nvidia/gpu",
            count=2,
            constraints=[
                Constraint(ltarget="${device.attr.memory}", operand=">=", rtarget="2 GiB")
            ],
            affinities=[Affinity(ltarget="${device.model}", rtarget="Tesla T4", weight=50)],
        ),
        RequestedDevice(name="fpga"),
    ]


def test_affinity_shorthand_and_defaults() -> None:
    text = GPU_JOB.replace('value     = "Tesla T4"\n            weight    = 50', 'regexp = "T4$"')
    job = parse_text(text)
    (aff,) = job.task_groups[0].tasks[0].resources.devices[0].affinities
    assert aff == Affinity(ltarget="${device.model}", operand="regexp", rtarget="T4$", weight=50)


def test_unknown_port_attribute_is_reported_with_its_line() -> None:
    text = GPU_JOB.replace("static       = 8080", "statik = 8080")
    with pytest.raises(JobspecError) as info:
        parse_file("jobs/train.nomad.hcl", text)
    assert info.value.line == 6
    assert "unknown attribute \"statik\"; did you mean 'static'?" in str(info.value)


def test_a_task_network_block_points_to_the_group() -> None:
    text = GPU_JOB.replace('device "fpga" {}', 'network {\n          port "x" {}\n        }')
    with pytest.raises(JobspecError, match="declare ports in the group's network block"):
        parse_text(text)


def test_network_settings_host_networking_cannot_honour_are_located_errors() -> None:
    text = GPU_JOB.replace('mode = "host"', 'mode = "host"\n      hostname = "h"')
    with pytest.raises(JobspecError, match=r'<text>:5: .*network: "hostname" is not supported'):
        parse_text(text)
    with pytest.raises(JobspecError, match=r'"mode" is not supported.*use mode = "host"'):
        parse_text(GPU_JOB.replace('mode = "host"', 'mode = "bridge"'))
    assert parse_text(GPU_JOB).task_groups[0].networks[0].mode == "host"


def good_job(networks: list[NetworkResource], devices: list[RequestedDevice]) -> Job:
    task = Task(name="t", driver="exec", resources=Resources(devices=devices))
    group = TaskGroup(name="g", tasks=[task], networks=networks, restart_policy=RestartPolicy())
    return Job(id="j", task_groups=[group])


def messages(job: Job) -> list[str]:
    return [f"{path}: {msg}" for path, msg in problems(job)]


def test_valid_ports_and_devices_pass() -> None:
    job = parse_text(GPU_JOB)
    assert problems(job) == []


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            NetworkResource(reserved_ports=[Port(label="a", value=70000)]),
            'port "a": static port must be between 1 and 65535, got 70000',
        ),
        (
            NetworkResource(reserved_ports=[Port(label="a", value=80), Port(label="b", value=80)]),
            "static port 80 is asked for 2 times in the group",
        ),
        (
            NetworkResource(
                reserved_ports=[Port(label="a", value=80)], dynamic_ports=[Port(label="a")]
            ),
            'port label "a" is used 2 times in the group',
        ),
        (
            NetworkResource(dynamic_ports=[Port(label="a", to=-2)]),
            "to must be between 1 and 65535 (or -1: the host port), got -2",
        ),
        (NetworkResource(mode="overlay"), "unknown network mode 'overlay'"),
    ],
)
def test_bad_ports(network: NetworkResource, expected: str) -> None:
    found = messages(good_job([network], []))
    assert any(expected in m for m in found), found


def test_one_network_block_per_group_and_cni_modes() -> None:
    two = [NetworkResource(mode="cni/mynet"), NetworkResource(mode="bridge")]
    assert messages(good_job(two, [])) == [
        'job "j" > group "g": only one network block is allowed per group, got 2'
    ]


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (RequestedDevice(name="nvidia/gpu", count=0), "device count must be at least 1, got 0"),
        (RequestedDevice(name=""), 'must be "type", "vendor/type" or "vendor/type/model"'),
        (RequestedDevice(name="nvidia//x"), 'must be "type"'),
        (RequestedDevice(name="nvidia/gpu/"), 'must be "type"'),
        (
            RequestedDevice(name="gpu", constraints=[Constraint(operand="distinct_hosts")]),
            'operator "distinct_hosts" cannot constrain a device',
        ),
        (
            RequestedDevice(name="gpu", affinities=[Affinity(ltarget="${device.model}")]),
            'operator "=" needs an attribute and a value',
        ),
        (
            RequestedDevice(
                name="gpu", affinities=[Affinity(ltarget="${device.model}", rtarget="x", weight=0)]
            ),
            "weight must be between -100 and 100 and not 0, got 0",
        ),
    ],
)
def test_bad_devices(device: RequestedDevice, expected: str) -> None:
    found = messages(good_job([], [device]))
    assert any(expected in m for m in found), found
    assert all('> resources > device "' in m for m in found), found


def test_model_names_may_hold_spaces() -> None:
    ok = RequestedDevice(name="nvidia/gpu/Tesla T4", count=1)
    assert messages(good_job([], [ok])) == []


def test_problems_in_a_parsed_file_carry_lines() -> None:
    text = GPU_JOB.replace("count = 2", "count = 0").replace("static       = 8080", "static = 0x")
    text = text.replace("static = 0x", "static = 99999")
    with pytest.raises(JobspecError) as info:
        parse_file("jobs/train.nomad.hcl", text)
    located = {(p.line, p.message.split(",")[0]) for p in info.value.problems}
    assert (6, "static port must be between 1 and 65535") in located
    assert (23, "device count must be at least 1") in located
