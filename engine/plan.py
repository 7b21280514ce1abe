"""The planner: runs -> stage instances keyed by content hashes -> jobs and paper targets.

A stage instance's hash covers what can change its numbers: the stage kind, its code
version, its own slice of the run config and the hashes of its upstream instances.
Resources, captions and table layout are never part of an instance hash.

Jobs group instances for Snakemake: process start-up (~1 s of Snakemake, ~1.3 s to
import torch) dominates cheap Gaussian instances, so one job runs all instances of one
stage kind of one spec, and skips those already in the store. A job's output is a small
manifest named by the hash of its instance list, so adding a run to a spec creates a new
job that recomputes only the new instance, and an evaluation-only edit creates new
evaluate jobs while every finetune job keeps its manifest (zero finetune work).
The stage instances a run needs come from its model family (or analysis) through the
registry; this module names no science. It imports no torch.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import identity, registry
from .layout import (HASH_LEN, RESULTS, content_hash, instance_hash, manifest_path, paper_dir,  # noqa: F401
                     result_dir, select_files)
from .errors import SpecError
from .spec import models as M
from .spec.base import identity_dump
from .spec.resolve import ExpandedSpec, Run, load_spec, expand

SPEC_DIR = Path("specs")


# ----------------------------------------------------------------------------- stage graph
def node_uses(node: registry.Node) -> tuple[tuple[str, str], ...]:
    """The kinds a node uses: those its config names (a room's `kind`) and those it declares."""
    named = [(room, node.config[room]["kind"]) for room in registry.ROOMS
             if isinstance(node.config.get(room), dict) and "kind" in node.config[room]]
    return tuple(sorted(set(named) | set(node.uses)))


def stage_order(nodes) -> tuple[str, ...]:
    """Stage kinds in dependency order, derived from the nodes of every run (ties by first appearance)."""
    after: dict[str, set[str]] = {}
    for graph in nodes:
        by_role = {n.role: n.stage for n in graph}
        for n in graph:
            after.setdefault(n.stage, set()).update(by_role[r] for r in n.upstream)
    order: list[str] = []
    while len(order) < len(after):
        ready = [s for s in after if s not in order and after[s] <= set(order)]
        if not ready:
            raise ValueError(f"stage kinds depend on each other in a cycle: {sorted(set(after) - set(order))}")
        order += ready
    return tuple(order)


@dataclass
class Instance:
    stage: str
    hash: str
    config: dict
    upstream: tuple[str, ...]
    runs: list[tuple[str, int]] = field(default_factory=list)   # (spec, run index): who asked for it
    resources: M.Resources = M.Resources()
    roles: tuple[str, ...] = ()          # the role of each upstream hash (e.g. "pretrain", "judge")
    group: str = "spec"
    uses: tuple[tuple[str, str], ...] = ()   # (room, kind) of every kind its code runs
    components: dict = field(default_factory=dict)   # their non-baseline versions (part of the hash)

    def upstream_by_role(self) -> dict[str, str]:
        return dict(zip(self.roles, self.upstream))

    @property
    def path(self) -> Path:
        return result_dir(self.stage, self.hash)


@dataclass
class Job:
    id: str
    stage: str
    hashes: tuple[str, ...]
    inputs: tuple[str, ...]        # manifest paths of upstream jobs
    spec: str
    threads: int
    mem_mb: int
    gpus: int = 0
    processes: int = 1              # > 1: the rule launches torchrun (engine/launch.py)
    runtime_min: int = 30

    @property
    def manifest(self) -> Path:
        return manifest_path(self.stage, self.id)


@dataclass
class Target:
    """A table or figure (or the index) of one scale."""
    kind: str                       # table | figure
    name: str
    spec: ExpandedSpec
    cfg: object
    key: str
    files: tuple[str, ...]
    inputs: tuple[str, ...]         # manifest paths


@dataclass
class Plan:
    scale: str
    specs: list[ExpandedSpec]
    instances: dict[str, Instance]
    run_stages: dict[tuple[str, int], dict[str, str]]
    jobs: dict[str, Job]
    targets: dict[str, Target]
    stage_order: tuple[str, ...] = ()

    def run_hash(self, run: Run, role: str) -> str:
        """The hash of a run's instance in `role` (finetune, evaluate, pretrain, judge, ...)."""
        return self.run_stages[(run.spec, run.index)][role]

    def stage_hashes(self, run: Run, stage: str) -> list[str]:
        """The hashes of a run's instances of one stage kind (a run may have two classifiers)."""
        return [h for h in self.run_stages[(run.spec, run.index)].values() if self.instances[h].stage == stage]

    @property
    def index_key(self) -> str:
        """What the index shows: every output's key, and every spec's header and claims (a title or a
        claim's threshold edited regenerates the index, engine/stamps.py)."""
        headers = [{"file": str(s.doc.file), **s.header.model_dump(mode="json", exclude={"outputs", "scales"})}
                   for s in self.specs]
        return content_hash({"kind": "index", "version": registry.stage("index").version, "scale": self.scale,
                             "outputs": sorted(t.key for t in self.targets.values()), "specs": headers})

    @property
    def index_file(self) -> str:
        return str(paper_dir(self.scale) / "README.md")

    def target_hashes(self, target) -> set[str]:
        """The stage instances whose results a table or figure shows."""
        return {self.run_hash(r, role) for r in target.spec.runs for role in output_roles(r, target.cfg)}

    @property
    def review_files(self) -> dict[str, str]:
        """Each paper's reviewer page, written with the index (stages/index.py): paper -> path."""
        with_outputs = {paper_id(t.spec) for t in self.targets.values()}
        return {p: str(paper_dir(self.scale) / _folder(p) / "README.md") for p in self.papers() if p in with_outputs}

    def all_files(self, paper: str = "") -> list[str]:
        """What `snakemake` builds (layout.select_files), for every paper or one."""
        ids = {s.name: paper_id(s) for s in self.specs}
        return select_files(self.scale, self.papers(), paper, self.index_file,
                            [(ids[t.spec.name], t.files) for t in self.targets.values()],
                            [(ids.get(j.spec, ""), j.manifest) for j in self.jobs.values()])

    def papers(self) -> list[str]:
        return sorted({paper_id(s) for s in self.specs})

    def status(self, h: str) -> str:
        inst = self.instances[h]
        return "done" if (inst.path / "provenance.json").is_file() else "pending"


def _folder(paper: str) -> str:
    """A paper's folder name: its id when that is a plain name (an arXiv id), else a slug of it and a
    digest (a paper field is free text: it never reaches a path or a shell as it is)."""
    import re
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", paper).strip("-.")[:48]
    if slug == paper and slug not in ("tables", "figures", "smoke", "paper"):
        return paper
    return f"{slug or 'paper'}-{hashlib.sha256(paper.encode()).hexdigest()[:8]}"


def paper_id(spec) -> str:
    """The paper a spec belongs to: its `paper:` field without an `arXiv:` prefix (an arXiv id or
    a short name), else the spec's own name."""
    return spec.header.paper.strip().removeprefix("arXiv:").strip() or spec.name


# ----------------------------------------------------------------------------- building
def spec_files(spec_dir: Path = SPEC_DIR) -> list[Path]:
    """The specs of a folder: its *.yaml files (a device or FIFO is refused when read). A file
    that looks like a spec under another suffix (.yml, .YAML) is refused, never skipped."""
    files = sorted(Path(spec_dir).iterdir()) if Path(spec_dir).is_dir() else []
    for f in files:
        if f.suffix.lower() in (".yaml", ".yml") and f.suffix != ".yaml":
            raise SpecError(str(f), None, "", f"specs are read from *.yaml files only: rename it to {f.stem}.yaml")
    return [f for f in files if f.suffix == ".yaml" and not f.is_dir()]


def build_plan(scale: str = "default", spec_dir: Path | str = SPEC_DIR, files: list[Path] | None = None) -> Plan:
    if scale not in M.SCALES:
        raise SpecError("<command line>", None, "scale", f"unknown scale '{scale}' (one of: {', '.join(M.SCALES)})")
    specs, named = [], {}
    for f in files if files is not None else spec_files(Path(spec_dir)):
        doc = load_spec(f)
        if doc.name in named:           # e.g. two command-line paths: their runs would mix
            raise SpecError(doc.file, doc.positions.get(("name",), (None, None))[1], "name",
                            f"spec name '{doc.name}' is also the name of {named[doc.name]}; spec names must be unique")
        named[doc.name] = doc.file
        if scale in doc.header.scales:
            specs.append(expand(doc, scale))
    instances: dict[str, Instance] = {}
    run_stages: dict[tuple[str, int], dict[str, str]] = {}
    graphs = []
    for spec in specs:
        for run in spec.runs:
            hashes: dict[str, str] = {}
            graph = run.graph
            graphs.append(graph)
            for node in graph:
                up = tuple(hashes[r] for r in node.upstream)
                uses = node_uses(node)
                components = identity.versions_in_hash(uses)
                h = instance_hash(node.stage, registry.stage(node.stage).version, node.config, up, components)
                inst = instances.get(h)
                if inst is None:
                    inst = instances[h] = Instance(node.stage, h, node.config, up, resources=run.config.resources,
                                                   roles=node.upstream, group=node.grouping, uses=uses,
                                                   components=components)
                inst.runs.append((run.spec, run.index))
                hashes[node.role] = h
            run_stages[(run.spec, run.index)] = hashes
    order = stage_order(graphs)
    jobs = _jobs(specs, instances, run_stages, order)
    targets = _targets(specs, scale, run_stages, jobs)
    return Plan(scale, specs, instances, run_stages, jobs, targets, order)


def _jobs(specs, instances, run_stages, order) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    producer: dict[str, str] = {}          # instance hash -> manifest path of the job that makes it
    for stage in order:
        for spec in specs:
            hashes = list(dict.fromkeys(h for r in spec.runs for h in run_stages[(r.spec, r.index)].values()
                                        if instances[h].stage == stage))
            batched = [h for h in hashes if instances[h].group == "spec"]
            groups = ([batched] if batched else []) + [[h] for h in hashes if instances[h].group != "spec"]
            for group in groups:
                job_id = content_hash({"stage": stage, "instances": sorted(group)})
                if job_id in jobs:
                    continue
                ups = sorted({producer[u] for h in group for u in instances[h].upstream})
                res = [instances[h].resources for h in group]
                job = Job(job_id, stage, tuple(group), tuple(ups), spec.name,
                          max(r.threads for r in res), max(r.mem_mb for r in res), max(r.gpus for r in res),
                          max(r.processes for r in res), max(r.runtime_min for r in res))
                jobs[job_id] = job
                for h in group:
                    producer.setdefault(h, str(job.manifest))
    return jobs


def output_roles(run, out) -> list[str]:
    """The roles of a run whose results an output (table or figure config) reads, in graph order."""
    if hasattr(out, "metrics"):                     # a table
        names = [("metrics", m) for m in out.metrics]
    elif out.plot == "heatmap":
        names = [("metrics", out.value)]
    elif out.y in run.series and run.series[out.y][1].x == out.x:
        names = [("series", out.y)]
    else:
        names = [("metrics", out.y)]
    roles = {getattr(run, what)[n][0] for what, n in names}
    return [node.role for node in run.graph if node.role in roles]


def _targets(specs, scale, run_stages, jobs) -> dict[str, Target]:
    by_instance: dict[str, str] = {}
    for job in jobs.values():
        for h in job.hashes:
            by_instance.setdefault(h, str(job.manifest))
    targets: dict[str, Target] = {}
    out = paper_dir(scale)
    for spec in specs:
        def sources(cfg):
            return [run_stages[(r.spec, r.index)][role] for r in spec.runs for role in output_roles(r, cfg)]

        for i, t in enumerate(spec.header.outputs.tables):
            _unique(targets, t.name, spec, ("outputs", "tables", i, "name"))
            src = sources(t)
            key = content_hash({"kind": "table", "version": registry.stage("table").version,
                                "cfg": identity_dump(t), "runs": src, "spec": spec.name})
            files = (str(out / "tables" / f"{t.name}.md"), str(out / "tables" / f"{t.name}.tex"))
            inputs = tuple(sorted({by_instance[h] for h in src}))
            targets[t.name] = Target("table", t.name, spec, t, key, files, inputs)
        for i, f in enumerate(spec.header.outputs.figures):
            _unique(targets, f.name, spec, ("outputs", "figures", i, "name"))
            src = sources(f)
            key = content_hash({"kind": "figure", "version": registry.stage("figure").version,
                                "cfg": identity_dump(f), "runs": src, "spec": spec.name})
            files = (str(out / "figures" / f"{f.name}.png"), str(out / "figures" / f"{f.name}.pdf"))
            inputs = tuple(sorted({by_instance[h] for h in src}))
            targets[f.name] = Target("figure", f.name, spec, f, key, files, inputs)
    return targets


def _unique(targets, name, spec, path):
    if name in targets:
        other = targets[name].spec
        file, line = spec.doc.positions.get(path, (spec.doc.file, None))
        raise SpecError(file, line, ".".join(map(str, path)),
                        f"output name '{name}' is also used by spec '{other.name}' ({other.doc.file}); "
                        f"output names must be unique across specs")
