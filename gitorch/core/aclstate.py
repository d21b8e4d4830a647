"""The state store's ACL tables: tokens (by accessor, and by secret hash for lookup),
policies by name, roles by ID, and the bootstrap marker.

``AclTables`` is a persistent value (every change returns a new one sharing the rest),
so a snapshot of the store holds it by reference. ``apply`` is the ACL part of the FSM.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import assert_never

import msgspec

from gitorch.core import aclcommands as a
from gitorch.core.model.acl import ACLPolicy, ACLRole, ACLToken
from gitorch.core.model.base import replace
from gitorch.core.pmap import PMap, pmap

ACL_TABLES = ("acl_token", "acl_policy", "acl_role")


class AclDump(msgspec.Struct, frozen=True, kw_only=True):
    """The ACL part of a Raft snapshot."""

    bootstrap_index: int = 0
    tokens: list[ACLToken] = []
    policies: list[ACLPolicy] = []
    roles: list[ACLRole] = []


class AclTables:
    """Never changed in place; ``apply`` returns the next tables."""

    __slots__ = ("bootstrap_index", "by_hash", "policies", "roles", "tokens")

    def __init__(
        self,
        tokens: PMap[str, ACLToken] | None = None,
        by_hash: PMap[str, str] | None = None,
        policies: PMap[str, ACLPolicy] | None = None,
        roles: PMap[str, ACLRole] | None = None,
        bootstrap_index: int = 0,
    ) -> None:
        self.tokens: PMap[str, ACLToken] = tokens if tokens is not None else pmap()
        self.by_hash: PMap[str, str] = by_hash if by_hash is not None else pmap()
        self.policies: PMap[str, ACLPolicy] = policies if policies is not None else pmap()
        self.roles: PMap[str, ACLRole] = roles if roles is not None else pmap()
        self.bootstrap_index = bootstrap_index

    # -- reads ----------------------------------------------------------------------------

    def token_by_hash(self, secret_hash: str) -> ACLToken | None:
        accessor = self.by_hash.get(secret_hash)
        return None if accessor is None else self.tokens.get(accessor)

    def role_by_name(self, name: str) -> ACLRole | None:
        return next((r for r in self.roles.values() if r.name == name), None)

    def token_policy_names(self, token: ACLToken) -> list[str]:
        """The token's own policies plus those of its roles (a role gone is skipped)."""
        names = list(token.policies)
        for link in token.roles:
            role = self.roles.get(link.id) if link.id else self.role_by_name(link.name)
            if role is not None:
                names.extend(p.name for p in role.policies)
        return list(dict.fromkeys(names))

    # -- the FSM part ---------------------------------------------------------------------

    def apply(self, idx: int, cmd: a.AclCommand) -> tuple[AclTables, str, tuple[str, ...]]:
        """(next tables, error or "", tables touched)."""
        match cmd:
            case a.BootstrapACL():
                if self.bootstrap_index:
                    return self, "ACL bootstrap already done", ()
                out = self._tokens([cmd.token], idx)
                out.bootstrap_index = idx
                return out, "", ("acl_token",)
            case a.UpsertACLTokens():
                missing = self._missing_policies(p for t in cmd.tokens for p in t.policies)
                if missing:
                    return self, f"ACL policy {missing!r} does not exist", ()
                return self._tokens(cmd.tokens, idx), "", ("acl_token",)
            case a.DeleteACLTokens():
                gone = [i for i in cmd.accessor_ids if i not in self.tokens]
                if gone:
                    return self, f"ACL token {gone[0]!r} not found", ()
                tokens, by_hash = self.tokens.mutate(), self.by_hash.mutate()
                for accessor in cmd.accessor_ids:
                    del by_hash[self.tokens[accessor].hash]
                    del tokens[accessor]
                return (
                    self._with(tokens=tokens.finish(), by_hash=by_hash.finish()),
                    "",
                    ("acl_token",),
                )
            case a.UpsertACLPolicies():
                policies = self.policies.mutate()
                for p in cmd.policies:
                    old = self.policies.get(p.name)
                    created = idx if old is None else old.create_index
                    policies[p.name] = replace(p, create_index=created, modify_index=idx)
                return self._with(policies=policies.finish()), "", ("acl_policy",)
            case a.DeleteACLPolicies():
                gone = [n for n in cmd.names if n not in self.policies]
                if gone:
                    return self, f"ACL policy {gone[0]!r} not found", ()
                policies = self.policies.mutate()
                for name in cmd.names:
                    del policies[name]
                return self._with(policies=policies.finish()), "", ("acl_policy",)
            case a.UpsertACLRoles():
                missing = self._missing_policies(p.name for r in cmd.roles for p in r.policies)
                if missing:
                    return self, f"ACL policy {missing!r} does not exist", ()
                roles = self.roles.mutate()
                for r in cmd.roles:
                    clash = self.role_by_name(r.name)
                    if clash is not None and clash.id != r.id:
                        return self, f"ACL role named {r.name!r} already exists", ()
                    was = self.roles.get(r.id)
                    created = idx if was is None else was.create_index
                    roles[r.id] = replace(r, create_index=created, modify_index=idx)
                return self._with(roles=roles.finish()), "", ("acl_role",)
            case a.DeleteACLRoles():
                gone = [i for i in cmd.ids if i not in self.roles]
                if gone:
                    return self, f"ACL role {gone[0]!r} not found", ()
                roles = self.roles.mutate()
                for role_id in cmd.ids:
                    del roles[role_id]
                return self._with(roles=roles.finish()), "", ("acl_role",)
            case _:
                assert_never(cmd)

    def _missing_policies(self, names: Iterable[str]) -> str:
        return next((n for n in names if n not in self.policies), "")

    def _tokens(self, new: list[ACLToken], idx: int) -> AclTables:
        tokens, by_hash = self.tokens.mutate(), self.by_hash.mutate()
        for t in new:
            old = self.tokens.get(t.accessor_id)
            if old is not None and old.hash != t.hash:
                del by_hash[old.hash]
            created = idx if old is None else old.create_index
            tokens[t.accessor_id] = replace(t, secret_id="", create_index=created, modify_index=idx)
            by_hash[t.hash] = t.accessor_id
        return self._with(tokens=tokens.finish(), by_hash=by_hash.finish())

    def _with(self, **changes: object) -> AclTables:
        out = AclTables(self.tokens, self.by_hash, self.policies, self.roles, self.bootstrap_index)
        for name, value in changes.items():
            setattr(out, name, value)
        return out

    # -- persistence ----------------------------------------------------------------------

    def dump(self) -> AclDump:
        return AclDump(
            bootstrap_index=self.bootstrap_index,
            tokens=list(self.tokens.values()),
            policies=list(self.policies.values()),
            roles=list(self.roles.values()),
        )

    @classmethod
    def build(cls, dump: AclDump) -> AclTables:
        return cls(
            tokens=PMap((t.accessor_id, t) for t in dump.tokens),
            by_hash=PMap((t.hash, t.accessor_id) for t in dump.tokens),
            policies=PMap((p.name, p) for p in dump.policies),
            roles=PMap((r.id, r) for r in dump.roles),
            bootstrap_index=dump.bootstrap_index,
        )
