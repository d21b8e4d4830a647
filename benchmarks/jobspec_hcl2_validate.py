"""``job validate`` time for a 200-line jobspec that uses HCL2 functions, locals, for
expressions, templates with directives and dynamic blocks. Prints JSON with the p50 and
p99 of the in-process parse (parse_text: parse, evaluate, decode, validate) and the p50
of the isolated parse that ``gitorch job validate`` runs (a worker under the file's time
and memory budget)."""

from __future__ import annotations

import json
import statistics
import time

from gitorch.jobspec import parse_text
from gitorch.jobspec.isolate import parse_isolated

ROUNDS = 60
ISOLATED_ROUNDS = 15


def jobspec() -> str:
    head = [
        'variable "env" {',
        "  type    = string",
        '  default = "prod"',
        "}",
        'variable "ports" {',
        "  type    = list(string)",
        '  default = ["http", "grpc", "metrics", "admin"]',
        "}",
        'variable "services" {',
        "  type    = map(number)",
        "  default = { api = 2, web = 3, worker = 1, cron = 1 }",
        "}",
        "locals {",
        '  prefix  = "${upper(var.env)}-${formatdate("YYYYMMDD", "2024-05-01T00:00:00Z")}"',
        '  sizes   = { for k, v in var.services : k => v * (var.env == "prod" ? 2 : 1) }',
        '  tags    = [for p in var.ports : "${local.prefix}-${p}" if p != "admin"]',
        '  subnets = cidrsubnets("10.0.0.0/16", 4, 4, 8)',
        "  digest  = substr(sha256(jsonencode(local.sizes)), 0, 12)",
        "}",
        'job "bench" {',
        '  datacenters = ["dc1"]',
        "  meta {",
        "    digest  = local.digest",
        '    tags    = join(",", local.tags)',
        '    subnets = join(" ", local.subnets)',
        "  }",
    ]
    groups: list[str] = []
    for name in ("api", "web", "worker", "cron"):
        groups += [
            f'  group "{name}" {{',
            f'    count = local.sizes["{name}"]',
            "    network {",
            '      dynamic "port" {',
            "        for_each = var.ports",
            "        iterator = p",
            "        labels   = [p.value]",
            "        content {",
            "          to = 8000 + p.key",
            "        }",
            "      }",
            "    }",
            f'    task "{name}" {{',
            '      driver = "raw_exec"',
            "      config {",
            '        command = "/bin/sh"',
            '        args    = ["-c", "echo %{ for t in local.tags }${t} %{ endfor }"]',
            "      }",
            "      env {",
            f'        NAME   = title("{name} service")',
            "        PREFIX = lower(local.prefix)",
            '        ALLOC  = "${NOMAD_ALLOC_ID}"',
            "      }",
            '      dynamic "template" {',
            "        for_each = { for p in var.ports : p => upper(p) }",
            "        content {",
            '          data        = "${template.value}=${base64encode(template.key)}"',
            '          destination = "local/${template.key}.env"',
            "        }",
            "      }",
            "      resources {",
            "        cpu    = max(100, 50 * length(var.ports))",
            "        memory = pow(2, 8)",
            "      }",
            "    }",
            "  }",
        ]
    lines = head + groups
    while len(lines) < 199:
        lines.insert(len(head) - 1, f'    m{len(lines)} = format("%03d-%s", {len(lines)}, var.env)')
    return "\n".join(lines + ["}"]) + "\n"


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    text = jobspec()
    job = parse_text(text, file="bench.nomad.hcl")  # warm-up, and proof it parses
    assert len(job.task_groups) == 4
    times: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        parse_text(text, file="bench.nomad.hcl")
        times.append(time.perf_counter() - start)
    isolated: list[float] = []
    for _ in range(ISOLATED_ROUNDS):
        start = time.perf_counter()
        result = parse_isolated("bench.nomad.hcl", text)
        isolated.append(time.perf_counter() - start)
        assert not isinstance(result, Exception), result
    print(
        json.dumps(
            {
                "benchmark": "jobspec_hcl2_validate",
                "jobspec_lines": text.count("\n"),
                "rounds": ROUNDS,
                "parse_p50_ms": round(statistics.median(times) * 1000, 2),
                "parse_p99_ms": round(_p(times, 0.99) * 1000, 2),
                "job_validate_isolated_p50_ms": round(statistics.median(isolated) * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
