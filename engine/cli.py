"""The `engine` command: validate, plan, schema, run, show, fingerprint, fetch-models, algorithms.

Bad input exits with status 2 and `file:line: field.path: message`; other failures with 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import EXIT_BAD_INPUT, EngineError, SpecError, SpecErrors
from .spec.models import SCALES


def _specs_arg(paths: list[str]) -> list[Path]:
    from .plan import spec_files
    if not paths:
        return spec_files()
    out = []
    for p in map(Path, paths):
        out.extend(spec_files(p) if p.is_dir() else [p])
    return out


# ----------------------------------------------------------------------------- validate
def cmd_validate(args) -> int:
    from .spec.resolve import validate_file
    from .plan import build_plan
    for f in _specs_arg(args.paths):
        counts = validate_file(f)
        print(f"{f}: ok (" + ", ".join(f"{s}: {n} runs" for s, n in counts.items()) + ")")
    if not args.paths:   # cross-spec checks (unique output names) at every scale
        for scale in SCALES:
            build_plan(scale)
    return 0


# ----------------------------------------------------------------------------- plan
def cmd_plan(args) -> int:
    from . import status
    from .plan import build_plan
    plan = build_plan(args.scale, files=_specs_arg(args.paths) if args.paths else None)
    st = status.plan_status(plan)
    total_runs = sum(len(s.runs) for s in plan.specs)
    print(f"scale {plan.scale}: {len(plan.specs)} specs, {total_runs} runs, "
          f"{len(plan.instances)} stage instances ({status.counts(st.values())}), {len(plan.jobs)} jobs, "
          f"{len(plan.targets)} outputs")
    for spec in plan.specs:
        axes = ", ".join(f"{a} × {len(v)}" for a, v in spec.axes.items())
        print(f"\n{spec.name} ({spec.doc.file}): {len(spec.runs)} runs ({axes})")
        for stage in plan.stage_order:
            hs = sorted({h for r in spec.runs for h in plan.stage_hashes(r, stage)})
            if hs:
                print(f"  {stage:10s} {len(hs):4d} instances: {status.counts(st[h] for h in hs)}")
        missing = status.missing_manifests(plan, spec.name)
        if missing:
            print(f"  jobs       {len(missing):4d} to run (no manifest; stored instances are reused)")
        if args.verbose:
            for r in spec.runs:
                ax = " ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in r.axes.items())
                sts = " ".join(f"{role}:{h}({st[h]})" for role, h in plan.run_stages[(r.spec, r.index)].items())
                print(f"    run {r.index:4d} {ax:40s} {sts}")
        for t in plan.targets.values():
            if t.spec is spec:
                exists = all(Path(f).exists() for f in t.files)
                print(f"  {t.kind:6s} {t.name}: {'exists' if exists else 'missing'} ({t.files[0]})")
    if any(v == "stale" for v in st.values()):
        print("\nstale: stored by code that has changed since (README, 'Progress, logs and status'); "
              "`engine verify HASH` reruns one and compares")
    return 0


# ----------------------------------------------------------------------------- diff
def cmd_diff(args) -> int:
    from . import diff
    diffs = diff.diff_specs(args.rev, args.scale)
    if args.json:
        print(json.dumps(diff.as_json(diffs, args.rev, args.scale), indent=2, sort_keys=True))
    else:
        print(diff.render(diffs, args.rev, args.scale))
    return 0


# ----------------------------------------------------------------------------- schema
def cmd_schema(args) -> int:
    from .spec.schema import schema_text
    text = schema_text()
    if args.output:
        from .store import write_bytes_atomic
        write_bytes_atomic(Path(args.output), text.encode())
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from . import registry, store
    from .plan import build_plan, paper_id
    from .progress import Log

    t0 = time.time()
    plan = build_plan(args.scale)
    if args.stage in ("table", "figure", "outputs"):   # outputs: tables and figures, by key, in one process
        by_key = {t.key: t for t in plan.targets.values() if args.stage in ("outputs", t.kind)}
        for key in args.hashes:
            if key not in by_key:
                raise EngineError(f"no {args.stage} with key {key} at scale {args.scale}; the specs changed since "
                                  f"the workflow was planned: rerun snakemake")
            t = by_key[key]
            _run_output(registry.implementation(registry.stage(t.kind)), plan, t,
                        f"{t.kind} {t.name} ({key}) of {t.spec.name} ({t.spec.doc.file}, {len(t.spec.runs)} runs)")
        return 0
    mod = registry.implementation(registry.stage(args.stage))
    if args.stage == "index":
        _run_output(mod, plan, None, f"index of scale {args.scale}")
        return 0
    from . import checkpoint, distributed, eager  # (imports torch: not for tables, figures, the index)
    main_rank = distributed.init() == 0    # under torchrun only rank 0 writes results, manifests and logs
    say = print if main_rank else (lambda *a, **k: None)
    if distributed.world() > 1:
        say(f"data parallel: {distributed.world()} processes (torchrun, gloo); rank 0 writes", file=sys.stderr)
    computed, reused = [], []
    specs = {s.name: s for s in plan.specs}
    if main_rank:
        _check_upstream(plan, args.hashes)
    eager.blas_threads(max((plan.instances[h].resources.threads for h in args.hashes if h in plan.instances),
                           default=2))     # the job's threads for numpy's BLAS, whoever started the job
    for i, h in enumerate(args.hashes, 1):
        inst = plan.instances.get(h)
        if inst is None or inst.stage != args.stage:
            raise EngineError(f"no {args.stage} instance {h} in the plan at scale {args.scale}")
        spec, idx = inst.runs[0]
        run = next(r for s in plan.specs if s.name == spec for r in s.runs if r.index == idx)
        label = f"{spec} run {idx} (" + ", ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in run.axes.items()) + ")"
        if main_rank and store.is_complete(args.stage, h):
            try:                        # a stored result is reused only once it checks out
                store.verify_files(args.stage, h)
            except EngineError as e:
                say(f"warning: {e}; moved it to {store.quarantine(args.stage, h)}, recomputing", file=sys.stderr)
        if distributed.agree(store.is_complete(args.stage, h)):
            if main_rank:
                checkpoint.discard(args.stage, h)
            reused.append(h)
            say(f"[{i}/{len(args.hashes)}] {args.stage} {h} {label}: done earlier, reused", file=sys.stderr)
            continue
        say(f"[{i}/{len(args.hashes)}] {args.stage} {h} {label}, paper {paper_id(specs[spec])}", file=sys.stderr, flush=True)
        t1 = time.time()
        requested_by = [{"spec": n, "file": specs[n].doc.file, "run": j, "axes": specs[n].runs[j].axes}
                        for n, j in inst.runs]
        try:
            with (store.writing(inst, requested_by, run.config.model_dump(mode="json")) if main_rank
                  else distributed.scratch()) as tmp:
                mod.run(inst, tmp, Log(prefix="  ", quiet=not main_rank))
        except Exception as e:
            raise EngineError(f"{args.stage} {h} of {label} failed: {type(e).__name__}: {e}") from e
        if main_rank:
            checkpoint.discard(args.stage, h)  # the result is complete: its resume area goes
        computed.append(h)
        say(f"    finished in {time.time() - t1:.1f}s", file=sys.stderr)
    if not main_rank:
        return 0
    if args.manifest:
        store.write_manifest(Path(args.manifest), {"stage": args.stage, "instances": list(args.hashes),
                                                   "computed": computed, "reused": reused})
    print(f"{args.stage}: {len(computed)} computed, {len(reused)} reused in {time.time() - t0:.1f}s", file=sys.stderr)
    return 0


def _run_output(mod, plan, target, what: str) -> None:
    """Run a table, figure or index stage; a failure names the output, its spec and runs."""
    from .progress import Log
    try:
        mod.run(plan, target, Log())
    except (SpecError, SpecErrors):
        raise
    except EngineError as e:
        raise EngineError(f"{what} failed: {e}") from e
    except Exception as e:
        raise EngineError(f"{what} failed: {type(e).__name__}: {e}") from e


# ----------------------------------------------------------------------------- report-item
def cmd_report_item(args) -> int:
    from .plan import build_plan
    from .report import items
    items.write(build_plan(args.scale), args.kind, args.name or "", Path(args.output))
    return 0


# ----------------------------------------------------------------------------- show
def cmd_show(args) -> int:
    from . import store
    stage, h = store.find(args.hash)
    prov = store.verify_files(stage, h)
    d = store.result_dir(stage, h)
    print(f"{stage} {h}  ({d})")
    print("config:")
    print(json.dumps(prov["config"], indent=2, sort_keys=True))
    if prov["upstream"]:
        print("upstream:", " ".join(prov["upstream"]))
    run = store.run_record(stage, h)        # timings: the run record beside the result (not shared by DVC)
    timing = (f"started {run['started']} on {run.get('host')}  wall {run['wall_seconds']}s  "
              f"peak RSS {run['peak_rss_mb']} MiB") if run else "no run record (pulled: timings stay where it ran)"
    print(f"git {prov['git']}  {timing}  seed {prov.get('seed')}")
    for r in prov.get("requested_by") or []:
        if isinstance(r, dict):
            print(f"requested by {r['file']} run {r['run']}")
    metrics = d / "metrics.json"
    if metrics.is_file():
        print("metrics:")
        print(json.dumps(json.loads(metrics.read_text()), indent=2, sort_keys=True))
    return 0


def _check_upstream(plan, hashes) -> None:
    """Every upstream result this job reads checks out before anything runs; a damaged one is
    quarantined (its job is planned again) and this job fails, naming it."""
    from . import store
    damaged = []
    for u in sorted({u for h in hashes if h in plan.instances for u in plan.instances[h].upstream}):
        stage = plan.instances[u].stage
        if not store.result_dir(stage, u).exists():
            continue                    # missing: the stage reports it as before
        try:
            store.verify_files(stage, u)
        except EngineError as e:
            damaged.append(f"{e} -> moved to {store.quarantine(stage, u)}")
    if damaged:
        raise EngineError("damaged upstream results, quarantined; rerun the workflow to recompute them:\n  "
                          + "\n  ".join(damaged))


# ----------------------------------------------------------------------------- verify
def cmd_verify(args) -> int:
    from . import store, verify
    if args.outputs:
        from .plan import build_plan
        plan = build_plan(args.scale)
        problems = verify.outputs(plan, lambda m: print(m, file=sys.stderr))
        for path, why in problems:
            print(f"  {path}: {why}")
        n = sum(len(t.files) for t in plan.targets.values()) + 1 + len(plan.review_files)
        print(f"{n - len(problems)} of {n} generated files of scale {args.scale} are exactly what their specs and "
              f"results give" + ("" if not problems else "; `snakemake` regenerates the others"))
        return 0 if not problems else 1
    if args.sample is not None:
        return _verify_sample(args)
    if not args.hash:
        raise EngineError("engine verify needs a result hash, --sample K or --outputs")
    stage, h = store.find(args.hash)
    ok = _verify_one(stage, h, args.tolerance)
    from .levels import rewrite_outputs
    from .plan import build_plan
    rewrite_outputs(build_plan(args.scale), {h}, lambda m: print(m, file=sys.stderr))   # its new level shown
    return 0 if ok else 1


def _verify_one(stage: str, h: str, tolerance) -> bool:
    """Rerun and compare one result; seal the verification into it (its level, engine/levels.py), or
    withdraw an earlier one when it no longer reproduces."""
    from . import levels, verify
    tol = tolerance if tolerance is not None else verify.TOLERANCES.get(stage, (0.0, ""))[0]
    report = verify.verify(stage, h, lambda m: print(m, file=sys.stderr))
    print("\n".join(report.render(tol)))
    if report.ok(tol):
        levels.record_verification(stage, h, report.max_abs, tol, report.bitwise)
    else:
        levels.drop_verification(stage, h)
    return report.ok(tol)


def _verify_sample(args) -> int:
    """Re-verify K random results behind the tables of --scale (of --paper), then regenerate the tables,
    figures and index that show them, so their verification levels are current."""
    import random
    from . import store
    from .plan import build_plan, paper_id
    plan = build_plan(args.scale)
    targets = [t for t in plan.targets.values() if not args.paper or paper_id(t.spec) == args.paper.removeprefix("arXiv:")]
    if not targets:
        raise EngineError(f"no outputs of paper {args.paper!r} at scale {args.scale}")
    behind = {t.key: plan.target_hashes(t) for t in targets}
    pool = sorted(set().union(*behind.values()) & set(h for h in plan.instances if store.result_dir(
        plan.instances[h].stage, h).joinpath(store.PROVENANCE).is_file()))
    seed = args.seed if args.seed is not None else int(time.time())
    chosen = random.Random(seed).sample(pool, min(args.sample, len(pool)))
    print(f"re-verifying {len(chosen)} of the {len(pool)} stored results behind {len(targets)} outputs (seed {seed})")
    failed = [h for h in chosen if not _verify_one(plan.instances[h].stage, h, args.tolerance)]
    from .levels import rewrite_outputs
    n = rewrite_outputs(plan, set(chosen), lambda m: print(m, file=sys.stderr))
    print(f"rewrote {n} outputs with their new levels")
    print(f"{len(chosen) - len(failed)} of {len(chosen)} reproduced" + (f"; not reproduced: {' '.join(failed)}" if failed else ""))
    return 1 if failed else 0


# ----------------------------------------------------------------------------- gc
def cmd_gc(args) -> int:
    from . import gc
    garbage = gc.find()
    for g in garbage:
        print(f"  {str(g.path):48s} {gc.human(g.bytes):>10s}  {g.why}")
    total = gc.human(sum(g.bytes for g in garbage))
    if not garbage:
        print("nothing to collect: every result is referenced by a spec at some scale")
    elif args.yes and (why := gc.refusal(garbage)) and not args.force:
        print(f"engine gc: refusing to remove: {why}; check specs/ (only *.yaml files are specs), or rerun with "
              f"--yes --force", file=sys.stderr)
        return 2
    elif args.yes:
        gc.remove(garbage)
        print(f"removed {len(garbage)} entries, freed {total}; `make push` then `dvc gc` to shrink DVC's cache "
              f"and remote (README)")
    else:
        print(f"{len(garbage)} entries no spec references, {total}; rerun with --yes to remove them")
    return 0


def cmd_upgrade_store(args) -> int:
    from .store import seal_records
    done, already, failed = seal_records()
    for f in failed:
        print(f"  not sealed: {f}", file=sys.stderr)
    print(f"sealed {done} result records, {already} already sealed, {len(failed)} failed their checks "
          f"(left as they are: the workflow quarantines and recomputes them)")
    return 0


# ----------------------------------------------------------------------------- fingerprint
def cmd_fingerprint(args) -> int:
    from . import identity
    if args.update:
        problems = identity.update_fingerprints(args.no_numeric_change)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    rec = identity.recorded()
    for cid, item in identity.components().items():
        digest = identity.digest(item)
        ok = rec.get(cid) == {"version": item.version, "digest": digest}
        print(f"{cid:34s} v{item.version} {digest} {'ok' if ok else 'CHANGED'}")
    return 0


# ----------------------------------------------------------------------------- fetch-models
def cmd_fetch_models(args) -> int:
    """Pin the pretrained models of the specs at a scale (hub revision -> commit, sha256 of
    every file) in the lock file; with --check, verify the lock against the local copies offline."""
    from . import hub
    from .plan import build_plan
    plan = build_plan(args.scale, files=_specs_arg(args.paths) if args.paths else None)
    needs = hub.merge_needs(n for s in plan.specs for r in s.runs for n in hub.run_needs(r.config))
    if not needs:
        print(f"no pretrained models in the specs at scale {args.scale}")
        return 0
    lock = Path(args.lock)
    if args.check:
        hub.check(needs, lock)
        return 0
    if hub.hub_offline():
        raise EngineError("fetch-models needs the hub: run it as `HF_HUB_OFFLINE=0 engine fetch-models` "
                          "where huggingface.co is reachable")
    hub.fetch(needs, lock)
    print(f"wrote {lock}")
    return 0


# ----------------------------------------------------------------------------- dvc
def cmd_remote(args) -> int:
    from .dvcsync import ensure_remote
    print(f"dvc: {ensure_remote(args.dir)}")
    return 0


def cmd_pull(args) -> int:
    from .dvcsync import pull
    pull(paper=args.paper, scale=args.scale)
    return 0


def cmd_push(args) -> int:
    from .dvcsync import push
    push(paper=args.paper, scale=args.scale)
    return 0


# ----------------------------------------------------------------------------- algorithms
TAXONOMY_FIELDS = ("online", "feedback", "policy", "modality", "section")
CATALOGUE_BEGIN = "<!-- algorithms:begin (generated by `engine algorithms`; do not edit by hand) -->"
CATALOGUE_END = "<!-- algorithms:end -->"


def catalogue_rows() -> list[tuple[object, str, dict]]:
    """(kind, variant, taxonomy) for every algorithm kind: one row per entry of its `taxonomy`
    trait's `variants` (each overriding the kind's own fields), or one row when it has none."""
    from . import registry
    rows = []
    for k in registry.kinds("algorithm"):
        tax = dict(k.traits.get("taxonomy") or {})
        for variant, override in (tax.pop("variants", None) or {"": {}}).items():
            rows.append((k, variant, {**tax, **override}))
    return rows


def catalogue() -> str:
    """The registered algorithms' taxonomy traits as a Markdown table (README, "Algorithm catalogue")."""
    lines = ["| algorithm | variant | online / offline | feedback | on- / off-policy | modality | survey section "
             "| engine file |", "|---" * 8 + "|"]
    for k, variant, tax in catalogue_rows():
        lacking = [f for f in TAXONOMY_FIELDS if tax.get(f) in (None, "", ())]
        if lacking:
            raise EngineError(f"algorithm {k.name}{' ' + variant if variant else ''} ({k.declared_in}): its "
                              f"taxonomy trait lacks {', '.join(lacking)}")
        cells = (f"`{k.name}`", f"`{variant}`" if variant else "", "online" if tax["online"] else "offline",
                 tax["feedback"], tax["policy"], ", ".join(tax["modality"]), tax["section"],
                 f"`{(k.code or k.declared_in).replace('.', '/')}.py`")
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def cmd_algorithms(args) -> int:
    table = catalogue()
    if not args.check:
        print(table, end="")
        return 0
    path = Path(args.check)
    if not path.is_file():
        raise EngineError(f"no file {path}")
    text = path.read_text()
    begin, end = text.find(CATALOGUE_BEGIN), text.find(CATALOGUE_END)
    if begin < 0 or end < begin:
        raise EngineError(f"{path} has no algorithm table markers ({CATALOGUE_BEGIN} ... {CATALOGUE_END})")
    if text[begin + len(CATALOGUE_BEGIN):end].strip() != table.strip():
        raise EngineError(f"the algorithm table in {path} differs from the registry's: put the output of "
                          f"`engine algorithms` between its markers")
    print(f"{path}: the algorithm table is up to date")
    return 0


# ----------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="engine", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check spec files (all scales); exit 2 on bad input")
    v.add_argument("paths", nargs="*", help="spec files or folders (default: specs/)")
    v.set_defaults(fn=cmd_validate)
    pl = sub.add_parser("plan", help="runs, stage instances, hashes and their status")
    pl.add_argument("paths", nargs="*")
    pl.add_argument("--scale", default="default", choices=SCALES)
    pl.add_argument("-v", "--verbose", action="store_true", help="list every run")
    pl.set_defaults(fn=cmd_plan)
    df = sub.add_parser("diff", help="what the spec changes since a git revision add, remove, rerun and cost")
    df.add_argument("rev", nargs="?", default="HEAD", help="git revision to compare with (default: HEAD)")
    df.add_argument("--scale", default="default", choices=SCALES)
    df.add_argument("--json", action="store_true", help="machine-readable output")
    df.set_defaults(fn=cmd_diff)
    sc = sub.add_parser("schema", help="JSON Schema of a spec file")
    sc.add_argument("-o", "--output")
    sc.set_defaults(fn=cmd_schema)
    r = sub.add_parser("run", help="run stage instances (what Snakemake rules call)")
    r.add_argument("stage", help="a registered stage kind (engine/stages/*_kind.py), or `outputs`: "
                                  "tables and figures of any kind, by key")
    r.add_argument("hashes", nargs="*", help="instance hashes (table/figure/outputs: output keys)")
    r.add_argument("--scale", default="default", choices=SCALES)
    r.add_argument("--manifest", help="write a job manifest here when done")
    r.set_defaults(fn=cmd_run)
    ri = sub.add_parser("report-item", help="write one item of the HTML report (what rules/report.smk calls)")
    ri.add_argument("kind", choices=["table", "figure", "samples", "index"])
    ri.add_argument("name", nargs="?", help="output name (samples: EVALUATEHASH_finetuned|pretrained)")
    ri.add_argument("--scale", default="default", choices=SCALES)
    ri.add_argument("-o", "--output", required=True)
    ri.set_defaults(fn=cmd_report_item)
    s = sub.add_parser("show", help="config and metrics of a stored result")
    s.add_argument("hash")
    s.set_defaults(fn=cmd_show)
    vf = sub.add_parser("verify", help="rerun one stored result in a temporary directory and compare; "
                                       "--outputs: regenerate every table, figure and the index privately and compare")
    vf.add_argument("hash", nargs="?", help="a result hash (or a unique prefix)")
    vf.add_argument("--outputs", action="store_true", help="check the generated outputs of --scale instead")
    vf.add_argument("--scale", default="default", choices=SCALES,
                    help="the scale whose outputs --outputs checks, --sample draws from, and a verification rewrites")
    vf.add_argument("--tolerance", type=float, help="largest absolute difference accepted (default: 0, or "
                                                     "the stage's entry in engine.verify.TOLERANCES)")
    vf.add_argument("--sample", type=int, metavar="K", help="re-verify K random results behind the outputs of "
                                                            "--scale (and --paper), then update their levels")
    vf.add_argument("--paper", default="", help="with --sample: only this paper's outputs (e.g. 2502.01819)")
    vf.add_argument("--seed", type=int, help="with --sample: the draw's seed (default: the time, printed)")
    vf.set_defaults(fn=cmd_verify)
    g = sub.add_parser("gc", help="list (--yes: remove) results no spec references at any scale")
    g.add_argument("--yes", action="store_true", help="remove them")
    g.add_argument("--force", action="store_true",
                   help="remove even when no spec is found or more results would go than stay")
    g.set_defaults(fn=cmd_gc)
    fp = sub.add_parser("fingerprint", help="check or record the stage code fingerprints")
    fp.add_argument("--update", action="store_true")
    fp.add_argument("--no-numeric-change", action="store_true")
    fp.set_defaults(fn=cmd_fingerprint)
    fm = sub.add_parser("fetch-models", help="pin the specs' hub models (commits, sha256) in the lock file")
    fm.add_argument("paths", nargs="*", help="spec files or folders (default: specs/)")
    fm.add_argument("--scale", default="paper", choices=SCALES)
    fm.add_argument("--lock", default="specs/models.lock.json")
    fm.add_argument("--check", action="store_true", help="verify the lock against the local copies (offline)")
    fm.set_defaults(fn=cmd_fetch_models)
    us = sub.add_parser("upgrade-store", help="seal the provenance records of results written before records "
                                              "carried a digest (each after checking its files)")
    us.set_defaults(fn=cmd_upgrade_store)
    al = sub.add_parser("algorithms", help="the algorithm catalogue: each registered algorithm's taxonomy "
                                           "trait as a Markdown table")
    al.add_argument("--check", metavar="FILE", help="exit 1 when the table between the markers in FILE differs")
    al.set_defaults(fn=cmd_algorithms)
    rm = sub.add_parser("remote", help="make sure a default DVC remote exists (a local directory by default)")
    rm.add_argument("--dir", help="use this directory as the default remote (else $DVC_REMOTE_DIR, "
                                  "else the configured default, else ../dvc-remote)")
    rm.set_defaults(fn=cmd_remote)
    for name, fn, text in (("pull", cmd_pull, "dvc pull the results, check them, then restamp outputs so "
                                               "Snakemake plans nothing"),
                           ("push", cmd_push, "dvc repro (Snakemake, incremental) to update dvc.lock, then dvc push")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--paper", default="", help="only this paper's results (its specs' `paper:` field)")
        sp.add_argument("--scale", default="default", choices=SCALES, help="the scale whose plan names them (--paper)")
        sp.set_defaults(fn=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (SpecError, SpecErrors) as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineError as e:
        from .distributed import rank_tag
        print(f"engine: error{rank_tag()}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
