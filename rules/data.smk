# data: one job per instance (heavy).
rule data:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/data/{job}.json",
    log:
        "logs/data/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "{ENGINE} run data {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
