"""Alloc and task runner hooks, as Nomad's client has them: small modules that act on
what the alloc runner reports (service registrations and the checks run for them)."""
