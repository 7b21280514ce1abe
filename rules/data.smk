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
    threads: 2
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
    shell:
        "{ENGINE} run data {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
