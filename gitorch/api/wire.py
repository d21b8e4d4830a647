"""Response bodies of the v1 API that are views over state, not stored values.

Shared by the routes (which build them) and the HTTP client (which decodes them), so
this module imports neither starlette nor httpx.
"""

from __future__ import annotations

from collections import Counter

import msgspec

from gitorch.core.jobdiff import JobDiff
from gitorch.core.model import Allocation, Job, JobSource, Model, TaskGroup, TaskState
from gitorch.core.model.allocres import (
    AllocatedResources,
    AllocatedTaskResources,
    allocated_resources,
    task_resources,
)
from gitorch.core.state import StateView

TaskFigures = dict[str, AllocatedTaskResources]


class TaskGroupSummary(Model, frozen=True, kw_only=True):
    queued: int = 0
    complete: int = 0
    failed: int = 0
    running: int = 0
    starting: int = 0
    lost: int = 0
    unknown: int = 0


class JobChildrenSummary(Model, frozen=True, kw_only=True):
    pending: int = 0
    running: int = 0
    dead: int = 0


class JobSummary(Model, frozen=True, kw_only=True):
    """Nomad's JobSummary: allocation counts per task group, by client status."""

    job_id: str
    namespace: str
    summary: dict[str, TaskGroupSummary]
    children: JobChildrenSummary = JobChildrenSummary()
    create_index: int = 0
    modify_index: int = 0


class JobListStub(Model, frozen=True, kw_only=True):
    """A row of GET /v1/jobs (Nomad's JobListStub, plus where the job came from)."""

    id: str
    parent_id: str = ""
    name: str
    namespace: str
    datacenters: list[str]
    type: str
    priority: int
    periodic: bool = False
    parameterized_job: bool = False
    stop: bool
    status: str
    status_description: str = ""
    version: int
    job_summary: JobSummary
    create_index: int
    modify_index: int
    job_modify_index: int
    submit_time: int
    source: JobSource | None = None


class AllocListStub(Model, frozen=True, kw_only=True):
    """A row of GET /v1/allocations and /v1/job/:id/allocations (Nomad's AllocListStub)."""

    id: str
    eval_id: str
    name: str
    namespace: str
    node_id: str
    node_name: str
    job_id: str
    job_type: str
    job_version: int
    task_group: str
    desired_status: str
    desired_description: str
    client_status: str
    client_description: str
    task_states: dict[str, TaskState] | None  # None with ?task_states=false
    allocated_resources: AllocatedResources | msgspec.UnsetType = msgspec.UNSET
    followup_eval_id: str = ""
    create_index: int
    modify_index: int
    create_time: int
    modify_time: int


class AllocWithJob(Allocation, frozen=True, kw_only=True):
    """An allocation with the job (at the allocation's version) embedded, as Nomad sends it."""

    job: Job | None = None


class JobVersionsResponse(Model, frozen=True, kw_only=True):
    versions: list[Job]
    diffs: list[JobDiff] | None = None  # ?diffs=true: each version against the one before


class JobValidateResponse(Model, frozen=True, kw_only=True):
    driver_config_validated: bool = True
    validation_errors: list[str] = []
    error: str = ""
    warnings: str = ""


class NodeEligibilityResponse(Model, frozen=True, kw_only=True):
    eval_ids: list[str] = []
    eval_create_index: int = 0
    node_modify_index: int = 0
    index: int = 0


class AllocUpdateResponse(Model, frozen=True, kw_only=True):
    index: int


def job_summary(state: StateView, job: Job) -> JobSummary:
    """Count the job's allocations per group by client status; Queued comes from the
    latest evaluation the scheduler finished."""
    counts: dict[str, Counter[str]] = {tg.name: Counter() for tg in job.task_groups}
    modify = job.modify_index
    for alloc in state.allocs_for_job(job.namespace, job.id):
        modify = max(modify, alloc.modify_index)
        if alloc.client_status == "pending":
            if alloc.desired_status != "run":
                continue
            key = "starting"
        else:
            key = alloc.client_status
        counts.setdefault(alloc.task_group, Counter())[key] += 1
    done = [e for e in state.evals_for_job(job.namespace, job.id) if e.status != "pending"]
    queued = done[-1].queued_allocations if done else {}
    return JobSummary(
        job_id=job.id,
        namespace=job.namespace,
        summary={
            name: TaskGroupSummary(
                queued=queued.get(name, 0),
                complete=row["complete"],
                failed=row["failed"],
                running=row["running"],
                starting=row["starting"],
                lost=row["lost"],
            )
            for name, row in counts.items()
        },
        children=children_summary(state, job),
        create_index=job.create_index,
        modify_index=modify,
    )


def children_summary(state: StateView, job: Job) -> JobChildrenSummary:
    """A periodic or parameterized job's children by status (Nomad's Children)."""
    if not job.is_parent():
        return JobChildrenSummary()
    counts = Counter(state.job_status(c) for c in state.children(job.namespace, job.id))
    return JobChildrenSummary(
        pending=counts["pending"], running=counts["running"], dead=counts["dead"]
    )


def job_stub(state: StateView, job: Job) -> JobListStub:
    return JobListStub(
        id=job.id,
        parent_id=job.parent_id,
        name=job.name,
        namespace=job.namespace,
        datacenters=job.datacenters,
        type=job.type,
        priority=job.priority,
        periodic=job.is_periodic(),
        parameterized_job=job.is_parameterized(),
        stop=job.stop,
        status=state.job_status(job),
        status_description=job.status_description,
        version=job.version,
        job_summary=job_summary(state, job),
        create_index=job.create_index,
        modify_index=job.modify_index,
        job_modify_index=job.job_modify_index,
        submit_time=job.submit_time,
        source=job.source,
    )


class AllocRows:
    """Builds allocation list rows; Nomad's ``?resources=true`` adds AllocatedResources
    (each job version's task figures built once per list), ``?task_states=false`` drops
    TaskStates (null)."""

    def __init__(self, state: StateView, *, resources: bool = False, task_states: bool = True):
        self.state = state
        self.resources = resources
        self.task_states = task_states
        self._groups: dict[tuple[str, str, int, str], tuple[TaskGroup | None, TaskFigures]] = {}

    def __call__(self, alloc: Allocation) -> AllocListStub:
        job = self.state.job(alloc.namespace, alloc.job_id)
        allocated: AllocatedResources | msgspec.UnsetType = msgspec.UNSET
        if self.resources:
            group, tasks = self._group(alloc, job)
            allocated = allocated_resources(alloc, group, tasks)
        return AllocListStub(
            id=alloc.id,
            eval_id=alloc.eval_id,
            name=alloc.name,
            namespace=alloc.namespace,
            node_id=alloc.node_id,
            node_name=alloc.node_name,
            job_id=alloc.job_id,
            job_type=job.type if job else "",
            job_version=alloc.job_version,
            task_group=alloc.task_group,
            desired_status=alloc.desired_status,
            desired_description=alloc.desired_description,
            client_status=alloc.client_status,
            client_description=alloc.client_description,
            task_states=alloc.task_states if self.task_states else None,
            allocated_resources=allocated,
            create_index=alloc.create_index,
            modify_index=alloc.modify_index,
            create_time=alloc.create_time,
            modify_time=alloc.modify_time,
        )

    def _group(self, alloc: Allocation, job: Job | None) -> tuple[TaskGroup | None, TaskFigures]:
        """The allocation's group at its job version (the current job's if that version
        aged out) and its tasks' figures."""
        key = (alloc.namespace, alloc.job_id, alloc.job_version, alloc.task_group)
        found = self._groups.get(key)
        if found is None:
            at = self.state.job_version(*key[:3]) or job
            group = at.group(alloc.task_group) if at else None
            found = self._groups[key] = (group, task_resources(group))
        return found


def alloc_stub(
    state: StateView, alloc: Allocation, *, resources: bool = False, task_states: bool = True
) -> AllocListStub:
    """One allocation's list row (``AllocRows`` for a list)."""
    return AllocRows(state, resources=resources, task_states=task_states)(alloc)


def alloc_with_job(state: StateView, alloc: Allocation) -> AllocWithJob:
    """The allocation plus its job at the allocation's version (the current job if that
    version has aged out of the history)."""
    job = state.job_version(alloc.namespace, alloc.job_id, alloc.job_version)
    if job is None:
        job = state.job(alloc.namespace, alloc.job_id)
    return AllocWithJob(**msgspec.structs.asdict(alloc), job=job)
