"""A small typed client for the v1 HTTP API (the CLI's only way to a server), plus the
streaming proxy the logs route uses to reach another node. The only httpx import in
gitorch.api and gitorch.cli."""

from __future__ import annotations

import base64
import functools
import os
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import httpx

from gitorch.api.wire import (
    AllocListStub,
    AllocUpdateResponse,
    AllocWithJob,
    JobListStub,
    JobSummary,
    JobValidateResponse,
    JobVersionsResponse,
    NodeEligibilityResponse,
)
from gitorch.api.wsclient import SyncWs, ws_url
from gitorch.codec import from_json, to_builtins
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Deployment, Evaluation, GitopsStatus, Job, Node, NodeListStub
from gitorch.core.model.drain import DrainSpec
from gitorch.core.model.service import ServiceRegistration
from gitorch.core.model.submission import JobSubmission
from gitorch.errors import GitorchError
from gitorch.server.backend import (
    JobDeregisterResponse,
    JobDispatchResponse,
    JobPlanResponse,
    JobRegisterResponse,
    NodeRegisterResponse,
    PeriodicForceResponse,
    SyncReport,
)

T = TypeVar("T")
DEFAULT_ADDRESS = "http://127.0.0.1:4646"


def default_address() -> str:
    """``GITORCH_ADDR``, else ``NOMAD_ADDR``, else the local agent."""
    return os.environ.get("GITORCH_ADDR") or os.environ.get("NOMAD_ADDR") or DEFAULT_ADDRESS


def default_token() -> str | None:
    return os.environ.get("GITORCH_TOKEN") or os.environ.get("NOMAD_TOKEN") or None


def base_url(address: str) -> str:
    """``host:port`` or a URL, as a URL without a trailing slash."""
    address = address.strip().rstrip("/")
    return address if "://" in address else f"http://{address}"


class ApiError(GitorchError):
    """A request the server refused (``status`` > 0) or could not be reached (``status`` 0)."""

    def __init__(self, status: int, message: str, *, url: str = "") -> None:
        self.status = status
        self.message = message
        self.url = url
        where = f" ({url})" if url else ""
        if status:
            super().__init__(f"{message} [HTTP {status}]{where}")
        else:
            super().__init__(f"cannot reach gitorch at {url}: {message}")


class Client:
    """Blocking calls to one gitorch (or Nomad) agent, returning typed values."""

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        namespace: str = "default",
        region: str = "",
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
        server_name: str = "",
    ) -> None:
        self.address = base_url(address or default_address())
        self.namespace = namespace
        self.region = region  # sent as ?region= when set, as Nomad's client does
        token = token if token is not None else default_token()
        headers = {"X-Nomad-Token": token} if token else {}
        self._token, self._verify = token, verify
        # -tls-server-name: the name the agent's certificate is checked against (and
        # sent as SNI) instead of the address's host, as Nomad's TLSServerName.
        self._server_name = server_name
        self._tls: dict[str, Any] = {"sni_hostname": server_name} if server_name else {}
        self._http = httpx.Client(
            base_url=self.address,
            headers=headers,
            timeout=timeout,
            verify=verify,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        timeout: float | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send one request (``body`` as JSON, or raw ``content``); raise ``ApiError``
        with the server's message on failure."""
        query = {"namespace": self.namespace, **(params or {})}
        if self.region:
            query.setdefault("region", self.region)
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            resp = self._http.request(
                method,
                path,
                params=query,
                extensions=self._tls,
                json=None if body is None else to_builtins(body),
                content=content,
                **extra,
            )
        except httpx.HTTPError as exc:
            raise ApiError(0, str(exc) or type(exc).__name__, url=self.address) from exc
        if resp.status_code >= 400:
            raise ApiError(resp.status_code, resp.text.strip() or resp.reason_phrase, url=path)
        return resp

    def _get(self, path: str, type_: type[T], **params: str | int) -> T:
        return from_json(self.request("GET", path, params=params).content, type_)

    def _post(self, path: str, body: Any, type_: type[T], **params: str | int) -> T:
        return from_json(self.request("POST", path, params=params, body=body).content, type_)

    # -- jobs -----------------------------------------------------------------------

    def list_jobs(self, prefix: str = "") -> list[JobListStub]:
        return self._get("/v1/jobs", list[JobListStub], prefix=prefix)

    def get_job(self, job_id: str) -> Job:
        return self._get(f"/v1/job/{job_id}", Job)

    def register_job(
        self, job: Job, submission: JobSubmission | None = None
    ) -> JobRegisterResponse:
        body: dict[str, Any] = {"Job": job}
        if submission is not None:  # Nomad's Submission: the source as written
            body["Submission"] = submission
        return self._post("/v1/jobs", body, JobRegisterResponse)

    def plan_job(self, job: Job, *, diff: bool = True) -> JobPlanResponse:
        return self._post(f"/v1/job/{job.id}/plan", {"Job": job, "Diff": diff}, JobPlanResponse)

    def validate_job(self, job: Job) -> JobValidateResponse:
        return self._post("/v1/validate/job", {"Job": job}, JobValidateResponse)

    def deregister_job(
        self, job_id: str, *, purge: bool = False, force: bool = False
    ) -> JobDeregisterResponse:
        params = {"purge": str(purge).lower()}
        if force:  # a Git-managed job's stop is refused (409) without it
            params["force"] = "true"
        resp = self.request("DELETE", f"/v1/job/{job_id}", params=params)
        return from_json(resp.content, JobDeregisterResponse)

    def job_allocations(self, job_id: str) -> list[AllocListStub]:
        return self._get(f"/v1/job/{job_id}/allocations", list[AllocListStub])

    def job_evaluations(self, job_id: str) -> list[Evaluation]:
        return self._get(f"/v1/job/{job_id}/evaluations", list[Evaluation])

    def job_versions(self, job_id: str) -> list[Job]:
        return self._get(f"/v1/job/{job_id}/versions", JobVersionsResponse).versions

    def job_versions_with_diffs(self, job_id: str) -> JobVersionsResponse:
        return self._get(f"/v1/job/{job_id}/versions", JobVersionsResponse, diffs="true")

    def job_submission(self, job_id: str, version: int) -> JobSubmission:
        return self._get(f"/v1/job/{job_id}/submission", JobSubmission, version=version)

    def job_summary(self, job_id: str) -> JobSummary:
        return self._get(f"/v1/job/{job_id}/summary", JobSummary)

    def dispatch_job(
        self,
        job_id: str,
        payload: bytes = b"",
        meta: Mapping[str, str] | None = None,
        *,
        idempotency_token: str = "",
        id_prefix_template: str = "",
    ) -> JobDispatchResponse:
        body = {
            "JobID": job_id,
            "Payload": base64.b64encode(payload).decode() if payload else None,
            "Meta": dict(meta or {}),
            "IdPrefixTemplate": id_prefix_template,
        }
        params = {"idempotency_token": idempotency_token} if idempotency_token else {}
        return self._post(f"/v1/job/{job_id}/dispatch", body, JobDispatchResponse, **params)

    def force_periodic(self, job_id: str) -> PeriodicForceResponse:
        return self._post(f"/v1/job/{job_id}/periodic/force", {}, PeriodicForceResponse)

    def revert_job(self, job_id: str, version: int) -> dict[str, Any]:
        body = {"JobID": job_id, "JobVersion": version}
        return self._post(f"/v1/job/{job_id}/revert", body, dict[str, Any])

    # -- deployments and services ---------------------------------------------------------

    def list_deployments(self, prefix: str = "") -> list[Deployment]:
        return self._get("/v1/deployments", list[Deployment], prefix=prefix)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._get(f"/v1/deployment/{deployment_id}", Deployment)

    def job_deployments(self, job_id: str) -> list[Deployment]:
        return self._get(f"/v1/job/{job_id}/deployments", list[Deployment])

    def deployment_action(self, action: str, deployment_id: str, body: Any) -> dict[str, Any]:
        """POST /v1/deployment/<action>/:id (promote, fail, pause)."""
        return self._post(f"/v1/deployment/{action}/{deployment_id}", body, dict[str, Any])

    def list_services(self) -> list[dict[str, Any]]:
        return self._get("/v1/services", list[dict[str, Any]])

    def get_service(self, name: str) -> list[ServiceRegistration]:
        return self._get(f"/v1/service/{name}", list[ServiceRegistration], all="true")

    def delete_service(self, name: str, registration_id: str) -> None:
        self.request("DELETE", f"/v1/service/{name}/{registration_id}")

    # -- allocations and evaluations -----------------------------------------------------

    def list_allocations(self, prefix: str = "") -> list[AllocListStub]:
        return self._get("/v1/allocations", list[AllocListStub], prefix=prefix)

    def get_allocation(self, alloc_id: str) -> AllocWithJob:
        return self._get(f"/v1/allocation/{alloc_id}", AllocWithJob)

    def list_evaluations(self, prefix: str = "", job: str = "") -> list[Evaluation]:
        return self._get("/v1/evaluations", list[Evaluation], prefix=prefix, job=job)

    def get_evaluation(self, eval_id: str) -> Evaluation:
        return self._get(f"/v1/evaluation/{eval_id}", Evaluation)

    def evaluation_allocations(self, eval_id: str) -> list[AllocListStub]:
        return self._get(f"/v1/evaluation/{eval_id}/allocations", list[AllocListStub])

    def stream_logs(
        self,
        alloc_id: str,
        task: str,
        *,
        kind: Literal["stdout", "stderr"] = "stdout",
        follow: bool = False,
        origin: Literal["start", "end"] = "start",
        offset: int = 0,
    ) -> Iterator[bytes]:
        """The task's log bytes as they arrive (``plain=true``)."""
        params = {
            "namespace": self.namespace,
            "task": task,
            "type": kind,
            "plain": "true",
            "follow": str(follow).lower(),
            "origin": origin,
            "offset": str(offset),
        }
        timeout = httpx.Timeout(10.0, read=None) if follow else None
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            with self._http.stream(
                "GET",
                f"/v1/client/fs/logs/{alloc_id}",
                params=params,
                extensions=self._tls,
                **extra,
            ) as resp:
                if resp.status_code >= 400:
                    text = resp.read().decode(errors="replace").strip()
                    raise ApiError(resp.status_code, text, url=f"/v1/client/fs/logs/{alloc_id}")
                yield from resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise ApiError(0, str(exc) or type(exc).__name__, url=self.address) from exc

    def websocket(self, path: str, params: Mapping[str, str]) -> SyncWs:
        """A WebSocket to ``path`` (``alloc exec``) with this client's token and TLS."""
        query = {"namespace": self.namespace, **params}
        if self.region:
            query.setdefault("region", self.region)
        url = ws_url(self.address, path) + "?" + urlencode(query)
        headers = {"X-Nomad-Token": self._token} if self._token else {}
        context = self._verify if isinstance(self._verify, ssl.SSLContext) else None
        if context is None and self.address.startswith("https://"):
            context = ssl.create_default_context()
            if self._verify is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return SyncWs.open(url, headers, context, self._server_name)

    def stream_plain(self, path: str, params: Mapping[str, str]) -> Iterator[bytes]:
        """A streaming GET's bytes as they arrive (``/v1/agent/monitor?plain=true``)."""
        try:
            with self._http.stream(
                "GET",
                path,
                params=params,
                timeout=httpx.Timeout(10.0, read=None),
                extensions=self._tls,
            ) as resp:
                if resp.status_code >= 400:
                    text = resp.read().decode(errors="replace").strip()
                    raise ApiError(resp.status_code, text, url=path)
                yield from resp.iter_bytes()
        except httpx.HTTPError as exc:
            raise ApiError(0, str(exc) or type(exc).__name__, url=self.address) from exc

    # -- nodes ----------------------------------------------------------------------

    def list_nodes(self, prefix: str = "") -> list[NodeListStub]:
        return self._get("/v1/nodes", list[NodeListStub], prefix=prefix)

    def get_node(self, node_id: str) -> Node:
        return self._get(f"/v1/node/{node_id}", Node)

    def node_allocations(
        self, node_id: str, *, index: int = 0, wait: float = 300.0
    ) -> tuple[list[AllocWithJob], int]:
        """The node's allocations with their jobs; with ``index``, a blocking query."""
        params: dict[str, str | int] = {"index": index, "wait": f"{int(wait * 1000)}ms"}
        resp = self.request(
            "GET", f"/v1/node/{node_id}/allocations", params=params, timeout=wait + 15.0
        )
        allocs = from_json(resp.content, list[AllocWithJob])
        return allocs, int(resp.headers.get("X-Nomad-Index", "0"))

    def set_eligibility(self, node_id: str, eligible: bool) -> NodeEligibilityResponse:
        value = "eligible" if eligible else "ineligible"
        return self._post(
            f"/v1/node/{node_id}/eligibility", {"Eligibility": value}, NodeEligibilityResponse
        )

    def drain_node(
        self, node_id: str, spec: DrainSpec | None, mark_eligible: bool = False
    ) -> NodeEligibilityResponse:
        """Start (``spec``) or cancel (None) a node's drain, as Nomad's UpdateDrain."""
        body: dict[str, Any] = {"NodeID": node_id, "MarkEligible": mark_eligible}
        body["DrainSpec"] = (
            None
            if spec is None
            else {"Deadline": spec.deadline, "IgnoreSystemJobs": spec.ignore_system_jobs}
        )
        return self._post(f"/v1/node/{node_id}/drain", body, NodeEligibilityResponse)

    # -- status, agent and gitops ------------------------------------------------------

    def leader(self) -> str:
        return self._get("/v1/status/leader", str)

    def peers(self) -> list[str]:
        return self._get("/v1/status/peers", list[str])

    def agent_self(self) -> dict[str, Any]:
        return self._get("/v1/agent/self", dict[str, Any])

    def gitops_status(self) -> GitopsStatus:
        return self._get("/v1/gitops/status", GitopsStatus)

    def gitops_sync(self, *, dry_run: bool = False, timeout: float = 300.0) -> SyncReport:
        resp = self.request("POST", "/v1/gitops/sync", body={"DryRun": dry_run}, timeout=timeout)
        return from_json(resp.content, SyncReport)

    # -- internal routes (client agents) ------------------------------------------------

    def register_node(self, node: Node) -> NodeRegisterResponse:
        return self._post("/v1/internal/node/register", node, NodeRegisterResponse)

    def heartbeat(self, node_id: str) -> NodeRegisterResponse:
        return self._post(f"/v1/internal/node/{node_id}/heartbeat", {}, NodeRegisterResponse)

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int:
        body = {"Allocs": updates}
        return self._post("/v1/internal/allocs/update", body, AllocUpdateResponse).index


@dataclass
class ProxiedStream:
    """An open streaming response from another agent, to relay as it arrives."""

    status_code: int
    media_type: str
    body: AsyncIterator[bytes]
    _client: httpx.AsyncClient
    _response: httpx.Response

    async def aclose(self) -> None:
        await self._response.aclose()
        await self._client.aclose()


async def open_proxied_stream(
    address: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    method: str = "GET",
    body: bytes = b"",
    verify: ssl.SSLContext | None = None,
    sni: str = "",
) -> ProxiedStream:
    """Start a streaming request (a GET unless ``method``) of ``path`` on the agent at
    ``address``; an ``https://`` address is checked with ``verify`` (default: the
    system's CAs) and, with ``sni``, must carry that name (``gitorch.api.nodehop``)."""
    client = httpx.AsyncClient(
        base_url=base_url(address),
        timeout=httpx.Timeout(10.0, read=None),
        verify=verify or _default_tls(),  # loading the CA bundle per request cost ~20 ms
        trust_env=False,
    )
    try:
        request = client.build_request(
            method,
            path,
            params=params,
            headers=headers,
            content=body or None,
            extensions={"sni_hostname": sni} if sni else None,
        )
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        raise ApiError(0, str(exc) or type(exc).__name__, url=base_url(address)) from exc
    return ProxiedStream(
        status_code=response.status_code,
        media_type=response.headers.get("content-type", "application/octet-stream"),
        body=response.aiter_raw(),
        _client=client,
        _response=response,
    )


@functools.cache
def _default_tls() -> ssl.SSLContext:
    return ssl.create_default_context()
