"""`engine verify HASH`: rerun one stored stage instance into a temporary directory and
compare what it writes with the stored result, number by number.

The rerun uses only the result's provenance.json (its config and upstream hashes), so any
stored result can be checked, referenced by a spec or not. Stages run with deterministic
algorithms on (stages/common.py: setup_torch), so on the same machine and package versions
the expected difference is exactly 0. A kernel that cannot be made deterministic gets an
entry in TOLERANCES naming it, and the tests compare within that tolerance. In metrics.json
each metric's declared determinism (engine/registry.py: Metric) applies first: a metric
declared "none" (a wall time) is not compared, one declared "tolerance" is equal within its tol.
"""
from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import checkpoint, eager, identity, registry, store
from .plan import Instance

# stage kind -> (absolute tolerance, the nondeterministic kernel that needs it). The Gaussian
# family is bitwise reproducible on CPU; add the neural family's entries here if it needs any.
TOLERANCES: dict[str, tuple[float, str]] = {}


@dataclass
class FileDiff:
    name: str
    max_abs: float = 0.0
    where: str = ""                  # the JSON path or tensor name of the largest difference
    identical: bool = True           # bitwise
    problem: str = ""                # structure or non-numeric mismatch
    skipped: list = field(default_factory=list)   # metrics declared not deterministic (not compared)
    tolerated: list = field(default_factory=list)  # metrics that differed within their declared tolerance


@dataclass
class Report:
    stage: str
    hash: str
    files: list[FileDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def max_abs(self) -> float:
        return max((f.max_abs for f in self.files), default=0.0)

    @property
    def bitwise(self) -> bool:
        """Every number equal bit for bit (timings declared not deterministic aside): no difference, none
        hidden by a declared tolerance."""
        return not self.problems and self.max_abs == 0 and not any(f.tolerated for f in self.files)

    @property
    def problems(self) -> list[str]:
        return [f"{f.name}: {f.problem}" for f in self.files if f.problem]

    def ok(self, tolerance: float) -> bool:
        return not self.problems and self.max_abs <= tolerance

    def render(self, tolerance: float) -> list[str]:
        lines = [f"note: {n}" for n in self.notes]
        for f in self.files:
            state = f.problem or ("bitwise identical" if f.identical else
                                  "equal up to declared determinism" if f.max_abs == 0 else
                                  f"max |diff| {f.max_abs:.3g} at {f.where}")
            if f.skipped:
                state += f" (not compared, declared not deterministic: {', '.join(f.skipped)})"
            lines.append(f"  {f.name:24s} {state}")
        worst = max(self.files, key=lambda f: f.max_abs, default=None)
        at = f" ({worst.name}: {worst.where})" if worst and worst.max_abs else ""
        verdict = "REPRODUCED" if self.ok(tolerance) else "NOT REPRODUCED"
        lines.append(f"{self.stage} {self.hash}: largest absolute difference {self.max_abs:.3g}{at}, "
                     f"tolerance {tolerance:g}: {verdict}")
        return lines


def _numbers(a, b, path: str, out: FileDiff) -> None:
    """Walk two JSON values side by side, recording the largest numeric difference."""
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str) or a is None:
        if a != b and not out.problem:
            out.problem = f"{path or '<root>'}: {a!r} != {b!r}"
        return
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        d = abs(a - b) if math.isfinite(a) and math.isfinite(b) else (0.0 if a == b else math.inf)
        if d > out.max_abs:
            out.max_abs, out.where = d, path
        return
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for k in a:
            _numbers(a[k], b[k], f"{path}.{k}" if path else str(k), out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _numbers(x, y, f"{path}[{i}]", out)
    elif not out.problem:
        out.problem = f"{path or '<root>'}: structure differs"


def _tensors(a: Path, b: Path, out: FileDiff) -> None:
    from safetensors.torch import load_file
    ta, tb = load_file(str(a)), load_file(str(b))
    if ta.keys() != tb.keys():
        out.problem = f"tensor names differ: {sorted(ta)} vs {sorted(tb)}"
        return
    for k in sorted(ta):
        if ta[k].shape != tb[k].shape:
            out.problem = f"{k}: shape {tuple(ta[k].shape)} vs {tuple(tb[k].shape)}"
            return
        d = float((ta[k].double() - tb[k].double()).abs().max()) if ta[k].numel() else 0.0
        if d > out.max_abs:
            out.max_abs, out.where = d, k


def _declared_metrics(prov: dict) -> dict:
    """name -> Metric that the result's stage declares for its run (empty when unknown)."""
    from .spec.models import RunConfig
    try:
        cfg = RunConfig.model_validate(prov.get("run_config") or {})
    except ValueError:
        return {}
    return {m.name: m for m in registry.stage(prov["stage"]).metrics(cfg, tuple(prov.get("roles", ())))}


def _apply_determinism(a: dict, b: dict, declared: dict, fd: FileDiff) -> None:
    """metrics.json: drop the metrics declared not deterministic (timings), and count a
    difference within a metric's declared tolerance as none."""
    for k, m in declared.items():
        if m.determinism == "none":
            if k in a or k in b:
                a.pop(k, None), b.pop(k, None)
                fd.skipped.append(k)
        elif m.determinism == "tolerance" and isinstance(a.get(k), (int, float)) and isinstance(b.get(k), (int, float)):
            if abs(a[k] - b[k]) <= m.tol:
                if a[k] != b[k]:
                    fd.tolerated.append(k)
                b[k] = a[k]


def compare(stored: Path, fresh: Path, names: list[str], declared: dict | None = None) -> list[FileDiff]:
    """Compare a rerun with the stored files; `declared`: the stage's metrics (their determinism)."""
    out = []
    for name in sorted(names):
        a, b = stored / name, fresh / name
        fd = FileDiff(name)
        out.append(fd)
        if not b.is_file():
            fd.identical, fd.problem = False, "not written by the rerun"
            continue
        fd.identical = a.read_bytes() == b.read_bytes()
        if fd.identical:
            continue
        if name.endswith(".json"):
            ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
            if name == "metrics.json" and declared and isinstance(ja, dict) and isinstance(jb, dict):
                _apply_determinism(ja, jb, declared, fd)
            _numbers(ja, jb, "", fd)
        elif name.endswith(".safetensors"):
            _tensors(a, b, fd)
        else:
            fd.problem = "bytes differ"
    extra = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file()
                   and str(p.relative_to(fresh)) not in names)
    out += [FileDiff(n, identical=False, problem="written by the rerun but not stored") for n in extra]
    return out


def verify(stage: str, h: str, log) -> Report:
    """Refuse a tampered result, rerun it into a temporary directory, compare."""
    from .progress import Log
    prov = store.verify_files(stage, h)
    report = Report(stage, h)
    version = registry.stage(stage).version
    uses = tuple(tuple(u) for u in prov.get("uses", ()))
    if prov.get("version", version) != version or prov.get("components", {}) != identity.versions_in_hash(uses):
        report.notes.append(f"stored by other versions of its code (stage {prov.get('version')}, kinds "
                            f"{prov.get('components', {})}); differences are expected")
    elif prov.get("code_digest") not in (None, identity.instance_digest(stage, uses)):
        report.notes.append(f"the {stage} code changed since (fingerprint {prov['code_digest']} -> "
                            f"{identity.instance_digest(stage, uses)}) without a version bump")
    inst = Instance(stage, h, prov["config"], tuple(prov["upstream"]), roles=tuple(prov.get("roles", ())),
                    uses=uses, components=prov.get("components", {}))
    with tempfile.TemporaryDirectory(prefix=f"verify-{h}-") as tmp, \
            tempfile.TemporaryDirectory(prefix=f"verify-{h}-resume-") as resume, checkpoint.private_area(Path(resume)):
        t0 = time.time()
        threads = prov.get("run_config", {}).get("resources", {}).get("threads", 2)
        with eager.blas_threads(threads):            # as its job had them (engine/eager.py)
            registry.implementation(registry.stage(stage)).run(inst, Path(tmp), Log(prefix="  "))
        report.wall_seconds = time.time() - t0
        report.files = compare(store.result_dir(stage, h), Path(tmp), list(prov["files"]), _declared_metrics(prov))
    log(f"reran {stage} {h} in {report.wall_seconds:.1f}s (stored run: {store.run_record(stage, h).get('wall_seconds')}s)")
    return report


# ----------------------------------------------------------------------------- generated outputs
def stale_files(plan, target, tmp: Path) -> list[tuple[str, str]]:
    """Regenerate one table or figure into the folder `tmp` and compare bytes with its files:
    [(file, problem)] for each that is missing or differs."""
    import dataclasses
    stage = registry.implementation(registry.stage(target.kind))
    private = tuple(str(Path(tmp) / f"{target.kind}-{target.name}-{Path(f).name}") for f in target.files)
    stage.run(plan, dataclasses.replace(target, files=private), lambda m: None)
    problems = []
    for live, fresh in zip(target.files, private):
        if not Path(live).is_file():
            problems.append((live, "missing"))
        elif Path(live).read_bytes() != Path(fresh).read_bytes():
            problems.append((live, "differs from what its spec and results give now (stale or edited)"))
    return problems


def stale_index(plan) -> list[tuple[str, str]]:
    """The index and the papers' review pages against what the index job writes now."""
    problems = []
    for path, text in registry.implementation(registry.stage("index")).pages(plan).items():
        if not Path(path).is_file():
            problems.append((path, "missing"))
        elif Path(path).read_bytes() != text.encode():
            problems.append((path, "differs from what its specs and results give now (stale or edited)"))
    return problems


def outputs(plan, log) -> list[tuple[str, str]]:
    """Regenerate every table and figure of `plan` in a private folder, and the index in memory,
    and compare bytes with the files in paper/: [(file, problem)] for each file that differs or is
    missing (an output that is stale: what it shows changed and it was not regenerated).
    Nothing under paper/ is read for input or written."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in sorted(plan.targets.values(), key=lambda t: t.name):
            problems += stale_files(plan, t, Path(tmp))
            log(f"{t.kind} {t.name}: compared")
    return problems + stale_index(plan)
