# pretrain: one job per instance (heavy).
rule pretrain:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/pretrain/{job}.json",
    log:
        "logs/pretrain/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "{ENGINE} run pretrain {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
