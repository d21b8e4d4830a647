"""Container starts per second: the docker SDK's own create + start, against gitorch's
docker driver ``start`` (which also binds the alloc dirs, sets limits and labels, and
starts the log followers), for the same N ``sleep 30`` busybox containers.

Each round times the SDK (``client.containers.create`` then ``.start()``, one after
another) and then the driver (``DockerDriver.start``, one after another, task dirs made
beforehand as the alloc runner does); every container is removed after its phase,
outside the timing. Rates are over all rounds. Needs a running Docker engine; the
busybox test image is imported offline (from busybox-static) when missing. Prints one
JSON object; the design goal is ``ratio`` >= 0.8.

    python benchmarks/docker_starts.py [--containers 50] [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time

from gitorch.core.task import TaskConfig, TaskHandle
from gitorch.plugins.builtin.docker import DockerDriver, load_sdk

IMAGE = "gitorch-test/busybox:latest"
LABEL = "com.gitorch.benchmark"


def ensure_image(driver: DockerDriver) -> None:
    """Import a busybox root filesystem as IMAGE when the daemon lacks it."""
    api = driver.client()
    if api.images(name=IMAGE):
        return
    busybox = shutil.which("busybox") or "/bin/busybox"
    applets = os.popen(f"{busybox} --list").read().split()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    api.import_image_from_data(
        data.getvalue(), repository=IMAGE.split(":")[0], tag="latest", changes=["ENV PATH=/bin"]
    )


def sdk_round(n: int) -> float:
    """Seconds for n create + start through the SDK's high-level client."""
    client = load_sdk().from_env()
    containers = []
    try:
        begin = time.perf_counter()
        for _ in range(n):
            container = client.containers.create(IMAGE, ["sleep", "30"], labels={LABEL: "sdk"})
            container.start()
            containers.append(container)
        return time.perf_counter() - begin
    finally:
        for container in containers:
            container.remove(force=True)
        client.close()


def gitorch_round(n: int, root: str, round_no: int) -> float:
    """Seconds for n DockerDriver.start calls."""
    driver = DockerDriver({"gc": [{"image": False}]})
    configs = []
    for i in range(n):
        alloc = os.path.join(root, f"r{round_no}-a{i}")
        for sub in ("task/local", "task/secrets", "alloc/logs"):
            os.makedirs(os.path.join(alloc, sub))
        configs.append(
            TaskConfig(
                alloc_id=f"bench-{round_no}-{i}",
                task_name="sleep",
                driver="docker",
                config={"image": IMAGE, "command": "sleep", "args": ["30"]},
                env={"PATH": "/bin"},
                task_dir=os.path.join(alloc, "task"),
                alloc_dir=os.path.join(alloc, "alloc"),
                log_dir=os.path.join(alloc, "alloc", "logs"),
                memory_mb=64,
            )
        )
    handles: list[TaskHandle] = []
    try:
        begin = time.perf_counter()
        for cfg in configs:
            handles.append(driver.start(cfg))
        return time.perf_counter() - begin
    finally:
        for handle in handles:
            driver.destroy(handle, force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    probe = DockerDriver({"gc": [{"image": False}]})
    fp = probe.fingerprint()
    if not fp.healthy:
        print(json.dumps({"error": f"docker: {fp.health_description}"}))
        return 1
    ensure_image(probe)
    n = args.containers
    sdk_s = gitorch_s = 0.0
    with tempfile.TemporaryDirectory(prefix="docker-bench-") as root:
        sdk_round(2)  # warm up both paths (image cache, connection pools)
        gitorch_round(2, root, -1)
        for r in range(args.rounds):
            sdk_s += sdk_round(n)
            gitorch_s += gitorch_round(n, root, r)
    sdk_rate = n * args.rounds / sdk_s
    gitorch_rate = n * args.rounds / gitorch_s
    result = {
        "containers": n,
        "rounds": args.rounds,
        "docker_version": fp.attributes.get("driver.docker.version", ""),
        "sdk_starts_per_s": round(sdk_rate, 1),
        "gitorch_starts_per_s": round(gitorch_rate, 1),
        "ratio": round(gitorch_rate / sdk_rate, 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
