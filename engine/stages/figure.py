"""figure: one figure output as PNG and PDF."""
from __future__ import annotations

from ..report import figures
from ..store import write_bytes_atomic


def run(plan, target, log) -> None:
    data = figures.series(plan, target)
    png, pdf = figures.render(plan, target, data)
    png_path, pdf_path = target.files
    write_bytes_atomic(png_path, png)
    write_bytes_atomic(pdf_path, pdf)
    log(f"figure {target.name}: {len(data['runs'])} runs -> {png_path}")
