"""The artifact fetcher against a real HTTP server on 127.0.0.1 and real archives made
in tmp_path: what lands in the task dir, and what is refused with which reason."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitorch.agent.artifacts import DEFAULT_LIMITS, ArtifactFailed, fetch_artifacts
from gitorch.agent.artifacts_getters import Limits
from gitorch.core.model import Node
from gitorch.core.model.job import TaskArtifact
from gitorch.core.task import TaskConfig

pytestmark = pytest.mark.timeout(60)


class _Handler(SimpleHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        _Handler.seen.append(dict(self.headers))
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1, and its base URL."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cfg(tmp_path: Path) -> TaskConfig:
    alloc_root = tmp_path / "alloc-1"
    task_dir = alloc_root / "web"
    for sub in ("local", "secrets", "tmp"):
        (task_dir / sub).mkdir(parents=True)
    (alloc_root / "alloc").mkdir()
    return TaskConfig(
        alloc_id="a1",
        task_name="web",
        driver="raw_exec",
        env={"NOMAD_ALLOC_ID": "a1", "NOMAD_META_name": "hello.txt"},
        task_dir=str(task_dir),
        alloc_dir=str(alloc_root / "alloc"),
        log_dir=str(alloc_root / "alloc" / "logs"),
    )


def fetch(cfg: TaskConfig, limits: Limits = DEFAULT_LIMITS, **fields: Any) -> None:
    fetch_artifacts(cfg, [TaskArtifact(**fields)], Node(id="n1"), limits)


def make_tar(path: Path, members: dict[str, bytes]) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_a_file_lands_in_local_and_headers_are_sent(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    (root / "hello.txt").write_text("hi there\n")
    fetch(
        cfg,
        getter_source=f"{url}/${{NOMAD_META_name}}",
        getter_headers={"X-Alloc": "${NOMAD_ALLOC_ID}"},
    )
    assert (Path(cfg.task_dir) / "local" / "hello.txt").read_text() == "hi there\n"
    assert _Handler.seen[-1]["X-Alloc"] == "a1"
    assert not [p for p in Path(cfg.task_dir).iterdir() if p.name.startswith(".artifact")]


def test_tar_gz_is_unpacked_after_its_checksum_matches(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    data = make_tar(root / "app.tar.gz", {"bin/run.sh": b"echo run\n", "conf/a.ini": b"a=1\n"})
    digest = hashlib.sha256(data).hexdigest()
    fetch(
        cfg,
        getter_source=f"{url}/app.tar.gz",
        getter_options={"checksum": f"sha256:{digest}"},
        relative_dest="local/app",
    )
    app = Path(cfg.task_dir) / "local" / "app"
    assert (app / "bin" / "run.sh").read_text() == "echo run\n"
    assert (app / "conf" / "a.ini").read_text() == "a=1\n"


def test_zip_is_unpacked_and_mode_file_keeps_the_archive(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    with zipfile.ZipFile(root / "site.zip", "w") as zf:
        zf.writestr("index.html", "<h1>hi</h1>")
        zf.writestr("css/site.css", "body{}")
    fetch(cfg, getter_source=f"{url}/site.zip")
    local = Path(cfg.task_dir) / "local"
    assert (local / "index.html").read_text() == "<h1>hi</h1>"
    assert (local / "css" / "site.css").read_text() == "body{}"
    fetch(cfg, getter_source=f"{url}/site.zip", getter_mode="file", relative_dest="local/s.zip")
    assert zipfile.is_zipfile(local / "s.zip")


def test_checksum_mismatch_is_refused_before_unpacking(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    make_tar(root / "app.tar.gz", {"run.sh": b"echo\n"})
    wrong = "md5:" + "0" * 32
    with pytest.raises(ArtifactFailed) as err:
        fetch(cfg, getter_source=f"{url}/app.tar.gz", getter_options={"checksum": wrong})
    assert err.value.recoverable
    message = str(err.value)
    assert "task a1/web" in message and f"{url}/app.tar.gz" in message
    assert "checksum mismatch: expected md5:" + "0" * 32 in message
    assert not (Path(cfg.task_dir) / "local" / "run.sh").exists()


def test_404_names_the_url_without_its_secrets(cfg: TaskConfig, served: Any) -> None:
    _, url = served
    secret_url = url.replace("http://", "http://bob:hunter2@") + "/missing.bin?token=s3cr3t"
    with pytest.raises(ArtifactFailed) as err:
        fetch(cfg, getter_source=secret_url)
    message = str(err.value)
    assert err.value.recoverable
    assert "HTTP 404" in message and "/missing.bin?token=REDACTED" in message
    assert "hunter2" not in message and "s3cr3t" not in message and "bob" not in message


def test_tar_member_escaping_the_destination_is_refused(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    make_tar(root / "evil.tar.gz", {"ok.txt": b"fine", "../evil": b"owned"})
    with pytest.raises(ArtifactFailed) as err:
        fetch(cfg, getter_source=f"{url}/evil.tar.gz")
    assert "refused archive member '../evil'" in str(err.value)
    assert "outside the destination" in str(err.value)
    assert not (Path(cfg.task_dir) / "evil").exists()
    assert not (Path(cfg.task_dir) / "local" / "ok.txt").exists()  # nothing half-placed


def test_tar_symlink_out_of_the_task_dir_is_refused(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    with tarfile.open(root / "link.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("etc")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(info)
    with pytest.raises(ArtifactFailed) as err:
        fetch(cfg, getter_source=f"{url}/link.tgz")
    assert "refused archive member 'etc'" in str(err.value)
    assert not (Path(cfg.task_dir) / "local" / "etc").exists()


def test_zip_member_with_dotdot_is_refused(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    with zipfile.ZipFile(root / "evil.zip", "w") as zf:
        zf.writestr("../../evil.txt", "owned")
    with pytest.raises(ArtifactFailed, match=r"refused archive member '\.\./\.\./evil\.txt'"):
        fetch(cfg, getter_source=f"{url}/evil.zip")


def test_a_symlink_already_in_the_task_dir_cannot_redirect(
    cfg: TaskConfig, served: Any, tmp_path: Path
) -> None:
    root, url = served
    (root / "f.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, Path(cfg.task_dir) / "local" / "out")
    with pytest.raises(ArtifactFailed, match="leads outside the task dir"):
        fetch(cfg, getter_source=f"{url}/f.txt", relative_dest="local/out")
    assert list(outside.iterdir()) == []


def test_downloads_over_the_limit_are_refused(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    (root / "big.bin").write_bytes(b"x" * 5000)
    with pytest.raises(ArtifactFailed, match="larger than the limit of 1000 bytes"):
        fetch(cfg, Limits(max_bytes=1000), getter_source=f"{url}/big.bin")
    assert not (Path(cfg.task_dir) / "local" / "big.bin").exists()


def test_archive_over_the_file_count_is_refused(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    make_tar(root / "many.tar.gz", {f"f{i}": b"" for i in range(20)})
    with pytest.raises(ArtifactFailed, match="more than 10 entries"):
        fetch(cfg, Limits(max_files=10), getter_source=f"{url}/many.tar.gz")


def test_local_paths_inside_the_allocation(cfg: TaskConfig, tmp_path: Path) -> None:
    alloc_data = Path(cfg.alloc_dir) / "data"
    alloc_data.mkdir()
    make_tar(alloc_data / "bundle.tar.gz", {"a.txt": b"from alloc"})
    fetch(cfg, getter_source=f"file://{alloc_data}/bundle.tar.gz", relative_dest="local/b")
    assert (Path(cfg.task_dir) / "local" / "b" / "a.txt").read_text() == "from alloc"
    fetch(cfg, getter_source="../alloc/data/bundle.tar.gz", getter_options={"archive": "false"})
    assert tarfile.is_tarfile(Path(cfg.task_dir) / "local" / "bundle.tar.gz")
    (tmp_path / "secret").write_text("agent secret")
    with pytest.raises(ArtifactFailed, match="must be inside the allocation's directory"):
        fetch(cfg, getter_source=str(tmp_path / "secret"))


def test_git_source_is_cloned_shallow(cfg: TaskConfig, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    run = partial(subprocess.run, check=True, capture_output=True, timeout=30)
    run(["git", "init", "-q", "-b", "main", str(repo)])
    (repo / "conf").mkdir()
    (repo / "conf" / "app.ini").write_text("v=1\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e"]
    run([*git, "add", "."])
    run([*git, "commit", "-q", "-m", "one"])
    run([*git, "tag", "v1"])
    (repo / "conf" / "app.ini").write_text("v=2\n")
    run([*git, "commit", "-q", "-am", "two"])
    limits = Limits(local_roots=(str(tmp_path),))
    fetch(cfg, limits, getter_source=f"git::file://{repo}", relative_dest="local/head")
    fetch(cfg, limits, getter_source=f"git::file://{repo}//conf?ref=v1", relative_dest="local/v1")
    local = Path(cfg.task_dir) / "local"
    assert (local / "head" / "conf" / "app.ini").read_text() == "v=2\n"
    assert (local / "v1" / "app.ini").read_text() == "v=1\n"
    with pytest.raises(ArtifactFailed, match="git fetch failed") as err:
        fetch(cfg, limits, getter_source=f"git::file://{repo}?ref=nope")
    assert err.value.recoverable


def test_an_interpolated_destination_is_checked_again(cfg: TaskConfig, served: Any) -> None:
    _, url = served
    bad = TaskConfig(**{**_fields(cfg), "env": {"NOMAD_META_dir": "../../etc"}})
    with pytest.raises(ArtifactFailed, match=r'must not contain "\.\."') as err:
        fetch(bad, getter_source=f"{url}/x", relative_dest="${NOMAD_META_dir}")
    assert not err.value.recoverable


def _fields(cfg: TaskConfig) -> dict[str, Any]:
    return {f: getattr(cfg, f) for f in cfg.__struct_fields__}


def test_mode_file_into_a_directory_keeps_the_name(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    make_tar(root / "keep.tar.gz", {"x": b"y"})
    (Path(cfg.task_dir) / "local" / "other.txt").write_text("stays")
    fetch(cfg, getter_source=f"{url}/keep.tar.gz", getter_mode="file")
    local = Path(cfg.task_dir) / "local"
    assert tarfile.is_tarfile(local / "keep.tar.gz") and not (local / "x").exists()
    assert (local / "other.txt").read_text() == "stays"  # local/ itself is not replaced


def test_mode_dir_needs_something_to_unpack(cfg: TaskConfig, served: Any) -> None:
    root, url = served
    (root / "plain.txt").write_text("just text")
    with pytest.raises(ArtifactFailed, match='mode = "dir" needs an archive or a directory'):
        fetch(cfg, getter_source=f"{url}/plain.txt", getter_mode="dir")


def test_unreachable_server_is_a_retryable_failure(cfg: TaskConfig) -> None:
    with socket.socket() as s:  # a port nothing listens on once it is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ArtifactFailed) as err:
        fetch(cfg, getter_source=f"http://127.0.0.1:{port}/a.bin")
    assert err.value.recoverable
    assert f"failed to download artifact 'http://127.0.0.1:{port}/a.bin'" in str(err.value)
    assert "check that this client can reach the host" in str(err.value)
