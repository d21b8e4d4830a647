"""Jobs: the list (filter by status, type, text) and a job's page (groups and counts,
allocations, versions with the commit each came from, the deployment in progress,
placement failures, services), of the job in ``?namespace=`` (``default`` without)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.caps import token_caps
from gitorch.ui.jobsource import source_context
from gitorch.ui.render import page
from gitorch.ui.view import view

JOB_STATUSES = ("pending", "running", "dead")
JOB_TYPES = ("service", "batch", "system", "sysbatch")


def matches(job: dict[str, Any], status: str, kind: str, text: str) -> bool:
    if status and job.get("Status") != status:
        return False
    if kind and job.get("Type") != kind:
        return False
    if text:
        hay = " ".join(str(job.get(k, "")) for k in ("ID", "Name", "Namespace")).lower()
        source = job.get("Source") or {}
        hay += " " + str(source.get("File", "")).lower()
        return text.lower() in hay
    return True


@view
async def job_list(request: Request) -> Response:
    q = request.query_params
    status, kind, text = q.get("status", ""), q.get("type", ""), q.get("q", "").strip()
    ns = q.get("namespace", "*") or "*"
    async with UiApi(request) as api:
        jobs = await api.get("/v1/jobs", namespace=ns)
        namespaces = await api.get_or("/v1/namespaces", [])
    shown = [j for j in jobs if matches(j, status, kind, text)]
    return page(
        request,
        "jobs.html",
        {
            "title": "Jobs",
            "jobs": shown,
            "total": len(jobs),
            "status": status,
            "kind": kind,
            "text": text,
            "statuses": JOB_STATUSES,
            "types": JOB_TYPES,
            "namespace": ns,
            "namespaces": [n.get("Name", "") for n in namespaces],
        },
    )


def placement_failures(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest evaluation's per-group reasons, when it could not place everything."""
    newest = sorted(evals, key=lambda e: e.get("CreateIndex", 0), reverse=True)
    for ev in newest:
        failed = ev.get("FailedTGAllocs") or {}
        if failed:
            return [{"group": g, "eval": ev.get("ID", ""), **m} for g, m in sorted(failed.items())]
        if ev.get("Status") == "complete":
            return []
    return []


@view
async def job_page(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    base = f"/v1/job/{seg(job_id)}"
    ns = request.query_params.get("namespace") or "default"
    async with UiApi(request) as api:
        job = await api.get(base, namespace=ns)
        summary = await api.get_or(f"{base}/summary", {}, namespace=ns)
        allocs = await api.get(f"{base}/allocations", namespace=ns)
        versions = await api.get_or(f"{base}/versions", {"Versions": []}, namespace=ns)
        deployment = await api.get_or(f"{base}/deployment", None, namespace=ns)
        evals = await api.get_or(f"{base}/evaluations", [], namespace=ns)
        services = await api.get_or(f"{base}/services", [], namespace=ns)
        caps = await token_caps(api)
        source = await source_context(api, job)
    allocs.sort(key=lambda a: a.get("CreateIndex", 0), reverse=True)
    return page(
        request,
        "job.html",
        {
            "title": f"Job {job.get('ID', job_id)}",
            "job": job,
            "summary": (summary or {}).get("Summary") or {},
            "allocs": allocs,
            "versions": versions.get("Versions") or [],
            "deployment": deployment,
            "failures": placement_failures(evals),
            "services": services,
            "may_deploy": caps.namespace("submit-job", str(job.get("Namespace", "default"))),
            **source,
        },
    )
