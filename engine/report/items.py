"""The items of the HTML report (`make report`): every table, figure and sample grid of one
scale, and the paper index with its claims, each a file under build/report/<scale>/ that
rules/report.smk marks with Snakemake's report() (categories Tables, Figures, Samples,
Overview; one subcategory per spec) and captions with its spec and run hashes.

- table NAME:   the generated Markdown table as a standalone HTML page;
- figure NAME:  the PNG of paper/.../figures/NAME.png;
- samples H_W:  the sample grid results/<stage>/H/samples_W.png (W: finetuned or pretrained,
                digits family; generated, compressed-sensing diffusion), read through the store's
                sha256 check;
- index:        paper/.../README.md (every output and the claims' verdicts) as HTML.

Captions are reStructuredText with all spec text escaped (report/escape.py: rst). No torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError
from .. import registry
from ..plan import Plan, output_roles, result_dir
from .escape import one_line, rst

ROOT = Path("build") / "report"
# a grid's name (a stage kind's `grids`) -> (label, what its caption says it shows)
WHICH = {"finetuned": ("fine-tuned", "Samples of the fine-tuned model (ODE sampler, one column per class)"),
         "pretrained": ("pretrained", "Samples of the pretrained model (ODE sampler, one column per class)"),
         "generated": ("generated", "Rows: held-out data, samples of the full-dimension model, samples recovered "
                                    "from the latent model")}


def item_dir(scale: str) -> Path:
    return ROOT / scale


def report_file(scale: str) -> Path:
    """Where `make report` writes the self-contained page."""
    return ROOT / f"{scale}.html"


@dataclass(frozen=True)
class SampleGrid:
    result: str                       # hash of the instance that wrote it
    stage: str
    which: str                        # finetuned | pretrained
    runs: tuple[tuple[str, int], ...]  # (spec, run index) that asked for it

    @property
    def key(self) -> str:
        return f"{self.result}_{self.which}"

    @property
    def file(self) -> str:
        return f"samples_{self.which}.png"


def sample_grids(plan: Plan) -> dict[str, SampleGrid]:
    """The sample grids the plan's stage instances write (their stage kinds declare `grids`)."""
    out = {}
    for h, inst in plan.instances.items():
        for which in registry.stage(inst.stage).grids(inst.roles):
            g = SampleGrid(h, inst.stage, which, tuple(inst.runs))
            out[g.key] = g
    return out


def paths(plan: Plan) -> dict[str, list[str]]:
    """Every report item's file, by kind."""
    d = item_dir(plan.scale)
    t = plan.targets.values()
    return {"table": [str(d / "tables" / f"{x.name}.html") for x in t if x.kind == "table"],
            "figure": [str(d / "figures" / f"{x.name}.png") for x in t if x.kind == "figure"],
            "samples": [str(d / "samples" / f"{k}.png") for k in sorted(sample_grids(plan))],
            "index": [str(d / "index.html")] if plan.targets else []}


# ----------------------------------------------------------------------------- captions
def _spec_of(plan: Plan, name: str):
    return next(s for s in plan.specs if s.name == name)


def _axes(plan: Plan, spec: str, index: int) -> str:
    run = _spec_of(plan, spec).runs[index]
    return ", ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in run.axes.items()) or "one run"


def caption(plan: Plan, kind: str, name: str) -> dict[str, str]:
    """The caption fields of one item (rules/captions/item.rst), every one escaped for rst."""
    if kind in ("table", "figure"):
        t = plan.targets[name]
        roles = sorted({role for r in t.spec.runs for role in output_roles(r, t.cfg)})
        stage = "/".join(roles)
        runs = sorted({plan.run_hash(r, role) for r in t.spec.runs for role in roles})
        return {"title": rst(f"{name}: {t.cfg.caption or t.spec.header.title or t.spec.name}"),
                "spec": rst(t.spec.name), "spec_file": rst(t.spec.doc.file), "scale": rst(plan.scale),
                "key": rst(t.key), "runs": rst(f"{len(runs)} {stage} runs: " + " ".join(runs))}
    if kind == "samples":
        g = sample_grids(plan)[name]
        spec, idx = g.runs[0]
        asked = "; ".join(f"{s} run {i} ({_axes(plan, s, i)})" for s, i in g.runs)
        return {"title": rst(f"{WHICH.get(g.which, (g.which, g.which))[1]}: {asked}"),
                "spec": rst(spec), "spec_file": rst(_spec_of(plan, spec).doc.file), "scale": rst(plan.scale),
                "key": rst(g.result), "runs": rst(f"{g.stage} {g.result}" + "".join(
                    f", {role} {h}" for role, h in plan.instances[g.result].upstream_by_role().items()))}
    if kind == "index":
        specs = ", ".join(s.name for s in plan.specs)
        return {"title": rst(f"Every output of scale {plan.scale} and the claims' verdicts, computed from the results"),
                "spec": rst(specs), "spec_file": rst(", ".join(s.doc.file for s in plan.specs)),
                "scale": rst(plan.scale), "key": rst(" ".join(sorted(t.key for t in plan.targets.values()))),
                "runs": rst(f"{sum(len(s.runs) for s in plan.specs)} runs")}
    raise ValueError(f"unknown report item kind {kind!r}")


def labels(plan: Plan, kind: str, name: str) -> dict[str, str]:
    """Columns of the report's result lists."""
    if kind == "samples":      # one row per run; `model` becomes the report's fine-tuned/pretrained switch
        g = sample_grids(plan)[name]
        spec, idx = g.runs[0]
        return {"run": f"{spec} run {idx} ({one_line(_axes(plan, spec, idx))})", "model": WHICH.get(g.which, (g.which,))[0]}
    if kind == "index":
        return {"output": "index", "specs": str(len(plan.specs))}
    t = plan.targets[name]
    return {"output": name, "spec": t.spec.name, "runs": str(len(t.spec.runs))}


def subcategory(plan: Plan, kind: str, name: str) -> str:
    if kind == "samples":
        return sample_grids(plan)[name].runs[0][0]
    if kind == "index":
        return plan.scale
    return plan.targets[name].spec.name


# ----------------------------------------------------------------------------- writing
def _check_output(plan: Plan, kind: str, name: str) -> None:
    """A table, figure or index is shown only if it is byte for byte what its spec and results give
    now (engine/verify.py regenerates it privately): a hand-edited or stale output is refused."""
    import tempfile
    from .. import verify
    if kind == "index":
        problems = verify.stale_index(plan)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            problems = verify.stale_files(plan, plan.targets[name], Path(tmp))
    if problems:
        path, why = problems[0]
        raise EngineError(f"{path} {why}: run snakemake to regenerate it (or `engine verify --outputs`)")


def write(plan: Plan, kind: str, name: str, out: Path) -> None:
    """Write one item (what the report rules run)."""
    from ..store import verify_files, write_bytes_atomic
    from .html import markdown_page
    if kind in ("table", "figure") and getattr(plan.targets.get(name), "kind", None) != kind:
        raise EngineError(f"no {kind} {name!r} at scale {plan.scale}; the specs changed: rerun snakemake")
    if kind in ("table", "figure", "index"):         # an output read as input: regenerated and compared first
        _check_output(plan, kind, name)
    if kind == "table":
        src = Path(plan.targets[name].files[0])
        write_bytes_atomic(out, markdown_page(src.read_text(), name).encode())
    elif kind == "figure":
        write_bytes_atomic(out, Path(plan.targets[name].files[0]).read_bytes())
    elif kind == "samples":
        g = sample_grids(plan).get(name)
        if g is None:
            raise EngineError(f"no sample grid {name} at scale {plan.scale}; the specs changed: rerun snakemake")
        files = verify_files(g.stage, g.result)["files"]
        if g.file not in files:
            raise EngineError(f"{g.stage} {g.result} has no {g.file}")
        write_bytes_atomic(out, (result_dir(g.stage, g.result) / g.file).read_bytes())
    elif kind == "index":
        index = Path(plan.index_file)
        reviews = [Path(f).read_text() for f in sorted(plan.review_files.values())]   # each paper's review page
        write_bytes_atomic(out, markdown_page("\n\n".join([index.read_text(), *reviews]), f"outputs ({plan.scale})",
                                              index.parent).encode())
    else:
        raise ValueError(f"unknown report item kind {kind!r}")
