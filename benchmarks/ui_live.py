"""Web UI event-to-screen latency: a write through the API to the open page's live region
showing it, in a real browser (Debian's chromium driven by Playwright, headless).

A real ``gitorch agent --dev`` runs; a job with ``count = 0`` (nothing to place, so the
machine stays quiet) is registered through ``POST /v1/jobs``, and its page
``/ui/job/bench`` is opened. Each change registers the job again with ``meta { gen = N }``
(parsed beforehand); the clock starts just before ``POST /v1/jobs`` and stops when a
MutationObserver in the page sees ``gen-N`` in the ``#job-head`` region (both clocks are
this machine's wall clock, in ms). Measured twice: with the event stream (``/ui/events``,
the default) and with EventSource removed, so ``ui.js`` falls back to its 2 s poll.
Changes are spaced by ``--gap`` seconds plus a random 0-2 s (so that one change's
refetch does not carry the next, and the changes are not in step with the poll).
``write_p50_ms`` is the API write alone (the register answered). Prints JSON.

    python benchmarks/ui_live.py [--changes 20] [--gap 0.5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Agent  # noqa: E402

JOB = """job "bench" {
  meta {
    gen = "gen-%d"
  }
  group "g" {
    count = 0
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"""

OBSERVE = """() => {
  window.seen = {};
  const look = () => {
    const head = document.getElementById("job-head");
    const m = head && head.textContent.match(/gen-(\\d+)/);
    if (m && !(m[1] in window.seen)) window.seen[m[1]] = Date.now();
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true,
    characterData: true});
  look();
}"""


def parse(agent: Agent, gen: int) -> Any:
    return agent.post("/v1/jobs/parse", {"JobHCL": JOB % gen, "Canonicalize": True})


def measure(
    agent: Agent, browser: Any, mode: str, start: int, changes: int, gap: float
) -> dict[str, Any]:
    context = browser.new_context()
    if mode == "poll":
        context.add_init_script("delete window.EventSource")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(agent.url + "/ui/job/bench")
    page.wait_for_selector(f'body[data-live-mode="{mode}"]')
    page.evaluate(OBSERVE)
    lat: list[float] = []
    writes: list[float] = []
    for gen in range(start, start + changes):
        time.sleep(gap + random.uniform(0, 2.0))  # not in step with the 2 s poll
        job = parse(agent, gen)  # not timed: the write is the register
        t0 = time.time() * 1000
        agent.post("/v1/jobs", {"Job": job})
        writes.append(time.time() * 1000 - t0)
        seen = page.wait_for_function(f"() => window.seen['{gen}']").json_value()
        lat.append(float(seen) - t0)
    context.close()
    lat.sort()
    return {
        "mode": mode,
        "changes": changes,
        "p50_ms": round(statistics.median(lat), 1),
        "p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 1),
        "max_ms": round(lat[-1], 1),
        "min_ms": round(lat[0], 1),
        "write_p50_ms": round(statistics.median(writes), 1),  # the register answered
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--gap", type=float, default=0.5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        agent = Agent(Path(tmp) / "data", "--dev")
        agent.start()
        try:
            agent.post("/v1/jobs", {"Job": parse(agent, 0)})
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                try:
                    results = [
                        measure(agent, browser, "stream", 1, args.changes, args.gap),
                        measure(agent, browser, "poll", 1000, args.changes, args.gap),
                    ]
                finally:
                    browser.close()
        finally:
            agent.stop()
    print(json.dumps({"benchmark": "ui_live", "results": results}, indent=2))


if __name__ == "__main__":
    main()
