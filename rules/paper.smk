# paper: tables, figures and the index of one scale (paper/ or paper/<scale>/).
# One job per spec writes all of its tables and figures: one process, so Python, the plan and
# matplotlib load once per spec rather than once per output (about 1-2.5 s each). A rule per spec
# (Snakemake's outputs cannot be functions of a wildcard); each output keeps its own key and stamp,
# so an output that does not show what the plan says reruns its spec's job (engine/stamps.py).
PAPER = os.path.dirname(PLAN.index_file)
OUTPUTS_BY_SPEC = {}
for _t in PLAN.targets.values():
    OUTPUTS_BY_SPEC.setdefault(_t.spec, []).append(_t)


for _spec, _targets in OUTPUTS_BY_SPEC.items():

    rule:
        name:
            f"outputs_{_spec}"
        localrule: True     # cheap: on a cluster (profiles/slurm) it runs on the submitting host
        input:
            sorted({f for t in _targets for f in t.inputs}) + [STAMPS[t.name] for t in _targets],
        output:
            [f for t in _targets for f in t.files],
        log:
            f"logs/{SCALE}/outputs/{_spec}.log",
        params:
            output_keys=" ".join(t.key for t in _targets),
            scale=SCALE,
        shell:
            "$ENGINE_PYTHON -m engine run outputs {params.output_keys} --scale {params.scale} > {log} 2>&1"


localrules:
    index,


rule index:
    input:
        [f for t in PLAN.targets.values() for f in t.files] + [STAMPS["index"]],
    output:
        [PLAN.index_file] + sorted(PLAN.review_files.values()),
    log:
        f"logs/{SCALE}/index.log",
    params:
        outputs_key=" ".join(sorted(t.key for t in PLAN.targets.values())),
        scale=SCALE,
    shell:
        "$ENGINE_PYTHON -m engine run index --scale {params.scale} > {log} 2>&1"
