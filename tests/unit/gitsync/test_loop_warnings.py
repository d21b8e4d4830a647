"""A synced file's warnings (what gitorch does differently from Nomad) are kept per file
in the sync record, bounded as errors are, and shown by the report and
/v1/gitops/status; the job is applied all the same."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from harness import GitRepo
from test_loop_folder_revision import loop_for

from gitorch.gitsync.status import gitops_status
from gitorch.jobspec.limits import Limits
from gitorch.jobspec.unsupported import UNSUPPORTED

pytestmark = pytest.mark.timeout(120)

JOB = (
    'job "%s" {\n  group "g" {\n    shutdown_delay = "5s"\n    task "t" {\n'
    '      driver = "raw_exec"\n      config {\n        command = "/bin/true"\n      }\n'
    "    }\n  }\n}\n"
)
DELAY = UNSUPPORTED["group.shutdown_delay"].instead


def test_warnings_are_kept_per_file_and_the_job_is_applied(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    plain = JOB.replace('    shutdown_delay = "5s"\n', "")
    # the same content at two paths is one blob: each file's warning names its own path
    repo.commit("two", **{"jobs__a.nomad.hcl": JOB % "a", "jobs__b.nomad.hcl": plain % "b"})
    loop, sink = loop_for(tmp_path, repo)
    report = loop.sync(dry_run=False)
    assert sorted((ch.job_id, ch.action) for ch in report.changes) == [
        ("a", "register"),
        ("b", "register"),
    ]
    expected = f'jobs/a.nomad.hcl:3: job "a" > group "g": "shutdown_delay" is ignored: {DELAY}'
    assert [(w.file, w.line, w.message) for w in report.warnings] == [
        ("jobs/a.nomad.hcl", 3, expected)
    ]
    status = gitops_status(sink.store)
    assert [w.message for w in status.warnings] == [expected]
    # unchanged blobs come from the parse cache, warnings included
    again = loop.sync(dry_run=False)
    assert [w.message for w in again.warnings] == [expected]
    repo.commit("fix", **{"jobs__a.nomad.hcl": plain % "a"})
    loop.sync(dry_run=False)
    assert gitops_status(sink.store).warnings == []


def test_warnings_in_the_record_are_bounded(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    files = {f"jobs__j{i}.nomad.hcl": JOB % f"j{i}" for i in range(6)}
    repo.commit("many", **files)
    loop, sink = loop_for(tmp_path, repo)
    loop.settings = dataclasses.replace(loop.settings, limits=Limits(max_errors_size=600))
    loop.sync(dry_run=False)
    record = sink.store.gitsync
    assert 0 < len(record.warnings) < 6
    assert len(record.warnings) + record.warnings_omitted == 6
