# Every stage job, whatever its stage kind (engine/stages/*_kind.py): a job runs its stage
# instances, skipping those already stored, and writes its manifest. Grouping (engine/plan.py):
# cheap instances are batched per spec, heavy ones run a job each. A stage kind declared
# `distributed` starts under torchrun when resources.processes > 1 (engine/launch.py).
rule stage:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/{stage}/{job}.json",
    log:
        "logs/{stage}/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
        engine=lambda wc: PLAN.jobs[wc.job].launch,
        scale=SCALE,
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "$ENGINE_PYTHON {params.engine} run {wildcards.stage} {params.hashes} --scale {params.scale} --manifest {output} > {log} 2>&1"
