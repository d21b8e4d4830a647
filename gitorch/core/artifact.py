"""The grammar of an ``artifact`` block, as pure functions shared by the jobspec decoder
(which refuses a bad block with its line) and the client's fetcher (which checks the
interpolated values again before it touches the network or the disk).

Sources are go-getter's, the subset gitorch fetches: ``http://`` and ``https://`` URLs,
``git::<url>`` (and ``git@host:path``), ``file://<path>`` and plain local paths. A
``//sub/dir`` after the URL's path takes only that directory of what was fetched.
Options are ``checksum`` (``type:hex``, type one of md5, sha1, sha256, sha512, or the
hex alone, its type told by its length), ``archive`` (``false`` to keep an archive as a
file, or an archive type to force one) and, for git, ``ref`` and ``depth``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Getter = Literal["http", "git", "file"]
MODES = ("any", "file", "dir")
HASH_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
ARCHIVES = ("tar.gz", "tgz", "tar.bz2", "tbz2", "tar.xz", "txz", "tar", "zip")
OPTIONS = ("checksum", "archive", "ref", "depth")
GIT_ONLY_OPTIONS = ("ref", "depth")
_UNSUPPORTED = {
    "s3": "S3", "gcs": "Google Cloud Storage", "hg": "Mercurial", "oci": "OCI registries",
}  # fmt: skip
_FORCED = re.compile(r"^([a-z0-9]+)::(.*)$", re.S)
_SCP_GIT = re.compile(r"^[\w.-]+@[\w.-]+:")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class ArtifactError(ValueError):
    """An artifact block that cannot be fetched as written (the message says why)."""


class Source(NamedTuple):
    getter: Getter
    url: str  # without the getter prefix, the ``//subdir`` and gitorch's options
    subdir: str  # "" for the whole of what was fetched
    options: dict[str, str]  # the block's options, then those of the URL's query


def parse_source(source: str, options: dict[str, str]) -> Source:
    """Which getter fetches ``source`` and from where; :class:`ArtifactError` when gitorch
    cannot fetch it. Options in the URL's query (``?checksum=...``) join ``options``."""
    text = source.strip()
    if not text:
        raise ArtifactError('"source" is required: the URL or path to fetch')
    forced = ""
    if m := _FORCED.match(text):
        forced, text = m.group(1), m.group(2)
    elif _SCP_GIT.match(text):
        forced = "git"
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if forced in _UNSUPPORTED or scheme in _UNSUPPORTED:
        what = _UNSUPPORTED[forced or scheme]
        raise ArtifactError(
            f"gitorch cannot fetch from {what}; serve the file over https or from Git"
        )
    if forced and forced not in ("git", "http", "https", "file"):
        raise ArtifactError(f"unknown getter {forced!r}; use git::, https://, file:// or a path")
    text, subdir = _split_subdir(text)
    getter: Getter
    if forced == "git":
        getter = "git"
    elif scheme in ("http", "https") or forced in ("http", "https"):
        getter = "http"
    elif scheme in ("", "file"):
        getter = "file"
    else:
        raise ArtifactError(f"unsupported URL scheme {scheme!r}; use https://, git:: or a path")
    if getter == "file":
        text = text[len("file://") :] if text.startswith("file://") else text
        merged = dict(options)
    else:
        text, merged = _take_options(text, options)
    _check_options(getter, merged)
    return Source(getter=getter, url=text, subdir=subdir, options=merged)


def _split_subdir(text: str) -> tuple[str, str]:
    """go-getter's ``url//sub/dir``: the part after a ``//`` past the scheme's."""
    start = text.index("://") + 3 if "://" in text else 0
    path_end = len(text.split("?", 1)[0])
    at = text.find("//", start, path_end)
    if at < 0:
        return text, ""
    sub = text[at + 2 : path_end]
    return text[:at] + text[path_end:], sub.strip("/")


def _take_options(url: str, options: dict[str, str]) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    merged, kept = dict(options), []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in OPTIONS:
            merged[key] = value
        else:
            kept.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), merged


def _check_options(getter: Getter, options: dict[str, str]) -> None:
    for key in options:
        if key not in OPTIONS:
            raise ArtifactError(f"unknown option {key!r}; gitorch knows {', '.join(OPTIONS)}")
        if key in GIT_ONLY_OPTIONS and getter != "git":
            raise ArtifactError(f"option {key!r} applies to git:: sources only")
    if getter == "git" and "checksum" in options:
        raise ArtifactError("a git:: source cannot be checksummed; pin it with ref instead")
    if "checksum" in options:
        parse_checksum(options["checksum"])
    archive = options.get("archive", "")
    if archive and archive not in ("false", *ARCHIVES):
        raise ArtifactError(f"archive {archive!r}: use false or one of {', '.join(ARCHIVES)}")
    depth = options.get("depth", "1")
    if not depth.isdigit() or int(depth) < 1:
        raise ArtifactError(f"depth {depth!r}: expected a positive number of commits")


def parse_checksum(text: str) -> tuple[str, str]:
    """``type:hex`` (or the hex alone) as (hash name, lower-case hex)."""
    kind, sep, value = text.strip().partition(":")
    if not sep:
        kind, value = "", kind
    if not _HEX.match(value):
        raise ArtifactError(f"checksum {text!r}: expected type:hex, as in sha256:<64 hex digits>")
    if not kind:
        kinds = [k for k, n in HASH_HEX_LENGTHS.items() if n == len(value)]
        if not kinds:
            raise ArtifactError(f"checksum {text!r}: no hash has {len(value)} hex digits")
        kind = kinds[0]
    if kind not in HASH_HEX_LENGTHS:
        known = ", ".join(HASH_HEX_LENGTHS)
        raise ArtifactError(f"checksum type {kind!r} is not supported; use one of {known}")
    if len(value) != HASH_HEX_LENGTHS[kind]:
        want = HASH_HEX_LENGTHS[kind]
        raise ArtifactError(f"checksum {text!r}: a {kind} has {want} hex digits, not {len(value)}")
    return kind, value.lower()


def check_destination(dest: str) -> str:
    """The destination as a clean path relative to the task dir; refused when absolute
    or when it leaves the task dir."""
    if dest.startswith("/"):
        raise ArtifactError(
            f"destination {dest!r} is absolute; give a path relative to the task dir, "
            'such as "local/"'
        )
    if ".." in dest.replace("\\", "/").split("/"):
        raise ArtifactError(
            f'destination {dest!r} must not contain ".." (it stays in the task dir)'
        )
    return posixpath.normpath(dest or "local/")


def archive_type(url: str, options: dict[str, str]) -> str:
    """The archive type to unpack (``""``: none), from ``archive`` or the URL's path."""
    forced = options.get("archive", "")
    if forced == "false":
        return ""
    if forced:
        return forced
    path = urlsplit(url).path.lower() if "://" in url else url.lower()
    for ext in ARCHIVES:
        if path.endswith("." + ext):
            return ext
    return ""


def redact(source: str) -> str:
    """``source`` fit for messages: no user or password, and query values hidden."""
    forced = ""
    if m := _FORCED.match(source):
        forced, source = m.group(1) + "::", m.group(2)
    if "://" not in source:
        return forced + source
    parts = urlsplit(source)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = "&".join(f"{k}=REDACTED" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return forced + urlunsplit(parts._replace(netloc=netloc, query=query))
