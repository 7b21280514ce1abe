"""What rules/report.smk asks of the report machinery, as functions (a Snakefile holds rules only).

The whole plan (captions and labels need its specs and runs) is built on first use, so a
Snakemake start that schedules no report item never builds it (engine/plancache.py)."""
from __future__ import annotations

from functools import lru_cache

CAPTION_FIELDS = ("title", "spec", "spec_file", "scale", "key", "runs")


@lru_cache(maxsize=None)
def full_plan(scale: str):
    from ..plan import build_plan
    return build_plan(scale)


def report_args(scale: str, kind: str, category: str) -> dict:
    """report() arguments of an item of `kind` whose wildcard `name` names it."""
    from . import items
    return dict(caption="captions/item.rst", category=category,
                subcategory=lambda wc: items.subcategory(full_plan(scale), kind, getattr(wc, "name", "")),
                labels=lambda wc: items.labels(full_plan(scale), kind, getattr(wc, "name", "")))


def caption_params(scale: str, kind: str) -> dict:
    """params: of a report rule: each caption field, computed when the job is scheduled."""
    from . import items

    def field(name):
        return lambda wc: items.caption(full_plan(scale), kind, getattr(wc, "name", ""))[name]
    return {name: field(name) for name in CAPTION_FIELDS}
