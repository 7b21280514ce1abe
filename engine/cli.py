"""The `engine` command: validate, plan, schema, run, show.

Bad input exits with status 2 and `file:line: field.path: message`; other failures with 1.
"""
from __future__ import annotations

import argparse
import json
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
    from .plan import build_plan
    plan = build_plan(args.scale, files=_specs_arg(args.paths) if args.paths else None)
    total_runs = sum(len(s.runs) for s in plan.specs)
    print(f"scale {plan.scale}: {len(plan.specs)} specs, {total_runs} runs, "
          f"{len(plan.instances)} stage instances, {len(plan.jobs)} jobs, {len(plan.targets)} outputs")
    for spec in plan.specs:
        axes = ", ".join(f"{a} × {len(v)}" for a, v in spec.axes.items())
        print(f"\n{spec.name} ({spec.doc.file}): {len(spec.runs)} runs ({axes})")
        for stage in ("finetune", "evaluate"):
            hs = sorted({plan.run_hash(r, stage) for r in spec.runs})
            done = sum(plan.status(h) == "done" for h in hs)
            print(f"  {stage:9s} {len(hs):4d} instances: {done} done, {len(hs) - done} pending")
        if args.verbose:
            for r in spec.runs:
                ax = " ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in r.axes.items())
                st = " ".join(f"{s}:{plan.run_hash(r, s)}({plan.status(plan.run_hash(r, s))})"
                              for s in ("finetune", "evaluate"))
                print(f"    run {r.index:4d} {ax:40s} {st}")
        for t in plan.targets.values():
            if t.spec is spec:
                exists = all(Path(f).exists() for f in t.files)
                print(f"  {t.kind:6s} {t.name}: {'exists' if exists else 'missing'} ({t.files[0]})")
    return 0


# ----------------------------------------------------------------------------- schema
def spec_json_schema() -> dict:
    from .spec.models import RunConfig, SpecHeader
    from .spec.yamlload import MAX_BYTES  # noqa: F401  (documented limit)
    header = SpecHeader.model_json_schema()
    run = RunConfig.model_json_schema()
    defs = {**header.pop("$defs", {}), **run.pop("$defs", {})}

    def sweepable(node):
        if isinstance(node, dict):
            if node.get("type") in ("number", "integer", "string", "boolean") and "const" not in node:
                return {"anyOf": [node, {"type": "array", "items": node, "minItems": 1}],
                        **({"description": node["description"]} if "description" in node else {})}
            return {k: (sweepable(v) if k in ("properties", "anyOf", "oneOf", "$defs") or isinstance(v, (dict, list))
                        else v) for k, v in node.items()}
        if isinstance(node, list):
            return [sweepable(v) for v in node]
        return node

    run_defs = set(run.get("properties", {}))
    props = {**header["properties"], **{k: v for k, v in run["properties"].items() if k != "seed"}}
    props["extends"] = {"type": "string", "description": "path of a base spec, relative to this file"}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "experiment spec",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "required": ["name", "scales"],
        "$defs": {k: (sweepable(v) if k not in ("Outputs", "TableOutput", "FigureOutput", "Claim") else v)
                  for k, v in defs.items()},
    }
    del run_defs
    return schema


def cmd_schema(args) -> int:
    text = json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output:
        from .store import write_bytes_atomic
        write_bytes_atomic(Path(args.output), text.encode())
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


# ----------------------------------------------------------------------------- run
def cmd_run(args) -> int:
    from . import stages, store
    from .plan import build_plan
    from .stages.common import Log

    t0 = time.time()
    plan = build_plan(args.scale)
    mod = stages.module(args.stage)
    if args.stage in ("table", "figure", "index"):
        if args.stage == "index":
            mod.run(plan, None, Log())
            return 0
        by_key = {t.key: t for t in plan.targets.values()}
        for key in args.hashes:
            if key not in by_key:
                raise EngineError(f"no {args.stage} with key {key} at scale {args.scale}; the specs changed since "
                                  f"the workflow was planned: rerun snakemake")
            mod.run(plan, by_key[key], Log())
        return 0
    from . import checkpoint               # (imports torch: not for tables, figures, the index)
    computed, reused = [], []
    for i, h in enumerate(args.hashes, 1):
        inst = plan.instances.get(h)
        if inst is None or inst.stage != args.stage:
            raise EngineError(f"no {args.stage} instance {h} in the plan at scale {args.scale}")
        spec, idx = inst.runs[0]
        run = next(r for s in plan.specs if s.name == spec for r in s.runs if r.index == idx)
        label = f"{spec} run {idx} (" + ", ".join(f"{a.rsplit('.', 1)[-1]}={v}" for a, v in run.axes.items()) + ")"
        if store.is_complete(args.stage, h):
            checkpoint.discard(args.stage, h)
            reused.append(h)
            print(f"[{i}/{len(args.hashes)}] {args.stage} {h} {label}: done earlier, reused", file=sys.stderr)
            continue
        print(f"[{i}/{len(args.hashes)}] {args.stage} {h} {label}", file=sys.stderr, flush=True)
        t1 = time.time()
        try:
            with store.writing(inst) as tmp:
                mod.run(inst, tmp, Log(prefix="  "))
        except Exception as e:
            raise EngineError(f"{args.stage} {h} of {label} failed: {type(e).__name__}: {e}") from e
        checkpoint.discard(args.stage, h)      # the result is complete: its resume area goes
        computed.append(h)
        print(f"    finished in {time.time() - t1:.1f}s", file=sys.stderr)
    if args.manifest:
        store.write_json_atomic(Path(args.manifest), {"stage": args.stage, "instances": list(args.hashes),
                                                     "computed": computed, "reused": reused,
                                                     "seconds": round(time.time() - t0, 2)})
    print(f"{args.stage}: {len(computed)} computed, {len(reused)} reused in {time.time() - t0:.1f}s", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- show
def cmd_show(args) -> int:
    from . import store
    from .plan import RESULTS
    hits = [p for p in RESULTS.glob(f"*/{args.hash}*") if p.is_dir() and not p.name.startswith(".")]
    if not hits:
        raise EngineError(f"no result {args.hash} under {RESULTS}/")
    if len(hits) > 1:
        raise EngineError(f"{args.hash} is ambiguous: " + ", ".join(str(h) for h in hits))
    stage, h = hits[0].parent.name, hits[0].name
    prov = store.verify_files(stage, h)
    print(f"{stage} {h}  ({hits[0]})")
    print("config:")
    print(json.dumps(prov["config"], indent=2, sort_keys=True))
    if prov["upstream"]:
        print("upstream:", " ".join(prov["upstream"]))
    print(f"git {prov['git']}  wall {prov['wall_seconds']}s  peak RSS {prov['peak_rss_mb']} MiB")
    metrics = hits[0] / "metrics.json"
    if metrics.is_file():
        print("metrics:")
        print(json.dumps(json.loads(metrics.read_text()), indent=2, sort_keys=True))
    return 0


# ----------------------------------------------------------------------------- fingerprint
def cmd_fingerprint(args) -> int:
    from . import stages
    if args.update:
        problems = stages.update_fingerprints(args.no_numeric_change)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    rec = stages.recorded_fingerprints()
    for stage, version in stages.VERSIONS.items():
        digest = stages.source_digest(stage)
        ok = rec.get(stage) == {"version": version, "digest": digest}
        print(f"{stage:9s} v{version} {digest} {'ok' if ok else 'CHANGED'}")
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
    sc = sub.add_parser("schema", help="JSON Schema of a spec file")
    sc.add_argument("-o", "--output")
    sc.set_defaults(fn=cmd_schema)
    r = sub.add_parser("run", help="run stage instances (what Snakemake rules call)")
    r.add_argument("stage", choices=["finetune", "evaluate", "table", "figure", "index"])
    r.add_argument("hashes", nargs="*", help="instance hashes (table/figure: output keys)")
    r.add_argument("--scale", default="default", choices=SCALES)
    r.add_argument("--manifest", help="write a job manifest here when done")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("show", help="config and metrics of a stored result")
    s.add_argument("hash")
    s.set_defaults(fn=cmd_show)
    fp = sub.add_parser("fingerprint", help="check or record the stage code fingerprints")
    fp.add_argument("--update", action="store_true")
    fp.add_argument("--no-numeric-change", action="store_true")
    fp.set_defaults(fn=cmd_fingerprint)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (SpecError, SpecErrors) as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT
    except EngineError as e:
        print(f"engine: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
