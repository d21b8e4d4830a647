"""The template watch's decisions as pure functions: coalescing changes (``wait { min
max }``), which ``wait`` a task's watch uses, what a change does (``change_mode``),
``splay``, and Nomad's event texts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gitorch.agent import templatechange as tc
from gitorch.core.model.job import SECOND, ChangeScript, Template, WaitConfig

T0 = 1_700_000_000 * SECOND


def test_nothing_pending_has_no_render_time() -> None:
    assert tc.render_at(tc.Quiet(), WaitConfig(min=SECOND, max=5 * SECOND)) is None


def test_one_change_renders_min_after_it() -> None:
    q = tc.changed(tc.Quiet(), T0)
    assert tc.render_at(q, WaitConfig(min=2 * SECOND, max=10 * SECOND)) == T0 + 2 * SECOND


def test_min_zero_renders_at_once() -> None:
    q = tc.changed(tc.Quiet(), T0)
    assert tc.render_at(q, WaitConfig(min=0, max=0)) == T0


def test_a_burst_pushes_the_render_but_never_past_max() -> None:
    wait = WaitConfig(min=2 * SECOND, max=5 * SECOND)
    q = tc.Quiet()
    for t in range(0, 10):  # a change every second, for ten seconds
        q = tc.changed(q, T0 + t * SECOND)
        due = tc.render_at(q, wait)
        assert due is not None
        assert due == min(T0 + t * SECOND + 2 * SECOND, T0 + 5 * SECOND)
    assert (q.first, q.last) == (T0, T0 + 9 * SECOND)


def test_max_zero_is_unbounded() -> None:
    wait = WaitConfig(min=2 * SECOND, max=0)
    q = tc.changed(tc.changed(tc.Quiet(), T0), T0 + 100 * SECOND)
    assert tc.render_at(q, wait) == T0 + 102 * SECOND


@given(
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=10**11),
    st.integers(min_value=0, max_value=10**11),
)
def test_render_time_is_within_the_bounds(gaps: list[int], wmin: int, wmax: int) -> None:
    q, now = tc.Quiet(), T0
    for gap in gaps:
        now += gap
        q = tc.changed(q, now)
    due = tc.render_at(q, WaitConfig(min=wmin, max=wmax))
    assert due is not None
    assert due <= q.last + wmin  # never later than min after the last change
    if wmax:
        assert due <= q.first + wmax  # nor later than max after the first
    assert due >= min(q.last + wmin, q.first + wmax if wmax else q.last + wmin)


def test_default_wait_is_nomads() -> None:
    assert tc.DEFAULT_WAIT == WaitConfig(min=5 * SECOND, max=240 * SECOND)


def test_a_task_waits_the_shortest_its_templates_ask() -> None:
    a = Template(dest_path="a", wait=WaitConfig(min=3 * SECOND, max=0))
    b = Template(dest_path="b", wait=WaitConfig(min=SECOND, max=30 * SECOND))
    c = Template(dest_path="c")  # the default
    assert tc.effective_wait([a, b, c]) == WaitConfig(min=SECOND, max=30 * SECOND)
    assert tc.effective_wait([a]) == WaitConfig(min=3 * SECOND, max=0)
    assert tc.effective_wait([c]) == tc.DEFAULT_WAIT


def tpl(mode: str, *, signal: str = "", splay: int = 0, script: str = "") -> Template:
    change_script = ChangeScript(command=script, args=["-x"]) if script else None
    return Template(
        dest_path=f"local/{mode}",
        change_mode=mode,
        change_signal=signal,
        change_script=change_script,
        splay=splay,
    )


def test_restart_wins_over_signals_and_scripts() -> None:
    plan = tc.plan(
        [tpl("signal", signal="SIGHUP"), tpl("restart", splay=3), tpl("script", script="/r")]
    )
    assert plan == tc.ChangePlan(restart=True, splay=3)
    assert plan.acts


def test_signals_once_each_and_scripts_all() -> None:
    plan = tc.plan(
        [
            tpl("signal", signal="SIGHUP", splay=1),
            tpl("signal", signal="SIGHUP", splay=4),
            tpl("signal", signal="SIGUSR1"),
            tpl("script", script="/a"),
            tpl("script", script="/b"),
        ]
    )
    assert plan.signals == ["SIGHUP", "SIGUSR1"]
    assert [s.command for s in plan.scripts] == ["/a", "/b"]
    assert (plan.restart, plan.splay) == (False, 4)


def test_noop_only_writes() -> None:
    plan = tc.plan([tpl("noop", splay=9)])
    assert not plan.acts
    assert plan.splay == 0  # a noop template's splay delays nothing


def test_splay_delay_is_a_fraction_below_splay() -> None:
    assert tc.splay_delay(0, 0.7) == 0
    assert tc.splay_delay(10 * SECOND, 0.0) == 0
    assert tc.splay_delay(10 * SECOND, 0.5) == 5 * SECOND
    assert tc.splay_delay(10 * SECOND, 0.999999999999) < 10 * SECOND
    assert tc.splay_delay(10 * SECOND, 7.0) == 10 * SECOND - 1  # a bad draw is clamped


def test_event_texts_are_nomads() -> None:
    script = ChangeScript(command="/bin/reload", args=["-q", "now"])
    assert tc.script_ok(script) == (
        "Template successfully ran script /bin/reload with arguments: [-q now]. Exit code: 0"
    )
    assert tc.script_exit(script, 3) == (
        "Template ran script /bin/reload with arguments [-q now] on change but it exited "
        "with code: 3"
    )
    assert tc.RESTART_REASON == "Template with change_mode restart re-rendered"
    assert tc.SIGNAL_REASON == "Template re-rendered"
