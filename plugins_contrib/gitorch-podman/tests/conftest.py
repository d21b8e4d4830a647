"""Fixtures of the podman driver's tests (helpers live in ``podman_helpers``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_helpers import IMAGE, PodmanHarness, busybox_tar, podman, sweep

from gitorch_podman import PodmanDriver


@pytest.fixture(scope="session")
def image() -> Iterator[str]:
    """The test image (built once); every container of this run is removed at the end.
    Skips (saying why) only when podman is not installed at all."""
    if shutil.which("podman") is None:
        reason = "podman is not installed on this machine (apt-get install podman)"
        print(reason)
        pytest.skip(reason)
    fp = PodmanDriver().fingerprint()
    if not fp.healthy:
        pytest.fail(f"podman is installed but the driver cannot use it: {fp.health_description}")
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode:
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not os.path.exists(busybox):
            pytest.fail("the podman tests need busybox (apt-get install busybox-static)")
        change = "ENV PATH=/bin"
        podman("import", "--change", change, "-", IMAGE, data=busybox_tar(busybox))
    yield IMAGE
    sweep()


@pytest.fixture
def h(tmp_path: Path, image: str) -> Iterator[PodmanHarness]:
    harness = PodmanHarness(tmp_path)
    yield harness
    harness.close()
