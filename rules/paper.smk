# paper: tables, figures and the index of one scale (paper/ or paper/<scale>/).
# `key` hashes the output's layout and runs, so a layout edit reruns just that output; the stamp
# input reruns an output that does not show what the plan says (engine/stamps.py).
PAPER = os.path.dirname(PLAN.index_file)


# cheap: on a cluster (profiles/slurm) they run on the submitting host, not through sbatch
localrules:
    table,
    figure,
    index,


rule table:
    input:
        lambda wc: [*PLAN.targets[wc.name].inputs, STAMPS[wc.name]],
    output:
        f"{PAPER}/tables/{{name}}.md",
        f"{PAPER}/tables/{{name}}.tex",
    log:
        f"logs/{SCALE}/table/{{name}}.log",
    params:
        key=lambda wc: PLAN.targets[wc.name].key,
        scale=SCALE,
    shell:
        "$ENGINE_PYTHON -m engine run table {params.key} --scale {params.scale} > {log} 2>&1"


rule figure:
    input:
        lambda wc: [*PLAN.targets[wc.name].inputs, STAMPS[wc.name]],
    output:
        f"{PAPER}/figures/{{name}}.png",
        f"{PAPER}/figures/{{name}}.pdf",
    log:
        f"logs/{SCALE}/figure/{{name}}.log",
    params:
        key=lambda wc: PLAN.targets[wc.name].key,
        scale=SCALE,
    shell:
        "$ENGINE_PYTHON -m engine run figure {params.key} --scale {params.scale} > {log} 2>&1"


rule index:
    input:
        [f for t in PLAN.targets.values() for f in t.files] + [STAMPS["index"]],
    output:
        PLAN.index_file,
    log:
        f"logs/{SCALE}/index.log",
    params:
        outputs_key=" ".join(sorted(t.key for t in PLAN.targets.values())),
        scale=SCALE,
    shell:
        "$ENGINE_PYTHON -m engine run index --scale {params.scale} > {log} 2>&1"
