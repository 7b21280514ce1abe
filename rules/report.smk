# report: the items of the HTML report of one scale (`make report`; engine/report/items.py).
#   snakemake --cores 2 --config scale=smoke --report build/report/smoke.html --report-after-run report_items
# Every table, figure and sample grid, and the paper index, as a file under build/report/<scale>/
# marked with report(): a category per kind, a subcategory per spec, a caption naming the spec
# and the run hashes behind it. Not part of `all`: only the report asks for them.
REPORT = PLAN.report_dir
_ITEM_FILES = PLAN.report_paths
_FULL = []


def FULL():
    """The whole plan (captions, labels), built only when a report item is in the DAG."""
    if not _FULL:
        from engine.plan import build_plan
        _FULL.append(build_plan(SCALE))
    return _FULL[0]


def _items():
    import engine.report.items as items
    return items


localrules:
    report_items,
    report_table,
    report_figure,
    report_samples,
    report_index,


def _report(kind, category):
    """report() arguments of an item of `kind` whose wildcard `name` names it."""
    return dict(caption="captions/item.rst", category=category,
                subcategory=lambda wc: _items().subcategory(FULL(), kind, getattr(wc, "name", "")),
                labels=lambda wc: _items().labels(FULL(), kind, getattr(wc, "name", "")))


def _caption(kind, field):
    return lambda wc: _items().caption(FULL(), kind, getattr(wc, "name", ""))[field]


def _caption_params(kind):
    return {f: _caption(kind, f) for f in ("title", "spec", "spec_file", "scale", "key", "runs")}


rule report_items:
    input:
        [f for files in _ITEM_FILES.values() for f in files],


rule report_table:
    input:
        lambda wc: PLAN.targets[wc.name].files[0],
    output:
        report(REPORT + "/tables/{name}.html", **_report("table", "Tables")),
    log:
        "logs/" + SCALE + "/report/table-{name}.log",
    params:
        **_caption_params("table"),
    shell:
        "{ENGINE} report-item table {wildcards.name} --scale {SCALE} -o {output} > {log} 2>&1"


rule report_figure:
    input:
        lambda wc: PLAN.targets[wc.name].files[0],
    output:
        report(REPORT + "/figures/{name}.png", **_report("figure", "Figures")),
    log:
        "logs/" + SCALE + "/report/figure-{name}.log",
    params:
        **_caption_params("figure"),
    shell:
        "{ENGINE} report-item figure {wildcards.name} --scale {SCALE} -o {output} > {log} 2>&1"


rule report_samples:
    input:
        lambda wc: PLAN.report_grids[wc.name],
    output:
        report(REPORT + "/samples/{name}.png", **_report("samples", "Samples")),
    log:
        "logs/" + SCALE + "/report/samples-{name}.log",
    wildcard_constraints:
        name="[0-9a-f]{16}_(finetuned|pretrained)",
    params:
        **_caption_params("samples"),
    shell:
        "{ENGINE} report-item samples {wildcards.name} --scale {SCALE} -o {output} > {log} 2>&1"


rule report_index:
    input:
        PLAN.index_file,
    output:
        report(REPORT + "/index.html", **_report("index", "Overview")),
    log:
        "logs/" + SCALE + "/report/index.log",
    params:
        **_caption_params("index"),
    shell:
        "{ENGINE} report-item index --scale {SCALE} -o {output} > {log} 2>&1"
