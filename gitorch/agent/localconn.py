"""``ServerConn`` to a server in the same process (the dev agent): no HTTP hop.

Nomad's dev agent does the same: its client talks to its own server in memory.
"""

from __future__ import annotations

from gitorch.agent.conn import AllocsWithJobs
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Node
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.server.backend import Backend, NodeRegisterResponse


class LocalConn:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def register_node(self, node: Node) -> NodeRegisterResponse:
        return self._backend.register_node(node)

    def heartbeat(self, node_id: str) -> NodeRegisterResponse:
        return self._backend.heartbeat(node_id)

    def allocations(self, node_id: str, index: int, wait: float) -> tuple[int, AllocsWithJobs]:
        new_index = self._backend.wait_index(("allocs",), index, wait)
        state = self._backend.state
        out: AllocsWithJobs = []
        for alloc in state.allocs_for_node(node_id):
            job = state.job_version(alloc.namespace, alloc.job_id, alloc.job_version)
            if job is not None:
                out.append((alloc, job))
        return new_index, out

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int:
        return self._backend.update_allocs(updates)

    def upsert_services(self, services: list[ServiceRegistration]) -> int:
        return self._backend.upsert_services(services)

    def delete_services(self, alloc_ids: list[str]) -> int:
        return self._backend.delete_services([], alloc_ids)

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int:
        return self._backend.update_checks(alloc_id, results)
