"""Decoding jobspecs into Job values: Nomad's grammar, defaults and located errors."""

from __future__ import annotations

import pytest

from gitorch.core.model.job import (
    BATCH_RESTART,
    MINUTE,
    SECOND,
    Constraint,
    JobSource,
    LogConfig,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Template,
)
from gitorch.errors import JobspecError
from gitorch.jobspec import is_jobspec_file, is_var_file, parse_file, parse_text
from gitorch.jobspec.unsupported import UNSUPPORTED

# In the shape of Nomad's documentation examples (redis with a template, a service and
# its check, a restart policy, a kernel constraint and the alloc ID in the environment).
REDIS = """\
job "redis-cache" {
  datacenters = ["dc1"]
  type        = "service"
  priority    = 60

  meta {
    owner = "platform"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel = 1
  }

  group "cache" {
    count = 3

    network {
      port "db" {
        to = 6379
      }
    }

    restart {
      attempts = 10
      interval = "5m"
      delay    = "25s"
      mode     = "delay"
    }

    task "redis" {
      driver = "docker"

      config {
        image = "redis:7"
        ports = ["db"]
        args  = ["--appendonly", "yes"]

        logging {
          type = "journald"
        }
      }

      env {
        ALLOC_ID   = "${NOMAD_ALLOC_ID}"
        REDIS_ARGS = "--maxmemory 200mb"
      }

      template {
        data = <<EOF
bind 0.0.0.0
{{ with nomadVar "nomad/jobs/redis-cache" }}requirepass {{ .password }}{{ end }}
maxclients {{ key "redis/config/maxclients" }}
EOF
        destination   = "local/redis.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
      }

      service {
        name     = "redis-cache"
        port     = "db"
        provider = "nomad"
        tags     = ["cache", "redis"]

        check {
          name     = "alive"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }

      resources {
        cpu        = 500
        memory     = 256
        memory_max = 512
      }

      logs {
        max_files     = 5
        max_file_size = 15
      }

      kill_timeout = "20s"
      kill_signal  = "SIGTERM"
    }
  }
}
"""

TEMPLATE_DATA = (
    "bind 0.0.0.0\n"
    '{{ with nomadVar "nomad/jobs/redis-cache" }}requirepass {{ .password }}{{ end }}\n'
    'maxclients {{ key "redis/config/maxclients" }}\n'
)


def test_realistic_service_job() -> None:
    job = parse_file("jobs/redis.nomad.hcl", REDIS)
    assert (job.id, job.name, job.type, job.priority) == (
        "redis-cache",
        "redis-cache",
        "service",
        60,
    )
    assert (job.namespace, job.region, job.datacenters) == ("default", "global", ["dc1"])
    assert job.meta == {"owner": "platform"}
    kernel = Constraint(ltarget="${attr.kernel.name}", rtarget="linux", operand="=")
    assert job.constraints == [kernel]
    (group,) = job.task_groups
    assert (group.name, group.count) == ("cache", 3)
    restart = RestartPolicy(attempts=10, interval=5 * MINUTE, delay=25 * SECOND, mode="delay")
    assert group.restart_policy == restart
    (task,) = group.tasks
    assert (task.name, task.driver) == ("redis", "docker")
    assert task.config == {
        "image": "redis:7",
        "ports": ["db"],
        "args": ["--appendonly", "yes"],
        "logging": [{"type": "journald"}],
    }
    assert task.env == {"ALLOC_ID": "${NOMAD_ALLOC_ID}", "REDIS_ARGS": "--maxmemory 200mb"}
    assert task.templates == [
        Template(
            dest_path="local/redis.conf",
            embedded_tmpl=TEMPLATE_DATA,
            change_mode="signal",
            change_signal="SIGHUP",
        )
    ]
    check = ServiceCheck(name="alive", type="tcp", interval=10 * SECOND, timeout=2 * SECOND)
    assert task.services == [
        Service(
            name="redis-cache",
            port_label="db",
            provider="nomad",
            tags=["cache", "redis"],
            checks=[check],
        )
    ]
    assert task.resources == Resources(cpu=500, memory_mb=256, memory_max_mb=512)
    assert task.log_config == LogConfig(max_files=5, max_file_size_mb=15)
    assert (task.kill_timeout, task.kill_signal) == (20 * SECOND, "SIGTERM")
    assert task.restart_policy == restart


REDIS_J2 = (
    REDIS.replace('job "redis-cache"', 'job "redis-[[ env ]]"')
    .replace("count = 3", "count = [[ count ]]")
    .replace('datacenters = ["dc1"]', "datacenters = [[ dcs | tojson ]]")
    .replace("memory     = 256", "memory = [% if env == 'prod' %]400[% else %]256[% endif %]")
)


def test_j2_render_keeps_nomad_interpolation_and_template_data() -> None:
    var_files = [("vars/prod.vars.hcl", 'env = "prod"\ncount = 5\ndcs = ["eu-1", "eu-2"]\n')]
    source = JobSource(file="jobs/redis.nomad.hcl.j2", commit="abc123")
    job = parse_file("jobs/redis.nomad.hcl.j2", REDIS_J2, var_files=var_files, source=source)
    assert job.id == "redis-prod"
    assert job.datacenters == ["eu-1", "eu-2"]
    assert job.source == source
    (group,) = job.task_groups
    assert group.count == 5
    (task,) = group.tasks
    assert task.resources.memory_mb == 400
    assert job.constraints[0].ltarget == "${attr.kernel.name}"
    assert task.env["ALLOC_ID"] == "${NOMAD_ALLOC_ID}"
    assert task.templates[0].embedded_tmpl == TEMPLATE_DATA


def test_j2_overrides_win_over_var_files() -> None:
    var_files = [("vars/dev.vars.hcl", 'env = "dev"\ncount = 1\ndcs = ["dc1"]\n')]
    job = parse_file("jobs/redis.nomad.j2", REDIS_J2, var_files=var_files, vars_={"count": 2})
    assert (job.id, job.task_groups[0].count) == ("redis-dev", 2)


def test_j2_missing_value_names_template_line() -> None:
    with pytest.raises(JobspecError) as info:
        parse_file("jobs/redis.nomad.hcl.j2", REDIS_J2, vars_={"env": "dev", "dcs": ["a"]})
    assert (info.value.file, info.value.line) == ("jobs/redis.nomad.hcl.j2", 20)
    assert "'count' is undefined" in str(info.value)


def test_nomad_defaults() -> None:
    text = 'job "w" {\n  group "g" {\n    task "t" {\n      driver = "exec"\n    }\n  }\n}\n'
    job = parse_text(text)
    assert (job.name, job.type, job.priority, job.datacenters) == ("w", "service", 50, ["*"])
    (group,) = job.task_groups
    assert group.count == 1
    assert group.restart_policy == RestartPolicy(
        attempts=2, interval=30 * MINUTE, delay=15 * SECOND, mode="fail"
    )
    (task,) = group.tasks
    assert task.resources == Resources(cpu=100, memory_mb=300)
    assert (task.kill_timeout, task.kill_signal) == (5 * SECOND, "SIGINT")
    assert task.log_config == LogConfig(max_files=10, max_file_size_mb=10)
    assert task.restart_policy == group.restart_policy


def test_batch_restart_default_and_task_restart_merge() -> None:
    text = """\
job "b" {
  type = "batch"
  group "g" {
    restart {
      attempts = 1
    }
    task "a" {
      driver = "exec"
      restart {
        delay = "1m30s"
      }
    }
    task "b" {
      driver = "exec"
    }
  }
}
"""
    (group,) = parse_text(text).task_groups
    group_policy = RestartPolicy(attempts=1, interval=BATCH_RESTART.interval, delay=15 * SECOND)
    assert group.restart_policy == group_policy
    assert group.tasks[0].restart_policy == RestartPolicy(
        attempts=1, interval=24 * 60 * MINUTE, delay=90 * SECOND
    )
    assert group.tasks[1].restart_policy == group_policy


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        ('"15s"', 15 * SECOND),
        ('"1m30s"', 90 * SECOND),
        ('"2h"', 120 * MINUTE),
        ('"500ms"', 500_000_000),
        ("1000", 1000),
    ],
)
def test_durations(value: str, ns: int) -> None:
    text = (
        'job "d" {\n  group "g" {\n    task "t" {\n      driver = "exec"\n'
        f"      kill_timeout = {value}\n    }}\n  }}\n}}\n"
    )
    assert parse_text(text).task_groups[0].tasks[0].kill_timeout == ns


def test_bad_duration_names_line() -> None:
    text = 'job "d" {\n  group "g" {\n    restart {\n      delay = "15 seconds"\n    }\n  }\n}\n'
    with pytest.raises(JobspecError) as info:
        parse_text(text, file="d.hcl")
    assert info.value.problems[0].line == 4
    assert 'd.hcl:4: job "d" > group "g" > restart: "delay": invalid duration' in str(info.value)


def test_constraint_shorthands() -> None:
    text = """\
job "c" {
  constraint {
    distinct_hosts = true
  }
  constraint {
    attribute = "${attr.os.version}"
    version   = ">= 22.04"
  }
  constraint {
    attribute = "${attr.driver.docker.version}"
    semver    = ">= 20.0.0"
  }
  constraint {
    attribute = "${node.class}"
    regexp    = "^gpu-"
  }
  constraint {
    attribute    = "${meta.features}"
    set_contains = "ssd,nvme"
  }
  constraint {
    distinct_property = "${meta.rack}"
    value             = "2"
  }
  constraint {
    attribute = "${meta.zone}"
    operator  = "is_set"
  }
  group "g" {
    task "t" {
      driver = "exec"
    }
  }
}
"""
    assert parse_text(text).constraints == [
        Constraint(ltarget="", rtarget="true", operand="distinct_hosts"),
        Constraint(ltarget="${attr.os.version}", rtarget=">= 22.04", operand="version"),
        Constraint(ltarget="${attr.driver.docker.version}", rtarget=">= 20.0.0", operand="semver"),
        Constraint(ltarget="${node.class}", rtarget="^gpu-", operand="regexp"),
        Constraint(ltarget="${meta.features}", rtarget="ssd,nvme", operand="set_contains"),
        Constraint(ltarget="${meta.rack}", rtarget="2", operand="distinct_property"),
        Constraint(ltarget="${meta.zone}", rtarget="", operand="is_set"),
    ]


def test_maps_as_attributes_and_default_service_names() -> None:
    text = """\
job "m" {
  group "g" {
    meta = { "team.name" = "core", replicas = 2 }
    network {
      port "http" {}
    }
    service {
      port = "http"
    }
    task "t" {
      driver = "exec"
      env = { "JAVA.OPTS" = "-Xmx1g" }
      service {
        port = "http"
        check {
          type     = "http"
          path     = "/health"
          interval = "5s"
          timeout  = "1s"
        }
      }
    }
  }
}
"""
    (group,) = parse_text(text).task_groups
    assert group.meta == {"team.name": "core", "replicas": "2"}
    assert group.services[0].name == "m-g"
    (task,) = group.tasks
    assert task.env == {"JAVA.OPTS": "-Xmx1g"}
    assert task.services[0].name == "m-g-t"
    assert task.services[0].checks[0].name == 'service: "m-g-t" check'


def test_task_outside_a_group_gets_its_own_group() -> None:
    job = parse_text('job "solo" {\n  task "only" {\n    driver = "exec"\n  }\n}\n')
    assert [(g.name, [t.name for t in g.tasks]) for g in job.task_groups] == [("only", ["only"])]


def test_unknown_attribute_names_line_path_and_hint() -> None:
    text = """\
job "web" {
  group "app" {
    task "srv" {
      driver = "exec"
      service {
        check {
          type   = "script"
          comand = "/bin/check"
        }
      }
    }
  }
}
"""
    with pytest.raises(JobspecError) as info:
        parse_file("jobs/web.nomad.hcl", text)
    assert str(info.value) == (
        'jobs/web.nomad.hcl:8: job "web" > group "app" > task "srv" > service > check: '
        "unknown attribute \"comand\"; did you mean 'command'?"
    )
    assert info.value.line == 8


def test_unknown_block_and_several_problems_at_once() -> None:
    text = """\
job "web" {
  grop "app" {
  }
  group "app" {
    count = "many"
    task "srv" {
      driver = "exec"
      resource {
        cpu = 10
      }
    }
  }
}
"""
    with pytest.raises(JobspecError) as info:
        parse_file("jobs/web.nomad.hcl", text)
    err = info.value
    assert [(p.line, p.path) for p in err.problems] == [
        (2, 'job "web"'),
        (5, 'job "web" > group "app"'),
        (8, 'job "web" > group "app" > task "srv"'),
    ]
    message = str(err)
    assert "jobs/web.nomad.hcl:2: " in message
    assert "unknown block \"grop\"; did you mean 'group'?" in message
    assert "\"count\": expected a whole number, got 'many'" in message
    assert "unknown block \"resource\"; did you mean 'resources'?" in message
    assert message.count("\n") == 3


def test_a_known_block_in_the_wrong_place_is_unknown() -> None:
    listed = {"job.ui", "task.secret", "network.dns"}
    assert listed <= UNSUPPORTED.keys()
    assert not {"group.network", "resources.device", "resources.network"} & UNSUPPORTED.keys()
    job = parse_file("jobs/redis.nomad.hcl", REDIS)  # has update {} and network {}
    assert job.id == "redis-cache"
    with pytest.raises(JobspecError, match='unknown block "network"'):
        parse_text(REDIS.replace("  update {", "  network {"))


def test_a_block_written_as_an_attribute() -> None:
    text = (
        'job "a" {\n  group "g" {\n    task "t" {\n      driver = "exec"\n'
        "      resources = { cpu = 1 }\n    }\n  }\n}\n"
    )
    with pytest.raises(JobspecError, match=r"a\.hcl:5: .*\"resources\" is a block"):
        parse_text(text, file="a.hcl")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('variable "x" {\n  default = 1\n}\n', "exactly one job block; found none"),
        ('job "a" {}\n\njob "b" {}\n', "exactly one job block; found 2 job blocks"),
    ],
)
def test_exactly_one_job_block(text: str, message: str) -> None:
    with pytest.raises(JobspecError, match=message) as info:
        parse_file("jobs/x.nomad.hcl", text)
    assert info.value.file == "jobs/x.nomad.hcl"


def test_hcl_error_after_a_render_that_changed_line_count_says_so() -> None:
    text = '[% for i in range(3) %]\n# [[ i ]]\n[% endfor %]\njob "a" {\n  x = @\n}\n'
    with pytest.raises(JobspecError, match="rendered template"):
        parse_file("jobs/a.nomad.j2", text)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("jobs/web.nomad", True),
        ("jobs/web.nomad.hcl", True),
        ("web.hcl", True),
        ("jobs/web.nomad.hcl.j2", True),
        ("jobs/web.hcl.j2", True),
        ("jobs/web.j2", False),
        ("jobs/web.txt", False),
        ("vars/prod.hcl", False),
        ("env/vars/prod.hcl.j2", False),
        ("jobs/prod.vars.hcl", False),
        ("jobs/prod.varfile.hcl", False),
        (".github/ci.hcl", False),
        ("jobs/.hidden.nomad", False),
    ],
)
def test_jobspec_file_rule(path: str, expected: bool) -> None:
    assert is_jobspec_file(path) is expected


def test_var_file_rule() -> None:
    assert is_var_file("vars/dev.hcl")
    assert is_var_file("prod.vars.hcl")
    assert not is_var_file("jobs/web.nomad.hcl")
