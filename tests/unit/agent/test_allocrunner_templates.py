"""The alloc runner's events for runtime templates: a restart that is no failure (a
template re-rendered), a note in the task's events (signalled, script ran), and a kill
that fails the task (a template could not be handled)."""

from __future__ import annotations

from test_allocrunner import SECOND, Runner, handle_of, make_job

from gitorch.agent import allocrunner as ar
from gitorch.core.model import Task
from gitorch.core.task import ExitResult

REASON = "Template with change_mode restart re-rendered"


def test_template_restart_is_at_once_and_not_counted() -> None:
    r = Runner(make_job("service"))  # FAST: attempts=2, delay=1s
    r.start_all()
    for round_ in (1, 2, 3):  # more than the policy's attempts
        r.send(ar.RestartTask(task="main", reason=REASON, failure=False))
        assert r.events()[-2:] == ["Restart Signaled", "Killing"]
        assert r.state.tasks["main"].state.events[-2].display_message == REASON
        r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=143, signal=15)))
        timer = [i for i in r.out if isinstance(i, ar.SetTimer)]
        assert timer and timer[0].at == r.now  # no restart delay
        assert r.events()[-1] == "Restarting"
        assert r.state.tasks["main"].history.count == 0  # the policy did not count it
        assert r.state.tasks["main"].state.restarts == round_
        r.send(ar.TimerFired(task="main"), after=1)
        assert r.kinds() == ["StartTask"]
        r.send(ar.TaskStarted(task="main", handle=handle_of("main")))
        assert r.status() == "running"


def test_check_restart_still_counts_against_the_policy() -> None:
    r = Runner(make_job("service"))
    r.start_all()
    r.send(ar.RestartTask(task="main", reason="check failed"))
    r.send(ar.TaskKilled(task="main", result=ExitResult(exit_code=143, signal=15)))
    timer = [i for i in r.out if isinstance(i, ar.SetTimer)]
    assert timer and timer[0].at >= r.now + SECOND  # the policy's delay (and jitter)
    assert r.state.tasks["main"].history.count == 1


def test_note_appends_an_event_to_a_live_task_only() -> None:
    r = Runner(make_job("service"))
    r.start_all()
    r.send(
        ar.TaskNote(
            task="main", type="Signaling", display="Template re-rendered", task_signal="SIGHUP"
        )
    )
    last = r.state.tasks["main"].state.events[-1]
    assert (last.type, last.display_message, last.task_signal) == (
        "Signaling",
        "Template re-rendered",
        "SIGHUP",
    )
    assert r.status() == "running"
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=0)))  # restarts
    r.send(ar.KillTask(task="main", reason="x"))  # waiting: failed at once
    assert r.state.tasks["main"].phase == "dead"
    before = r.events()
    r.send(ar.TaskNote(task="main", type="Task hook message", display="late"))
    assert r.events() == before


def test_kill_task_fails_it_and_kills_its_siblings() -> None:
    tasks = [Task(name="main", driver="mock"), Task(name="side", driver="mock")]
    r = Runner(make_job("service", tasks))
    r.start_all()
    r.send(ar.KillTask(task="main", reason="Template failed: boom"))
    killing = r.state.tasks["main"].state.events[-1]
    assert (killing.type, killing.display_message, killing.fails_task) == (
        "Killing",
        "Template failed: boom",
        True,
    )
    assert [i for i in r.out if isinstance(i, ar.StopTask)][0].task == "main"
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=143, signal=15)))
    main = r.state.tasks["main"]
    assert (main.phase, main.state.failed) == ("dead", True)
    assert not any(isinstance(i, ar.SetTimer) for i in r.out)  # not restarted
    assert r.state.tasks["side"].phase == "killing"
    assert r.events("side")[-2:] == ["Sibling Task Failed", "Killing"]
    r.send(ar.TaskExited(task="side", result=ExitResult(exit_code=143, signal=15)))
    assert r.status() == "failed"
