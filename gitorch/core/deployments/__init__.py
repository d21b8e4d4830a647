"""Deployments: the pure parts. ``ledger`` keeps the deployments table in step with
plans and health reports (used by the state store), ``health`` judges one allocation,
``watcher`` is the state machine the leader's loop runs."""
