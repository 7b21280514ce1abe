# report: the items of the HTML report of one scale (`make report`; engine/report/items.py).
#   snakemake --cores 2 --config scale=smoke --report build/report/smoke.html --report-after-run report_items
# Every table, figure and sample grid, and the paper index, as a file under build/report/<scale>/
# marked with report(): a category per kind, a subcategory per spec, a caption naming the spec
# and the run hashes behind it (engine/report/snake.py). Not part of `all`: only the report asks for them.
REPORT = PLAN.report_dir


localrules:
    report_items,
    report_table,
    report_figure,
    report_samples,
    report_index,


rule report_items:
    input:
        [f for files in PLAN.report_paths.values() for f in files],


rule report_table:
    input:
        lambda wc: PLAN.targets[wc.name].files[0],
    output:
        report(f"{REPORT}/tables/{{name}}.html", **REPORT_RULES.report_args(SCALE, "table", "Tables")),
    log:
        f"logs/{SCALE}/report/table-{{name}}.log",
    params:
        **REPORT_RULES.caption_params(SCALE, "table"),
    shell:
        "$ENGINE_PYTHON -m engine report-item table {wildcards.name} --scale {params.scale} -o {output} > {log} 2>&1"


rule report_figure:
    input:
        lambda wc: PLAN.targets[wc.name].files[0],
    output:
        report(f"{REPORT}/figures/{{name}}.png", **REPORT_RULES.report_args(SCALE, "figure", "Figures")),
    log:
        f"logs/{SCALE}/report/figure-{{name}}.log",
    params:
        **REPORT_RULES.caption_params(SCALE, "figure"),
    shell:
        "$ENGINE_PYTHON -m engine report-item figure {wildcards.name} --scale {params.scale} -o {output} > {log} 2>&1"


rule report_samples:
    input:
        lambda wc: PLAN.report_grids[wc.name],
    output:
        report(f"{REPORT}/samples/{{name}}.png", **REPORT_RULES.report_args(SCALE, "samples", "Samples")),
    log:
        f"logs/{SCALE}/report/samples-{{name}}.log",
    wildcard_constraints:
        name="[0-9a-f]{16}_[a-z][a-z0-9_]*",    # a grid a stage kind declares (`grids`)
    params:
        **REPORT_RULES.caption_params(SCALE, "samples"),
    shell:
        "$ENGINE_PYTHON -m engine report-item samples {wildcards.name} --scale {params.scale} -o {output} > {log} 2>&1"


rule report_index:
    input:
        PLAN.index_file,
    output:
        report(f"{REPORT}/index.html", **REPORT_RULES.report_args(SCALE, "index", "Overview")),
    log:
        f"logs/{SCALE}/report/index.log",
    params:
        **REPORT_RULES.caption_params(SCALE, "index"),
    shell:
        "$ENGINE_PYTHON -m engine report-item index --scale {params.scale} -o {output} > {log} 2>&1"
