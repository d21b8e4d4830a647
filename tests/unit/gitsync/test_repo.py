"""GitSource against real repositories in tmp_path, changed with the git CLI as a user would."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from gitorch.gitsync.repo import GitSource, GitSourceError, RepoFile

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, text in files.items():
        write(repo, rel, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_worktree(path: Path, files: dict[str, str] | None = None) -> str:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    return commit(path, files or {"jobs/web.nomad.hcl": 'job "web" {}\n'}, "initial")


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name)


def test_clone_commit_fetch_files_and_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(
        src,
        {
            "jobs/web.nomad.hcl": 'job "web" {}\n',
            "jobs/batch/report.nomad.hcl.j2": 'job "report" {}\n',
            "jobs2/other.hcl": "x\n",
            "README.md": "# ops\n",
        },
    )
    source = GitSource(str(src), "main", tmp_path / "data" / "clone")
    assert source.is_local
    assert source.fetch() == first

    jobs = source.files(first, "jobs")
    assert [f.path for f in jobs] == ["jobs/batch/report.nomad.hcl.j2", "jobs/web.nomad.hcl"]
    assert all(isinstance(f, RepoFile) and len(f.blob_sha) == 40 for f in jobs)
    assert [f.path for f in source.files(first, "jobs/")] == [f.path for f in jobs]
    everything = [f.path for f in source.files(first, "")]
    assert everything == sorted(everything) and "README.md" in everything
    assert [f.path for f in source.files(first, ".")] == everything
    assert source.read(jobs[1].blob_sha) == b'job "web" {}\n'

    second = commit(src, {"jobs/web.nomad.hcl": 'job "web" { type = "service" }\n'})
    assert second != first
    assert source.fetch() == second
    after = {f.path: f.blob_sha for f in source.files(second, "jobs")}
    before = {f.path: f.blob_sha for f in jobs}
    assert after["jobs/web.nomad.hcl"] != before["jobs/web.nomad.hcl"]
    assert after["jobs/batch/report.nomad.hcl.j2"] == before["jobs/batch/report.nomad.hcl.j2"]
    assert source.read(after["jobs/web.nomad.hcl"]) == b'job "web" { type = "service" }\n'
    assert source.files(first, "jobs") == jobs  # the old commit stays readable
    source.close()


def test_fetch_sees_pushes_into_a_bare_repo(tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "main")
    first = commit(work, {"jobs/a.hcl": "a\n"})
    git(work, "push", "-q", "origin", "main")

    source = GitSource(str(bare), "main", tmp_path / "clone")
    assert source.fetch() == first
    assert source.fetch() == first
    second = commit(work, {"jobs/b.hcl": "b\n"})
    git(work, "push", "-q", "origin", "main")
    assert source.fetch() == second
    assert [f.path for f in source.files(second, "jobs")] == ["jobs/a.hcl", "jobs/b.hcl"]

    git(work, "commit", "-q", "--amend", "-m", "rewritten")
    amended = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", "--force", "origin", "main")
    assert source.fetch() == amended != second


def test_amend_in_worktree_with_branch_checked_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(src)
    source = GitSource(str(src), "main", tmp_path / "clone")
    assert source.fetch() == first
    write(src, "jobs/web.nomad.hcl", "changed\n")
    git(src, "commit", "-q", "-a", "--amend", "--no-edit")
    amended = git(src, "rev-parse", "HEAD")
    assert source.fetch() == amended != first


def test_branch_written_through_packed_refs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(src)
    source = GitSource(str(src), "main", tmp_path / "clone")
    assert source.fetch() == first
    git(src, "pack-refs", "--all", "--prune")
    assert not (src / ".git/refs/heads/main").exists()
    assert source.fetch() == first  # served from packed-refs by the fast path

    git(src, "checkout", "-q", "-b", "other")
    other = commit(src, {"x.txt": "x\n"})
    git(src, "checkout", "-q", "main")
    git(src, "pack-refs", "--all", "--prune")
    packed = src / ".git/packed-refs"
    tmp = src / ".git/packed-refs.new"
    tmp.write_text(
        packed.read_text().replace(f"{first} refs/heads/main", f"{other} refs/heads/main")
    )
    tmp.replace(packed)  # a tool that updates the branch only in packed-refs
    assert source.fetch() == other


def test_file_url_and_remote_urls(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(src)
    source = GitSource(src.as_uri(), "main", tmp_path / "clone")
    assert source.is_local
    assert source.local_refs_path() == (src / ".git").resolve()
    assert source.fetch() == first

    bare = tmp_path / "b.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    assert GitSource(str(bare), "main", tmp_path / "c2").local_refs_path() == bare.resolve()

    for url in ("https://example.invalid/ops.git", "git@example.invalid:ops/repo.git"):
        remote = GitSource(url, "main", tmp_path / "c3")
        assert not remote.is_local
        assert remote.local_refs_path() is None


def test_relative_local_path_survives_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_worktree(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    source = GitSource("src", "main", Path("clone"))
    monkeypatch.chdir("/")
    assert source.fetch() == first


def test_missing_path_then_retry(tmp_path: Path) -> None:
    src = tmp_path / "later"
    workdir = tmp_path / "data" / "clone"
    source = GitSource(str(src), "main", workdir)
    with pytest.raises(GitSourceError) as err:
        source.fetch()
    message = str(err.value)
    assert str(src) in message and "'main'" in message and "fix gitops.repo" in message
    assert not workdir.exists() and leftovers(tmp_path / "data") == []

    first = make_worktree(src)
    assert source.fetch() == first


def test_missing_branch_then_retry(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_worktree(src)
    workdir = tmp_path / "clone"
    source = GitSource(str(src), "prod", workdir)
    with pytest.raises(GitSourceError, match="branch 'prod' not found") as err:
        source.fetch()
    assert str(src) in str(err.value) and "gitops.branch" in str(err.value)
    assert not workdir.exists() and leftovers(tmp_path) == []

    git(src, "branch", "prod")
    assert source.fetch() == git(src, "rev-parse", "prod")


def test_branch_deleted_after_clone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_worktree(src)
    git(src, "branch", "prod")
    source = GitSource(str(src), "prod", tmp_path / "clone")
    source.fetch()
    git(src, "branch", "-D", "prod")
    with pytest.raises(GitSourceError, match="branch 'prod' not found"):
        source.fetch()


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    source = GitSource(str(plain), "main", tmp_path / "clone")
    with pytest.raises(GitSourceError, match="git init"):
        source.fetch()
    assert not (tmp_path / "clone").exists() and leftovers(tmp_path) == []


def test_bad_workdir_and_bad_branch_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_worktree(src)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "file").write_text("not mine")
    with pytest.raises(GitSourceError, match="remove it"):
        GitSource(str(src), "main", junk).fetch()
    assert (junk / "file").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert GitSource(str(src), "main", empty).fetch() == git(src, "rev-parse", "HEAD")
    with pytest.raises(GitSourceError, match="invalid branch"):
        GitSource(str(src), "main:refs/heads/x", tmp_path / "c")


def test_unreachable_remote_does_not_leak_credentials(tmp_path: Path) -> None:
    url = "https://alice:s3cret-token@127.0.0.1:1/ops.git"
    source = GitSource(url, "main", tmp_path / "clone", timeout=30)
    with pytest.raises(GitSourceError) as err:
        source.fetch()
    assert "s3cret" not in str(err.value) and "alice:***@127.0.0.1:1" in str(err.value)
    assert not (tmp_path / "clone").exists() and leftovers(tmp_path) == []


def test_bad_commit_folder_and_blob(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(src)
    source = GitSource(str(src), "main", tmp_path / "clone")
    with pytest.raises(GitSourceError, match="fetch"):
        source.files(first, "")  # nothing cloned yet
    source.fetch()
    with pytest.raises(GitSourceError, match="folder 'nope' not found"):
        source.files(first, "nope")
    with pytest.raises(GitSourceError, match="is a file"):
        source.files(first, "jobs/web.nomad.hcl")
    with pytest.raises(GitSourceError, match="relative"):
        source.files(first, "../etc")
    with pytest.raises(GitSourceError, match="not found"):
        source.files("0" * 40, "")
    with pytest.raises(GitSourceError, match="not found"):
        source.read("0" * 40)
    with pytest.raises(GitSourceError, match="full blob SHA"):
        source.read("abc")
    with pytest.raises(GitSourceError, match="not a blob"):
        source.read(first)


def test_symlinks_and_submodule_entries_are_skipped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_worktree(src)
    (src / "jobs/link.hcl").symlink_to("web.nomad.hcl")
    sub = tmp_path / "sub"
    make_worktree(sub)
    sub_head = git(sub, "rev-parse", "HEAD")
    git(src, "update-index", "--add", "--cacheinfo", f"160000,{sub_head},jobs/vendored")
    head = commit(src, {"jobs/z.hcl": "z\n"})
    source = GitSource(str(src), "main", tmp_path / "clone")
    source.fetch()
    assert [f.path for f in source.files(head, "jobs")] == ["jobs/web.nomad.hcl", "jobs/z.hcl"]


def test_reopens_existing_clone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    first = make_worktree(src)
    workdir = tmp_path / "clone"
    GitSource(str(src), "main", workdir).fetch()
    second = commit(src, {"jobs/b.hcl": "b\n"})
    again = GitSource(str(src), "main", workdir)  # e.g. after an agent restart
    assert [f.path for f in again.files(first, "")] == ["jobs/web.nomad.hcl"]
    assert again.fetch() == second


def test_measure_unchanged_fetch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    make_worktree(src)
    source = GitSource(str(src), "main", tmp_path / "clone")
    start = time.perf_counter()
    source.fetch()
    clone_ms = (time.perf_counter() - start) * 1000
    unchanged = []
    for _ in range(200):
        start = time.perf_counter()
        source.fetch()
        unchanged.append((time.perf_counter() - start) * 1000)
    changed = []
    for i in range(10):
        head = commit(src, {"jobs/n.hcl": f"{i}\n"})
        start = time.perf_counter()
        assert source.fetch() == head
        changed.append((time.perf_counter() - start) * 1000)
    with capsys.disabled():
        print(
            f"\n[gitsync] local fetch: first clone {clone_ms:.1f} ms; unchanged median "
            f"{statistics.median(unchanged):.3f} ms, max {max(unchanged):.3f} ms (n=200); "
            f"new commit median {statistics.median(changed):.1f} ms (n=10)"
        )


def test_linked_worktree_source(tmp_path: Path) -> None:
    main = tmp_path / "main"
    make_worktree(main)
    linked = tmp_path / "linked"
    git(main, "worktree", "add", "-q", "-b", "prod", str(linked))
    source = GitSource(str(linked), "prod", tmp_path / "clone")
    assert source.local_refs_path() == (main / ".git").resolve()  # refs live in the common dir
    source.fetch()
    head = commit(linked, {"jobs/p.hcl": "p\n"})
    assert source.fetch() == head
