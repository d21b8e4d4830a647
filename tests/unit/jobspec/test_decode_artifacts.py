"""``artifact`` blocks in HCL: Nomad's names, defaults and wire names, and every
mistake a located error (file:line)."""

from __future__ import annotations

import json

import msgspec
import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text


def spec(artifact_body: str) -> str:
    return (
        'job "j" {\n'
        '  group "g" {\n'
        '    task "t" {\n'
        '      driver = "raw_exec"\n'
        '      config { command = "/bin/true" }\n'
        "      artifact {\n"
        f"{artifact_body}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def test_artifact_decodes_with_nomad_names_and_defaults() -> None:
    body = (
        '        source = "https://example.com/app.tar.gz"\n'
        '        options { checksum = "sha256:' + "ab" * 32 + '" }\n'
        '        headers { X-Token = "${NOMAD_ALLOC_ID}" }'
    )
    job = parse_text(spec(body), file="a.hcl")
    (artifact,) = job.task_groups[0].tasks[0].artifacts
    assert artifact.getter_source == "https://example.com/app.tar.gz"
    assert artifact.relative_dest == "local/"  # Nomad's default
    assert artifact.getter_mode == "any"
    wire = json.loads(msgspec.json.encode(artifact))
    assert wire["GetterSource"] == "https://example.com/app.tar.gz"
    assert wire["GetterOptions"] == {"checksum": "sha256:" + "ab" * 32}
    assert wire["GetterHeaders"] == {"X-Token": "${NOMAD_ALLOC_ID}"}
    assert wire["RelativeDest"] == "local/" and wire["GetterMode"] == "any"


def test_several_artifacts_keep_their_order() -> None:
    text = spec('        source = "git::https://example.com/r.git"\n        destination = "local/r"')
    text = text.replace(
        "      artifact {", '      artifact {\n        source = "/srv/a.zip"\n      }\n      artifact {'
    )
    job = parse_text(text, file="a.hcl")
    sources = [a.getter_source for a in job.task_groups[0].tasks[0].artifacts]
    assert sources == ["/srv/a.zip", "git::https://example.com/r.git"]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ('        destination = "local/"', 6, '"source" is required'),
        ('        source = "https://e.com/a"\n        destination = "../up"', 8, '".."'),
        ('        source = "https://e.com/a"\n        destination = "/etc"', 8, "is absolute"),
        ('        source = "https://e.com/a"\n        mode = "folder"', 8, '"mode" must be one of'),
        ('        source = "s3::https://b.s3.amazonaws.com/x"', 7, "cannot fetch from S3"),
        ('        source = "ftp://e.com/a"', 7, "unsupported URL scheme 'ftp'"),
        (
            '        source = "https://e.com/a"\n        options { checksum = "sha256:abc" }',
            8,
            "a sha256 has 64 hex digits, not 3",
        ),
        (
            '        source = "https://e.com/a"\n        options { checksum = "crc32:abcd1234" }',
            8,
            "checksum type 'crc32' is not supported",
        ),
        ('        source = "https://e.com/a"\n        options { sshkey = "k" }', 8, "unknown option"),
        ('        source = "https://e.com/a?ref=main"', 7, "git:: sources only"),
        ('        source = "git::https://e.com/r.git"\n        mode = "file"', 8, "is a directory"),
    ],
)
def test_mistakes_are_located(body: str, line: int, message: str) -> None:
    with pytest.raises(JobspecError) as err:
        parse_text(spec(body), file="jobs/a.nomad.hcl")
    problems = err.value.problems or [err.value]
    found = [p for p in problems if message in str(p)]
    assert found, [p.located() for p in problems]
    assert found[0].file == "jobs/a.nomad.hcl" and found[0].line == line, found[0].located()


def test_interpolated_values_are_left_to_the_client() -> None:
    body = '        source = "${NOMAD_META_url}"\n        destination = "${NOMAD_META_dir}"'
    job = parse_text(spec(body), file="a.hcl")
    assert job.task_groups[0].tasks[0].artifacts[0].relative_dest == "${NOMAD_META_dir}"
