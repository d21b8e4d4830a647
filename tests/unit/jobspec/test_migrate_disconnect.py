"""The migrate and disconnect blocks (and the older disconnect attributes) as a user
writes them, and their impossible values as file:line errors."""

from __future__ import annotations

import pytest

from gitorch.core.disconnects import policy
from gitorch.core.model.drain import DisconnectStrategy, MigrateStrategy
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text

SECOND = 1_000_000_000


def job(group_body: str, job_body: str = "") -> str:
    return (
        f'job "web" {{\n{job_body}  group "g" {{\n{group_body}'
        '    task "t" {\n      driver = "raw_exec"\n    }\n  }\n}\n'
    )


def test_group_migrate_overrides_the_jobs() -> None:
    text = job(
        '    migrate {\n      max_parallel = 2\n    }\n',
        '  migrate {\n    min_healthy_time = "2s"\n    health_check = "task_states"\n  }\n',
    )
    (g,) = parse_text(text).task_groups
    assert g.migrate == MigrateStrategy(
        max_parallel=2, health_check="task_states", min_healthy_time=2 * SECOND
    )


def test_disconnect_block_and_the_older_attributes() -> None:
    (g,) = parse_text(
        job('    disconnect {\n      lost_after = "1m"\n      replace = false\n'
            '      reconcile = "keep_original"\n    }\n')
    ).task_groups  # fmt: skip
    assert g.disconnect == DisconnectStrategy(
        lost_after=60 * SECOND, replace=False, reconcile="keep_original"
    )
    (old,) = parse_text(job('    max_client_disconnect = "2m"\n')).task_groups
    assert policy(old) == DisconnectStrategy(lost_after=120 * SECOND)
    (none,) = parse_text(job("")).task_groups
    assert policy(none) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('    migrate {\n      min_healthy_time = "5m"\n      healthy_deadline = "1m"\n    }\n',
         r"a\.hcl:4: .*min_healthy_time must be less than healthy_deadline"),
        ('    migrate {\n      health_check = "manual"\n    }\n',
         r'a\.hcl:4: .*migrate health_check must be "checks" or "task_states"'),
        ('    disconnect {\n      reconcile = "newest"\n    }\n',
         r"a\.hcl:4: .*reconcile must be one of best_score, keep_original"),
        ('    disconnect {\n      lost_after = "1m"\n      stop_on_client_after = "2m"\n    }\n',
         r"a\.hcl:5: .*lost_after or stop_on_client_after, not both"),
        ('    max_client_disconnect = "1m"\n    disconnect {\n      lost_after = "1m"\n    }\n',
         r'a\.hcl:3: .*"max_client_disconnect" and a "disconnect" block cannot both be set'),
    ],
)  # fmt: skip
def test_impossible_values_name_file_and_line(body: str, message: str) -> None:
    with pytest.raises(JobspecError, match=message):
        parse_text(job(body), file="a.hcl")
