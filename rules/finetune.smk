# finetune: policy optimization; Gaussian runs are batched per spec (cheap), UNet and Stable
# Diffusion runs one per job. A job whose runs ask for resources.processes > 1 is launched with
# torchrun (one process per GPU); resources.gpus becomes Snakemake's `gpu` resource (executor
# plugins such as SLURM's turn it into a GPU request).
def launcher(job):
    if job.processes > 1:
        return (f"{sys.executable} -m torch.distributed.run --standalone --nproc_per_node {job.processes} "
                f"-m engine")
    return ENGINE


rule finetune:
    input:
        lambda wc: PLAN.jobs[wc.job].inputs,
    output:
        "results/jobs/finetune/{job}.json",
    log:
        "logs/finetune/{job}.log",
    params:
        hashes=lambda wc: " ".join(PLAN.jobs[wc.job].hashes),
        launch=lambda wc: launcher(PLAN.jobs[wc.job]),
    threads: lambda wc: PLAN.jobs[wc.job].threads
    resources:
        mem_mb=lambda wc: PLAN.jobs[wc.job].mem_mb,
        gpu=lambda wc: PLAN.jobs[wc.job].gpus,
        runtime=lambda wc: PLAN.jobs[wc.job].runtime_min,
    shell:
        "{params.launch} run finetune {params.hashes} --scale {SCALE} --manifest {output} > {log} 2>&1"
