"""A ``variable`` block's ``validation`` rules, checked as Nomad checks them.

::

    variable "port" {
      type = number
      validation {
        condition     = var.port > 1024 && var.port < 65536
        error_message = "The port must be an unprivileged port number."
      }
    }

Each rule's ``condition`` may refer only to the variable itself; it must be true or false,
and when it is false the value is refused with the rule's ``error_message`` at the rule's
line (the value itself is never shown: it may be a secret). Rules are checked on the
value actually used, after defaults, ``NOMAD_VAR_`` variables, var files and ``-var``.
"""

from __future__ import annotations

from typing import Any

from gitorch.errors import JobspecError
from gitorch.jobspec.bodyeval import Evaluator
from gitorch.jobspec.expr import Env
from gitorch.jobspec.hcl import Block

_KEYS = ("condition", "error_message")


def parse_rules(block: Block, file: str, where: str) -> tuple[Block, ...]:
    """The ``validation`` blocks of ``block``, each checked for its two attributes."""
    rules = []
    for sub in block.body.blocks:
        if sub.type != "validation":
            msg = f'"{sub.type}" blocks are not supported in a variable (only validation)'
            raise JobspecError(msg, file=file, line=sub.line, path=where)
        for name, attr in sub.body.attributes.items():
            if name not in _KEYS:
                msg = f'unknown attribute "{name}" (a validation has condition and error_message)'
                raise JobspecError(msg, file=file, line=attr.line, path=f"{where} > validation")
        missing = [k for k in _KEYS if k not in sub.body.attributes]
        if missing or sub.body.blocks:
            what = f"{missing[0]} is required" if missing else "a validation holds no blocks"
            raise JobspecError(what, file=file, line=sub.line, path=f"{where} > validation")
        rules.append(sub)
    return tuple(rules)


def check(rules: tuple[Block, ...], name: str, value: Any, file: str) -> None:
    """Raise JobspecError at the first rule whose condition is false for ``value``."""
    evaluator = Evaluator(file)
    where = f'variable "{name}" > validation'
    for rule in rules:
        attrs = rule.body.attributes
        cond = attrs["condition"]
        result = evaluator.value(cond.value, Env({name: value}), cond.line, where)
        if result not in (True, False, "true", "false"):
            msg = "condition must be true or false"
            raise JobspecError(msg, file=file, line=cond.line, path=where)
        if result in (False, "false"):
            message = attrs["error_message"]
            text = evaluator.value(message.value, Env(None), message.line, where)
            msg = f'invalid value for variable "{name}": {text}'
            raise JobspecError(msg, file=file, line=rule.line, path=where)
