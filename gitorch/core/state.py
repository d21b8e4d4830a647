"""The state store: tables of jobs, nodes, allocations and evaluations, changed only by
``StateStore.apply(command)``, the one FSM entry point.

Every replica applies the same commands in the same order and so holds the same
tables. Tables and secondary indexes are persistent maps (``gitorch.core.pmap``) of
frozen values, so a ``Snapshot`` is a handful of references: it costs the same at ten
allocations and at a million, and the scheduler reads it while the FSM moves on. The
live store swaps in a new map on every change, so a reader on another thread always
sees a whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

import msgspec

from gitorch.core import clusterstate, nodestate, nsstate, submissions
from gitorch.core import commands as c
from gitorch.core.aclstate import AclTables
from gitorch.core.bucketmap import BucketMap
from gitorch.core.deployments import ledger
from gitorch.core.idset import NO_IDS, IdSet
from gitorch.core.launchstate import LaunchTables
from gitorch.core.model import (
    Allocation,
    Evaluation,
    Node,
    Plan,
    RescheduleEvent,
    Resources,
    TaskGroup,
    replace,
)
from gitorch.core.model.alloc import NO_DEVICES, extend_tracker, share_empties
from gitorch.core.model.node import compute_class
from gitorch.core.opstate import OperatorTables
from gitorch.core.pmap import PMap, pmap, without
from gitorch.core.servicestate import ServiceTables
from gitorch.core.statedump import ApplyResult as ApplyResult
from gitorch.core.statedump import StateDump as StateDump
from gitorch.core.stateindex import (
    add_usage,
    drop_from,
    index,
    plan_touches,
    usage,
    with_ids,
)
from gitorch.core.stateview import TABLES as TABLES
from gitorch.core.stateview import JobKey as JobKey
from gitorch.core.stateview import Snapshot as Snapshot
from gitorch.core.stateview import StateView as StateView
from gitorch.core.stateview import copy_into
from gitorch.core.varstate import VariableTables

MAX_VERSIONS = 6  # Nomad keeps the last six versions of a job


class StateStore(StateView):
    """The live tables. Only ``apply`` changes them."""

    def snapshot(self) -> Snapshot:
        return copy_into(self, Snapshot())

    # -- the one entry point -------------------------------------------------------

    def apply(self, cmd: c.Command) -> ApplyResult:
        """Apply one command at the next index; return what it made ready."""
        self.index += 1
        idx = self.index
        match cmd:
            case c.RegisterJob():
                return self._register_job(idx, cmd)
            case c.LaunchPeriodic():
                return self._launch_periodic(idx, cmd)
            case c.DeregisterJob():
                return self._deregister_job(idx, cmd)
            case c.RegisterNode():
                return self._register_node(idx, cmd)
            case c.UpdateNodeStatus():
                return self._update_node(
                    idx,
                    cmd.node_id,
                    cmd.evals,
                    cmd.now,
                    status=cmd.status,
                    status_description=cmd.description,
                    status_updated_at=cmd.now // 1_000_000_000,
                )
            case c.UpdateNodeEligibility():
                return self._update_node(
                    idx, cmd.node_id, cmd.evals, cmd.now, scheduling_eligibility=cmd.eligibility
                )
            case c.UpdateNodeDrain() | c.ApplyDrainStep():
                return self._drain(idx, cmd)
            case c.GarbageCollect():
                return self._collect(idx, cmd)
            case c.StopAllocation():
                return self._stop_alloc(idx, cmd)
            case c.UpsertEvals():
                return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))
            case c.ApplyPlan():
                return self._apply_plan(idx, cmd.plan, cmd.now)
            case c.UpdateAllocsFromClient():
                return self._client_update(idx, cmd)
            case c.RecordGitSync():
                self.gitsync = cmd.sync.recorded_over(self.gitsync)
                self._touch(idx, "gitops")
                return ApplyResult(index=idx)
            case c.RecordGitFetchError():
                self.gitsync = replace(self.gitsync, fetch_error=cmd.message)
                self._touch(idx, "gitops")
                return ApplyResult(index=idx)
            case c.SetGitopsSuspend():
                self.gitsync = self.gitsync.with_suspended(cmd.job_id, cmd.suspended)
                self._touch(idx, "gitops")
                return ApplyResult(index=idx)
            case c.SetClusterID() | c.UpsertServerMember() | c.RemoveServerMember():
                self.cluster_id, self.members, error = clusterstate.apply(
                    self.cluster_id, self.members, idx, cmd
                )
                if not error:
                    self._touch(idx, "members")
                return ApplyResult(index=idx, error=error)
            case c.PurgeNode():
                return self._purge_node(idx, cmd)
            case c.UpdateDeployment():
                return self._update_deployment(idx, cmd)
            case c.SetJobStable():
                return self._set_stable(idx, cmd.namespace, cmd.job_id, cmd.version, cmd.stable)
            case c.UpsertServices() | c.DeleteServices() | c.UpsertCheckResults():
                return self._services(idx, cmd)
            case (
                c.BootstrapACL() | c.UpsertACLTokens() | c.DeleteACLTokens()
                | c.UpsertACLPolicies() | c.DeleteACLPolicies()
                | c.UpsertACLRoles() | c.DeleteACLRoles()
            ):  # fmt: skip
                self.acl, error, touched = self.acl.apply(idx, cmd)
                for table in touched:
                    self._touch(idx, table)
                return ApplyResult(index=idx, error=error)
            case c.UpsertVariable() | c.DeleteVariable() | c.UpsertRootKey():
                self.vars, error, touched = self.vars.apply(idx, cmd)
                for table in touched:
                    self._touch(idx, table)
                return ApplyResult(index=idx, error=error)
            case c.UpsertNamespaces() | c.DeleteNamespaces():
                self.namespaces, error = nsstate.apply(self, idx, cmd)
                if not error:
                    self._touch(idx, "namespaces")
                return ApplyResult(index=idx, error=error)
            case c.SetSchedulerConfig() | c.StageRestore():
                self.operator, error, touched, restore = self.operator.apply(idx, cmd)
                self.table_index.update(dict.fromkeys(touched, idx))
                if restore is not None:  # a restore's last chunk: replace every table
                    return self._restore(idx, restore)
                return ApplyResult(index=idx, error=error)
            case _:
                assert_never(cmd)

    def _restore(self, idx: int, payload: bytes) -> ApplyResult:
        """Load a saved snapshot at ``idx`` (indexes never go back), keeping this cluster's
        ID and servers; the snapshot's pending evaluations are ready again."""
        try:
            dump = msgspec.msgpack.decode(payload, type=StateDump)
        except msgspec.DecodeError as exc:  # the server checked it before the log took it
            return ApplyResult(index=idx, error=f"snapshot restore: {exc}")
        cluster_id, members = self.cluster_id, self.members
        copy_into(StateStore.load(dump), self)
        self.index, self.cluster_id, self.members = idx, cluster_id, members
        self.operator = OperatorTables(self.operator.scheduler_config)
        self.table_index = dict.fromkeys([*TABLES, *self.table_index], idx)
        self.node_alloc_index, self.alloc_floor = pmap(), idx  # every node's watch wakes
        ready = [e for e in self.evals.values() if e.status == "pending"]
        return ApplyResult(index=idx, new_evals=sorted(ready, key=lambda e: e.create_index))

    # -- jobs -----------------------------------------------------------------------

    def _register_job(self, idx: int, cmd: c.RegisterJob) -> ApplyResult:
        key = (cmd.job.namespace, cmd.job.id)
        old = self.jobs.get(key)
        job = replace(cmd.job, stop=cmd.job.stop, status=cmd.job.status)
        if old is not None and old.spec_key() == job.spec_key():
            job = replace(old, source=job.source, modify_index=idx)
        else:
            job = replace(
                job,
                version=0 if old is None else old.version + 1,
                create_index=idx if old is None else old.create_index,
                modify_index=idx,
                job_modify_index=idx,
                submit_time=cmd.now,
            )
            history = (*self.versions.get(key, ()), job)[-MAX_VERSIONS:]
            self.versions = self.versions.set(key, history)
        self.jobs = self.jobs.set(key, job)
        self._touch(idx, "jobs")
        self.submissions = self.submissions.add(job, cmd.submission, self.versions.get(key, ()))
        launches = self.launches.registered(job, idx, cmd.now)
        if launches is not self.launches:
            self.launches = launches
            self._touch(idx, "periodic_launch")
        evals = [replace(cmd.eval, job_modify_index=job.job_modify_index)] if cmd.eval else []
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, evals, cmd.now))

    def _launch_periodic(self, idx: int, cmd: c.LaunchPeriodic) -> ApplyResult:
        """Register a periodic job's child and record the launch (see LaunchTables)."""
        ns, parent_id = cmd.job.namespace, cmd.job.parent_id
        parent = self.jobs.get((ns, parent_id))
        if parent is None or not parent.is_periodic_active():
            return ApplyResult(index=idx, error=f"job {parent_id!r} is not an active periodic job")
        if not cmd.forced and (why := self.launches.refuses(ns, parent_id, cmd.due or cmd.launch)):
            return ApplyResult(index=idx, error=why)
        self.launches = self.launches.launched(ns, parent_id, cmd.launch, idx)
        self._touch(idx, "periodic_launch")
        return self._register_job(idx, c.RegisterJob(now=cmd.now, job=cmd.job, eval=cmd.eval))

    def _deregister_job(self, idx: int, cmd: c.DeregisterJob) -> ApplyResult:
        key = (cmd.namespace, cmd.job_id)
        old = self.jobs.get(key)
        if old is None:
            return ApplyResult(index=idx, error=f"job {cmd.job_id!r} not found")
        if cmd.purge:
            self.jobs = self.jobs.delete(key)
            self.versions = without(self.versions, key)
            self.launches = self.launches.purged(old)
            self.submissions = self.submissions.purged(*key)
        elif not old.stop:
            stopped = replace(
                old,
                stop=True,
                version=old.version + 1,
                modify_index=idx,
                job_modify_index=idx,
                submit_time=cmd.now,
            )
            self.jobs = self.jobs.set(key, stopped)
            history = (*self.versions.get(key, ()), stopped)[-MAX_VERSIONS:]
            self.versions = self.versions.set(key, history)
            self.submissions = self.submissions.add(stopped, None, history)
        self._touch(idx, "jobs")
        evals = [cmd.eval] if cmd.eval else []
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, evals, cmd.now))

    # -- nodes ----------------------------------------------------------------------

    def _register_node(self, idx: int, cmd: c.RegisterNode) -> ApplyResult:
        old = self.nodes.get(cmd.node.id)
        node = replace(
            cmd.node,
            computed_class=compute_class(cmd.node),  # Nomad's servers stamp it at register
            create_index=idx if old is None else old.create_index,
            modify_index=idx,
            status_updated_at=cmd.now // 1_000_000_000,
            scheduling_eligibility=(
                cmd.node.scheduling_eligibility if old is None else old.scheduling_eligibility
            ),
        )
        if old is not None and old.last_drain is not None:  # an operator's drain outlives
            # a client's registration
            node = replace(
                node, drain=old.drain, drain_strategy=old.drain_strategy, last_drain=old.last_drain
            )
        self._put_node(node)
        if old is not None and old.secret_id and old.secret_id != node.secret_id:
            self.nodes_by_secret = without(self.nodes_by_secret, old.secret_id)
        if node.secret_id:
            self.nodes_by_secret = self.nodes_by_secret.set(node.secret_id, node.id)
        self._touch(idx, "nodes")
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))

    def _purge_node(self, idx: int, cmd: c.PurgeNode) -> ApplyResult:
        """Forget a node (``/v1/node/:id/purge``); its allocations count as lost."""
        node = self.nodes.get(cmd.node_id)
        if node is None:
            return ApplyResult(index=idx, error=f"node {cmd.node_id!r} not found")
        self.nodes = self.nodes.delete(node.id)
        self.draining = self.draining.without([node.id])
        self.nodes_by_secret = without(self.nodes_by_secret, node.secret_id)
        self._touch(idx, "nodes")
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))

    def _update_node(
        self, idx: int, node_id: str, evals: list[Evaluation], now: int, **changes: object
    ) -> ApplyResult:
        node = self.nodes.get(node_id)
        if node is None:
            return ApplyResult(index=idx, error=f"node {node_id!r} not found")
        self._put_node(replace(node, modify_index=idx, **changes))
        self._touch(idx, "nodes")
        if changes.get("status") == "down":  # a down node's services are gone (Nomad)
            self._drop_services(idx, [a.id for a in self.allocs_for_node(node_id)])
        if changes.get("status") == "disconnected":  # tolerant allocations go unknown
            on_node = self.by_node.get(node_id, NO_IDS)
            allocs, marked = nodestate.mark_unknown(self.allocs, on_node, self._group_of, idx, now)
            self._set_allocs(allocs, on_node)
            if marked:
                self._touch(idx, "allocs")
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, evals, now))

    def _drain(self, idx: int, cmd: c.UpdateNodeDrain | c.ApplyDrainStep) -> ApplyResult:
        node = self.nodes.get(cmd.node_id)
        if node is None:
            return ApplyResult(index=idx, error=f"node {cmd.node_id!r} not found")
        on_node = self.by_node.get(node.id, NO_IDS)
        if isinstance(cmd, c.UpdateNodeDrain):
            if cmd.strategy is not None:
                node = nodestate.start_drain(node, cmd.strategy, cmd.meta, cmd.now)
            else:
                node = nodestate.cancel_drain(node, cmd.mark_eligible, cmd.now)
                self._set_allocs(nodestate.unmark(self.allocs, on_node, idx), on_node)
                self._touch(idx, "allocs")
        elif node.drain_strategy is None:
            return ApplyResult(index=idx, error=f"node {node.id} is not draining")
        else:
            stepped = nodestate.drain_step(self.allocs, cmd.migrate, cmd.stop, idx, cmd.now)
            self._set_allocs(stepped, {*on_node, *cmd.migrate, *(a for a, _ in cmd.stop)})
            self._touch(idx, "allocs")
            if cmd.done:
                node = nodestate.finish_drain(node, cmd.now)
        self._put_node(replace(node, modify_index=idx))
        self._touch(idx, "nodes")
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))

    def _put_node(self, node: Node) -> None:
        """Install ``node``, keeping ``draining`` in step. Every change to a node in
        ``nodes`` goes through here (a purge drops it from both)."""
        self.nodes = self.nodes.set(node.id, node)
        if (node.drain_strategy is not None) != (node.id in self.draining):
            if node.drain_strategy is None:
                self.draining = self.draining.without([node.id])
            else:
                self.draining = self.draining.with_ids([node.id])

    def _stop_alloc(self, idx: int, cmd: c.StopAllocation) -> ApplyResult:
        alloc = self.allocs.get(cmd.alloc_id)
        if alloc is None:
            return ApplyResult(index=idx, error=f"alloc {cmd.alloc_id!r} not found")
        stop = [(alloc.id, cmd.description)]
        self._set_allocs(nodestate.drain_step(self.allocs, [], stop, idx, cmd.now), [alloc.id])
        self._touch(idx, "allocs")
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))

    def _collect(self, idx: int, cmd: c.GarbageCollect) -> ApplyResult:
        allocs, by_job, by_node = self.allocs.mutate(), self.by_job.mutate(), self.by_node.mutate()
        gone: list[str] = []
        of_job: dict[JobKey, list[str]] = {}
        of_node: dict[str, list[str]] = {}
        for alloc_id in cmd.alloc_ids:
            a = allocs.get(alloc_id)
            if a is None or not a.client_terminal():
                continue
            del allocs[alloc_id]
            gone.append(alloc_id)
            of_job.setdefault((a.namespace, a.job_id), []).append(alloc_id)
            of_node.setdefault(a.node_id, []).append(alloc_id)
        for job_key, ids in of_job.items():
            drop_from(by_job, job_key, ids)
        for node_id, ids in of_node.items():
            drop_from(by_node, node_id, ids)
        if gone:
            self.by_job, self.by_node = by_job.finish(), by_node.finish()
            self._set_allocs(allocs.finish(), gone)
            self._touch(idx, "allocs")
        evals, evals_by_job = self.evals.mutate(), self.evals_by_job.mutate()
        evals_of_job: dict[JobKey, list[str]] = {}
        for eval_id in cmd.eval_ids:
            ev = evals.get(eval_id)
            if ev is None or not ev.terminal():
                continue
            del evals[eval_id]
            evals_of_job.setdefault((ev.namespace, ev.job_id), []).append(eval_id)
        for job_key, ids in evals_of_job.items():
            drop_from(evals_by_job, job_key, ids)
        if evals_of_job:
            self.evals, self.evals_by_job = evals.finish(), evals_by_job.finish()
            self._touch(idx, "evals")
        return ApplyResult(index=idx)

    def _group_of(self, alloc: Allocation) -> TaskGroup | None:
        job = self.job_version(alloc.namespace, alloc.job_id, alloc.job_version) or self.job(
            alloc.namespace, alloc.job_id
        )
        return job.group(alloc.task_group) if job is not None else None

    # -- evaluations ----------------------------------------------------------------

    def _upsert_evals(self, idx: int, evals: list[Evaluation], now: int) -> list[Evaluation]:
        ready: list[Evaluation] = []
        if not evals:
            return ready
        table, by_job = self.evals.mutate(), self.evals_by_job.mutate()
        for ev in evals:
            old = table.get(ev.id)
            ev = replace(
                ev,
                create_index=idx if old is None else old.create_index,
                create_time=now if old is None else old.create_time,
                modify_index=idx,
                modify_time=now,
            )
            table[ev.id] = ev
            key = (ev.namespace, ev.job_id)
            by_job[key] = with_ids(by_job.get(key), (ev.id,))
            if ev.status == "pending":
                ready.append(ev)
        self.evals, self.evals_by_job = table.finish(), by_job.finish()
        self._touch(idx, "evals")
        return ready

    # -- allocations ----------------------------------------------------------------

    def _apply_plan(self, idx: int, plan: Plan, now: int) -> ApplyResult:
        allocs = self.allocs.mutate()
        for stop in plan.stops:
            old = allocs.get(stop.id)
            if old is None:
                continue
            changes: dict[str, object] = {
                "desired_status": "stop",
                "desired_description": stop.description,
                "modify_index": idx,
                "alloc_modify_index": idx,
                "modify_time": now,
            }
            if stop.client_status:
                changes["client_status"] = stop.client_status
            allocs[stop.id] = replace(old, **changes)
        job = self.job_version(plan.namespace, plan.job_id, plan.job_version)
        placed_on: dict[str, set[str]] = {}
        # Values every allocation of a group shares, made once per plan rather than once
        # per allocation (a million allocations hold one Resources per group, not each
        # their own, and name their node with the node's own string).
        asks = {tg.name: tg.resources() for tg in job.task_groups} if job else {}
        deployment_id = plan.deployment.id if plan.deployment is not None else ""
        placed: list[Allocation] = []
        moved: list[Allocation] = []
        for alloc_id in plan.inplace:  # a non-destructive change: the tasks keep running
            old = allocs.get(alloc_id)
            if old is not None and not old.terminal():
                allocs[alloc_id] = new = replace(
                    old,
                    job_version=plan.job_version,
                    deployment_id=deployment_id or old.deployment_id,
                    deployment_status=None if deployment_id else old.deployment_status,
                    modify_index=idx,
                    alloc_modify_index=idx,
                    modify_time=now,
                )
                moved.append(new)
        for p in plan.placements:
            group = job.group(p.task_group) if job else None
            node = self.nodes.get(p.node_id)
            prev = allocs.get(p.previous_allocation)
            tracker = None  # carried (and extended) by reschedules only, not by updates
            if p.reschedule_delay is not None and prev is not None and job and group:
                event = RescheduleEvent(
                    reschedule_time=now,
                    prev_alloc_id=prev.id,
                    prev_node_id=prev.node_id,
                    delay=p.reschedule_delay,
                )
                policy = job.reschedule_policy(group)
                tracker = extend_tracker(prev.reschedule_tracker, event, policy)
            alloc = Allocation(
                id=p.id,
                name=f"{plan.job_id}.{p.task_group}[{p.index}]",
                namespace=plan.namespace,
                eval_id=plan.eval_id,
                node_id=node.id if node else p.node_id,
                node_name=node.name if node else "",
                job_id=plan.job_id,
                job_version=plan.job_version,
                task_group=group.name if group else p.task_group,
                resources=asks.get(p.task_group) or Resources(),
                previous_allocation=p.previous_allocation,
                reschedule_tracker=tracker,
                allocated_ports=tuple(p.ports),
                allocated_devices=p.devices or NO_DEVICES,
                deployment_id=deployment_id,
                deployment_status=ledger.placed_status(plan, p.canary)[1],
                create_index=idx,
                modify_index=idx,
                alloc_modify_index=idx,
                create_time=now,
                modify_time=now,
            )
            allocs[alloc.id] = alloc
            placed.append(alloc)
            placed_on.setdefault(alloc.node_id, set()).add(alloc.id)
            if prev is not None:
                allocs[prev.id] = replace(prev, next_allocation=p.id, modify_index=idx)
        self._set_allocs(allocs.finish(), plan_touches(plan))
        lost = [s.id for s in plan.stops if (a := self.allocs.get(s.id)) and a.client_terminal()]
        self._drop_services(idx, lost)
        if placed_on:
            key = (plan.namespace, plan.job_id)
            ids_of_job = with_ids(self.by_job.get(key), (a.id for a in placed))
            self.by_job = self.by_job.set(key, ids_of_job)
            by_node = self.by_node.mutate()
            for node_id, ids in placed_on.items():
                by_node[node_id] = with_ids(by_node.get(node_id), ids)
            self.by_node = by_node.finish()
        if plan.deployment is not None or plan.deployment_updates:
            self.deployments, self.deployments_by_job = ledger.record_plan(
                self.deployments, self.deployments_by_job, plan, placed, moved, idx, now
            )
            self._touch(idx, "deployments")
        if plan.stops or plan.placements or plan.inplace:
            self._touch(idx, "allocs")
        evals = ([plan.eval_update] if plan.eval_update else []) + list(plan.new_evals)
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, evals, now))

    def _client_update(self, idx: int, cmd: c.UpdateAllocsFromClient) -> ApplyResult:
        allocs = self.allocs.mutate()
        for up in cmd.updates:
            old = allocs.get(up.id)
            if old is None:
                continue
            allocs[up.id] = replace(
                old,
                client_status=up.client_status,
                client_description=up.client_description,
                task_states=up.task_states or old.task_states,
                modify_index=idx,
                modify_time=cmd.now,
            )
        self._set_allocs(allocs.finish(), [u.id for u in cmd.updates])
        self._touch(idx, "allocs")
        ended = [
            u.id for u in cmd.updates if u.id in self.allocs and self.allocs[u.id].client_terminal()
        ]
        self._drop_services(idx, ended)
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, cmd.evals, cmd.now))

    # -- services -------------------------------------------------------------------

    def _services(
        self, idx: int, cmd: c.UpsertServices | c.DeleteServices | c.UpsertCheckResults
    ) -> ApplyResult:
        if isinstance(cmd, c.DeleteServices):
            before = self.svc
            self._drop_services(idx, cmd.alloc_ids, cmd.ids)
            missing = [i for i in cmd.ids if i not in before.services]
            error = f"service registration {missing[0]!r} not found" if missing else ""
            return ApplyResult(index=idx, error=error)
        alloc_ids = (
            [cmd.alloc_id]
            if isinstance(cmd, c.UpsertCheckResults)
            else [s.alloc_id for s in cmd.services]
        )
        gone = [a for a in alloc_ids if (al := self.allocs.get(a)) is None or al.client_terminal()]
        if gone:  # a late write for an allocation that ended must not bring it back
            return ApplyResult(index=idx, error=f"allocation {gone[0]} is not live")
        if isinstance(cmd, c.UpsertCheckResults):
            self.svc = self.svc.with_checks(cmd.alloc_id, tuple(cmd.results))
            self._touch(idx, "checks")
            self._touch(idx, "services")  # answers of /v1/service/:name change with health
        else:
            self.svc = self.svc.upsert(cmd.services, idx)
            self._touch(idx, "services")
        return ApplyResult(index=idx)

    def _drop_services(self, idx: int, alloc_ids: list[str], ids: list[str] | None = None) -> None:
        svc = self.svc.delete(ids or [], alloc_ids)
        if svc is not self.svc:
            self.svc = svc
            self._touch(idx, "services")
            self._touch(idx, "checks")

    # -- deployments ----------------------------------------------------------------

    def _update_deployment(self, idx: int, cmd: c.UpdateDeployment) -> ApplyResult:
        d = self.deployments.get(cmd.deployment_id)
        if d is None:
            return ApplyResult(index=idx, error=f"deployment {cmd.deployment_id!r} not found")
        if cmd.health:
            mine = {h.id: self.allocs[h.id] for h in cmd.health if h.id in self.allocs}
            health = [(h.id, h.healthy, h.timestamp) for h in cmd.health]
            d, changed = ledger.record_health(d, mine, health, idx)
            if changed:
                allocs = self.allocs.mutate()
                for alloc_id, alloc in changed.items():
                    allocs[alloc_id] = alloc
                self._set_allocs(allocs.finish(), changed)
                self._touch(idx, "allocs")
        if cmd.promote:
            d = ledger.promote(d, cmd.promote)
        if cmd.status:
            d = replace(d, status=cmd.status, status_description=cmd.status_description)
        elif cmd.status_description:
            d = replace(d, status_description=cmd.status_description)
        d = replace(d, modify_index=idx, modify_time=cmd.now)
        self.deployments = self.deployments.set(d.id, d)
        self._touch(idx, "deployments")
        if cmd.status == "successful":  # Nomad marks the deployed version stable
            self._set_stable(idx, d.namespace, d.job_id, d.job_version, True)
        evals = list(cmd.evals)
        if cmd.revert is not None:
            job = replace(cmd.revert, stable=False)
            ev = evals[0] if evals else None
            return self._register_job(idx, c.RegisterJob(now=cmd.now, job=job, eval=ev))
        return ApplyResult(index=idx, new_evals=self._upsert_evals(idx, evals, cmd.now))

    def _set_stable(
        self, idx: int, namespace: str, job_id: str, version: int, stable: bool
    ) -> ApplyResult:
        key = (namespace, job_id)
        history = self.versions.get(key, ())
        if not any(j.version == version for j in history):
            return ApplyResult(index=idx, error=f"job {job_id!r} has no version {version}")
        marked = tuple(replace(j, stable=stable) if j.version == version else j for j in history)
        self.versions = self.versions.set(key, marked)
        current = self.jobs.get(key)
        if current is not None and current.version == version:
            self.jobs = self.jobs.set(key, replace(current, stable=stable, modify_index=idx))
        self._touch(idx, "jobs")
        return ApplyResult(index=idx)

    def _set_allocs(self, new: BucketMap[str, Allocation], touched: Iterable[str]) -> None:
        """Install ``new`` as the allocation table, keeping ``used_by_node`` in step for
        the ``touched`` IDs (every allocation that may differ from the current table).
        Every change to ``allocs`` goes through here."""
        old = self.allocs
        used = self.used_by_node.mutate()
        nodes: set[str] = set()
        for alloc_id in touched:
            before, after = old.get(alloc_id), new.get(alloc_id)
            if before is not after:
                add_usage(used, before, -1)
                add_usage(used, after, 1)
                nodes.update(a.node_id for a in (before, after) if a is not None)
        self.used_by_node = used.finish()
        if nodes:
            self.node_alloc_index = self.node_alloc_index.update(dict.fromkeys(nodes, self.index))
        self.allocs = new

    def _touch(self, idx: int, table: str) -> None:
        self.table_index[table] = idx

    # -- persistence ----------------------------------------------------------------

    def dump(self) -> StateDump:
        return StateDump(
            index=self.index,
            table_index=dict(self.table_index),
            jobs=list(self.jobs.values()),
            versions=[list(v) for v in self.versions.values()],
            nodes=list(self.nodes.values()),
            allocs=list(self.allocs.values()),
            evals=list(self.evals.values()),
            gitsync=self.gitsync,
            cluster_id=self.cluster_id,
            members=list(self.members.values()),
            periodic_launches=list(self.launches.launches.values()),
            deployments=list(self.deployments.values()),
            services=list(self.svc.services.values()),
            checks=[(a, list(r)) for a, r in self.svc.checks.items()],
            acl=self.acl.dump(),
            variables=self.vars.dump(),
            operator=self.operator.dump(),
            submissions=self.submissions.dump(),
            namespaces=list(self.namespaces.values()),
        )

    @classmethod
    def load(cls, dump: StateDump) -> StateStore:
        store = cls()
        store.index = dump.index
        store.table_index = dict.fromkeys(TABLES, 0) | dump.table_index
        store.jobs = PMap(((j.namespace, j.id), j) for j in dump.jobs)
        store.versions = PMap(((v[0].namespace, v[0].id), tuple(v)) for v in dump.versions if v)
        store.nodes = PMap((n.id, n) for n in dump.nodes)
        store.nodes_by_secret = PMap((n.secret_id, n.id) for n in dump.nodes if n.secret_id)
        store.draining = IdSet(n.id for n in dump.nodes if n.drain_strategy is not None)
        share_empties(dump.allocs)  # as new allocations do: ~120 MiB at 1,000,000
        store.allocs = BucketMap((a.id, a) for a in dump.allocs)
        store.used_by_node = usage(dump.allocs)
        store.by_job = index(((a.namespace, a.job_id), a.id) for a in dump.allocs)
        store.by_node = index((a.node_id, a.id) for a in dump.allocs)
        store.alloc_floor = store.table_index.get("allocs", 0)  # no per-node history kept
        store.evals = PMap((e.id, e) for e in dump.evals)
        store.evals_by_job = index(((e.namespace, e.job_id), e.id) for e in dump.evals)
        store.gitsync = dump.gitsync
        store.cluster_id = dump.cluster_id
        store.members = PMap((m.raft_addr, m) for m in dump.members)
        store.launches = LaunchTables.build(dump.jobs, dump.periodic_launches)
        store.deployments = PMap((d.id, d) for d in dump.deployments)
        store.deployments_by_job = index(((d.namespace, d.job_id), d.id) for d in dump.deployments)
        store.svc = ServiceTables.build(dump.services, dump.checks)
        store.acl = AclTables.build(dump.acl)
        store.vars = VariableTables.build(dump.variables)
        store.operator = OperatorTables.build(dump.operator)
        store.submissions = submissions.SubmissionTables.build(dump.submissions)
        store.namespaces = PMap((n.name, n) for n in dump.namespaces)
        return store
