"""table: one table output as Markdown and LaTeX."""
from __future__ import annotations

from ..report import tables
from ..store import write_bytes_atomic


def run(plan, target, log) -> None:
    data = tables.build(plan, target)
    md_path, tex_path = target.files
    write_bytes_atomic(md_path, tables.to_markdown(plan, target, data).encode())
    write_bytes_atomic(tex_path, tables.to_latex(plan, target, data).encode())
    log(f"table {target.name}: {len(data['rows'])} rows from {len(data['runs'])} runs -> {md_path}")
