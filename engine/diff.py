"""`engine diff [REV]`: what a change of the specs does, short enough for a code review.

The specs at a git revision (read with `git show`, bases included) are planned with the
current engine beside the working tree's. Per spec it reports the runs added, removed and
changed (with the changed fields), which stage instances must be computed and which are
reused (same hash before, or already in the store), which outputs are regenerated, and an
estimate of the compute from the wall times recorded in the store's provenance.json.

Runs are matched by the values of the swept axes of either side and the seed: adding a
sweep value adds runs, changing an unswept field changes every run.
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import store
from .errors import EngineError, SpecError, SpecErrors
from .plan import SPEC_DIR, Plan, build_plan, spec_files

MISSING = "—"


# ----------------------------------------------------------------------------- specs at a revision
def _git(*args: str) -> str:
    p = subprocess.run(["git", *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise EngineError(f"git {' '.join(args)}: {p.stderr.strip() or 'failed'}")
    return p.stdout


def checkout_specs(rev: str, dest: Path, spec_dir: Path = SPEC_DIR) -> Path:
    """Write the spec files (bases included) of `rev` under dest/<spec_dir>; return that folder."""
    try:
        _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except EngineError:
        raise EngineError(f"'{rev}' is not a git revision of this repository") from None
    out = dest / spec_dir
    out.mkdir(parents=True, exist_ok=True)
    for path in _git("ls-tree", "-r", "--name-only", rev, "--", str(spec_dir)).splitlines():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "show", f"{rev}:./{path}"], capture_output=True,
                                          check=True).stdout)
    return out


# ----------------------------------------------------------------------------- comparing
@dataclass
class SpecDiff:
    name: str
    file: str
    status: str                                   # added | removed | changed | unchanged | unreadable
    runs_old: int = 0
    runs_new: int = 0
    added: list[dict] = field(default_factory=list)        # axes of each added run
    removed: list[dict] = field(default_factory=list)
    changed: list[dict] = field(default_factory=list)      # {"axes": .., "fields": {path: [old, new]}}
    unchanged: int = 0
    new_values: dict[str, list] = field(default_factory=dict)   # axis -> values only the added runs have
    gone_values: dict[str, list] = field(default_factory=dict)
    stages: dict[str, dict[str, list[str]]] = field(default_factory=dict)   # compute | reused | dropped
    outputs: dict[str, list[str]] = field(default_factory=dict)             # added | removed | regenerated
    header: list[str] = field(default_factory=list)        # changed non-run fields (title, claims, ...)
    cost_seconds: float = 0.0
    cost_unknown: int = 0
    error: str = ""


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _run_fields(run) -> dict[str, Any]:
    return _flatten(run.config.model_dump(mode="json"))


def _identity(run, axes: list[str]) -> tuple:
    def value(path):
        try:
            return repr(run.field(path))
        except AttributeError:
            return MISSING
    return tuple(value(a) for a in axes)


def _spec_plans(files: list[Path], scale: str) -> tuple[dict[str, Plan], dict[str, str]]:
    """One plan per spec file (a spec that no longer validates does not hide the others)."""
    plans, errors = {}, {}
    for f in files:
        try:
            plan = build_plan(scale, files=[f])
        except (SpecError, SpecErrors) as e:
            errors[f.stem] = str(e).splitlines()[0]
            continue
        for spec in plan.specs:
            plans[spec.name] = plan
    return plans, errors


def _wall(stage: str, h: str) -> float | None:
    if not store.is_complete(stage, h):
        return None
    return store.run_record(stage, h).get("wall_seconds")


def _stages(*plans) -> list[str]:
    """The stage kinds of the plans, in dependency order."""
    return list(dict.fromkeys(s for p in plans if p is not None for s in p.stage_order))


def _compare(name: str, old: Plan | None, new: Plan | None, old_hashes: set, new_hashes: set) -> SpecDiff:
    o = next(s for s in old.specs if s.name == name) if old else None
    n = next(s for s in new.specs if s.name == name) if new else None
    d = SpecDiff(name, f"{SPEC_DIR}/{name}.yaml", "changed", len(o.runs) if o else 0, len(n.runs) if n else 0)
    axes = sorted(set(o.axes if o else ()) | set(n.axes if n else ()))
    old_runs = {_identity(r, axes): r for r in (o.runs if o else [])}
    new_runs = {_identity(r, axes): r for r in (n.runs if n else [])}
    predecessor = {}                                  # new run index -> matching old run
    added = [r for key, r in new_runs.items() if key not in old_runs]
    removed = [r for key, r in old_runs.items() if key not in new_runs]
    d.added, d.removed = [r.axes for r in added], [r.axes for r in removed]
    for key, r in new_runs.items():
        if key not in old_runs:
            continue
        before = old_runs[key]
        predecessor[r.index] = before
        a, b = _run_fields(before), _run_fields(r)
        fields = {p: [a.get(p, MISSING), b.get(p, MISSING)] for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)}
        if fields:
            d.changed.append({"axes": r.axes, "fields": fields})
        else:
            d.unchanged += 1
    for mine, other, values in ((added, o, d.new_values), (removed, n, d.gone_values)):
        for axis in axes if other else ():
            had = {_identity(r, [axis]) for r in other.runs}
            extra = sorted({_identity(r, [axis]) for r in mine} - had)
            if extra:
                values[axis] = [v for (v,) in extra]
    # stage instances
    for stage in _stages(old, new):
        mine = sorted({h for r in n.runs for h in new.stage_hashes(r, stage)}) if n else []
        compute = [h for h in mine if h not in old_hashes and not store.is_complete(stage, h)]
        theirs = sorted({h for r in o.runs for h in old.stage_hashes(r, stage)}) if o else []
        d.stages[stage] = {"compute": compute, "reused": [h for h in mine if h not in compute],
                           "dropped": [h for h in theirs if h not in new_hashes]}
    _estimate_cost(d, old, new, n, predecessor)
    # outputs and header
    t_old = {t.name: t.key for t in (old.targets.values() if old else []) if t.spec.name == name}
    t_new = {t.name: t.key for t in (new.targets.values() if new else []) if t.spec.name == name}
    d.outputs = {"added": sorted(set(t_new) - set(t_old)), "removed": sorted(set(t_old) - set(t_new)),
                 "regenerated": sorted(k for k in set(t_new) & set(t_old) if t_new[k] != t_old[k])}
    if o and n:
        ho, hn = (s.header.model_dump(mode="json", exclude={"outputs"}) for s in (o, n))
        d.header = sorted(k for k in set(ho) | set(hn) if ho.get(k) != hn.get(k))
    if not o:
        d.status = "added"
    elif not n:
        d.status = "removed"
    elif not (d.added or d.removed or d.changed or any(d.outputs.values()) or d.header):
        d.status = "unchanged"
    return d


def _estimate_cost(d: SpecDiff, old: Plan | None, new: Plan | None, spec, predecessor) -> None:
    """Seconds to compute the new instances: the recorded wall time of the instance each one
    replaces, else the mean recorded time of the spec's stored instances of that stage."""
    if spec is None:
        return
    for stage in d.stages:
        todo = set(d.stages[stage]["compute"])
        if not todo:
            continue
        recorded = [w for h in sorted({h for r in old.specs[0].runs for h in old.stage_hashes(r, stage)} if old else ())
                    if (w := _wall(stage, h)) is not None]
        mean = statistics.fmean(recorded) if recorded else None
        seen = set()
        for r in spec.runs:
            before = predecessor.get(r.index)
            olds = old.stage_hashes(before, stage) if before is not None else []
            for i, h in enumerate(new.stage_hashes(r, stage)):
                if h not in todo or h in seen:
                    continue
                seen.add(h)
                w = _wall(stage, olds[i]) if i < len(olds) else None
                w = mean if w is None else w
                if w is None:
                    d.cost_unknown += 1
                else:
                    d.cost_seconds += w


def diff_specs(rev: str = "HEAD", scale: str = "default", spec_dir: Path = SPEC_DIR) -> list[SpecDiff]:
    new = build_plan(scale, spec_dir)                  # the working tree must validate (exit 2 otherwise)
    new_by_name = {s.name: new for s in new.specs}
    with tempfile.TemporaryDirectory(prefix="engine-diff-") as tmp:
        old_dir = checkout_specs(rev, Path(tmp), Path(spec_dir))
        old_by_name, old_errors = _spec_plans(spec_files(old_dir), scale)
        old_hashes = {h for p in old_by_name.values() for h in p.instances}
        out = []
        for name in sorted(set(new_by_name) | set(old_by_name) | set(old_errors)):
            if name in old_errors and name in new_by_name:
                d = _compare(name, None, new, old_hashes, set(new.instances))
                d.status, d.error = "unreadable", f"at {rev} it does not validate with this engine: {old_errors[name]}"
            elif name in old_errors:
                d = SpecDiff(name, f"{SPEC_DIR}/{name}.yaml", "unreadable",
                             error=f"at {rev}: {old_errors[name]}")
            else:
                d = _compare(name, old_by_name.get(name), new_by_name.get(name), old_hashes, set(new.instances))
            out.append(d)
    return out


# ----------------------------------------------------------------------------- rendering
def _short(values: list, n: int = 4) -> str:
    return ", ".join(values[:n]) + (f", … ({len(values)} in all)" if len(values) > n else "")


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _field_changes(changed: list[dict]) -> list[str]:
    pairs: dict[str, set] = {}
    for c in changed:
        for path, (a, b) in c["fields"].items():
            pairs.setdefault(path, set()).add(f"{a} → {b}")
    return [f"{path} {_short(sorted(v), 3)}" for path, v in sorted(pairs.items())]


def render(diffs: list[SpecDiff], rev: str, scale: str) -> str:
    lines = [f"engine diff {rev} → working tree (scale {scale})"]
    total_compute, total_reused, cost, unknown = 0, 0, 0.0, 0
    for d in diffs:
        if d.status == "unchanged":
            lines.append(f"{d.name}: unchanged ({d.runs_new} runs)")
        else:
            lines.append(f"{d.name} ({d.file}): {d.status}, {d.runs_old} → {d.runs_new} runs")
        if d.error:
            lines.append(f"  note      {d.error}")
        if d.status not in ("unchanged",):
            if d.added or d.removed or d.changed:
                lines.append(f"  runs      +{len(d.added)} added, -{len(d.removed)} removed, "
                             f"~{len(d.changed)} changed, {d.unchanged} unchanged")
            for label, values in (("added", d.new_values), ("removed", d.gone_values)):
                for axis, vals in sorted(values.items()):
                    lines.append(f"  {label:9s} {axis} = {_short(vals)}")
            for line in _field_changes(d.changed):
                lines.append(f"  changed   {line}")
            for stage, s in d.stages.items():
                if s["compute"] or s["dropped"] or (d.status != "unchanged" and s["reused"]):
                    dropped = f", {len(s['dropped'])} no longer used" if s["dropped"] else ""
                    lines.append(f"  {stage:9s} {len(s['compute'])} to compute, {len(s['reused'])} reused{dropped}")
            for label in ("added", "removed", "regenerated"):
                if d.outputs.get(label):
                    lines.append(f"  outputs   {label}: {', '.join(d.outputs[label])}")
            if d.header:
                lines.append(f"  header    {', '.join(d.header)} changed (paper index only)")
            if any(s["compute"] for s in d.stages.values()):
                note = f", {d.cost_unknown} instances without a recorded time" if d.cost_unknown else ""
                lines.append(f"  cost      ≈ {_seconds(d.cost_seconds)} (recorded wall times{note})")
        total_compute += sum(len(s["compute"]) for s in d.stages.values())
        total_reused += sum(len(s["reused"]) for s in d.stages.values())
        cost += d.cost_seconds
        unknown += d.cost_unknown
    tail = f" + {unknown} unestimated" if unknown else ""
    lines.append(f"total: {total_compute} stage instances to compute (≈ {_seconds(cost)}{tail}), {total_reused} reused")
    return "\n".join(lines)


def as_json(diffs: list[SpecDiff], rev: str, scale: str) -> dict:
    from dataclasses import asdict
    return {"rev": rev, "scale": scale, "specs": [asdict(d) for d in diffs],
            "total": {"compute": sum(len(s["compute"]) for d in diffs for s in d.stages.values()),
                      "reused": sum(len(s["reused"]) for d in diffs for s in d.stages.values()),
                      "cost_seconds": round(sum(d.cost_seconds for d in diffs), 3),
                      "cost_unknown": sum(d.cost_unknown for d in diffs)}}
