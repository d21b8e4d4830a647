"""ACL values as Nomad's API has them: tokens, policies and roles.

A stored token never holds its secret: ``secret_id`` is empty in the state store and
``hash`` is the SHA-256 of the secret (hex), fixed by the server before the command
enters the log. The secret exists only in the answer to the request that made it.
"""

from __future__ import annotations

import msgspec

from gitorch.core.model.base import Model

MANAGEMENT = "management"
CLIENT = "client"
ANONYMOUS_POLICY = "anonymous"


class ACLTokenRoleLink(Model, frozen=True, kw_only=True):
    id: str = ""
    name: str = ""


class ACLRolePolicyLink(Model, frozen=True, kw_only=True):
    name: str


class ACLToken(Model, frozen=True, kw_only=True):
    accessor_id: str
    secret_id: str = ""
    name: str = ""
    type: str = CLIENT
    policies: list[str] = []
    roles: list[ACLTokenRoleLink] = []
    global_: bool = msgspec.field(default=False, name="Global")
    create_time: str = ""  # RFC 3339, as Nomad sends it
    expiration_time: str | None = None
    expiration_ttl: int = msgspec.field(default=0, name="ExpirationTTL")  # nanoseconds
    expires_at: int = 0  # unix ns; 0: never (gitorch's own field, for the decision)
    hash: str = ""
    create_index: int = 0
    modify_index: int = 0

    def expired(self, now: int) -> bool:
        return self.expires_at != 0 and now >= self.expires_at


class ACLTokenListStub(Model, frozen=True, kw_only=True):
    """What ``GET /v1/acl/tokens`` lists: never the secret."""

    accessor_id: str
    name: str
    type: str
    policies: list[str]
    roles: list[ACLTokenRoleLink]
    global_: bool = msgspec.field(default=False, name="Global")
    create_time: str = ""
    expiration_time: str | None = None
    hash: str = ""
    create_index: int = 0
    modify_index: int = 0


def token_stub(token: ACLToken) -> ACLTokenListStub:
    return ACLTokenListStub(
        accessor_id=token.accessor_id,
        name=token.name,
        type=token.type,
        policies=list(token.policies),
        roles=list(token.roles),
        global_=token.global_,
        create_time=token.create_time,
        expiration_time=token.expiration_time,
        hash=token.hash,
        create_index=token.create_index,
        modify_index=token.modify_index,
    )


class JobACL(Model, frozen=True, kw_only=True):
    namespace: str = ""
    job_id: str = ""
    group: str = ""
    task: str = ""


class ACLPolicy(Model, frozen=True, kw_only=True):
    name: str
    description: str = ""
    rules: str = ""
    job_acl: JobACL | None = msgspec.field(default=None, name="JobACL")
    create_index: int = 0
    modify_index: int = 0


class ACLPolicyListStub(Model, frozen=True, kw_only=True):
    name: str
    description: str = ""
    create_index: int = 0
    modify_index: int = 0


class ACLRole(Model, frozen=True, kw_only=True):
    id: str = ""
    name: str
    description: str = ""
    policies: list[ACLRolePolicyLink] = []
    create_index: int = 0
    modify_index: int = 0
