# evaluate: final numbers of fine-tuned policies; depends on the finetune jobs it reads.
# One process; one GPU when the runs use GPUs.
rule evaluate:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/evaluate/{job}.json",
    log:
        "logs/evaluate/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        gpu=lambda wc: min(PLAN.jobs[wc.job].gpus, 1),
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
    shell:
        "{ENGINE} run evaluate {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
