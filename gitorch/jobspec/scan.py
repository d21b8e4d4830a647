"""A fast lexical pass over HCL text that enforces the size limits before parsing.

The HCL parser and the code after it recurse on nesting and convert number literals
with ``int()``, so a file nested 300 deep or holding a 5,000-digit number would fail
deep inside a library without a line. This pass walks the text once, tracking quoted
strings (with their ``${ }`` / ``%{ }`` templates, which may nest strings), heredocs and
comments, and reports the first limit crossed with its line:

- brackets, braces and parentheses nested deeper than ``max_nesting_depth``
  (a ``${`` template counts as one level);
- a number literal longer than ``max_number_length`` characters;
- a quoted string or heredoc longer than ``max_string_length`` characters.
"""

from __future__ import annotations

import re

from gitorch.errors import JobspecError
from gitorch.jobspec.limits import Limits

_CODE = re.compile(r'[{}\[\]()"#/<\n$%]|(?<![\w.])\d')
_IN_STRING = re.compile(r'["\\\n]|[$%]\{')
_NUMBER = re.compile(r"\d[\dA-Za-z_.]*(?:(?<=[eE])[+-][\d]*)?")
_HEREDOC = re.compile(r"<<-?([A-Za-z_][\w-]*)[ \t]*\n")
_OPEN, _CLOSE = "{[(", "}])"


def check(text: str, file: str, limits: Limits) -> None:
    """Raise JobspecError (with the line) at the first limit ``text`` crosses."""
    check_size(text, file, limits.max_file_size, "max_file_size")
    _Scanner(text, file, limits).run()


def check_size(text: str, file: str, most: int, setting: str) -> None:
    """Raise JobspecError if ``text`` is over ``most`` bytes of UTF-8."""
    if len(text) * 4 <= most:
        return  # no need to encode: even four bytes a character fit
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > most:
        msg = f"the {'rendered ' if 'rendered' in setting else ''}file is {size} bytes, "
        msg += f"over the limit of {most} (gitops.{setting})"
        raise JobspecError(msg, file=file, line=1)


class _Scanner:
    def __init__(self, text: str, file: str, limits: Limits) -> None:
        self.text, self.file, self.limits = text, file, limits
        self.line = 1
        # one entry per open bracket; a "${" entry marks a template inside a string
        self.stack: list[str] = []

    def fail(self, message: str, setting: str) -> None:
        raise JobspecError(f"{message} (gitops.{setting})", file=self.file, line=self.line)

    def push(self, opener: str) -> None:
        self.stack.append(opener)
        if len(self.stack) > self.limits.max_nesting_depth:
            depth = self.limits.max_nesting_depth
            self.fail(f"values are nested more than {depth} deep", "max_nesting_depth")

    def run(self) -> None:
        text, pos = self.text, 0
        while True:
            match = _CODE.search(text, pos)
            if match is None:
                return
            pos = match.end()
            char = match.group()
            if char == "\n":
                self.line += 1
            elif char in _OPEN:
                self.push(char)
            elif char in _CLOSE:
                if self.stack and self.stack[-1] == "${" and char == "}":
                    self.stack.pop()
                    pos = self.string(pos)  # back inside the string the template was in
                elif self.stack:
                    self.stack.pop()
            elif char == '"':
                pos = self.string(pos)
            elif char == "#" or text.startswith("//", pos - 1):
                end = text.find("\n", pos)
                pos = len(text) if end < 0 else end
            elif text.startswith("/*", pos - 1):
                end = text.find("*/", pos)
                end = len(text) if end < 0 else end + 2
                self.line += text.count("\n", pos, end)
                pos = end
            elif char == "<":
                pos = self.heredoc(pos - 1)
            elif char.isdigit():
                number = _NUMBER.match(text, pos - 1)
                end = number.end() if number else pos
                if end - (pos - 1) > self.limits.max_number_length:
                    most = self.limits.max_number_length
                    self.fail(
                        f"a number of {end - pos + 1} characters, over the limit of {most}",
                        "max_number_length",
                    )
                pos = end

    def string(self, pos: int) -> int:
        """Scan a quoted string from just after its opening quote (or a template's end)."""
        text, start = self.text, pos
        while True:
            match = _IN_STRING.search(text, pos)
            if match is None:
                return len(text)
            token, pos = match.group(), match.end()
            if token == "\\":
                pos += 1
            elif token == "\n":  # an unterminated string: the parser will say so
                self.line += 1
                return pos
            elif token == '"':
                self.string_length(pos - start)
                return pos
            elif text[match.start() - 1 : match.start()] != token[0]:  # not $${ or %%{
                self.push("${")
                return pos

    def string_length(self, length: int) -> None:
        if length > self.limits.max_string_length:
            most = self.limits.max_string_length
            self.fail(f"a string of {length} characters, over the limit of {most}",
                      "max_string_length")  # fmt: skip

    def heredoc(self, pos: int) -> int:
        match = _HEREDOC.match(self.text, pos)
        if match is None:
            return pos + 1
        marker = re.compile(rf"^[ \t]*{re.escape(match.group(1))}[ \t]*$", re.M)
        end = marker.search(self.text, match.end())
        stop = len(self.text) if end is None else end.end()
        self.string_length(stop - match.end())
        self.line += self.text.count("\n", pos, stop)
        return stop
