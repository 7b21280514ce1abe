# finetune: policy optimization; Gaussian runs are batched per spec (cheap), UNet runs one per job.
# resources.processes > 1 starts it under torchrun (engine/launch.py; data parallel, engine/distributed.py).
rule finetune:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/finetune/{job}.json",
    log:
        "logs/finetune/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
        engine=lambda wc: LAUNCH(PLAN.jobs[wc.job]),   # torchrun when resources.processes > 1
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
    shell:
        "{PYTHON} {params.engine} run finetune {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
