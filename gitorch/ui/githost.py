"""Where a person reads a commit on the web: the commit page of a GitHub-, GitLab- or
Gitea-like host, worked out from the repository URL the agent fetches.

``https://host/owner/repo(.git)``, ``ssh://[user@]host[:port]/owner/repo(.git)`` and
scp-like ``[user@]host:owner/repo(.git)`` all become
``https://host/owner/repo/commit/SHA`` (an ``http://`` URL stays ``http://``; a user or
token in the URL is dropped; an ssh port is not the web's, so it is dropped too). A local
path, ``file://``, ``git://`` or a URL without an owner and a name gives no link.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_SCP = re.compile(r"(?:[^@/:\s]+@)?(?P<host>[^@/:\s]+):(?P<path>[^/\s][^\s]*)")


def commit_url(repo: str, sha: str) -> str:
    """The web page of commit ``sha`` of ``repo``; "" when there is none to link."""
    base = _web_base(repo)
    if not base or not _SHA.fullmatch(sha or ""):
        return ""
    return f"{base}/commit/{sha.lower()}"


def file_url(repo: str, sha: str, file: str) -> str:
    """The web page of ``file`` at commit ``sha`` of ``repo`` (GitLab's ``/-/blob/``,
    others' ``/blob/``); "" when there is none to link."""
    base = _web_base(repo)
    parts = [p for p in (file or "").split("/") if p]
    if not base or not _SHA.fullmatch(sha or "") or not parts or ".." in parts:
        return ""
    middle = "/-/blob/" if "gitlab" in base.split("/")[2] else "/blob/"
    return base + middle + sha.lower() + "/" + "/".join(quote(p, safe="") for p in parts)


def _web_base(repo: str) -> str:
    """``scheme://host/owner/repo`` of the repository on its web host, or ""."""
    repo = (repo or "").strip()
    scheme, host, path = "https", "", ""
    if "://" in repo:
        parts = urlsplit(repo)
        if parts.scheme not in ("https", "http", "ssh", "git+ssh", "ssh+git"):
            return ""
        try:
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            return ""
        if parts.scheme == "http":
            scheme = "http"
        if parts.scheme in ("https", "http") and port is not None:
            host = f"{host}:{port}"
        path = parts.path
    else:
        m = _SCP.fullmatch(repo)
        if m is None or "/" in m.group("host"):
            return ""
        host, path = m.group("host"), m.group("path")
    if not _HOST.fullmatch(host.split(":")[0]):
        return ""
    segments = [unquote(s) for s in path.split("/") if s]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1][:-4]
    if len(segments) < 2 or any(s in (".", "..") or not s for s in segments):
        return ""
    owner_repo = "/".join(quote(s, safe="") for s in segments)
    return f"{scheme}://{host}/{owner_repo}"
