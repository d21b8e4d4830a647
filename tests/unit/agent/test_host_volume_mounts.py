"""volume / volume_mount decoding and how a task's mounts resolve on a node."""

from __future__ import annotations

import pytest

from gitorch.agent.volumes import host_mounts, volume_env
from gitorch.core.model import Node
from gitorch.core.model.node import ClientHostVolume
from gitorch.core.task import HostMount
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text

JOB = """job "a" {
  group "g" {
    volume "certs" {
      type      = "host"
      source    = "ca"
      read_only = %s
    }
    task "t" {
      driver = "exec"
      volume_mount {
        volume      = "certs"
        destination = "etc/ssl"
      }
    }
  }
}"""


def test_mounts_resolve_and_read_only_wins_from_any_side() -> None:
    job = parse_text(JOB % "false", file="a.nomad.hcl")
    task = job.task_groups[0].tasks[0]
    node = Node(id="n1", host_volumes={"ca": ClientHostVolume(name="ca", path="/srv/ca")})
    assert host_mounts(job, "g", task, node) == [
        HostMount(volume="certs", host_path="/srv/ca", task_path="/etc/ssl")
    ]
    ro = parse_text(JOB % "true", file="a.nomad.hcl")
    assert host_mounts(ro, "g", ro.task_groups[0].tasks[0], node)[0].read_only
    ro_node = Node(
        id="n1", host_volumes={"ca": ClientHostVolume(name="ca", path="/srv/ca", read_only=True)}
    )
    assert host_mounts(job, "g", task, ro_node)[0].read_only
    assert host_mounts(job, "g", task, Node(id="bare"))[0].host_path == ""
    assert volume_env(host_mounts(job, "g", task, node)) == {"NOMAD_HOST_VOLUME_certs": "/srv/ca"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('volume      = "certs"', 'volume      = "other"', 'names volume "other", which the group'),
        ('type      = "host"', 'type      = "csi"', "type 'csi' is not supported"),
        ('source    = "ca"', "", 'volume "certs" needs a "source"'),
    ],
)
def test_bad_volume_blocks_are_located_errors(old: str, new: str, message: str) -> None:
    with pytest.raises(JobspecError) as err:
        parse_text((JOB % "false").replace(old, new), file="v.nomad.hcl")
    assert message in str(err.value) and "v.nomad.hcl:" in str(err.value)
