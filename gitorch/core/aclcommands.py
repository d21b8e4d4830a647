"""The Raft commands of the ACL tables. Secrets never enter the log: a token arrives
with its secret already replaced by its SHA-256 ``hash``, and with its IDs, creation
time and expiry fixed by the server that took the request."""

from __future__ import annotations

import msgspec

from gitorch.core.model.acl import ACLPolicy, ACLRole, ACLToken
from gitorch.core.naming import nomad_name


class _AclCmd(msgspec.Struct, frozen=True, kw_only=True, tag=True, rename=nomad_name):
    now: int


class BootstrapACL(_AclCmd, frozen=True, kw_only=True):
    """Store the first management token; refused once the cluster is bootstrapped."""

    token: ACLToken


class UpsertACLTokens(_AclCmd, frozen=True, kw_only=True):
    tokens: list[ACLToken]


class DeleteACLTokens(_AclCmd, frozen=True, kw_only=True):
    accessor_ids: list[str]


class UpsertACLPolicies(_AclCmd, frozen=True, kw_only=True):
    policies: list[ACLPolicy]


class DeleteACLPolicies(_AclCmd, frozen=True, kw_only=True):
    names: list[str]


class UpsertACLRoles(_AclCmd, frozen=True, kw_only=True):
    roles: list[ACLRole]


class DeleteACLRoles(_AclCmd, frozen=True, kw_only=True):
    ids: list[str]


AclCommand = (
    BootstrapACL
    | UpsertACLTokens
    | DeleteACLTokens
    | UpsertACLPolicies
    | DeleteACLPolicies
    | UpsertACLRoles
    | DeleteACLRoles
)
