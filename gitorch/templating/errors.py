"""The interpreter's exceptions. Every error names the template, line and column:
``template: NAME:LINE:COL: message``, the form Go's text/template uses (with a column)."""

from __future__ import annotations


class TemplateError(Exception):
    """A template that cannot be parsed or executed."""

    def __init__(self, name: str, line: int, col: int, message: str) -> None:
        self.name = name
        self.line = line
        self.col = col
        self.message = message
        super().__init__(f"template: {name}:{line}:{col}: {message}")


class TemplateSyntaxError(TemplateError):
    """The template's text is not valid text/template syntax."""


class TemplateExecError(TemplateError):
    """The template parsed but failed while it was executed."""


class WaitingFor(Exception):
    """A data source has nothing yet for what the template asks (a variable that does not
    exist, a service catalog not yet fetched). Nomad blocks the task until it appears."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"waiting for {what}")


class FunctionError(Exception):
    """Raised by a template function; the evaluator adds the location."""


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col
