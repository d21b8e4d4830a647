"""Go's text/template language, as consul-template (and so Nomad's ``template`` blocks)
speaks it: a pure interpreter, no IO.

* :mod:`~gitorch.templating.lexer`, :mod:`~gitorch.templating.parser`,
  :mod:`~gitorch.templating.evaluator`: the language; :mod:`~gitorch.templating.builtins`
  and :mod:`~gitorch.templating.gofmt`: Go's predefined functions and fmt formatting.
* :mod:`~gitorch.templating.source`: the data-source protocol (services, variables,
  keys, secrets) that the agent (or a provider plugin) implements;
  :mod:`~gitorch.templating.consul`: the consul-template functions over it.
"""

from gitorch.templating.errors import (
    TemplateError,
    TemplateExecError,
    TemplateSyntaxError,
    WaitingFor,
)
from gitorch.templating.template import Template, render

__all__ = [
    "Template",
    "TemplateError",
    "TemplateExecError",
    "TemplateSyntaxError",
    "WaitingFor",
    "render",
]
