"""Template render time: a 200-line consul-template style template over 100 service
instances, parsed and rendered as the agent does at each task start. Prints JSON."""

from __future__ import annotations

import json
import statistics
import time

from gitorch.templating import Template
from gitorch.templating.consul import functions
from gitorch.templating.source import MemorySource, ServiceInstance

ROUNDS = 50


def template_text() -> str:
    lines = [
        '# generated for {{ env "NOMAD_TASK_NAME" }}',
        "upstream web {",
        '{{- range $i, $s := nomadService "web" }}',
        '  server {{ $s.Address }}:{{ $s.Port }} # {{ $i }} {{ join "," $s.Tags | toUpper }}',
        "{{- end }}",
        "}",
    ]
    while len(lines) < 198:
        n = len(lines)
        lines.append(
            f'setting_{n} = "{{{{ printf "%05d" {n} }}}}-'
            f'{{{{ if gt {n} 100 }}}}hi{{{{ else }}}}lo{{{{ end }}}}"'
        )
    lines.append('{{ with nomadVar "nomad/jobs/web" }}password = "{{ .password }}"{{ end }}')
    lines.append("# end")
    return "\n".join(lines) + "\n"


def main() -> None:
    services = [
        ServiceInstance(
            ID=f"s{i}",
            ServiceName="web",
            Address=f"10.0.{i // 250}.{i % 250}",
            Port=20000 + i,
            Tags=["v1", "eu"],
        )
        for i in range(100)
    ]
    source = MemorySource(
        service_map={"web": services}, variables={"nomad/jobs/web": {"password": "x"}}
    )
    text = template_text()
    times: list[float] = []
    out = ""
    for _ in range(ROUNDS):
        start = time.perf_counter()
        funcs = functions(source, env={"NOMAD_TASK_NAME": "t"})
        out = Template("bench.tpl", text, funcs=funcs).render()
        times.append(time.perf_counter() - start)
    times.sort()
    print(
        json.dumps(
            {
                "benchmark": "template_render",
                "template_lines": text.count("\n"),
                "services": len(services),
                "output_lines": out.count("\n"),
                "rounds": ROUNDS,
                "p50_ms": round(statistics.median(times) * 1000, 2),
                "p99_ms": round(times[int(len(times) * 0.99) - 1] * 1000, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
