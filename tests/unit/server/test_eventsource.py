"""Which events an applied command makes, read from the state after it: plans,
client updates, node changes (secrets blanked), and nothing for ACL commands."""

from __future__ import annotations

from gitorch.core import commands as c
from gitorch.core.model import Evaluation, Job, Node, Placement, Plan, TaskGroup
from gitorch.core.state import StateStore
from gitorch.server.eventsource import derive

NOW = 1_700_000_000 * 1_000_000_000


def applied(store: StateStore, cmd: c.Command) -> list[tuple[str, str, str]]:
    result = store.apply(cmd)
    return [(e.topic, e.type, e.key) for e in derive(cmd, store, result.index)]


def test_a_job_its_plan_and_its_client_updates() -> None:
    store = StateStore()
    assert applied(store, c.RegisterNode(now=NOW, node=Node(id="n1", name="n1"))) == [
        ("Node", "NodeRegistration", "n1")
    ]
    job = Job(id="web", name="web", task_groups=[TaskGroup(name="g", count=1)])
    ev = Evaluation(id="e1", job_id="web")
    assert applied(store, c.RegisterJob(now=NOW, job=job, eval=ev)) == [
        ("Job", "JobRegistered", "web"),
        ("Evaluation", "EvaluationUpdated", "e1"),
    ]
    plan = Plan(
        eval_id="e1",
        job_id="web",
        placements=[Placement(id="a1", task_group="g", index=0, node_id="n1")],
        eval_update=Evaluation(id="e1", job_id="web", status="complete"),
    )
    events = derive(
        c.ApplyPlan(now=NOW, plan=plan), store, store.apply(c.ApplyPlan(now=NOW, plan=plan)).index
    )
    assert [(e.topic, e.type, e.key) for e in events] == [
        ("Allocation", "PlanResult", "a1"),
        ("Evaluation", "EvaluationUpdated", "e1"),
    ]
    assert events[0].payload["Allocation"].node_id == "n1"
    assert events[1].payload["Evaluation"].status == "complete"
    update = c.AllocClientUpdate(id="a1", client_status="running")
    assert applied(store, c.UpdateAllocsFromClient(now=NOW, updates=[update])) == [
        ("Allocation", "AllocationUpdated", "a1")
    ]


def test_node_events_never_carry_its_secret() -> None:
    store = StateStore()
    cmd = c.RegisterNode(now=NOW, node=Node(id="n1", name="n1", secret_id="s3cret-digest"))
    (event,) = derive(cmd, store, store.apply(cmd).index)
    assert event.payload["Node"].secret_id == ""
    elig = c.UpdateNodeEligibility(now=NOW, node_id="n1", eligibility="ineligible")
    (event,) = derive(elig, store, store.apply(elig).index)
    assert event.type == "NodeEligibility" and event.payload["Node"].secret_id == ""


def test_acl_commands_make_no_events() -> None:
    store = StateStore()
    cmd = c.UpsertACLPolicies(now=NOW, policies=[])
    assert derive(cmd, store, store.apply(cmd).index) == []
