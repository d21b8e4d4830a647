"""Server-side syntax highlighting of HCL: each line of a jobspec as escaped HTML with
``<span class="hl-...">`` around comments, strings, numbers, keywords and block names.
No script, no inline style: the colours are ui.css's.

A small tokenizer, not a parser: a line is read left to right; ``#``/``//`` comments run
to the end of the line, ``/* */`` and heredocs (``<<EOF`` ... ``EOF``) may span lines
(the state is carried from one line to the next), ``"..."`` strings honour ``\\"``.
Whatever it does not recognise is passed through escaped, so any text is safe.
"""

from __future__ import annotations

import re
from html import escape

from markupsafe import Markup

KEYWORDS = frozenset({"true", "false", "null", "for", "in", "if", "else", "endif", "endfor"})
_TOKEN = re.compile(
    r"""(?P<comment>\#.*|//.*)
      |(?P<open_comment>/\*)
      |(?P<heredoc><<-?(?P<tag>[A-Za-z_][A-Za-z0-9_]*)\s*$)
      |(?P<string>"(?:[^"\\]|\\.)*"?)
      |(?P<number>\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)
      |(?P<word>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.X,
)


def _span(kind: str, text: str) -> str:
    return f'<span class="hl-{kind}">{escape(text)}</span>'


def highlight_lines(source: str) -> list[Markup]:
    """One Markup per line of ``source``."""
    out: list[Markup] = []
    block_comment = False
    heredoc = ""  # the closing tag while inside a heredoc
    for line in source.split("\n"):
        if heredoc:
            out.append(Markup(_span("string", line)))
            if line.strip() == heredoc:
                heredoc = ""
            continue
        html, pos = [], 0
        if block_comment:
            end = line.find("*/")
            if end < 0:
                out.append(Markup(_span("comment", line)))
                continue
            html.append(_span("comment", line[: end + 2]))
            pos, block_comment = end + 2, False
        first_word = True
        while pos < len(line):
            m = _TOKEN.search(line, pos)
            if m is None:
                html.append(escape(line[pos:]))
                break
            html.append(escape(line[pos : m.start()]))
            kind, text = m.lastgroup, m.group(0)
            if kind == "tag":
                kind = "heredoc"
            if kind == "open_comment":
                end = line.find("*/", m.end())
                if end < 0:
                    html.append(_span("comment", line[m.start() :]))
                    block_comment = True
                    break
                html.append(_span("comment", line[m.start() : end + 2]))
                pos = end + 2
                continue
            if kind == "heredoc":
                heredoc = m.group("tag")
                html.append(_span("string", text))
            elif kind == "word":
                rest = line[m.end() :].lstrip()
                if text in KEYWORDS:
                    html.append(_span("keyword", text))
                elif first_word and rest[:1] in ('"', "{"):
                    html.append(_span("block", text))  # job "x" {, config {
                elif first_word and rest[:1] == "=":
                    html.append(_span("attr", text))
                else:
                    html.append(escape(text))
            else:
                html.append(_span(kind or "text", text))
            first_word = False
            pos = m.end()
        out.append(Markup("".join(html)))
    return out
