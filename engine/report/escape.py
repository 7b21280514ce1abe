"""Free text from specs (titles, descriptions, captions, claims) as inert data in each output format.

Spec text never reaches a shell (rules pass hashes only); here it is made unable to change
the structure of the document it lands in: no HTML, link, image, table or heading in
Markdown, no commands or math mode in LaTeX, no mathtext in matplotlib.
"""
from __future__ import annotations

import re
import string

_PUNCT = frozenset(string.punctuation)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}"}


def one_line(text: str) -> str:
    """Collapse newlines and runs of whitespace (a heading, a list item, a cell stay one line)."""
    return re.sub(r"\s+", " ", str(text)).strip()


_MD = {**_HTML, "\\": "\\\\", "[": r"\[", "]": r"\]", "|": r"\|"}


def md_block(text: str) -> str:
    """A paragraph of Markdown: HTML special characters escaped (no raw HTML, no <autolink>),
    brackets escaped (no link or image: `![x](https://…)` stays text), pipes escaped (no table),
    line breaks kept, no line starting a heading."""
    return re.sub(r"(?m)^(\s*)#", r"\1\\#", "".join(_MD.get(c, c) for c in str(text)))


def md_inline(text: str) -> str:
    """One line of Markdown text."""
    return md_block(one_line(text))


md_cell = md_inline        # a Markdown table cell: one line; `|` is escaped in all spec text


def tex(text: str) -> str:
    """LaTeX text mode: every special character escaped, in one pass."""
    return "".join(_TEX.get(c, c) for c in one_line(text))


def rst(text: str) -> str:
    """One line of reStructuredText (report captions): every ASCII punctuation character
    backslash-escaped, so no markup, role, directive (`.. raw::`) or list can start."""
    return "".join("\\" + c if c in _PUNCT else c for c in one_line(text))


def mpl(text: str) -> str:
    """matplotlib text: `$` escaped so it is never read as mathtext."""
    return one_line(text).replace("$", r"\$")
