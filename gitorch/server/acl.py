"""The server side of ACLs: bootstrap, tokens, policies and roles as Raft commands, and
the resolution of a presented secret into an identity the decision can judge.

Secrets are generated here, returned once to the caller, and stored only as their
SHA-256 hash: the log, snapshots and listings never hold one. Time and IDs are fixed
here, before a command enters the log.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from gitorch.core import aclcommands as a
from gitorch.core.acl import (
    Capability,
    Rules,
    allow_merged,
    allowed_in_some_namespace_merged,
    merge,
    namespace_predicate,
)
from gitorch.core.model.acl import (
    ANONYMOUS_POLICY,
    CLIENT,
    MANAGEMENT,
    ACLPolicy,
    ACLRole,
    ACLRolePolicyLink,
    ACLToken,
    ACLTokenRoleLink,
    JobACL,
)
from gitorch.core.model.base import replace
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.aclpolicy import parse_policy

Submit = Callable[[a.AclCommand], ApplyResult]
_NAME = re.compile(r"^[a-zA-Z0-9-]{1,128}$")  # Nomad's policy and role names


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def rfc3339(ns: int) -> str:
    return (
        datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).isoformat().replace("+00:00", "Z")
    )


@dataclass(frozen=True)
class Identity:
    """Who is asking: a token (None: anonymous) and the rules of its policies, or why a
    presented secret was refused (``problem``)."""

    token: ACLToken | None
    policies: tuple[Rules, ...] = ()
    problem: str = ""
    secret: str = field(default="", repr=False)
    node_id: str = ""  # a client agent, known by its node secret

    @property
    def management(self) -> bool:
        return self.token is not None and self.token.type == MANAGEMENT

    @functools.cached_property
    def rules(self) -> Rules:
        """The token's policies merged, once per identity (one per request)."""
        return merge(self.policies)

    def allows(self, capability: Capability, namespace: str = "default", now: int = 0) -> bool:
        if self.problem:
            return False
        return allow_merged(self.token, self.rules, capability, namespace, now=now)

    def allows_somewhere(self, action: str) -> bool:
        return not self.problem and allowed_in_some_namespace_merged(self.token, self.rules, action)

    def namespace_filter(self, action: str, now: int = 0) -> Callable[[str], bool]:
        """``namespace -> allowed`` for ``namespace:action`` at ``now``, each namespace
        judged once: for filtering long lists item by item."""
        if self.problem:
            return lambda namespace: False
        return namespace_predicate(self.token, self.rules, action, now=now)


_NODE_RULES = parse_policy('node {\n  policy = "write"\n}\n', "node-secret")
"""What a client agent may do with its node secret: node calls (register, heartbeat,
allocation updates and watches), as Nomad's node SecretID allows."""


class AclResolver:
    """Turns a presented secret into an ``Identity`` from the replicated tables, plus
    the static management tokens of the agent config."""

    def __init__(
        self,
        state: Callable[[], StateView],
        static_tokens: Collection[str] = (),
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._static = {hash_secret(t) for t in static_tokens}
        self.clock = clock

    def resolve(self, secret: str) -> Identity:
        acl = self._state().acl
        if not secret:
            return Identity(None, self._rules(acl.policies, [ANONYMOUS_POLICY]))
        digest = hash_secret(secret)
        if digest in self._static:
            static = ACLToken(
                accessor_id="agent-config", name="agent config token", type=MANAGEMENT
            )
            return Identity(static, secret=secret)
        token = acl.token_by_hash(digest)
        if token is None:
            node_id = self._state().nodes_by_secret.get(digest)
            if node_id is not None:  # a client agent, by its node secret (Nomad's SecretID)
                node = ACLToken(accessor_id=f"node-{node_id}", name=f"node {node_id}")
                return Identity(node, (_NODE_RULES,), secret=secret, node_id=node_id)
            return Identity(None, problem="ACL token not found")
        if token.expired(self.clock()):
            return Identity(token, problem="ACL token expired")
        names = acl.token_policy_names(token)
        return Identity(token, self._rules(acl.policies, names), secret=secret)

    @staticmethod
    def _rules(policies: Mapping[str, ACLPolicy], names: Sequence[str]) -> tuple[Rules, ...]:
        found = [policies.get(n) for n in names]
        return tuple(parse_policy(p.rules, p.name) for p in found if p is not None)


class AclService:
    """ACL writes, each one Raft command."""

    def __init__(
        self,
        state: Callable[[], StateView],
        submit: Submit,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._submit = submit
        self.clock = clock

    def _apply(self, cmd: a.AclCommand) -> int:
        result = self._submit(cmd)
        if result.error:
            if "not found" in result.error:
                raise NotFoundError(result.error)
            raise BadRequestError(result.error)
        return result.index

    # -- bootstrap and tokens -------------------------------------------------------

    def bootstrap(self) -> ACLToken:
        if self._state().acl.bootstrap_index:
            raise BadRequestError("ACL bootstrap already done")
        now = self.clock()
        secret = str(uuid.uuid4())
        token = ACLToken(
            accessor_id=str(uuid.uuid4()),
            name="Bootstrap Token",
            type=MANAGEMENT,
            global_=True,
            create_time=rfc3339(now),
            hash=hash_secret(secret),
        )
        self._apply(a.BootstrapACL(now=now, token=token))
        return self._stored(token.accessor_id, secret)

    def upsert_token(self, raw: ACLToken, accessor_id: str = "") -> ACLToken:
        """Create (no ``accessor_id``) or update a token; return it, with its secret
        when it was just created."""
        state = self._state().acl
        now = self.clock()
        old = state.tokens.get(accessor_id) if accessor_id else None
        if accessor_id and old is None:
            raise NotFoundError(f"ACL token {accessor_id!r} not found")
        kind = raw.type or CLIENT
        if kind not in (CLIENT, MANAGEMENT):
            raise BadRequestError(f'token type must be "client" or "management", not {kind!r}')
        if old is not None and old.type != kind:
            raise BadRequestError("cannot change the type of an ACL token")
        roles = [self._role_link(link) for link in raw.roles]
        if kind == MANAGEMENT and (raw.policies or roles):
            raise BadRequestError("management tokens cannot be associated with policies or roles")
        if kind == CLIENT and not (raw.policies or roles):
            raise BadRequestError(
                "client tokens must be associated with at least one policy or role"
            )
        for name in raw.policies:
            if name not in state.policies:
                raise BadRequestError(f"ACL policy {name!r} does not exist")
        if raw.expiration_ttl < 0:
            raise BadRequestError("ExpirationTTL must not be negative")
        secret = "" if old is not None else str(uuid.uuid4())
        expires = old.expires_at if old is not None else self._expiry(raw, now)
        token = ACLToken(
            accessor_id=accessor_id or str(uuid.uuid4()),
            name=raw.name,
            type=kind,
            policies=list(dict.fromkeys(raw.policies)),
            roles=roles,
            global_=raw.global_,
            create_time=old.create_time if old is not None else rfc3339(now),
            expiration_time=rfc3339(expires) if expires else None,
            expiration_ttl=old.expiration_ttl if old is not None else raw.expiration_ttl,
            expires_at=expires,
            hash=old.hash if old is not None else hash_secret(secret),
        )
        self._apply(a.UpsertACLTokens(now=now, tokens=[token]))
        return self._stored(token.accessor_id, secret)

    def _expiry(self, raw: ACLToken, now: int) -> int:
        if raw.expiration_ttl:
            return now + raw.expiration_ttl
        if raw.expiration_time:
            try:
                when = datetime.datetime.fromisoformat(raw.expiration_time)
            except ValueError:
                raise BadRequestError("ExpirationTime must be an RFC 3339 time") from None
            ns = int(when.timestamp() * 1e9)
            if ns <= now:
                raise BadRequestError("ExpirationTime must be in the future")
            return ns
        return 0

    def _role_link(self, link: ACLTokenRoleLink) -> ACLTokenRoleLink:
        acl = self._state().acl
        role = acl.roles.get(link.id) if link.id else acl.role_by_name(link.name)
        if role is None:
            raise BadRequestError(f"ACL role {link.id or link.name!r} does not exist")
        return ACLTokenRoleLink(id=role.id, name=role.name)

    def _stored(self, accessor_id: str, secret: str) -> ACLToken:
        token = self._state().acl.tokens[accessor_id]
        return replace(token, secret_id=secret) if secret else token

    def delete_token(self, accessor_id: str) -> int:
        return self._apply(a.DeleteACLTokens(now=self.clock(), accessor_ids=[accessor_id]))

    # -- policies -------------------------------------------------------------------

    def upsert_policy(
        self, name: str, rules: str, description: str = "", job_acl: JobACL | None = None
    ) -> int:
        if not _NAME.match(name):
            raise BadRequestError(
                f"invalid ACL policy name {name[:40]!r}: use 1-128 letters, digits and dashes"
            )
        parse_policy(rules, name)  # a located JobspecError: 400 naming the line
        policy = ACLPolicy(name=name, description=description, rules=rules, job_acl=job_acl)
        return self._apply(a.UpsertACLPolicies(now=self.clock(), policies=[policy]))

    def delete_policy(self, name: str) -> int:
        return self._apply(a.DeleteACLPolicies(now=self.clock(), names=[name]))

    # -- roles ----------------------------------------------------------------------

    def upsert_role(self, raw: ACLRole, role_id: str = "") -> ACLRole:
        acl = self._state().acl
        if role_id and role_id not in acl.roles:
            raise NotFoundError(f"ACL role {role_id!r} not found")
        if raw.id and role_id and raw.id != role_id:
            raise BadRequestError("ACL role ID in the body does not match the path")
        if not _NAME.match(raw.name):
            raise BadRequestError(
                f"invalid ACL role name {raw.name[:40]!r}: use 1-128 letters, digits and dashes"
            )
        if not raw.policies:
            raise BadRequestError("an ACL role needs at least one policy")
        links = [ACLRolePolicyLink(name=p.name) for p in raw.policies]
        role = ACLRole(
            id=role_id or str(uuid.uuid4()),
            name=raw.name,
            description=raw.description,
            policies=links,
        )
        self._apply(a.UpsertACLRoles(now=self.clock(), roles=[role]))
        return self._state().acl.roles[role.id]

    def delete_role(self, role_id: str) -> int:
        return self._apply(a.DeleteACLRoles(now=self.clock(), ids=[role_id]))
