# evaluate: final numbers of fine-tuned policies; depends on the finetune jobs it reads.
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
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "{ENGINE} run evaluate {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
