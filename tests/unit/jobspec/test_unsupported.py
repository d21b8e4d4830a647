"""No silent ignores: every Nomad name gitorch knows is read by the decoder or is in the
one table of what gitorch does not do, and each table entry reaches the user as the
located warning or error the table says."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import JobspecWarning, parse_text
from gitorch.jobspec.reader import BlockReader
from gitorch.jobspec.unsupported import UNSUPPORTED, Unsupported

# Nomad's jobspec vocabulary per block (the hcl tags of its api package), for the blocks
# gitorch decodes. A name here that the decoder neither reads nor lists is a failure.
_NOMAD = {
    "job": "region namespace id name type priority all_at_once datacenters node_pool "
    "constraint affinity group update multiregion spread periodic parameterized reschedule "
    "migrate meta ui",
    "group": "count constraint affinity task spread volume restart disconnect reschedule "
    "ephemeral_disk update migrate network meta service shutdown_delay max_run_duration "
    "stop_after_client_disconnect max_client_disconnect scaling consul "
    "prevent_reschedule_on_lost",
    "task": "driver user lifecycle config constraint affinity env service resources restart "
    "meta kill_timeout logs artifact vault consul template dispatch_payload volume_mount "
    "csi_plugin leader shutdown_delay kill_signal kind scaling secret identity action "
    "schedule",
    "resources": "cpu cores memory memory_max disk network device numa secrets iops",
    "network": "mode device cidr ip dns reserved_ports port hostname mbits cni",
    "port": "static to host_network ignore_collision",
    "restart": "interval attempts delay mode render_templates",
    "logs": "max_files max_file_size enabled disabled",
    "template": "source destination data change_mode change_script change_signal once splay "
    "perms uid gid left_delimiter right_delimiter env vault_grace wait error_on_missing_key",
    "ephemeral_disk": "sticky migrate size",
    "reschedule": "attempts interval delay delay_function max_delay unlimited",
    "update": "stagger max_parallel health_check min_healthy_time healthy_deadline "
    "progress_deadline canary auto_revert auto_promote",
    "migrate": "max_parallel health_check min_healthy_time healthy_deadline",
    "disconnect": "lost_after stop_on_client_after replace reconcile",
    "volume": "type source read_only sticky access_mode attachment_mode mount_options per_alloc",
    "volume_mount": "volume destination read_only propagation_mode selinux_label",
    "lifecycle": "hook sidecar",
    "device": "count constraint affinity",
    "service": "name tags canary_tags enable_tag_override port address_mode address check "
    "check_restart connect meta canary_meta tagged_addresses task on_update identity weights "
    "provider cluster kind",
    "check": "name type command args path protocol port expose address_mode advertise "
    "interval timeout initial_status notes tls_server_name tls_skip_verify header method "
    "check_restart grpc_service grpc_use_tls task success_before_passing "
    "failures_before_critical failures_before_warning body on_update",
}
# Nomad names the api package has no hcl tag for but older jobspecs and the JSON API use.
_NOMAD_EXTRA = {"job": "vault secret consul_token vault_token", "group": "vault secret"}

# One job with a block of every kind above; ``<kind>`` marks where a test puts a name.
BASE = """\
job "vocab" {
  <job>
  group "g" {
    <group>
    reschedule {
      <reschedule>
    }
    update {
      <update>
    }
    migrate {
      <migrate>
    }
    disconnect {
      <disconnect>
    }
    volume "data" {
      type   = "host"
      source = "data"
      <volume>
    }
    network {
      <network>
      port "http" {
        <port>
      }
    }
    ephemeral_disk {
      <ephemeral_disk>
    }
    service {
      name = "web"
      port = "http"
      <service>
      check {
        type     = "http"
        path     = "/"
        interval = "10s"
        timeout  = "2s"
        <check>
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      <task>
      volume_mount {
        volume      = "data"
        destination = "/data"
        <volume_mount>
      }
      resources {
        <resources>
        device "nvidia/gpu" {
          <device>
        }
      }
      restart {
        <restart>
      }
      logs {
        <logs>
      }
      template {
        data        = "x"
        destination = "local/x"
        change_mode = "noop"
        <template>
      }
    }
    task "init" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      lifecycle {
        hook = "prestart"
        <lifecycle>
      }
    }
  }
}
"""
_BLOCKS = {"multiregion", "ui", "vault", "secret", "scaling", "consul", "artifact",
           "csi_plugin", "action", "schedule", "numa", "dns", "cni", "connect", "weights",
           "tagged_addresses", "identity", "reserved_ports"}  # fmt: skip


def spec(kind: str = "", text: str = "") -> str:
    out = BASE
    for marker in _NOMAD:
        out = out.replace(f"<{marker}>", text if marker == kind else "")
    return out


def setting(name: str, entry: Unsupported) -> str:
    """HCL that sets ``name`` to something it does not do by default."""
    if name == "reserved_ports":
        return 'reserved_ports "db" {\n}'
    if name in _BLOCKS:
        return f"{name} {{\n}}"
    h = entry.harmless
    numbers = [v for v in h if type(v) is int]
    if True in h:
        value = "false"
    elif False in h:
        value = "true"
    elif "0s" in h:
        value = '"5s"'
    elif numbers:
        value = str(numbers[0] + 2)
    elif "host" in h:
        value = '"bridge"'
    else:
        value = '"x"'
    return f"{name} = {value}"


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip() == needle)


@pytest.fixture(scope="module")
def read_by_decoder() -> dict[str, set[str]]:
    """Per block kind, the names the decoder reads (asked), from one job with every kind."""
    asked: dict[str, set[str]] = {}
    original = BlockReader.finish

    def recording(self: BlockReader) -> None:
        asked.setdefault(self.kind, set()).update(self.asked)
        original(self)

    mp = pytest.MonkeyPatch()
    mp.setattr(BlockReader, "finish", recording)
    try:
        parse_text(spec(), file="vocab.nomad.hcl")
    finally:
        mp.undo()
    return asked


def test_every_nomad_name_is_implemented_or_in_the_table(
    read_by_decoder: dict[str, set[str]],
) -> None:
    missing = []
    for kind, names in _NOMAD.items():
        for name in (names + " " + _NOMAD_EXTRA.get(kind, "")).split():
            if name not in read_by_decoder.get(kind, set()) and f"{kind}.{name}" not in UNSUPPORTED:
                missing.append(f"{kind}.{name}")
    assert missing == [], f"neither implemented nor in gitorch.jobspec.unsupported: {missing}"


def test_the_table_lists_no_name_the_decoder_implements(
    read_by_decoder: dict[str, set[str]],
) -> None:
    for key, entry in UNSUPPORTED.items():
        kind, name = key.split(".")
        assert kind in read_by_decoder, f"{key}: no block of kind {kind!r} is decoded"
        if name in read_by_decoder[kind]:  # read, and refused only for some values
            assert entry.harmless, f"{key} is implemented: take it out of the table"


WARNINGS = sorted(k for k, e in UNSUPPORTED.items() if e.severity == "warning")
ERRORS = sorted(k for k, e in UNSUPPORTED.items() if e.severity == "error")


@pytest.mark.parametrize("key", WARNINGS)
def test_each_warning_is_located_and_the_job_still_parses(key: str) -> None:
    kind, name = key.split(".")
    text = spec(kind, setting(name, UNSUPPORTED[key]))
    warnings: list[JobspecWarning] = []
    job = parse_text(text, file="jobs/w.nomad.hcl", warnings=warnings)
    assert job.id == "vocab"
    line = line_of(text, setting(name, UNSUPPORTED[key]).splitlines()[0])
    found = [w for w in warnings if f'"{name}" is ignored' in w.message]
    assert len(found) == 1, warnings
    assert found[0].located().startswith(f'jobs/w.nomad.hcl:{line}: job "vocab"')
    assert UNSUPPORTED[key].instead in found[0].message


@pytest.mark.parametrize("key", ERRORS)
def test_each_error_is_located_with_file_line_and_block_path(key: str) -> None:
    kind, name = key.split(".")
    text = spec(kind, setting(name, UNSUPPORTED[key]))
    with pytest.raises(JobspecError) as info:
        parse_text(text, file="jobs/e.nomad.hcl")
    line = line_of(text, setting(name, UNSUPPORTED[key]).splitlines()[0])
    problems = [p for p in info.value.problems if f'"{name}" is not supported' in p.message]
    assert len(problems) == 1, info.value.located()
    assert problems[0].located().startswith(f'jobs/e.nomad.hcl:{line}: job "vocab"')
    assert kind in problems[0].path or kind == "job"


@pytest.mark.parametrize(
    ("kind", "text"),
    [("port", "ignore_collision = false"), ("logs", "disabled = false"),
     ("logs", "enabled = true"), ("network", 'mode = "host"'), ("group", 'shutdown_delay = "0s"')],
)  # fmt: skip
def test_nomads_default_values_ask_for_nothing(kind: str, text: str) -> None:
    warnings: list[JobspecWarning] = []
    parse_text(spec(kind, text), warnings=warnings)
    assert warnings == []


def test_a_secret_value_never_appears_in_a_warning() -> None:
    warnings: list[JobspecWarning] = []
    parse_text(spec("job", 'vault_token = "s.hunter2hunter2"'), warnings=warnings)
    assert [w for w in warnings if "vault_token" in w.message]
    assert not [w for w in warnings if "hunter2" in w.located()]


def test_ephemeral_disk_size_counts_with_the_tasks_disk() -> None:
    job = parse_text(spec("ephemeral_disk", "size = 500").replace("<resources>", ""))
    assert job.task_groups[0].resources().disk_mb == 500
    none = parse_text(spec().replace("    ephemeral_disk {\n      \n    }\n", ""))
    assert none.task_groups[0].ephemeral_disk is None
    assert none.task_groups[0].resources().disk_mb == 0


def test_warnings_come_back_through_the_isolated_worker() -> None:
    from gitorch.jobspec.isolate import parse_isolated

    text = spec("group", 'shutdown_delay = "5s"')
    warnings: list[JobspecWarning] = []
    job = parse_isolated("jobs/w.nomad.hcl", text, warnings=warnings)
    assert not isinstance(job, JobspecError), job
    line = line_of(text, 'shutdown_delay = "5s"')
    assert [w.located() for w in warnings] == [
        f'jobs/w.nomad.hcl:{line}: job "vocab" > group "g": "shutdown_delay" is ignored: '
        + UNSUPPORTED["group.shutdown_delay"].instead
    ]


def test_docs_show_every_entry_with_its_severity() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "jobspec.md").read_text()
    for key, entry in UNSUPPORTED.items():
        kind, name = key.split(".")
        rows = [r for r in docs.splitlines() if r.startswith(f"| `{kind}` | `{name}`")]
        assert len(rows) == 1 and f"| {entry.severity} |" in rows[0], key


def test_a_rendered_template_s_warning_says_its_lines_are_the_rendered_ones() -> None:
    from gitorch.jobspec import parse_file

    text = "[% for i in range(2) %]\n# [[ i ]]\n[% endfor %]\n" + spec("job", "ui {\n}")
    warnings: list[JobspecWarning] = []
    parse_file("jobs/w.nomad.hcl.j2", text, warnings=warnings)
    (found,) = warnings
    assert found.message.endswith("(line numbers are those of the rendered template)")
    assert "\n" not in found.located()
