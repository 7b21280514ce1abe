# paper: tables, figures and the index of one scale (paper/ or paper/<scale>/).
# `key` hashes the output's layout and runs, so a layout edit reruns just that output.
PAPER = str(__import__("engine.plan", fromlist=["paper_dir"]).paper_dir(SCALE))


# cheap: on a cluster (profiles/slurm) they run on the submitting host, not through sbatch
localrules:
    table,
    figure,
    index,


rule table:
    input:
        lambda wc: [*PLAN.targets[wc.name].inputs, STAMPS[wc.name]],
    output:
        PAPER + "/tables/{name}.md",
        PAPER + "/tables/{name}.tex",
    log:
        "logs/" + SCALE + "/table/{name}.log",
    params:
        key=lambda wc: PLAN.targets[wc.name].key,
    shell:
        "{ENGINE} run table {params.key} --scale {SCALE} > {log} 2>&1"


rule figure:
    input:
        lambda wc: [*PLAN.targets[wc.name].inputs, STAMPS[wc.name]],
    output:
        PAPER + "/figures/{name}.png",
        PAPER + "/figures/{name}.pdf",
    log:
        "logs/" + SCALE + "/figure/{name}.log",
    params:
        key=lambda wc: PLAN.targets[wc.name].key,
    shell:
        "{ENGINE} run figure {params.key} --scale {SCALE} > {log} 2>&1"


rule index:
    input:
        [f for t in PLAN.targets.values() for f in t.files] + [STAMPS["index"]],
    output:
        PLAN.index_file,
    log:
        "logs/" + SCALE + "/index.log",
    params:
        outputs_key=" ".join(sorted(t.key for t in PLAN.targets.values())),
    shell:
        "{ENGINE} run index --scale {SCALE} > {log} 2>&1"
