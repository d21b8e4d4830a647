"""Agent configuration in Nomad's agent-config HCL, plus our ``gitops`` block.

    data_dir = "/var/lib/gitorch"       bind_addr = "127.0.0.1"      name = "node-1"
    datacenter = "dc1"                  region = "global"
    ports  { http = 4646  rpc = 4647 }                                  # rpc: the Raft port
    server { enabled = true  bootstrap_expect = 3
             server_join { retry_join = ["10.0.0.2:4647", "10.0.0.3:4647"] }
             heartbeat_grace = "10s"  min_heartbeat_ttl = "10s"  num_schedulers = 2 }
    client { enabled = true  servers = ["127.0.0.1:4646"]  node_class = ""  meta { }
             node_pool = "default"  host_volume "data" { path = "/srv/data"  read_only = false } }
    acl    { enabled = false  tokens = [] }     # tokens: static management tokens
    dns    { enabled = false  port = 8600  bind = "127.0.0.1"  ttl = "1s" }   # services
    consul { address = "127.0.0.1:8500"  token = "" }        # for the gitorch-consul plugin
    vault  { enabled = true  address = "http://127.0.0.1:8200" }   # for gitorch-vault
    tls    { http = true  rpc = true  ca_file = ""  cert_file = ""  key_file = "" ... }
    plugin "raw_exec" { config { enabled = true } }
    gitops { repo = "./example-repo"  branch = "main"  path = "jobs"  poll_interval = "15s"
             vars_files = []  prune = true  webhook_secret = "" }

Several files merge in order (later wins), then command-line flags override.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitorch.config_dns import KEYS as DNS_KEYS
from gitorch.config_dns import DnsSettings
from gitorch.config_dns import parse as parse_dns
from gitorch.config_providers import KEYS as PROVIDER_KEYS
from gitorch.config_providers import parse as parse_provider
from gitorch.config_tls import RPC_NEEDS_KEY, TlsSettings, raft_key
from gitorch.config_tls import parse as parse_tls
from gitorch.config_values import Values, string_map
from gitorch.config_volumes import host_volumes
from gitorch.core.model.node import ClientHostVolume
from gitorch.errors import ConfigError, JobspecError
from gitorch.gitsync.loop import GitopsSettings
from gitorch.jobspec import hcl
from gitorch.jobspec.limits import Limits

EMBEDDED_REPO = Path(__file__).resolve().parent.parent / "example-repo"


@dataclass(frozen=True)
class ServerSettings:
    enabled: bool = False
    bootstrap_expect: int = 1
    retry_join: tuple[str, ...] = ()
    heartbeat_grace_s: float = 10.0
    min_heartbeat_ttl_s: float = 10.0
    num_schedulers: int = 2
    encrypt: str = field(default="", repr=False)  # the Raft key (base64), as Nomad's gossip key


@dataclass(frozen=True)
class ClientSettings:
    enabled: bool = False
    servers: tuple[str, ...] = ()
    node_class: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    node_pool: str = "default"
    host_volumes: dict[str, ClientHostVolume] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentConfig:
    data_dir: str = ""
    bind_addr: str = "127.0.0.1"
    name: str = ""
    datacenter: str = "dc1"
    region: str = "global"
    http_port: int = 4646
    rpc_port: int = 4647
    server: ServerSettings = ServerSettings()
    client: ClientSettings = ClientSettings()
    acl_enabled: bool = False
    acl_tokens: tuple[str, ...] = field(default=(), repr=False)
    plugins: dict[str, dict[str, Any]] = field(default_factory=dict)
    gitops: GitopsSettings | None = None
    tls: TlsSettings = TlsSettings()
    dns: DnsSettings = DnsSettings()
    providers: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    """``consul { }`` and ``vault { }`` by name, for the provider plugins."""
    dev: bool = False

    @property
    def http_addr(self) -> str:
        return f"{self.bind_addr}:{self.http_port}"

    @property
    def rpc_addr(self) -> str:
        return f"{self.bind_addr}:{self.rpc_port}"


def dev_config() -> AgentConfig:
    """``gitorch agent --dev``: one server and one client, raw_exec on, the example repo."""
    return AgentConfig(
        name="dev",
        server=ServerSettings(enabled=True, bootstrap_expect=1),
        client=ClientSettings(enabled=True),
        plugins={"raw_exec": {"enabled": True}},
        gitops=embedded_gitops(),
        dev=True,
    )


def embedded_gitops() -> GitopsSettings | None:
    """The embedded default source: this project's ``example-repo/`` folder, read from the
    Git checkout that holds it (its current branch), with the dev vars file."""
    root = EMBEDDED_REPO.parent
    head = root / ".git" / "HEAD"
    if not EMBEDDED_REPO.is_dir() or not head.is_file():
        return None
    ref = head.read_text().strip()
    branch = ref.removeprefix("ref: refs/heads/") if ref.startswith("ref: ") else "main"
    return GitopsSettings(
        repo=str(root),
        branch=branch,
        path="example-repo/jobs",
        vars_files=("example-repo/vars/dev.vars.hcl",),
        poll_interval_s=15.0,
    )


def load_file(path: Path, base: AgentConfig) -> AgentConfig:
    """Merge one HCL file over ``base``; errors name the file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read agent config: {exc.strerror}") from None
    try:
        body = hcl.parse(text, str(path))
        return _merge(base, body, str(path))
    except JobspecError as exc:
        raise ConfigError(exc.located().replace("job", "config", 0)) from None


def _merge(cfg: AgentConfig, body: hcl.Body, file: str) -> AgentConfig:
    top = Values(body, "", file)
    for name in body.attributes:
        if name not in ("data_dir", "bind_addr", "name", "datacenter", "region"):
            raise ConfigError(f"{file}:{top.line(name)}: unknown agent setting {name!r}")
    top_values: dict[str, Any] = {n: top.string(n, getattr(cfg, n)) for n in body.attributes}
    cfg = dataclasses.replace(cfg, **top_values)
    for block in body.blocks:
        where = f"{file}:{block.line}"
        values = Values(block.body, block.type, file)
        sub = {b.type: b for b in block.body.blocks}
        _check_keys(block, file)
        match block.type:
            case "ports":
                cfg = dataclasses.replace(
                    cfg,
                    http_port=values.integer("http", cfg.http_port, lo=1, hi=65535),
                    rpc_port=values.integer("rpc", cfg.rpc_port, lo=1, hi=65535),
                )
            case "server":
                s = cfg.server
                join_body = sub["server_join"].body if "server_join" in sub else hcl.Body()
                join = Values(join_body, "server.server_join", file)
                for name in join_body.attributes:
                    if name != "retry_join":
                        raise join.error(name, "is not a known setting (known: retry_join)")
                cfg = dataclasses.replace(
                    cfg,
                    server=ServerSettings(
                        enabled=values.boolean("enabled", s.enabled),
                        bootstrap_expect=values.integer(
                            "bootstrap_expect", s.bootstrap_expect, lo=1, hi=_MAX_SERVERS
                        ),
                        retry_join=join.addresses("retry_join", s.retry_join),
                        heartbeat_grace_s=values.duration("heartbeat_grace", s.heartbeat_grace_s),
                        min_heartbeat_ttl_s=values.duration(
                            "min_heartbeat_ttl", s.min_heartbeat_ttl_s
                        ),
                        num_schedulers=values.integer(
                            "num_schedulers", s.num_schedulers, lo=0, hi=_MAX_SCHEDULERS
                        ),
                        encrypt=raft_key(values, s.encrypt),
                    ),
                )
            case "client":
                cl = cfg.client
                meta = (
                    string_map(sub["meta"].body, "client.meta", file) if "meta" in sub else cl.meta
                )
                cfg = dataclasses.replace(
                    cfg,
                    client=ClientSettings(
                        enabled=values.boolean("enabled", cl.enabled),
                        servers=values.addresses("servers", cl.servers),
                        node_class=values.string("node_class", cl.node_class),
                        meta=meta,
                        node_pool=_pool(values, cl.node_pool),
                        host_volumes=host_volumes(
                            block.body.blocks_of("host_volume"), cl.host_volumes, file
                        ),
                    ),
                )
            case "acl":
                cfg = dataclasses.replace(
                    cfg,
                    acl_enabled=values.boolean("enabled", cfg.acl_enabled),
                    acl_tokens=_tokens(values, cfg.acl_tokens),
                )
                _check_acl(cfg, where)
            case "plugin":
                if len(block.labels) != 1:
                    raise ConfigError(f'{where}: write plugin "NAME" {{ config {{ ... }} }}')
                conf = sub["config"].body.to_dict() if "config" in sub else {}
                cfg = dataclasses.replace(cfg, plugins={**cfg.plugins, block.labels[0]: conf})
            case "gitops":
                cfg = dataclasses.replace(cfg, gitops=_gitops(values, cfg.gitops, where))
            case "tls":
                cfg = dataclasses.replace(cfg, tls=parse_tls(block.body, cfg.tls, file, block.line))
            case "dns":
                cfg = dataclasses.replace(cfg, dns=parse_dns(values, cfg.dns))
            case "consul" | "vault":
                block_cfg = parse_provider(block.type, values, cfg.providers.get(block.type, {}))
                cfg = dataclasses.replace(cfg, providers={**cfg.providers, block.type: block_cfg})
            case _:
                raise ConfigError(f"{where}: unknown agent config block {block.type!r}")
    return cfg


_MAX_SERVERS = 99  # bootstrap_expect: Raft clusters are 3 or 5; anything near this is a typo
_MAX_SCHEDULERS = 1024


def _pool(values: Values, old: str) -> str:
    """A client's ``node_pool``; ``all`` is Nomad's built-in pool of every node, not one a
    node can join."""
    pool = values.string("node_pool", old, empty=False)
    if pool == "all":
        raise values.error("node_pool", 'cannot be "all": that built-in pool holds every node')
    return pool


def _tokens(values: Values, old: tuple[str, ...]) -> tuple[str, ...]:
    """ACL tokens: a list of non-empty strings with no surrounding blanks (a header's
    token is compared exactly, so such a token could never be presented)."""
    tokens = values.strings("tokens", old, empty=False)
    for i, token in enumerate(tokens):
        if token != token.strip():
            raise values.error("tokens", f"[{i}] has leading or trailing blanks")
    return tokens


def _check_acl(cfg: AgentConfig, where: str) -> None:
    """Refuse an ACL block that would leave the API open by mistake. ``enabled = true``
    alone is Nomad's way: the cluster waits for ``POST /v1/acl/bootstrap``; listed
    ``tokens`` are static management tokens beside the bootstrapped ones."""
    if not cfg.acl_enabled and cfg.acl_tokens:
        raise ConfigError(
            f"{where}: acl has tokens but is not enabled, which would leave the API open to "
            "anyone: set enabled = true (or remove the tokens)"
        )


_KNOWN: dict[str, tuple[set[str], set[str]]] = {  # block -> (attributes, sub-blocks)
    "ports": ({"http", "rpc"}, set()),
    "server": (
        {"enabled", "bootstrap_expect", "heartbeat_grace", "min_heartbeat_ttl", "num_schedulers"}
        | {"encrypt"},
        {"server_join"},
    ),
    "client": ({"enabled", "servers", "node_class", "node_pool"}, {"meta", "host_volume"}),
    "acl": ({"enabled", "tokens"}, set()),
    "dns": (DNS_KEYS, set()),
    "consul": (PROVIDER_KEYS["consul"], set()),
    "vault": (PROVIDER_KEYS["vault"], set()),
    "plugin": (set(), {"config"}),
    "gitops": (
        {"repo", "branch", "path", "poll_interval", "vars_files", "prune", "webhook_secret"}
        | {f.name for f in dataclasses.fields(Limits)},
        set(),
    ),
}


def _check_keys(block: hcl.Block, file: str) -> None:
    """A typo inside a block is an error naming file, line and the known keys."""
    if block.type not in _KNOWN:
        return
    attrs, blocks = _KNOWN[block.type]
    for name, attr in block.body.attributes.items():
        if name not in attrs:
            raise ConfigError(
                f"{file}:{attr.line}: {block.type}: unknown setting {name!r} "
                f"(known: {', '.join(sorted(attrs)) or 'none'})"
            )
    for sub in block.body.blocks:
        if sub.type not in blocks:
            raise ConfigError(
                f"{file}:{sub.line}: {block.type}: unknown block {sub.type!r} "
                f"(known: {', '.join(sorted(blocks)) or 'none'})"
            )


def _gitops(values: Values, old: GitopsSettings | None, where: str) -> GitopsSettings:
    base = old or GitopsSettings(repo="")
    if values.has("repo") and old is not None and old == embedded_gitops():
        base = GitopsSettings(repo="")  # a repo of its own: not the example's layout
    repo = values.string("repo", base.repo)
    if not repo:
        raise ConfigError(f'{where}: gitops needs repo = "<path or URL>"')
    return GitopsSettings(
        repo=repo,
        branch=values.string("branch", base.branch, empty=False),
        path=values.string("path", base.path),
        poll_interval_s=values.duration("poll_interval", base.poll_interval_s),
        vars_files=values.strings("vars_files", base.vars_files, empty=False),
        prune=values.boolean("prune", base.prune),
        webhook_secret=values.string("webhook_secret", base.webhook_secret),
        limits=_gitops_limits(values, base.limits),
    )


_LIMIT_SETTINGS = {f.name for f in dataclasses.fields(Limits)}


def _gitops_limits(values: Values, old: Limits) -> Limits:
    """The jobspec limits of a ``gitops`` block (docs/jobspec-limits.md): sizes in bytes
    or characters, ``max_seconds`` a duration; each at least 1 and at most 1 TiB."""
    found: dict[str, Any] = {}
    for name in sorted(n for n in _LIMIT_SETTINGS if values.has(n)):
        if name == "max_seconds":
            found[name] = values.duration(name, old.max_seconds)
            if not found[name] > 0:
                raise values.error(name, "must be a positive duration, as in \"10s\"")
        else:
            found[name] = values.integer(name, getattr(old, name), lo=1, hi=2**40)
    return dataclasses.replace(old, **found)


def build(options: dict[str, Any]) -> AgentConfig:
    """Defaults (or --dev), then each --config file, then flags."""
    cfg = dev_config() if options.get("dev") else AgentConfig()
    for path in options.get("config") or ():
        cfg = load_file(Path(path), cfg)
    flags: dict[str, Any] = {}
    if options.get("data_dir"):
        flags["data_dir"] = str(options["data_dir"])
    if options.get("http_port"):
        flags["http_port"] = int(options["http_port"])
    if options.get("rpc_port"):
        flags["rpc_port"] = int(options["rpc_port"])
    if options.get("bind"):
        flags["bind_addr"] = str(options["bind"])
    cfg = dataclasses.replace(cfg, **flags)
    if any(options.get(k) for k in ("repo", "branch", "path")):
        g = cfg.gitops or GitopsSettings(repo="")
        if options.get("repo") and cfg.dev and g == embedded_gitops():
            g = GitopsSettings(repo="")  # another repo: not the embedded default's layout
        g = dataclasses.replace(
            g,
            repo=str(options.get("repo") or g.repo),
            branch=str(options.get("branch") or g.branch),
            path=str(options.get("path") or g.path),
        )
        if not g.repo:
            raise ConfigError("--branch/--path given without a repository: add --repo")
        cfg = dataclasses.replace(cfg, gitops=g)
    if not cfg.server.enabled and not cfg.client.enabled:
        raise ConfigError("neither server nor client is enabled: use --dev or a config file")
    if cfg.tls.rpc and cfg.server.enabled and not cfg.server.encrypt:
        raise ConfigError(RPC_NEEDS_KEY)
    if cfg.server.bootstrap_expect < 1:
        raise ConfigError(
            f"server.bootstrap_expect must be 1 or more, not {cfg.server.bootstrap_expect}"
        )
    return cfg
