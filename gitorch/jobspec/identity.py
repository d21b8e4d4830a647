"""The task ``identity`` block (the default workload identity):
``identity { aud = ["..."] env = true file = true ttl = "1h" }``. Named identities
(``identity "vault" { }``, for third parties) are not supported yet: the reader refuses
the label with a located error."""

from __future__ import annotations

from gitorch.core.model.identity import WorkloadIdentity
from gitorch.jobspec.reader import BlockReader


def decode_identity(c: BlockReader, _: str) -> WorkloadIdentity:
    ttl = c.duration("ttl", 0)
    if ttl < 0:
        c.error('identity "ttl" must not be negative', c.lines.get(f"{c.path}.ttl", c.body.line))
    return WorkloadIdentity(
        audience=c.strings("aud"),
        env=c.boolean("env"),
        file=c.boolean("file"),
        ttl=max(ttl, 0),
    )
