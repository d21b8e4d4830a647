"""What a template watch decides, as pure functions: when to render after its inputs
changed (``wait { min max }``), and what to do once outputs changed (``change_mode``,
``splay``). No IO, no clock, no randomness: times and the random draw come in.

* **Coalescing** is consul-template's quiescence: a change arms a timer ``min`` after
  it; a further change before the timer fires pushes it to ``min`` after that change,
  but never past ``max`` after the first change of the burst. ``min = 0`` renders at
  once; ``max = 0`` means no upper bound. Without a ``wait`` block the agent's default
  applies (Nomad's client default: 5s min, 4m max).
* **Acting** follows Nomad's ``onTemplateRendered``: one restart if any changed template
  says ``restart`` (signals and scripts are then skipped: the restart re-renders and
  starts the task afresh); otherwise each distinct ``change_signal`` is sent once and
  each ``change_script`` runs; ``noop`` only writes the file. The largest ``splay`` of the
  changed templates that act delays the action by a random fraction of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gitorch.core.model.job import SECOND, ChangeScript, Template, WaitConfig

DEFAULT_WAIT = WaitConfig(min=5 * SECOND, max=240 * SECOND)
"""Nomad's client default ``template { wait { min = "5s" max = "4m" } }``."""

RESTART_REASON = "Template with change_mode restart re-rendered"
SIGNAL_REASON = "Template re-rendered"


class Quiet(msgspec.Struct, frozen=True, kw_only=True):
    """A burst of changes not yet rendered: when it began and when it last grew (ns);
    ``first == 0`` when nothing is pending."""

    first: int = 0
    last: int = 0

    @property
    def pending(self) -> bool:
        return self.first != 0


def changed(quiet: Quiet, now: int) -> Quiet:
    """The burst after one more change at ``now``."""
    return Quiet(first=quiet.first if quiet.pending else now, last=now)


def render_at(quiet: Quiet, wait: WaitConfig) -> int | None:
    """When to render the pending burst (unix ns), or None when nothing is pending."""
    if not quiet.pending:
        return None
    at = quiet.last + max(wait.min, 0)
    if wait.max > 0:
        at = min(at, quiet.first + wait.max)
    return at


def effective_wait(templates: Sequence[Template], default: WaitConfig = DEFAULT_WAIT) -> WaitConfig:
    """One task's watch renders all its templates together: the shortest ``min`` and
    ``max`` of theirs (each template's own ``wait``, else the default), so no template
    waits longer than it asked."""
    waits = [t.wait if t.wait is not None else default for t in templates] or [default]
    bounded = [w.max for w in waits if w.max > 0]
    return WaitConfig(min=min(w.min for w in waits), max=min(bounded) if bounded else 0)


class ChangePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What to do after some templates' outputs changed."""

    restart: bool = False
    signals: list[str] = []
    scripts: list[ChangeScript] = []
    splay: int = 0  # ns: act after a random delay in [0, splay)

    @property
    def acts(self) -> bool:
        return self.restart or bool(self.signals) or bool(self.scripts)


def plan(changed_templates: Sequence[Template]) -> ChangePlan:
    """Nomad's ``onTemplateRendered`` for the templates whose output changed."""
    restart = False
    signals: list[str] = []
    scripts: list[ChangeScript] = []
    splay = 0
    for tpl in changed_templates:
        if tpl.change_mode == "restart":
            restart = True
        elif tpl.change_mode == "signal":
            if tpl.change_signal not in signals:
                signals.append(tpl.change_signal)
        elif tpl.change_mode == "script" and tpl.change_script is not None:
            scripts.append(tpl.change_script)
        else:
            continue
        splay = max(splay, tpl.splay)
    if restart:
        return ChangePlan(restart=True, splay=splay)
    return ChangePlan(signals=signals, scripts=scripts, splay=splay)


def splay_delay(splay: int, draw: float) -> int:
    """The delay (ns) for a ``splay`` and a random ``draw`` in [0, 1)."""
    if splay <= 0:
        return 0
    return min(int(splay * min(max(draw, 0.0), 1.0)), splay - 1)


def go_list(items: Sequence[str]) -> str:
    """A string slice as Go's ``%v`` prints it: ``[a b]``."""
    return "[" + " ".join(items) + "]"


def script_ok(script: ChangeScript) -> str:
    return (
        f"Template successfully ran script {script.command} with arguments: "
        f"{go_list(script.args)}. Exit code: 0"
    )


def script_failed(script: ChangeScript, error: str, code: int) -> str:
    return (
        f"Template failed to run script {script.command} with arguments "
        f"{go_list(script.args)} on change: {error}. Exit code: {code}"
    )


def script_exit(script: ChangeScript, code: int) -> str:
    return (
        f"Template ran script {script.command} with arguments {go_list(script.args)} "
        f"on change but it exited with code: {code}"
    )
