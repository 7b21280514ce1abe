"""Standalone HTML pages for the Snakemake report: a generated Markdown file (a table, the
paper index) rendered with markdown-it, in one page with a little CSS and nothing external.

The Markdown is the engine's own output, whose spec text is already escaped
(report/escape.py), so its inline HTML (`<sub>`, comments) is kept.
"""
from __future__ import annotations

import base64
from pathlib import Path

from .escape import _HTML

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.2em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
code { background: #f4f4f4; padding: 0 0.2em; }
sub { color: #555; }
"""


def markdown_to_html(text: str, base: Path | None = None) -> str:
    """Markdown to HTML; with `base`, relative PNG images below it are inlined as data: URIs
    (the report shows a page on its own, without the files beside it)."""
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(text)
    if base is not None:
        root = base.resolve()
        for tok in tokens:
            for child in tok.children or []:
                src = str(child.attrGet("src") or "") if child.type == "image" else ""
                path = (root / src).resolve()
                if src.endswith(".png") and path.is_relative_to(root) and path.is_file():
                    child.attrSet("src", "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode())
    return md.renderer.render(tokens, md.options, {})


def page(title: str, body: str) -> str:
    safe_title = "".join(_HTML.get(c, c) for c in title)
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{safe_title}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n")


def markdown_page(text: str, title: str, base: Path | None = None) -> str:
    return page(title, markdown_to_html(text, base))
