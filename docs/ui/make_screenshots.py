"""Take the web UI screenshots in docs/ui/*.png from a real dev agent.

Starts ``gitorch agent --dev`` on a small Git repository (three raw_exec services, a
change committed after the first sync, and a broken file) and photographs the overview,
the jobs list, a job page, an allocation page and the nodes list with Debian's chromium
(headless, driven by Playwright; Playwright's own browser download is never used), at
1280x800. Run from the repository root:

    python docs/ui/make_screenshots.py [--out docs/ui]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from harness import Agent, GitRepo, wait_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SIZE = {"width": 1280, "height": 800}


def service(name: str, count: int, line: str) -> str:
    return f'''job "{name}" {{
  meta {{
    team = "platform"
  }}
  group "{name}" {{
    count = {count}
    task "{name}" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo '{line}'; while true; do sleep 5; echo tick; done"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


BROKEN = 'job "reports" {\n  group "g" {\n    count = "many"\n  }\n}\n'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        repo = GitRepo(Path(tmp) / "example-repo")
        repo.commit(
            "Add web, api and cache",
            **{
                "jobs__web.nomad.hcl": service("web", 2, "web listening"),
                "jobs__api.nomad.hcl": service("api", 1, "api ready"),
                "jobs__cache.nomad.hcl": service("cache", 1, "cache warm"),
            },
        )
        config = Path(tmp) / "agent.hcl"
        config.write_text(f'gitops {{\n  repo = "{repo.path}"\n  path = "jobs"\n}}\n')
        agent = Agent(Path(tmp) / "data", "--dev", "--config", str(config))
        agent.start()
        try:
            wait_for(lambda: len(agent.running("web")) == 2, 60, "web running")
            repo.commit(
                "web: three instances; add the reports job",
                **{
                    "jobs__web.nomad.hcl": service("web", 3, "web listening"),
                    "jobs__reports.nomad.hcl": BROKEN,
                },
            )
            wait_for(lambda: len(agent.running("web", 1)) == 3, 60, "web v1 running")
            wait_for(lambda: agent.running("api") and agent.running("cache"), 60, "all running")
            time.sleep(2)  # a tick or two in the logs
            alloc = agent.running("web", 1)[0]["ID"]
            shots = {
                "overview": "/ui/",
                "jobs": "/ui/jobs",
                "job": "/ui/job/web",
                "allocation": f"/ui/allocation/{alloc}",
                "nodes": "/ui/nodes",
            }
            args.out.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
                )
                try:
                    page = browser.new_page(viewport=SIZE, color_scheme="light")
                    for name, path in shots.items():
                        page.goto(agent.url + path)
                        page.wait_for_selector("body[data-live-mode]")
                        page.wait_for_timeout(500)
                        target = args.out / f"{name}.png"
                        page.screenshot(path=str(target))
                        print(f"{target} {target.stat().st_size} bytes")
                finally:
                    browser.close()
        finally:
            agent.stop_jobs()
            agent.stop()


if __name__ == "__main__":
    main()
