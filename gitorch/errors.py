"""One exception tree for gitorch. Every message says where (file:line, block path,
node or alloc ID) and what to do next.

    GitorchError
    ├── CodecError            a log entry or snapshot that cannot be decoded
    ├── ConfigError           agent configuration (file:line)
    ├── JobspecError          a jobspec that cannot be rendered, parsed or validated
    │   (file, line, block path; several problems at once in .problems)
    ├── GitSourceError        the Git repository cannot be fetched or read
    ├── NotFoundError         API 404: no such job, alloc, node, eval
    ├── ConflictError         API 409: a check-and-set or version conflict
    ├── BadRequestError       API 400: a malformed body or parameter
    ├── PermissionDeniedError API 403: ACL token missing or insufficient
    ├── NotLeaderError        a write reached a follower (carries the leader address)
    ├── UnavailableError      API 503: writes refused for now (no disk space); reads work
    └── DriverError           a task driver could not start, stop or find a task
"""

from __future__ import annotations


class GitorchError(Exception):
    """The root of every error gitorch raises on purpose."""


class CodecError(GitorchError):
    pass


class ConfigError(GitorchError):
    pass


class JobspecError(GitorchError):
    """A jobspec problem, located: ``file:line: block path: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str = "",
        line: int = 0,
        path: str = "",
        problems: list[JobspecError] | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.path = path
        self.message = message
        self.problems: list[JobspecError] = problems if problems is not None else [self]
        super().__init__(self.located())

    def located(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        prefix = ": ".join(p for p in (where, self.path) if p)
        return f"{prefix}: {self.message}" if prefix else self.message


class GitSourceError(GitorchError):
    pass


class NotFoundError(GitorchError):
    pass


class ConflictError(GitorchError):
    pass


class BadRequestError(GitorchError):
    pass


class PermissionDeniedError(GitorchError):
    pass


class UnavailableError(GitorchError):
    pass


class NotLeaderError(GitorchError):
    def __init__(self, leader: str | None) -> None:
        self.leader = leader
        super().__init__(f"not the leader (leader: {leader or 'unknown'})")


class DriverError(GitorchError):
    pass
