"""Where each stage instance of a plan stands, for `engine plan`: done, stale or pending.

- done: results/<stage>/<hash>/ is complete (it has provenance.json) and was computed by the
  stage's current code (its recorded `code_digest` equals `engine fingerprint`'s);
- stale: complete, but computed by other code: the stage's sources changed since without a
  version bump (`engine fingerprint --update --no-numeric-change` declared that no number can
  change), or its provenance cannot be read. Snakemake still uses it (the hash is the same);
  `engine verify HASH` reruns it with the current code and compares;
- pending: not in the store yet; the next Snakemake run computes it.

A job whose manifest (results/jobs/<stage>/<job>.json) is missing is reported beside: Snakemake
will run it again, and it reuses the instances already stored.
"""
from __future__ import annotations

import json
from functools import lru_cache

from .plan import Plan, result_dir
from .stages import source_digest

STATES = ("done", "stale", "pending")


@lru_cache(maxsize=None)
def _digest(stage: str) -> str:
    return source_digest(stage)


def instance_status(stage: str, h: str) -> str:
    prov = result_dir(stage, h) / "provenance.json"
    if not prov.is_file():
        return "pending"
    try:
        recorded = json.loads(prov.read_text()).get("code_digest")
    except (OSError, ValueError):
        return "stale"
    return "done" if recorded == _digest(stage) else "stale"


def plan_status(plan: Plan) -> dict[str, str]:
    """Status of every instance of the plan, by hash."""
    return {h: instance_status(inst.stage, h) for h, inst in plan.instances.items()}


def counts(statuses) -> str:
    """'3 done, 1 stale, 2 pending' (states with zero omitted, except done and pending)."""
    statuses = list(statuses)
    parts = []
    for s in STATES:
        n = statuses.count(s)
        if n or s != "stale":
            parts.append(f"{n} {s}")
    return ", ".join(parts)


def missing_manifests(plan: Plan, spec: str) -> list[str]:
    """Jobs of `spec` whose manifest is missing (Snakemake will run them; stored instances are reused)."""
    return [j.id for j in plan.jobs.values() if j.spec == spec and not j.manifest.is_file()]
