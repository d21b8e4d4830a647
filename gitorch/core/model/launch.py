"""How a job launches child jobs: Nomad's ``periodic`` and ``parameterized`` blocks, a
task's ``dispatch_payload``, and the periodic launch record the leader keeps in state.

Wire names are Nomad's (``Periodic``, ``ParameterizedJob``, ``DispatchPayload``,
``PeriodicLaunch``). Times are unix nanoseconds.
"""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

PayloadRule = Literal["optional", "required", "forbidden"]
PAYLOAD_RULES: tuple[str, ...] = ("optional", "required", "forbidden")
DISPATCH_PAYLOAD_LIMIT = 16 * 1024  # bytes: Nomad's DispatchPayloadSizeLimit
PERIODIC_SUFFIX = "/periodic-"  # Nomad's PeriodicLaunchSuffix
DISPATCH_SUFFIX = "/dispatch-"  # Nomad's DispatchLaunchSuffix


class PeriodicConfig(Model, frozen=True, kw_only=True):
    """``periodic { cron | crons, time_zone, prohibit_overlap, enabled }``.

    ``spec`` is the one ``cron`` (deprecated in Nomad 1.6 for ``crons``), ``specs`` the
    ``crons`` list; the next launch is the earliest of them. ``time_zone`` names an IANA
    zone the expressions are read in (UTC when empty)."""

    enabled: bool = True
    spec: str = ""
    specs: list[str] = []
    spec_type: str = "cron"
    prohibit_overlap: bool = False
    time_zone: str = "UTC"

    def all_specs(self) -> list[str]:
        return [self.spec] if self.spec else list(self.specs)


class ParameterizedJobConfig(Model, frozen=True, kw_only=True):
    """``parameterized { payload, meta_required, meta_optional }``."""

    payload: PayloadRule = "optional"
    meta_required: list[str] = []
    meta_optional: list[str] = []


class DispatchPayloadConfig(Model, frozen=True, kw_only=True):
    """A task's ``dispatch_payload { file }``: where under ``local/`` the dispatched
    payload is written."""

    file: str = ""


class PeriodicLaunch(Model, frozen=True, kw_only=True):
    """The last launch of a periodic job (Nomad's ``periodic_launch`` table). The first
    record is the time the job was registered, so a new leader can tell a missed launch."""

    id: str
    namespace: str = "default"
    launch: int = 0
    create_index: int = 0
    modify_index: int = 0
