"""Offline test images: a root filesystem holding busybox, imported into the local engine
(no registry is reachable here or in CI)."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from typing import Any

import pytest

IMAGE = "gitorch-test/busybox:latest"


def busybox_tar(busybox: str) -> bytes:
    """A root filesystem holding busybox and a link for each of its applets."""
    applets = [a for a in os.popen(f"{busybox} --list").read().split() if a and a != "busybox"]
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for folder in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in applets:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return data.getvalue()


def ensure_busybox_image(api: Any) -> str:
    """Import the busybox image into the engine behind ``api`` (docker's APIClient) once."""
    if not api.images(name=IMAGE):
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not os.path.exists(busybox):
            pytest.fail("the docker tests need busybox (apt-get install busybox-static)")
        api.import_image_from_data(
            busybox_tar(busybox),
            repository=IMAGE.split(":")[0],
            tag="latest",
            changes=["ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        )
    return IMAGE
