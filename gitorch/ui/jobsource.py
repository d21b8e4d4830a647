"""A job's source on its page (the text as submitted, highlighted, with its Git file,
commit and a link to the file on the repository's web host) and the side-by-side diff
of two versions (``/ui/job/<id>/diff?from=A&to=B``): the two sources line by line from
difflib, or, when a version has no stored source, Nomad's field diffs of each version
step between them (``/v1/job/:id/versions?diffs=true``)."""

from __future__ import annotations

import difflib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.githost import file_url
from gitorch.ui.hcl_highlight import highlight_lines
from gitorch.ui.render import page
from gitorch.ui.view import failure_page


async def source_context(api: UiApi, job: dict[str, Any]) -> dict[str, Any]:
    """What job.html shows of the current version's source."""
    job_id, version = str(job.get("ID", "")), int(job.get("Version", 0))
    ns = str(job.get("Namespace") or "default")
    sub = await api.get_or(
        f"/v1/job/{seg(job_id)}/submission", None, version=str(version), namespace=ns
    )
    git = job.get("Source") or {}
    status = await api.get_or("/v1/gitops/status", None) if git.get("File") else None
    repo = str((status or {}).get("Repo", ""))
    return {
        "submission": sub,
        "source_lines": highlight_lines(str(sub.get("Source", ""))) if sub else [],
        "source_link": file_url(repo, str(git.get("Commit", "")), str(git.get("File", ""))),
        "rendered": str(git.get("File", "")).endswith(".j2"),
    }


def _int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name, "")
    return int(raw) if raw.isdigit() else None


async def diff_page(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    a, b = _int(request, "from"), _int(request, "to")
    if a is None or b is None:
        return failure_page(request, 400, "give two versions: ?from=A&to=B (numbers)")
    base = f"/v1/job/{seg(job_id)}"
    ns = request.query_params.get("namespace") or "default"
    async with UiApi(request) as api:
        answer = await api.get(f"{base}/versions", diffs="true", namespace=ns)
        subs = [
            await api.get_or(f"{base}/submission", None, version=str(v), namespace=ns)
            for v in (a, b)
        ]
    versions = answer.get("Versions") or []
    kept = {int(v.get("Version", -1)) for v in versions}
    missing = [v for v in (a, b) if v not in kept]
    if missing:
        return failure_page(request, 404, f"job {job_id!r} keeps no version {missing[0]}")
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    if subs[0] and subs[1]:
        rows = side_by_side(str(subs[0].get("Source", "")), str(subs[1].get("Source", "")))
    else:  # Nomad's diffs of each step between the two versions (newest first)
        low, high = min(a, b), max(a, b)
        for v, d in zip(versions, answer.get("Diffs") or [], strict=False):
            if low < int(v.get("Version", -1)) <= high:
                steps.append({"version": v.get("Version"), "diff": d})
    return page(
        request,
        "job_diff.html",
        {
            "title": f"Job {job_id}: v{a} → v{b}",
            "job_id": job_id,
            "namespace": ns,
            "a": a,
            "b": b,
            "rows": rows,
            "steps": steps,
            "versions": sorted(kept),
            "has_sources": bool(subs[0] and subs[1]),
        },
    )


def side_by_side(old: str, new: str) -> list[dict[str, Any]]:
    """Rows of (left line, right line), each with its number, highlight and whether it
    changed (``del``/``add``/``same``)."""
    left, right = old.split("\n"), new.split("\n")
    hl_left, hl_right = highlight_lines(old), highlight_lines(new)
    rows: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            has_l, has_r = i < i2, j < j2
            rows.append({
                "ln": i + 1 if has_l else None,
                "left": hl_left[i] if has_l else "",
                "lk": "same" if tag == "equal" else ("del" if has_l else "none"),
                "rn": j + 1 if has_r else None,
                "right": hl_right[j] if has_r else "",
                "rk": "same" if tag == "equal" else ("add" if has_r else "none"),
            })  # fmt: skip
    return rows
