"""Multi-process training under torchrun (data parallel; the stable_diffusion family only).

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE. Every process samples its share of an epoch's
chains with its own noise stream, advantages are normalized over all processes' rewards
(DDPO gathers them, as in its published code), the trained parameters' gradients are
averaged during backward, and only process 0 evaluates the curve and stores the result.
With one process every function here is the identity, so single-process numbers do not
depend on this module.
"""
from __future__ import annotations

import datetime
import os

import torch

RANK_SEED_STRIDE = 1_000_033


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def device() -> torch.device:
    """cuda:LOCAL_RANK where a GPU is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init() -> None:
    """Prepare the device; join the process group (once) when launched with more than one process."""
    import torch.distributed as dist

    if torch.cuda.is_available():
        # cuBLAS is deterministic only with a fixed workspace (set before its first use); a few
        # CUDA kernels of the UNet (e.g. upsampling backward) have no deterministic version: warn
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if world_size() == 1 or dist.is_initialized():
        return
    dev = device()
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    else:                       # CPU processes share the cores
        torch.set_num_threads(max(1, torch.get_num_threads() // world_size()))
    # rank 0 evaluates the training curve while the others wait at the next collective
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=6))


def rank_seed(seed: int) -> int:
    """Process 0 keeps the run's seed; the others get disjoint noise streams."""
    return seed + RANK_SEED_STRIDE * rank()


def local_algorithm(alg):
    """The algorithm config one process runs: its share of each epoch's samples."""
    n = world_size()
    if n == 1:
        return alg
    if alg.kind == "ddpo":
        return alg.model_copy(update={"batch_size": alg.batch_size // n})
    return alg.model_copy(update={"prompts_per_epoch": alg.prompts_per_epoch // n})


def gather(t: torch.Tensor | None) -> torch.Tensor | None:
    """Concatenation of every process's `t` (same shape everywhere), in rank order."""
    if t is None or world_size() == 1:
        return t
    import torch.distributed as dist

    src = t.to(device())
    parts = [torch.empty_like(src) for _ in range(world_size())]
    dist.all_gather(parts, src)
    return torch.cat(parts).to(t.device)


def local_part(t: torch.Tensor) -> torch.Tensor:
    """This process's slice of a gathered tensor."""
    n = world_size()
    if n == 1:
        return t
    m = len(t) // n
    return t[rank() * m:(rank() + 1) * m]


def average_gradients(params) -> None:
    """Average each parameter's gradient over the processes as soon as backward has accumulated it.

    Re-averaging an already averaged gradient plus a new local part gives the average of the
    sums, so several backward passes per optimizer step stay correct.
    """
    if world_size() == 1:
        return
    import torch.distributed as dist

    n = world_size()

    def hook(p):
        dist.all_reduce(p.grad)
        p.grad.div_(n)

    for p in params:
        p.register_post_accumulate_grad_hook(hook)
