"""Where each stage instance of a plan stands, for `engine plan`: done, stale or pending.

- done: results/<stage>/<hash>/ is complete (it has provenance.json) and was computed by the
  current code of its stage and kinds (its recorded `code_digest`, engine/identity.py);
- stale: complete, but computed by other code: their sources changed since without a
  version bump (`engine fingerprint --update --no-numeric-change` declared that no number can
  change), or its provenance cannot be read. Snakemake still uses it (the hash is the same);
  `engine verify HASH` reruns it with the current code and compares;
- pending: not in the store yet; the next Snakemake run computes it.

A job whose manifest (results/jobs/<stage>/<job>.json) is missing is reported beside: Snakemake
will run it again, and it reuses the instances already stored.
"""
from __future__ import annotations

import json

from . import identity
from .layout import result_dir

STATES = ("done", "stale", "pending")


def instance_status(inst) -> str:
    prov = result_dir(inst.stage, inst.hash) / "provenance.json"
    if not prov.is_file():
        return "pending"
    try:
        recorded = json.loads(prov.read_text()).get("code_digest")
    except (OSError, ValueError):
        return "stale"
    return "done" if recorded == identity.instance_digest(inst.stage, inst.uses) else "stale"


def plan_status(plan) -> dict[str, str]:
    """Status of every instance of the plan, by hash."""
    return {h: instance_status(inst) for h, inst in plan.instances.items()}


def counts(statuses) -> str:
    """'3 done, 1 stale, 2 pending' (states with zero omitted, except done and pending)."""
    statuses = list(statuses)
    parts = []
    for s in STATES:
        n = statuses.count(s)
        if n or s != "stale":
            parts.append(f"{n} {s}")
    return ", ".join(parts)


def missing_manifests(plan, spec: str) -> list[str]:
    """Jobs of `spec` whose manifest is missing (Snakemake will run them; stored instances are reused)."""
    return [j.id for j in plan.jobs.values() if j.spec == spec and not j.manifest.is_file()]
