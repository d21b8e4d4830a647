"""The one table of Nomad names gitorch knows but does not do, each with its severity.

Every block and attribute of Nomad's jobspec that the decoder does not read is either in
:data:`UNSUPPORTED` or is an "unknown" error; nothing is accepted and silently dropped.

- A **warning** is for a name whose absence does not change when or where the job runs,
  nor what it is given: the job runs, and ``job validate``/``plan``/``run``, the API's
  ``Warnings`` and the Git sync status say what gitorch does instead.
- An **error** is for a name that would make the job run at another time or place than
  Nomad would run it, or without something it needs (a secret, a volume, a reserved
  core): the file is refused with its line and block path.

``harmless`` lists values that ask for nothing (Nomad's own defaults: ``sticky =
false``): setting one is neither. ``api`` is the field's name in Nomad's JSON job, so a
job posted as JSON to ``/v1/jobs`` is checked against the same table
(:mod:`gitorch.jobspec.apicheck`). docs/jobspec.md shows the table to users.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

Severity = Literal["warning", "error"]


class Unsupported(NamedTuple):
    severity: Severity
    instead: str  # what gitorch does instead (warning) or why it cannot (error)
    api: str = ""  # Nomad's JSON field name in the enclosing object
    harmless: tuple[Any, ...] = ()


def _w(instead: str, api: str = "", harmless: tuple[Any, ...] = ()) -> Unsupported:
    return Unsupported("warning", instead, api, harmless)


def _e(instead: str, api: str = "", harmless: tuple[Any, ...] = ()) -> Unsupported:
    return Unsupported("error", instead, api, harmless)


_NO_SECRET = _e(
    "gitorch has no secret providers, so the task would run without its secrets; "
    "use Nomad Variables and a template instead (docs/variables.md)",
    "Secrets",
)
_NO_CONSUL = _e(
    "gitorch has no Consul, so the task would run without the Consul tokens and "
    "namespace this block asks for",
    "Consul",
)
_NO_DELAY = _w(
    "gitorch deregisters the services and sends the kill signal at once, "
    "without waiting for the delay",
    "ShutdownDelay",
    (0, "0s"),
)
_NO_ROTATION = "task logs are not rotated: alloc/logs/<task>.stdout.0 and .stderr.0 keep growing"
_NO_CONNECT = "Consul Connect needs Consul, which gitorch does not provide"

UNSUPPORTED: dict[str, Unsupported] = {
    # job
    "job.multiregion": _e(
        "gitorch runs a job in one region; a multiregion job would run only here", "Multiregion"
    ),
    "job.ui": _w("the web UI shows no job description or links", "UI"),
    "job.secret": _NO_SECRET,
    "job.consul_token": _w(
        "gitorch has no Consul; the token is not used nor stored", "ConsulToken", ("",)
    ),
    "job.vault_token": _w(
        "gitorch has no Vault; the token is not used nor stored", "VaultToken", ("",)
    ),
    # group
    "group.shutdown_delay": _NO_DELAY,
    "group.max_run_duration": _e(
        "allocations would not be stopped when the duration runs out", "MaxRunDuration", (0, "0s")
    ),
    "group.prevent_reschedule_on_lost": _e(
        "gitorch would replace the allocations of a lost node instead of waiting for it",
        "PreventRescheduleOnLost",
        (False,),
    ),
    "group.consul": _NO_CONSUL,
    "group.secret": _NO_SECRET,
    "ephemeral_disk.sticky": _e(
        "replacement allocations are not kept on the same node with the previous allocation's data",
        "Sticky",
        (False,),
    ),
    "ephemeral_disk.migrate": _e(
        "the previous allocation's data is not copied to its replacement", "Migrate", (False,)
    ),
    # task
    "task.secret": _NO_SECRET,
    "task.consul": _NO_CONSUL,
    "task.csi_plugin": _e(
        "gitorch does not run CSI plugins: the task would run but serve no volumes",
        "CSIPluginConfig",
    ),
    "task.shutdown_delay": _NO_DELAY,
    "task.kind": _w(
        "only Consul Connect uses a task's kind; the task runs as an ordinary task", "Kind", ("",)
    ),
    "task.scaling": _w(
        "gitorch has no dynamic application sizing; the task keeps its resources", "ScalingPolicies"
    ),
    "task.action": _w("gitorch has no `job action` command; the action cannot be run", "Actions"),
    "task.schedule": _e(
        "time-based task execution is not built: the task would run at all hours", "Schedule"
    ),
    # resources
    "resources.cores": _e(
        "reserved cores are not built: the task would share CPUs; ask for cpu (MHz) instead",
        "Cores",
        (0,),
    ),
    "resources.numa": _e(
        "NUMA-aware placement is not built: the task could land across NUMA nodes", "NUMA"
    ),
    "resources.secrets": _w("the task's secrets/ directory is not size limited", "SecretsMB", (0,)),
    "resources.iops": _w("deprecated in Nomad, which ignores it too", "IOPS", (0,)),
    # group network
    "network.mode": _e(
        "only host networking is built: the task would share the host's "
        'network instead; use mode = "host"',
        "Mode",
        ("host", ""),
    ),
    "network.hostname": _e(
        "only host networking is built: the task would see the host's hostname", "Hostname", ("",)
    ),
    "network.dns": _e(
        "only host networking is built: the task would use the host's DNS resolvers", "DNS"
    ),
    "network.cni": _e("CNI networks are not built: the task would share the host's network", "CNI"),
    "network.mbits": _w(
        "bandwidth is not scheduled (deprecated in Nomad, which ignores it too)", "MBits", (0,)
    ),
    "network.cidr": _e(
        "ports are placed on the node's fingerprinted address; a requested "
        "CIDR would not be honoured",
        "CIDR",
        ("",),
    ),
    "network.ip": _e(
        "ports are placed on the node's fingerprinted address; a requested IP "
        "would not be honoured",
        "IP",
        ("",),
    ),
    "network.device": _e(
        "ports are placed on the node's fingerprinted interface; a "
        "requested device would not be honoured",
        "Device",
        ("",),
    ),
    "network.reserved_ports": _e(
        'the older spelling of static ports is not read; write port "<label>" { static = N }',
        "",
    ),
    "volume_mount.selinux_label": _w(
        "mounts get no SELinux relabel; on an SELinux host, label the host path yourself",
        "",
        ("",),
    ),
    "port.ignore_collision": _e(
        "a static port is never shared, so an allocation that "
        "Nomad would place beside another on the same port goes to "
        "another node or waits",
        "IgnoreCollision",
        (False,),
    ),
    # restart, logs, template
    "restart.render_templates": _w(
        "templates are rendered the same way on every start", "RenderTemplates", (False,)
    ),
    "logs.max_files": _w(_NO_ROTATION, "MaxFiles", (10,)),
    "logs.max_file_size": _w(_NO_ROTATION, "MaxFileSizeMB", (10,)),
    "logs.disabled": _w(
        "the task's stdout and stderr are still written to alloc/logs", "Disabled", (False,)
    ),
    "logs.enabled": _w(
        "the task's stdout and stderr are always written to alloc/logs", "Enabled", (True,)
    ),
    "template.vault_grace": _w("deprecated in Nomad, which ignores it too", "VaultGrace"),
    # service and check (Nomad's own service provider, without Consul)
    "service.connect": _e(_NO_CONNECT, "Connect"),
    "service.tagged_addresses": _e("only Consul keeps tagged addresses", "TaggedAddresses"),
    "service.enable_tag_override": _e("only Consul overrides tags", "EnableTagOverride", (False,)),
    "service.weights": _e("only Consul keeps DNS weights", "Weights"),
    "service.identity": _e("workload identities for services are not built yet", "Identity"),
    "service.cluster": _e("only Consul Enterprise has clusters", "Cluster", ("",)),
    "service.kind": _e("only Consul knows service kinds", "Kind", ("",)),
    "check.expose": _e("exposed checks need Consul Connect", "Expose", (False,)),
    "check.tls_server_name": _e(
        "checks verify TLS without a server name override; use tls_skip_verify",
        "TLSServerName",
        ("",),
    ),
    "check.advertise": _e("only Consul advertises a check address", "Advertise", ("",)),
    "check.notes": _e("only Consul keeps check notes", "Notes", ("",)),
}
"""``kind.name`` (kind: the enclosing block's type) -> what gitorch does about it."""


def message(name: str, entry: Unsupported) -> str:
    """The located problem's text: what is set, and what gitorch does instead or why not."""
    if entry.severity == "warning":
        return f'"{name}" is ignored: {entry.instead}'
    return (
        f'"{name}" is not supported by gitorch: {entry.instead}. Remove it to run the job '
        "without it, or run this job on Nomad"
    )


def harmless(entry: Unsupported, value: Any) -> bool:
    """True when ``value`` asks for nothing (a default, or an empty block or list)."""
    if value is None or value == [] or value == {}:
        return True
    return any(value == h and type(value) is type(h) for h in entry.harmless)
