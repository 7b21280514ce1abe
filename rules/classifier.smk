# classifier: one job per instance (heavy).
rule classifier:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/classifier/{job}.json",
    log:
        "logs/classifier/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "{ENGINE} run classifier {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
