"""A parsed template: the facade over the lexer, parser and evaluator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gitorch.templating.builtins import BUILTINS
from gitorch.templating.evaluator import execute
from gitorch.templating.parser import parse


class Template:
    """``Template(name, text)`` parses (raising :class:`TemplateSyntaxError`);
    ``render(data)`` executes (raising :class:`TemplateExecError` or :class:`WaitingFor`).

    ``funcs`` adds to (or replaces) Go's builtins; ``left`` / ``right`` are the action
    delimiters (``{{`` and ``}}`` by default).
    """

    def __init__(
        self,
        name: str,
        text: str,
        *,
        funcs: Mapping[str, Callable[..., Any]] | None = None,
        left: str = "{{",
        right: str = "}}",
        missing_key_error: bool = False,
    ) -> None:
        self.name = name
        self.text = text
        self.funcs: dict[str, Callable[..., Any]] = {**BUILTINS, **(funcs or {})}
        self.trees = parse(name, text, self.funcs, left or "{{", right or "}}")
        self.missing_key_error = missing_key_error

    def render(self, data: Any = None, *, entry: str | None = None) -> str:
        """The output of the template (or of the defined template ``entry``)."""
        return execute(
            name=self.name,
            text=self.text,
            trees=self.trees,
            entry=entry or self.name,
            data=data,
            funcs=self.funcs,
            missing_key_error=self.missing_key_error,
        )


def render(text: str, data: Any = None, *, name: str = "template", **options: Any) -> str:
    """Parse and execute ``text`` once."""
    return Template(name, text, **options).render(data)
