"""`engine gc`: find (and remove) what in results/ no spec references at any scale, and the
temporary files of killed writes under results/ and paper/.

Referenced means: a stage instance or job manifest of the plan of the working tree's specs
at some scale. Also collected: temporary directories and files of writes that were killed
(older than an hour, so a running job's are left alone). Removing from results/ does not
shrink DVC's cache or remote: `dvc gc` does that after the next `make push` (README).
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import store
from .plan import RESULTS, SPEC_DIR, build_plan
from .spec.models import SCALES

TEMP_AGE_S = 3600


@dataclass
class Garbage:
    path: Path
    bytes: int
    why: str


def referenced(spec_dir: Path | str = SPEC_DIR) -> tuple[set[str], set[str]]:
    """(instance hashes, job ids) of every spec at every scale; a bad spec raises (exit 2),
    so a typo can never make the whole store look unreferenced."""
    instances, jobs = set(), set()
    for scale in SCALES:
        plan = build_plan(scale, spec_dir)
        instances |= set(plan.instances)
        jobs |= set(plan.jobs)
    return instances, jobs


def _was_for(stage: str, h: str) -> str:
    try:
        prov = store.provenance(stage, h)
    except Exception:                       # incomplete or unreadable: say so
        return "incomplete result"
    who = (prov.get("requested_by") or [None])[0]
    if isinstance(who, dict):
        return f"was for {who['file']} run {who['run']}"
    return f"was for spec {who[0]} run {who[1]}" if isinstance(who, list) else ""


def find(spec_dir: Path | str = SPEC_DIR, results: Path = RESULTS, now: float | None = None) -> list[Garbage]:
    instances, jobs = referenced(spec_dir)
    old = (time.time() if now is None else now) - TEMP_AGE_S
    out = []
    for stage_dir in sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else []:
        if stage_dir.name == "jobs":
            for f in sorted(stage_dir.glob("*/*")):
                if f.name.startswith("."):
                    if f.stat().st_mtime < old:
                        out.append(Garbage(f, store.tree_size(f)[1], "temporary file of a killed write"))
                elif f.suffix == ".json" and f.stem not in jobs:
                    out.append(Garbage(f, store.tree_size(f)[1], "job manifest no spec plans"))
            continue
        if stage_dir.name == ".quarantine":
            for d in sorted(stage_dir.glob("*/*")):
                if d.stat().st_mtime < old:
                    out.append(Garbage(d, store.tree_size(d)[1], "a damaged result, moved aside"))
            continue
        for d in sorted(stage_dir.iterdir()):
            if d.name.startswith("."):
                if d.stat().st_mtime < old:
                    out.append(Garbage(d, store.tree_size(d)[1], "temporary directory of a killed write"))
            elif d.name not in instances:
                out.append(Garbage(d, store.tree_size(d)[1], _was_for(stage_dir.name, d.name)))
    for f in sorted(Path("paper").rglob(".*.tmp-*")) if Path("paper").is_dir() else []:
        if f.is_file() and f.stat().st_mtime < old:     # a write into paper/ that was killed
            out.append(Garbage(f, f.stat().st_size, "temporary file of a killed write"))
    return out


def refusal(garbage: list[Garbage], spec_dir: Path | str = SPEC_DIR, results: Path = RESULTS) -> str | None:
    """Why `engine gc --yes` must not act without --force: no spec at all (a wrong folder, or
    specs under another suffix), or more results to remove than to keep."""
    from .plan import spec_files
    if not spec_files(Path(spec_dir)):
        return f"no spec found in {spec_dir}/: every result would look unreferenced"
    stored = set(store.result_dirs(results))
    dropped = sum(1 for g in garbage if g.path in stored)
    kept = len(stored) - dropped
    if dropped > kept:
        return f"it would remove {dropped} results and keep {kept}"
    return None


def remove(garbage: list[Garbage]) -> None:
    for g in garbage:
        if g.path.is_dir():
            shutil.rmtree(g.path)
        else:
            g.path.unlink()


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
