# finetune: policy optimization; Gaussian runs are batched per spec (cheap), UNet runs one per job.
rule finetune:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/finetune/{job}.json",
    log:
        "logs/finetune/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
    threads: 2
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
    shell:
        "{ENGINE} run finetune {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
