"""Data parallelism for the policy-gradient loop across torchrun processes (gloo on CPU, nccl on GPUs).

`engine run` joins the process group when torchrun started it (WORLD_SIZE > 1; the rule's
launcher is engine/launch.py). Then every rank holds the same policy, optimizer and run
generator, and:

- sampling: every rank draws the whole global batch's prompts, initial noises and step noises
  from the run generator (so the generator stays identical everywhere and the noises are the
  ones a single process draws) and denoises only its own rows (`local_rows`, `noise_rows`);
  the chains, log-probabilities and rewards are then gathered (`gather_rows`), so every rank
  holds the whole batch and computes the same advantages;
- updates: each minibatch is split across ranks (`shard`); each rank differentiates the mean
  loss of its share, and the gradients are summed with weights share/minibatch
  (`reduce_gradients`), which is the gradient of the whole minibatch's mean loss, before the
  identical clip and optimizer step on every rank;
- output: rank 0 alone writes results, manifests, checkpoints and logs (`is_main`); the other
  ranks compute into a scratch directory that is thrown away.

On GPUs each rank uses cuda:LOCAL_RANK (`device`); the collectives then move their tensors
there, as nccl requires.

One process gives the same numbers as before, bitwise: every helper is the identity then.
N processes agree with one up to float summation order (batched kernels on fewer rows, the
gradient sum): tests/test_distributed.py states the tolerance.

Imports torch only when a process group is (or is about to be) in use.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path


def launched() -> bool:
    """Started by torchrun with more than one process (no torch import)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def device():
    """cuda:LOCAL_RANK where a GPU is present, else the CPU."""
    import torch
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init() -> int:
    """Prepare the device and join the process group (once) when torchrun started us; return this
    process's rank."""
    import torch
    if torch.cuda.is_available():
        # cuBLAS is deterministic only with a fixed workspace (set before its first use); a few
        # CUDA kernels of the UNet (e.g. upsampling backward) have no deterministic version: warn
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        from .eager import deterministic
        deterministic(warn_only=True)
    if not launched():
        return 0
    import torch.distributed as dist
    if not dist.is_initialized():
        dev = device()
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(hours=2))
    return dist.get_rank()


def _on(t, d):
    """`t` on the device the process group's collectives need (a GPU under nccl)."""
    return t.to(device()) if d.get_backend() == "nccl" else t


def _dist():
    """torch.distributed when a process group of more than one rank is active, else None."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return dist
    return None


def rank() -> int:
    d = _dist()
    return d.get_rank() if d else 0


def world() -> int:
    d = _dist()
    return d.get_world_size() if d else 1


def is_main() -> bool:
    """Rank 0, or no process group: the process that writes results and logs."""
    return rank() == 0


def rank_tag() -> str:
    """' (rank R of N)' for a rank other than 0 (for error messages), else ''."""
    r, n = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    return f" (rank {r} of {n})" if n > 1 and r > 0 else ""


def agree(flag: bool) -> bool:
    """Rank 0's value of `flag` on every rank (so all ranks take the same branch); `flag` in one process."""
    d = _dist()
    if d is None:
        return flag
    import torch
    t = _on(torch.tensor([int(flag)]), d)
    d.broadcast(t, src=0)
    return bool(t.item())


@contextlib.contextmanager
def scratch():
    """Where a rank other than 0 writes the files a stage produces: deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"engine-rank{rank()}-") as d:
        yield Path(d)


# ----------------------------------------------------------------------------- sampling
def _bounds(n: int, r: int, w: int) -> tuple[int, int]:
    base, extra = divmod(n, w)
    lo = r * base + min(r, extra)
    return lo, lo + base + (1 if r < extra else 0)


def local_rows(n: int) -> slice:
    """The rows of a global batch of `n` this rank computes (contiguous; all of them in one process)."""
    if _dist() is None:
        return slice(None)
    lo, hi = _bounds(n, rank(), world())
    if lo == hi:
        raise ValueError(f"a batch of {n} cannot be split across {world()} processes: use fewer "
                         f"(resources.processes) or a larger batch")
    return slice(lo, hi)


def noise_rows(n: int):
    """A step-noise function for gddim.sample_chain: draws the whole batch's noise from the
    generator (as one process would) and keeps this rank's rows. None in one process."""
    if _dist() is None:
        return None
    import torch
    rows = local_rows(n)

    def draw(shape, generator, dtype):
        return torch.randn((n,) + tuple(shape[1:]), generator=generator, dtype=dtype)[rows]
    return draw


def gather_rows(t, dim: int = 0):
    """Concatenate every rank's rows of `t` along `dim` (rank order); `t` itself in one process."""
    d = _dist()
    if d is None:
        return t
    import torch
    home, t = t.device, _on(t, d)
    sizes = _on(torch.tensor([t.shape[dim]]), d)
    all_sizes = [torch.zeros_like(sizes) for _ in range(world())]
    d.all_gather(all_sizes, sizes)
    longest = int(max(s.item() for s in all_sizes))
    pad = list(t.shape)
    pad[dim] = longest - t.shape[dim]
    padded = torch.cat([t.contiguous(), t.new_zeros(pad)], dim=dim) if pad[dim] else t.contiguous()
    parts = [torch.empty_like(padded) for _ in range(world())]
    d.all_gather(parts, padded)
    return torch.cat([p.narrow(dim, 0, int(s.item())) for p, s in zip(parts, all_sizes)], dim=dim).to(home)


# ----------------------------------------------------------------------------- updates
def shard(indices):
    """This rank's share of a minibatch's indices and its weight share/len (indices, 1.0 in one process)."""
    if _dist() is None:
        return indices, 1.0
    lo, hi = _bounds(len(indices), rank(), world())
    if lo == hi:
        raise ValueError(f"a minibatch of {len(indices)} cannot be split across {world()} processes: use "
                         f"fewer (resources.processes) or larger minibatches")
    return indices[lo:hi], (hi - lo) / len(indices)


def reduce_scalar(value, weight: float):
    """The weighted sum over ranks of a 0-d tensor (a NaN anywhere reaches every rank); `value` in one process."""
    d = _dist()
    if d is None:
        return value
    out = _on(value.detach().double() * weight, d)
    d.all_reduce(out)
    return out.cpu()


def reduce_gradients(params, weight: float) -> None:
    """Replace each gradient by the sum over ranks of weight * gradient (a no-op in one process).
    A parameter no rank has a gradient for keeps None (the optimizer then skips it, as in one process)."""
    d = _dist()
    if d is None:
        return
    import torch
    params = list(params)
    has = _on(torch.tensor([p.grad is not None for p in params], dtype=torch.int64), d)
    d.all_reduce(has)
    by_dtype: dict = {}
    for p, n in zip(params, has.tolist()):
        if n:
            by_dtype.setdefault(p.dtype, []).append(p)
    for group in by_dtype.values():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) * weight
                          for p in group])
        d.all_reduce(flat)
        offset = 0
        for p in group:
            g = flat[offset: offset + p.numel()].view_as(p)
            offset += p.numel()
            if p.grad is None:
                p.grad = g.clone()
            else:
                p.grad.copy_(g)


def reduce_stats(stats: dict, weight: float) -> dict:
    """Weighted sums over ranks of a dict of floats (`stats` unchanged in one process)."""
    d = _dist()
    if d is None:
        return stats
    import torch
    keys = sorted(stats)
    t = _on(torch.tensor([float(stats[k]) * weight for k in keys], dtype=torch.float64), d)
    d.all_reduce(t)
    return dict(zip(keys, t.cpu().tolist()))
