"""Offline test images: a root filesystem holding busybox, imported into the local engine
(no registry is reachable here or in CI)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from typing import Any

import pytest

IMAGE = "gitorch-test/busybox:latest"
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


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


def oci_image_tarball(name: str) -> bytes:
    """An OCI image layout (as a tar) of the busybox root filesystem, for ``ctr images
    import``; ``name`` is the full reference it gets (``docker.io/...:latest``)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    layer = busybox_tar(busybox)

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    config = json.dumps(
        {
            "architecture": GOARCH.get(os.uname().machine, os.uname().machine),
            "os": "linux",
            "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "annotations": {"io.containerd.image.name": name},
                }
            ],
        }
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
        files.update({f"blobs/sha256/{digest(b)[7:]}": b for b in (layer, config, manifest)})
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
