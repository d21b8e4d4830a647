"""The web-host commit link: https and ssh forms of a GitHub/GitLab/Gitea-like URL become
https://host/owner/repo/commit/SHA; local paths and other schemes give none."""

from __future__ import annotations

import pytest

from gitorch.ui.githost import commit_url

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("repo", "link"),
    [
        ("https://github.com/acme/jobs.git", f"https://github.com/acme/jobs/commit/{SHA}"),
        ("https://github.com/acme/jobs", f"https://github.com/acme/jobs/commit/{SHA}"),
        ("https://github.com/acme/jobs/", f"https://github.com/acme/jobs/commit/{SHA}"),
        ("git@github.com:acme/jobs.git", f"https://github.com/acme/jobs/commit/{SHA}"),
        (
            "ssh://git@gitea.example.org:2222/ops/jobs.git",
            f"https://gitea.example.org/ops/jobs/commit/{SHA}",
        ),
        (
            "https://oauth2:s3cret@gitlab.com/grp/sub/jobs.git",
            f"https://gitlab.com/grp/sub/jobs/commit/{SHA}",
        ),
        (
            "https://git.example.org:8443/ops/jobs",
            f"https://git.example.org:8443/ops/jobs/commit/{SHA}",
        ),
        ("http://10.0.0.5:3000/ops/jobs.git", f"http://10.0.0.5:3000/ops/jobs/commit/{SHA}"),
    ],
)
def test_web_hosts_get_a_commit_link(repo: str, link: str) -> None:
    assert commit_url(repo, SHA) == link


@pytest.mark.parametrize(
    "repo",
    [
        "/srv/git/jobs",
        "./jobs",
        "jobs",
        "C:/repos/jobs",
        "file:///srv/git/jobs",
        "git://127.0.0.1:9418/repo",
        "https://github.com/jobs.git",  # no owner
        "https://github.com/",
        "git@github.com:jobs.git",
        "ftp://example.org/a/b",
        "https://exa mple.org/a/b",
        "https://evil.example/a/../b",
        "https://evil.example/a/%2e%2e",
        "",
    ],
)
def test_local_paths_and_other_schemes_get_none(repo: str) -> None:
    assert commit_url(repo, SHA) == ""


def test_no_link_without_a_sha_and_segments_are_quoted() -> None:
    assert commit_url("https://github.com/acme/jobs", "") == ""
    assert commit_url("https://github.com/acme/jobs", "main") == ""
    assert commit_url("https://github.com/acme/jobs", '"><script>') == ""
    link = commit_url('https://host.example/a%20b/c"d', SHA)
    assert link == f"https://host.example/a%20b/c%22d/commit/{SHA}"


def test_file_links_follow_the_same_rule() -> None:
    from gitorch.ui.githost import file_url

    gh = file_url("git@github.com:acme/jobs.git", SHA, "jobs/web.nomad.hcl")
    assert gh == f"https://github.com/acme/jobs/blob/{SHA}/jobs/web.nomad.hcl"
    gl = file_url("https://gitlab.example/acme/jobs", SHA, "a b.hcl")
    assert gl == f"https://gitlab.example/acme/jobs/-/blob/{SHA}/a%20b.hcl"
    assert file_url("/srv/repo", SHA, "x.hcl") == ""
    assert file_url("https://github.com/acme/jobs", SHA, "../x") == ""
