"""What the Snakefile needs of a plan, cached on disk and keyed by everything the plan is made of.

Every Snakemake start (a dry run, a no-op rerun, each cluster job) parses the Snakefile, and
building the plan validates every run with pydantic: about 0.5 s for a thousand runs, most of a
dry run. The rules need only plain data (jobs, targets, keys, launch commands), so that is written
to build/plan/<scale>-<key>.json and read back when nothing it depends on has changed:

  - the bytes of every file under specs/ (specs, bases, the model lock file);
  - the engine's code: path, size and modification time of every engine/**/*.py, and the
    versions of pydantic and PyYAML, which validate the specs;
  - the environment variables planning reads (ENGINE_PLUGINS, and the plugin modules' files;
    ENGINE_MAX_RUNS) and the scale.

A cache file is used only if it parses and names that same key; anything else (missing, damaged,
another key) is rebuilt from the specs, which also reports bad input as before. `light_plan` is
the only entry point: it imports the spec machinery only on a miss.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path("build") / "plan"
FORMAT = 2                # 2: the papers' review pages
ENV = ("ENGINE_PLUGINS", "ENGINE_MAX_RUNS")
ENGINE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LightJob:
    id: str
    stage: str
    spec: str
    paper: str
    hashes: tuple[str, ...]
    inputs: tuple[str, ...]
    manifest: str
    threads: int
    mem_mb: int
    runtime_min: int
    gpus: int            # what the scheduler is asked for (engine/launch.py: gpus)
    launch: str          # the arguments after `python` (engine/launch.py: command)


@dataclass(frozen=True)
class LightTarget:
    kind: str
    name: str
    spec: str
    paper: str
    key: str
    files: tuple[str, ...]
    inputs: tuple[str, ...]


@dataclass
class LightPlan:
    scale: str
    index_file: str
    index_key: str
    papers: list[str]
    jobs: dict[str, LightJob] = field(default_factory=dict)
    targets: dict[str, LightTarget] = field(default_factory=dict)
    report_dir: str = ""                                              # engine/report/items.py
    report_paths: dict[str, list[str]] = field(default_factory=dict)  # every report item's file, by kind
    report_grids: dict[str, str] = field(default_factory=dict)        # sample grid -> its producer's manifest
    review_files: dict[str, str] = field(default_factory=dict)        # paper -> its review page (the index job's)

    def all_files(self, paper: str = "") -> list[str]:
        """As engine.plan.Plan.all_files."""
        from .layout import select_files
        return select_files(self.scale, self.papers, paper, self.index_file,
                            [(t.paper, t.files) for t in self.targets.values()],
                            [(j.paper, j.manifest) for j in self.jobs.values()])


def _files_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.is_dir() else []


def cache_key(scale: str, spec_dir: Path) -> str:
    h = hashlib.sha256(f"format {FORMAT}\nscale {scale}\n".encode())
    for p in _files_under(spec_dir):
        h.update(f"spec {p.relative_to(spec_dir)}\n".encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    code = [p for p in _files_under(ENGINE_DIR) if p.suffix == ".py"]
    for name in filter(None, os.environ.get("ENGINE_PLUGINS", "").split(",")):
        spec = importlib.util.find_spec(name.strip())
        if spec is not None and spec.origin:
            code.append(Path(spec.origin))
    for p in code:
        st = p.stat()
        h.update(f"code {p} {st.st_size} {st.st_mtime_ns}\n".encode())
    from importlib.metadata import version
    for pkg in ("pydantic", "pydantic-core", "PyYAML"):
        h.update(f"package {pkg} {version(pkg)}\n".encode())
    for var in ENV:
        h.update(f"env {var}={os.environ.get(var, '')}\n".encode())
    return h.hexdigest()[:32]


def _light(plan) -> LightPlan:
    from .launch import command, gpus
    from .plan import paper_id
    from .report import items
    paper = {s.name: paper_id(s) for s in plan.specs}
    producer = {h: str(j.manifest) for j in plan.jobs.values() for h in j.hashes}
    out = LightPlan(plan.scale, plan.index_file, plan.index_key, plan.papers(),
                    report_dir=str(items.item_dir(plan.scale)), report_paths=items.paths(plan),
                    report_grids={k: producer[g.result] for k, g in items.sample_grids(plan).items()},
                    review_files=dict(plan.review_files))
    for j in plan.jobs.values():
        out.jobs[j.id] = LightJob(j.id, j.stage, j.spec, paper.get(j.spec, ""), tuple(j.hashes), tuple(j.inputs),
                                  str(j.manifest), j.threads, j.mem_mb, j.runtime_min, gpus(j), command(j))
    for name, t in plan.targets.items():
        out.targets[name] = LightTarget(t.kind, name, t.spec.name, paper[t.spec.name], t.key, tuple(t.files),
                                        tuple(t.inputs))
    return out


def _read(path: Path, key: str) -> LightPlan | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key or data.get("format") != FORMAT:
            return None
        p = data["plan"]
        return LightPlan(p["scale"], p["index_file"], p["index_key"], list(p["papers"]),
                         {k: LightJob(**{**v, "hashes": tuple(v["hashes"]), "inputs": tuple(v["inputs"])})
                          for k, v in p["jobs"].items()},
                         {k: LightTarget(**{**v, "files": tuple(v["files"]), "inputs": tuple(v["inputs"])})
                          for k, v in p["targets"].items()},
                         p["report_dir"], dict(p["report_paths"]), dict(p["report_grids"]), dict(p["review_files"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None                  # damaged or from another format: rebuilt below


def _write(path: Path, key: str, plan: LightPlan) -> None:
    from dataclasses import asdict
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{plan.scale}-*.json"):    # one cache file per scale
        old.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"format": FORMAT, "key": key, "plan": asdict(plan)}))   # insertion order kept
    os.replace(tmp, path)


def light_plan(scale: str, spec_dir: Path | str = "specs") -> LightPlan:
    """The plan's jobs and targets for the Snakefile: from the cache when its key matches, else built
    (engine.plan.build_plan, which raises SpecError/SpecErrors on bad input) and cached."""
    spec_dir = Path(spec_dir)
    key = cache_key(scale, spec_dir)
    path = CACHE / f"{scale}-{key}.json"
    cached = _read(path, key)
    if cached is not None:
        return cached
    from .plan import build_plan
    light = _light(build_plan(scale, spec_dir))
    try:
        _write(path, key, light)
    except OSError:
        pass                         # a read-only checkout plans every time, as before
    return light
