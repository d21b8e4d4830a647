"""One commit's jobspecs: list, render with the vars files, parse each file once per
blob and vars (in budgeted worker processes), and give each job its Git source."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from msgspec.structs import replace as replace_struct

from gitorch.core import dependson, desired
from gitorch.core.model import FileError, Job, JobSource
from gitorch.core.model import replace as replace_model
from gitorch.core.model.submission import JobSubmission
from gitorch.errors import JobspecError
from gitorch.gitsync.repo import GitSource, GitSourceError, RepoFile
from gitorch.jobspec import is_jobspec_file
from gitorch.jobspec.isolate import parse_many_isolated
from gitorch.jobspec.limits import Limits
from gitorch.jobspec.redact import cut
from gitorch.jobspec.validate import DriverCheck
from gitorch.jobspec.warnings import JobspecWarning


class CommitParser:
    """Parses commits of one source; keeps the results of the last commit's files."""

    def __init__(
        self,
        source: GitSource,
        *,
        vars_files: tuple[str, ...],
        limits: Limits,
        driver_check: DriverCheck | None,
    ) -> None:
        self._source = source
        self._vars_files = vars_files
        self._limits = limits
        self._driver_check = driver_check
        self._cache: dict[tuple[str, str], Job | JobspecError] = {}
        self._warned: dict[tuple[str, str], list[JobspecWarning]] = {}
        self._submitted: dict[tuple[str, str], JobSubmission | None] = {}
        self.warnings: list[FileError] = []
        """The located warnings of the last parsed commit's files, in file order."""
        self.submissions: dict[str, JobSubmission] = {}
        """The last parsed commit's jobspec sources as submitted, by file (a ``.j2``
        file's: its rendering); sensitive variable values left out."""

    def parse(
        self, commit: str, files: list[RepoFile]
    ) -> tuple[list[desired.DesiredJob], list[FileError]]:
        """The jobs that parsed at ``commit`` (each with its Source) and the located
        errors of the files that did not; their warnings are left in ``warnings``."""
        var_files = self._var_files(commit)
        var_key = hashlib.sha256(repr(var_files).encode()).hexdigest()
        wanted: list[desired.DesiredJob] = []
        errors: list[FileError] = []
        seen: dict[str, str] = {}
        cache: dict[tuple[str, str], Job | JobspecError] = {}
        warned: dict[tuple[str, str], list[JobspecWarning]] = {}
        submitted: dict[tuple[str, str], JobSubmission | None] = {}
        self.warnings = []
        self.submissions = {}
        files = [f for f in files if is_jobspec_file(f.path) and f.path not in self._vars_files]
        # Files not parsed before (at this blob and vars) go to the workers in one batch.
        new = [f for f in files if (f.blob_sha, var_key) not in self._cache]
        found: list[list[JobspecWarning]] = []
        sources: list[JobSubmission | None] = []
        results = self._parse_new(new, var_files, found, sources)
        for f, result, its, sub in zip(new, results, found, sources, strict=True):
            cache[(f.blob_sha, var_key)] = result
            warned[(f.blob_sha, var_key)] = its
            submitted[(f.blob_sha, var_key)] = sub
        for f in files:
            key = (f.blob_sha, var_key)
            parsed = cache.get(key) or self._cache[key]
            cache[key] = parsed
            warned[key] = warned.get(key, self._warned.get(key, []))
            submitted[key] = submitted.get(key, self._submitted.get(key))
            if isinstance(parsed, JobspecError):
                errors.append(FileError(file=f.path, line=parsed.line, message=parsed.located()))
                continue
            if parsed.id in seen:
                msg = f"{f.path}:1: job {cut(repr(parsed.id), 60)} is already declared in "
                errors.append(FileError(file=f.path, line=1, message=msg + seen[parsed.id]))
                continue
            seen[parsed.id] = f.path
            # a file's own path: the same blob may sit at two paths
            for w in warned[key]:
                here = replace_struct(w, file=f.path)
                self.warnings.append(FileError(file=f.path, line=w.line, message=here.located()))
            job = replace_model(
                parsed, source=JobSource(file=f.path, commit=commit, blob=f.blob_sha)
            )
            wanted.append(desired.DesiredJob(job=job, file=f.path))
            if (sub := submitted.get(key)) is not None:
                self.submissions[f.path] = sub
        self._cache = cache  # only this commit's files: the cache never outgrows the repo
        self._warned = warned
        self._submitted = submitted
        return wanted, errors

    def _parse_new(
        self,
        files: list[RepoFile],
        var_files: list[tuple[str, str]],
        warnings: list[list[JobspecWarning]],
        submissions: list[JobSubmission | None],
    ) -> list[Job | JobspecError]:
        """Each file's Job or located error, in order; whatever the files hold, this
        returns. Files too big or not UTF-8 are refused here; the rest are parsed in
        worker processes with a time and memory budget each. ``warnings`` receives
        each file's warnings, in the same order."""
        limits = self._limits
        results: dict[int, Job | JobspecError] = {}
        warned: dict[int, list[JobspecWarning]] = {}
        texts: list[tuple[int, str, str]] = []
        for i, f in enumerate(files):
            if f.size > limits.max_file_size:
                msg = f"the file is {f.size} bytes, over the limit of {limits.max_file_size}"
                results[i] = JobspecError(msg + " (gitops.max_file_size)", file=f.path, line=1)
                continue
            data = self._source.read(f.blob_sha)
            try:
                texts.append((i, f.path, data.decode("utf-8")))
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                msg = f"not UTF-8 text (byte {exc.start})"
                results[i] = JobspecError(msg, file=f.path, line=line)
        found: list[list[JobspecWarning]] = []
        subs: list[JobSubmission | None] = []
        parsed = parse_many_isolated(
            [(path, text) for _, path, text in texts],
            var_files=var_files,
            driver_check=self._driver_check,
            limits=limits,
            warnings=found,
            submissions=subs,
        )
        by_index: dict[int, JobSubmission | None] = {}
        for (i, _, _), result, w, sub in zip(texts, parsed, found, subs, strict=True):
            results[i], warned[i], by_index[i] = result, w, sub
        warnings.extend(warned.get(i, []) for i in range(len(files)))
        submissions.extend(by_index.get(i) for i in range(len(files)))
        return [results[i] for i in range(len(files))]

    def _var_files(self, commit: str) -> list[tuple[str, str]]:
        if not self._vars_files:
            return []
        blobs = {f.path: f.blob_sha for f in self._source.files(commit, "")}
        out: list[tuple[str, str]] = []
        for name in self._vars_files:
            if name not in blobs:
                raise GitSourceError(
                    f"vars file {name!r} not found at commit {commit[:12]}: fix gitops.vars_files"
                )
            out.append((name, self._source.read(blobs[name]).decode("utf-8")))
        return out

    def line_of(self, wanted: list[desired.DesiredJob]) -> Callable[[str], int]:
        """The line of a file's ``gitorch.depends_on`` (1 if not found), for errors."""
        blobs = {d.file: d.job.source.blob for d in wanted if d.job.source is not None}

        def line_of(file: str) -> int:
            try:
                text = self._source.read(blobs[file]).decode("utf-8", "replace")
            except (KeyError, GitSourceError):
                return 1
            for n, line in enumerate(text.splitlines(), 1):
                if dependson.META_KEY in line:
                    return n
            return 1

        return line_of
