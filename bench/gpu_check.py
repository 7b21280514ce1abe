"""The prepared GPU check: every paper-scale path once, in one call of at most 5 minutes (issue #19).

    python bench/gpu_check.py --out gpu_check.json                  # on the GPU machine (README, "GPU check")
    python bench/gpu_check.py --device cpu --tiny --out check.json  # the same code on tiny models (make test)
    python bench/gpu_check.py --device cpu --shallow                # real widths, one block deep, 64² (~3 min)

Each section runs under its own time box (SIGALRM; the whole run keeps within --limit seconds) and the
JSON report is rewritten after every section, and after every figure within one, so a cut-off run still
reports what it measured. The models are the published architectures built from their configs with
random weights on the device (bench/gpu_models.py); the run settings are those of the paper-scale specs
(read through the engine's spec loader), cut to one GPU's share; everything runs through the engine's own
family, sampler, reward, algorithm and data-parallel code.

Sections:
- environment: versions, the GPU, which collectives exist;
- sd15: SD 1.5 (UNet, VAE, CLIP text encoder; the aesthetic reward on CLIP ViT-L/14): sampling with
  per-step log-probabilities, the DDPO LoRA step under bf16 autocast with gradient checkpointing off
  and on, and the evaluation (ODE and SDE rewards);
- sd15_throughput: DDPO epochs (sampling + reward + training) at the spec's 512², 50 steps: images/s
  after a warm-up epoch, and its ratio to ddpo-pytorch's published 0.22 images/s per GPU;
- determinism: the same DDPO step (sampled chains' rewards, the PPO loss's gradient) twice under the
  engine's determinism settings: bitwise, or the difference, and the kernels torch named anywhere in the run;
- data_parallel: two gloo processes on the one device take that step through engine/distributed.py,
  against one process (nccl needs two GPUs: not run here, and the report says so);
- sd15_full: one DDPO step of full fine-tuning (fp32 master weights, bf16 autocast, checkpointing);
- flux: FLUX.1-dev (12B transformer, T5-XXL) with LoRA: sampling and one MixGRPO epoch;
- llama: Llama-3-8B with LoRA: RainbowPO's preference step on 2 pairs, then on a GPU's share of the
  spec's batch.
A summary table (markdown) ends the report: the README's "GPU check" section takes it.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
import gc
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import torch                                    # noqa: E402

import gpu_models as models                     # noqa: E402

# ddpo-pytorch's README ("Reproducing Results"): about 4 hours for 100 epochs on 8 A100s, with config/dgx.py's
# 256 images an epoch (sampling and training): 0.222 images/s per GPU
DDPO_PYTORCH_IMAGES_PER_S_PER_GPU = 25600 / (4 * 3600) / 8
SPEC_SD = "specs/sd15_ddpo_aesthetic.yaml"
SPEC_FLUX = "specs/flux_mixgrpo_pickscore_paper.yaml"
SPEC_LLAMA = "specs/rainbowpo_llama3_paper.yaml"
SEED = 0
# seconds per section on the GPU (their sum is the 5-minute limit); the CPU mode gives each 60
BOXES = {"environment": 10, "sd15": 70, "sd15_throughput": 55, "determinism": 30, "data_parallel": 45,
         "sd15_full": 25, "flux": 40, "llama": 20}
# what a section runs with, per mode: images per sampling batch, chains per DDPO minibatch on one GPU,
# steps, resolution, chains per throughput epoch, chains and trained steps of the reference gradient
# (determinism, data_parallel; None: every step), FLUX's steps and resolution and group, LM pairs
SIZES = {"gpu": dict(images=8, minibatch=8, sd_steps=50, resolution=None, epoch_images=16, reference_chains=4,
                     reference_steps=10, flux_steps=None, flux_resolution=None, group=2, pairs=2),
         "tiny": dict(images=2, minibatch=2, sd_steps=4, resolution=16, epoch_images=4, reference_chains=4,
                      reference_steps=None, flux_steps=4, flux_resolution=16, group=2, pairs=2),
         # the published widths with FLUX, T5 and Llama one block deep (bench/gpu_models.cut_depth), on a CPU
         "shallow": dict(images=2, minibatch=2, sd_steps=3, resolution=64, epoch_images=2, reference_chains=2,
                         reference_steps=None, flux_steps=3, flux_resolution=64, group=2, pairs=1, lm_share=1,
                         lm_max_length=256)}


class SectionTimeout(BaseException):
    """Not an Exception: library code that catches Exception cannot swallow the end of a time box."""


# ----------------------------------------------------------------------------- the report
class Report:
    """The JSON report, rewritten (atomically) whenever something is added."""

    def __init__(self, path: Path, head: dict):
        self.path = path
        self.data = {**head, "sections": {}}
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.path)


class Figures(dict):
    """A section's figures: each one written to the report as it is measured."""

    def __init__(self, report: Report, name: str, box: float):
        super().__init__(status="running", box_s=round(box, 2))
        self.report = report
        report.data["sections"][name] = self
        report.write()

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.report.write()

    def update(self, *args, **kwargs):
        super().update(*args, **kwargs)
        self.report.write()


@contextlib.contextmanager
def time_box(seconds: float):
    def expire(signum, frame):
        raise SectionTimeout(f"stopped at its time box of {seconds:g} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- measuring
class Context:
    """What the sections share: the device, the pipelines' directories, the run configs, built models."""

    def __init__(self, device: str, size: str, work: Path):
        self.device = torch.device(device)
        self.size = size
        self.tiny = size == "tiny"
        self.sizes = SIZES[size]
        if size == "shallow":
            models.cut_depth()
        self.work = work
        self.cache: dict = {}
        self.section = None
        self.nondeterministic: dict = {}          # kernel -> the section where torch first warned of it

    def watch_warnings(self) -> None:
        """Record torch's warnings of nondeterministic kernels, with the section they came in (torch warns
        of each once a process, so the `determinism` section alone would miss those of earlier sections)."""
        show = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):
            text = str(message)
            if "deterministic" in text:
                kernel = text.split(" does not have")[0].split(". To explicitly")[0][:200]
                self.nondeterministic.setdefault(kernel, self.section)
            show(message, category, filename, lineno, file, line)
        warnings.showwarning = record

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        if self.device.type == "cuda":
            return round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
        return None

    def timed(self, out: dict, key: str, fn):
        """fn() timed (device synchronised) with its peak device memory: out[key] = {s, peak_gib, and on a
        GPU the allocator's peak reservation, which also holds its cache and fragments}."""
        self.sync()
        self.reset_peak()
        t0 = time.perf_counter()
        value = fn()
        self.sync()
        figures = {"s": round(time.perf_counter() - t0, 3), "peak_gib": self.peak_gib()}
        if self.device.type == "cuda":
            figures["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2 ** 30, 2)
        out[key] = figures
        return value

    # -- the pipelines, written once
    def folder(self, name: str) -> Path:
        path = self.work / name
        if not path.exists():
            {"sd15": lambda: models.write_sd15(path, self.tiny),
             "clip_l": lambda: models.write_clip(path, self.tiny, "L"),
             "clip_h": lambda: models.write_clip(path, self.tiny, "H"),
             "aesthetic_head.safetensors": lambda: models.write_aesthetic_head(path, self.tiny),
             "flux": lambda: models.write_flux(path, self.tiny),
             "llama": lambda: models.write_llama(path, self.tiny)}[name]()
        return path

    # -- the run configs: the paper-scale specs' first run, on these pipelines, cut to one GPU's share
    def sd_config(self, batch: int, minibatch: int, epochs: int = 1):
        s = self.sizes
        cfg = paper_run(SPEC_SD)
        cfg["model"]["pretrained"] = {"id": str(self.folder("sd15"))}
        if s["resolution"]:
            cfg["model"]["resolution"] = s["resolution"]
        cfg["sampler"]["steps"] = s["sd_steps"]
        cfg["reward"]["clip"] = {"id": str(self.folder("clip_l"))}
        cfg["reward"]["head"] = str(self.folder("aesthetic_head.safetensors"))
        cfg["algorithm"].update(epochs=epochs, batch_size=batch, minibatches=max(1, batch // minibatch))
        return validated(cfg)

    def sd_policy(self):
        """The SD 1.5 policy (fresh LoRA, seeded), its reward and samplers; built once, then shared."""
        if "sd" not in self.cache:
            from engine.stages.common import build_policy_for, reward_for, sampler_stds
            cfg = self.sd_config(self.sizes["images"], self.sizes["minibatch"])
            with models.random_weights(self.device):
                torch.manual_seed(SEED)
                policy = build_policy_for(cfg, {})
                reward = reward_for(cfg, {}, policy)
            train_stds, ode_stds = sampler_stds(cfg, policy)
            initial = {n: p.detach().clone() for n, p in trainable(policy).items()}
            self.cache["sd"] = (policy, reward, train_stds, ode_stds, initial)
        return self.cache["sd"]


def paper_run(spec: str, index: int = 0) -> dict:
    """A run of a spec at the paper scale (the first by default), as a JSON-ready dict to change (the engine's
    spec loader; each spec is expanded once)."""
    return copy.deepcopy(_paper_run(spec, index))


@functools.cache
def _paper_run(spec: str, index: int) -> dict:
    from engine.spec.resolve import expand, load_spec
    return expand(load_spec(ROOT / spec), "paper").runs[index].config.model_dump(mode="json")


def advantages(rewards):
    """The batch-normalised advantages DDPO uses before it has per-prompt statistics."""
    from engine.algorithms.advantages import batch_scaled
    return batch_scaled(rewards)[0]


def validated(cfg: dict):
    from engine.spec.models import RunConfig
    return RunConfig.model_validate(cfg)


def trainable(policy) -> dict:
    return {n: p for n, p in policy.named_parameters() if p.requires_grad}


def restore(policy, state: dict) -> None:
    with torch.no_grad():
        for n, p in trainable(policy).items():
            p.copy_(state[n])


def ddpo_epoch(ctx, policy, reward, stds, cfg):
    """One DDPO epoch through the algorithm's registered implementation, as the finetune stage runs it."""
    from engine import registry
    algorithm = registry.implementation(registry.kind("algorithm", cfg.algorithm.kind))
    gen = torch.Generator().manual_seed(cfg.seed)
    stats = []
    algorithm.train(policy, stds, reward, cfg.algorithm, gen, on_epoch=lambda e, s: stats.append(s),
                    log=lambda *a: None, seed=cfg.seed)
    ctx.sync()
    return stats


def count(params) -> int:
    return sum(p.numel() for p in params)


# ----------------------------------------------------------------------------- sections
def environment(ctx: Context, out: dict) -> None:
    import importlib.metadata as md
    import torch.distributed as dist
    out["python"] = platform.python_version()
    out["torch"] = torch.__version__
    out["packages"] = {}
    for name in ("diffusers", "transformers", "peft", "pydantic", "safetensors", "tokenizers", "accelerate",
                 "huggingface_hub", "numpy"):
        try:
            out["packages"][name] = md.version(name)
        except md.PackageNotFoundError:
            out["packages"][name] = None
    out["device"] = str(ctx.device)
    out["cpus"] = os.cpu_count()
    if ctx.device.type == "cuda":
        p = torch.cuda.get_device_properties(ctx.device)
        out["gpu"] = {"name": p.name, "count": torch.cuda.device_count(), "memory_gib": round(p.total_memory / 2 ** 30, 1),
                      "capability": f"{p.major}.{p.minor}", "cuda": torch.version.cuda,
                      "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported()}
    import importlib                            # where each package came from: the carried wheels' /tmp/site?
    out["loaded_from"] = {name: importlib.import_module(name).__file__ for name in CARRIED}
    out["collectives"] = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available(),
                          "nccl_run": "no: nccl needs one GPU per process, and this machine has "
                                      f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}"}


def sd15(ctx: Context, out: dict) -> None:
    from engine.algorithms.policy_gradient import chain_log_probs, collect, make_optimizer, ppo_update
    from engine.evaluation import resolve_method, reward_gap_metrics
    s = ctx.sizes
    policy, reward, stds, ode_stds, _ = ctx.timed(out, "build", ctx.sd_policy)
    unet = policy.unet
    out["parameters"] = {"unet": count(p for n, p in unet.named_parameters() if "lora_" not in n),
                         "vae": count(policy.vae.parameters()), "lora_trained": count(trainable(policy).values())}
    out["dtype"] = {"frozen": str(next(p for n, p in unet.named_parameters() if "lora_" not in n).dtype),
                    "trained": str(next(iter(trainable(policy).values())).dtype),
                    "autocast": str(policy.autocast_dtype)}
    n = s["images"]
    cfg = ctx.sd_config(n, s["minibatch"]).algorithm
    steps = torch.nonzero(stds > 0).flatten()

    def warm_up():                # the first kernels' start-up costs (modules, cuBLAS, cuDNN), not timed below
        one = collect(policy, stds, 1, torch.Generator().manual_seed(SEED + 7), reward)
        ppo_update(policy, torch.optim.SGD(list(trainable(policy).values()), lr=0.0), one, torch.ones(1),
                   torch.arange(1), steps[-2:], stds, cfg, 1, 0)
    ctx.timed(out, "warm_up", warm_up)
    gen = torch.Generator().manual_seed(SEED)
    batch = ctx.timed(out, "sample", lambda: collect(policy, stds, n, gen, reward))
    out["sample"]["images"] = n
    out["sample"]["images_per_s"] = round(n / out["sample"]["s"], 3)
    with torch.no_grad():                     # the training path's batched recomputation, on the first 4 steps
        again = chain_log_probs(policy, batch.xs, steps[-4:], stds, batch.prompts)
    diff = float((again - batch.logps[steps[-4:]]).abs().max())
    out["logp"] = {"finite": bool(torch.isfinite(batch.logps[steps]).all()), "recomputed_max_abs_diff": diff,
                   # on the scale the clip range applies to with ratio_reduction 'mean' (DDPO's)
                   "recomputed_max_abs_diff_per_dimension": diff / math.prod(policy.latent_shape),
                   "ratio_reduction": cfg.ratio_reduction, "clip_range": cfg.clip_range,
                   "rewards_finite": bool(torch.isfinite(batch.rewards).all())}
    adv = advantages(batch.rewards)
    mb = torch.arange(min(n, s["minibatch"]))
    for ckpt in (False, True):
        (unet.enable_gradient_checkpointing if ckpt else unet.disable_gradient_checkpointing)()
        opt = make_optimizer(policy, cfg)
        step = ctx.timed(out, f"ddpo_lora_step_checkpointing_{'on' if ckpt else 'off'}",
                         lambda: ppo_update(policy, opt, batch, adv, mb, steps, stds, cfg, 1, 0))
        out[f"ddpo_lora_step_checkpointing_{'on' if ckpt else 'off'}"].update(
            chains=len(mb), trained_steps=len(steps), loss_finite=math.isfinite(step["loss"]),
            clipfrac=step["clipfrac"])
    unet.disable_gradient_checkpointing()
    method = resolve_method("auto", policy, reward)
    m = ctx.timed(out, "evaluate", lambda: reward_gap_metrics(policy, ode_stds, stds, reward, method, n, SEED))
    out["evaluate"].update(samples=n, reward_ode=m["reward_ode"], reward_sde=m["reward_sde"])


def sd15_throughput(ctx: Context, out: dict) -> None:
    policy, reward, stds, _, initial = ctx.sd_policy()
    n = ctx.sizes["epoch_images"]
    cfg = ctx.sd_config(n, ctx.sizes["minibatch"])
    restore(policy, initial)
    out.update(images=n, steps=len(stds), resolution=cfg.model.resolution,
               ddpo_pytorch_images_per_s=round(DDPO_PYTORCH_IMAGES_PER_S_PER_GPU, 4))
    for key in ("warm_up_epoch", "epoch"):    # the warm-up's rate first, so that a cut-off run still has one
        stats = ctx.timed(out, key, lambda: ddpo_epoch(ctx, policy, reward, stds, cfg))
        rate = n / out[key]["s"]
        out[key]["clipfrac"] = stats[-1]["clipfrac"]
        out.update(images_per_s=round(rate, 4), rate_from=key,
                   ratio_to_ddpo_pytorch=round(rate / DDPO_PYTORCH_IMAGES_PER_S_PER_GPU, 2))


def _reference_step(ctx: Context) -> dict:
    """One DDPO step's gradient (what `determinism` and `data_parallel` compare): a seeded non-zero adapter
    (so LoRA's A matrices have gradients too), a batch of chains sampled and scored, then the PPO update of
    the whole batch as one minibatch with a zero learning rate; the gathered rewards and the gradient
    after the ranks' reduction and the norm clip. The clip range is opened (the ratios are 1 up to the
    recomputation's rounding, and a spec's 1e-4 would zero the gradient of some chains on that rounding)."""
    from engine.algorithms.policy_gradient import collect, ppo_update
    policy, reward, stds, _, initial = ctx.sd_policy()
    restore(policy, initial)
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in trainable(policy).items():
            if "lora_B" in name:
                p.copy_(0.01 * torch.randn(p.shape, generator=g))
    n = ctx.sizes["reference_chains"]
    cfg = ctx.sd_config(n, n).model_dump()
    cfg["algorithm"]["clip_range"] = 10.0
    cfg = validated(cfg).algorithm
    batch = collect(policy, stds, n, torch.Generator().manual_seed(SEED), reward)
    adv = advantages(batch.rewards)
    steps = torch.nonzero(stds > 0).flatten()[-(ctx.sizes["reference_steps"] or len(stds)):]
    params = trainable(policy)
    ppo_update(policy, torch.optim.SGD(list(params.values()), lr=0.0), batch, adv, torch.arange(n), steps, stds,
               cfg, 1, 0)
    ctx.sync()
    out = {f"grad/{k}": p.grad.detach().float().cpu().clone() for k, p in params.items()}
    out["rewards"] = batch.rewards.detach().float().cpu()
    restore(policy, initial)
    return out


def _relative_l2(a: dict, b: dict) -> float:
    grads = [k for k in a if k.startswith("grad/")]
    diff = math.sqrt(sum(float(((a[k] - b[k]) ** 2).sum()) for k in grads))
    norm = math.sqrt(sum(float((a[k] ** 2).sum()) for k in grads))
    return diff / norm if norm else float("nan")


def determinism(ctx: Context, out: dict) -> None:
    out["settings"] = {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                       "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
                       "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG")}
    first = ctx.timed(out, "first", lambda: _reference_step(ctx))
    second = ctx.timed(out, "second", lambda: _reference_step(ctx))
    out["compared"] = "the sampled chains' rewards and one DDPO step's gradient, twice"
    out["bitwise_equal"] = all(torch.equal(first[k], second[k]) for k in first)
    out["max_abs_diff"] = max(float((first[k] - second[k]).abs().max()) for k in first)
    out["relative_l2_diff"] = ctx.cache["noise_floor"] = _relative_l2(first, second)
    # torch warns of a kernel once a process: those of earlier sections (the first backward passes) count
    out["nondeterministic_kernels"] = sorted(ctx.nondeterministic)
    ctx.cache["reference"] = first


def data_parallel(ctx: Context, out: dict) -> None:
    """Two processes (gloo, tensors on this device) take the reference step through engine/distributed.py:
    each samples and differentiates its share, the rows are gathered and the gradients summed."""
    from safetensors.torch import load_file
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = ctx.work / "dp_rank0.safetensors"
    procs, logs = [], []
    t0 = time.perf_counter()
    try:
        for rank in range(2):
            env = {**os.environ, "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": "0",
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--dp-worker", "--device", str(ctx.device),
                   "--work", str(ctx.work), "--out", str(result)] + ([f"--{ctx.size}"] if ctx.size != "gpu" else [])
            logs.append(open(ctx.work / f"dp_rank{rank}.log", "w"))  # files, not pipes: no rank blocks on output
            procs.append(subprocess.Popen(cmd, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
        if "reference" not in ctx.cache:          # `determinism` did not run: the one-process step, meanwhile
            ctx.cache["reference"] = _reference_step(ctx)
        for p in procs:
            p.wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for log in logs:
            log.close()
    out["seconds_two_processes"] = round(time.perf_counter() - t0, 2)
    failed = [(r, p.returncode) for r, p in enumerate(procs) if p.returncode]
    if failed:
        r, code = failed[0]
        raise RuntimeError(f"rank {r} exited with {code}: {(ctx.work / f'dp_rank{r}.log').read_text()[-2000:]}")
    reference, two = ctx.cache["reference"], load_file(str(result))
    worker = json.loads(result.with_suffix(".json").read_text())
    out.update(backend=worker["backend"], tensors_on=worker["device"], step_s_two_processes=worker["step_s"],
               rewards_max_abs_diff=float((two["rewards"] - reference["rewards"]).abs().max()),
               relative_diff=_relative_l2(reference, two),
               noise_floor=ctx.cache.get("noise_floor"),   # determinism's: one process against itself
               nccl="not run: it needs one GPU per process (two GPUs); the gloo run covers the same engine code")


def dp_worker(args) -> None:
    """One rank of `data_parallel`: the reference step under a two-process gloo group."""
    import torch.distributed as dist
    from safetensors.torch import save_file

    from engine import distributed
    dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2)
    distributed.init()
    ctx = Context(args.device, size_of(args), Path(args.work))
    t0 = time.perf_counter()
    state = _reference_step(ctx)
    seconds = time.perf_counter() - t0
    if distributed.is_main():
        out = Path(args.out)
        save_file({k: v.contiguous() for k, v in state.items()}, str(out))
        out.with_suffix(".json").write_text(json.dumps({"backend": dist.get_backend(), "step_s": round(seconds, 3),
                                                         "device": str(distributed.device())}))
    dist.destroy_process_group()


def sd15_full(ctx: Context, out: dict) -> None:
    """Every UNet weight trained (fp32 master weights under the policy's autocast), checkpointing on."""
    from engine.algorithms.policy_gradient import collect, make_optimizer, ppo_update
    policy, reward, stds, _, _ = ctx.sd_policy()
    ctx.cache.pop("sd")                       # the policy is changed for good below
    s = ctx.sizes
    gen = torch.Generator().manual_seed(SEED)
    batch = collect(policy, stds, s["images"], gen, reward)
    policy.unet.float().requires_grad_(True)
    policy.unet.enable_gradient_checkpointing()
    cfg = ctx.sd_config(s["images"], s["minibatch"]).algorithm
    opt = make_optimizer(policy, cfg)
    out["parameters"] = {"trained": count(trainable(policy).values())}
    adv = advantages(batch.rewards)
    steps = torch.nonzero(stds > 0).flatten()
    mb = torch.arange(min(s["images"], s["minibatch"]))
    step = ctx.timed(out, "step", lambda: ppo_update(policy, opt, batch, adv, mb, steps, stds, cfg, 1, 0))
    out["step"].update(chains=len(mb), trained_steps=len(steps), loss_finite=math.isfinite(step["loss"]))


def flux(ctx: Context, out: dict) -> None:
    from engine.algorithms.policy_gradient import collect
    from engine.stages.common import build_policy_for, reward_for, sampler_stds
    ctx.cache.pop("sd", None)                 # room on the device
    gc.collect()
    s = ctx.sizes
    cfg = paper_run(SPEC_FLUX)
    cfg["model"]["pretrained"] = {"id": str(ctx.folder("flux"))}
    if s["flux_resolution"]:
        cfg["model"]["resolution"] = s["flux_resolution"]
        cfg["model"]["max_sequence_length"] = models.TINY_T5_LEN
    if s["flux_steps"]:
        cfg["sampler"]["steps"] = s["flux_steps"]
        cfg["algorithm"]["window_size"] = 2
    clip = str(ctx.folder("clip_h"))
    cfg["reward"].update(model={"id": clip}, processor={"id": clip})
    cfg["algorithm"].update(epochs=1, prompts_per_epoch=1, group_size=s["group"])
    cfg = validated(cfg)

    def build():
        with models.random_weights(ctx.device):
            torch.manual_seed(SEED)
            policy = build_policy_for(cfg, {})
            return policy, reward_for(cfg, {}, policy)
    policy, reward = ctx.timed(out, "build", build)
    out["parameters"] = {"transformer": count(p for n, p in policy.transformer.named_parameters() if "lora_" not in n),
                         "lora_trained": count(trainable(policy).values())}
    stds, _ = sampler_stds(cfg, policy)
    gen = torch.Generator().manual_seed(SEED)
    batch = ctx.timed(out, "sample", lambda: collect(policy, stds, s["group"], gen, reward))
    out["sample"].update(images=s["group"], steps=len(stds), resolution=cfg.model.resolution,
                         logp_finite=bool(torch.isfinite(batch.logps[stds > 0]).all()))
    stats = ctx.timed(out, "mixgrpo_epoch", lambda: ddpo_epoch(ctx, policy, reward, stds, cfg))
    out["mixgrpo_epoch"].update(chains=s["group"], window=cfg.algorithm.window_size,
                                loss_finite=math.isfinite(stats[-1]["loss"]))


def llama(ctx: Context, out: dict) -> None:
    from engine.language import lm_hub_po
    ctx.cache.clear()
    gc.collect()
    cfg = paper_run(SPEC_LLAMA, -1)                # the authors' combination: every loss component
    cfg["model"]["pretrained"] = {"id": str(ctx.folder("llama")), "revision": "main"}
    with models.random_weights(ctx.device):
        tok, model, ref = ctx.timed(out, "build", lambda: lm_hub_po.load(cfg["model"], ctx.device, SEED))
    out["parameters"] = {"model": count(p for n, p in model.named_parameters() if "lora_" not in n),
                         "lora_trained": count(p for p in model.parameters() if p.requires_grad)}
    length = cfg["model"]["max_length"] = ctx.sizes.get("lm_max_length") or cfg["model"]["max_length"]
    g = torch.Generator().manual_seed(SEED)
    letters = "abcdefghijklmnopqrstuvwxyz "

    def text(n):
        return "".join(letters[i] for i in torch.randint(len(letters), (n,), generator=g).tolist())
    share = ctx.sizes.get("lm_share") or max(1, cfg["algorithm"]["batch_size"] // cfg["resources"]["processes"])
    pairs = [(text(length // 4), text(length // 2), text(length // 2)) for _ in range(share)]
    for n in sorted({ctx.sizes["pairs"], share}):
        alg = {**cfg["algorithm"], "steps": 1, "batch_size": n}
        key = f"step_{n}_pairs"
        try:
            stats = ctx.timed(out, key, lambda: lm_hub_po.train(model, ref, tok, pairs, alg, length, SEED, ctx.device))
            out[key].update(tokens_per_sequence=length * 3 // 4, loss_finite=math.isfinite(stats["final_loss"]))
        except torch.OutOfMemoryError as e:
            out[key] = {"out_of_memory": str(e).splitlines()[0][:300]}
        gc.collect()                            # the failed step's tensors are free only now
        if ctx.device.type == "cuda":
            torch.cuda.empty_cache()
    out["variant"] = cfg["algorithm"]["variant"]


SECTIONS = {"environment": environment, "sd15": sd15, "sd15_throughput": sd15_throughput,
            "determinism": determinism, "data_parallel": data_parallel, "sd15_full": sd15_full, "flux": flux,
            "llama": llama}


# ----------------------------------------------------------------------------- the summary table
def _f(x, unit="", nd=2):
    return "—" if x is None else f"{x:.{nd}f}{unit}"


def _e(x) -> str:
    return "—" if x is None else f"{x:.1e}"


def _n(x) -> str:
    """A parameter count: 11.90 B, 859.5 M, 12,345."""
    if x is None:
        return "—"
    return f"{x / 1e9:.2f} B" if x >= 1e9 else f"{x / 1e6:.1f} M" if x >= 1e6 else f"{x:,}"


def summary(report: dict) -> str:
    """The markdown table for the README: one row a section, its status and main figures."""
    S = report["sections"]

    def get(section, *path):
        node = S.get(section, {})
        for p in path:
            node = node.get(p) if isinstance(node, dict) else None
        return node

    def timing(section, key):
        t = get(section, key) or {}
        return f"{_f(t.get('s'), ' s')}" + (f", peak {_f(t['peak_gib'], ' GiB')}" if t.get("peak_gib") is not None else "")
    rows = {
        "environment": f"{get('environment', 'gpu', 'name') or get('environment', 'device')}, torch "
                       f"{get('environment', 'torch')}",
        "sd15": f"UNet {_n(get('sd15', 'parameters', 'unet'))}; sampling {get('sd15', 'sample', 'images')} images: "
                f"{timing('sd15', 'sample')}; LoRA step ckpt off: {timing('sd15', 'ddpo_lora_step_checkpointing_off')}; "
                f"on: {timing('sd15', 'ddpo_lora_step_checkpointing_on')}; evaluation {timing('sd15', 'evaluate')}",
        "sd15_throughput": f"{get('sd15_throughput', 'images_per_s')} images/s on one device "
                           f"({get('sd15_throughput', 'images')} images, {get('sd15_throughput', 'steps')} steps, "
                           f"{get('sd15_throughput', 'resolution')}²); ddpo-pytorch ≈ "
                           f"{DDPO_PYTORCH_IMAGES_PER_S_PER_GPU:.2f} per GPU: ratio "
                           f"{get('sd15_throughput', 'ratio_to_ddpo_pytorch')}; {timing('sd15_throughput', 'epoch')}",
        "determinism": ("bitwise equal" if get("determinism", "bitwise_equal") else
                        f"max |diff| {get('determinism', 'max_abs_diff')}")
                       + f"; kernels without a deterministic version: "
                         f"{', '.join(get('determinism', 'nondeterministic_kernels') or []) or 'none named'}",
        "data_parallel": f"{get('data_parallel', 'backend')} × 2 on {get('data_parallel', 'tensors_on')}: the step's "
                         f"gradient differs from one process's by {_e(get('data_parallel', 'relative_diff'))} "
                         f"(relative L2; one process against itself: {_e(get('data_parallel', 'noise_floor'))}); "
                         f"nccl not run (one GPU)",
        "sd15_full": f"{_n(get('sd15_full', 'parameters', 'trained'))} trained: {timing('sd15_full', 'step')}",
        "flux": f"transformer {_n(get('flux', 'parameters', 'transformer'))}; sampling: {timing('flux', 'sample')}; "
                f"MixGRPO epoch: {timing('flux', 'mixgrpo_epoch')}",
        "llama": f"{_n(get('llama', 'parameters', 'model'))}; "
                 + "; ".join(f"{k.split('_')[1]} pairs: " + (timing('llama', k) if 's' in v else 'out of memory')
                             for k, v in S.get("llama", {}).items() if k.startswith("step_") and isinstance(v, dict)),
    }
    lines = ["| section | status | seconds | figures |", "|---|---|---|---|"]
    for name in SECTIONS:
        sec = S.get(name)
        if sec is None:
            continue
        status = sec.get("status", "?") + (f": {sec['error'][:120]}" if sec.get("error") else "")
        lines.append(f"| {name} | {status} | {_f(sec.get('seconds'), nd=1)} | {rows[name]} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the run
# packages the GPU machine gets from the carried wheels (environment says where each was loaded from)
CARRIED = ("diffusers", "transformers", "peft", "pydantic", "huggingface_hub")
PRELOAD = CARRIED + ("safetensors.torch", "diffusers.models", "engine.models.stable_diffusion", "engine.models.flux",
                     "engine.rewards.aesthetic", "engine.rewards.pickscore", "engine.language.lm_hub_po",
                     "engine.algorithms.ddpo", "engine.algorithms.mixgrpo", "engine.algorithms.policy_gradient",
                     "engine.evaluation", "engine.stages.common", "engine.spec.resolve")


def preload() -> None:
    """Import what the sections use before any time box: a box that ends inside an import leaves the module
    half-made in sys.modules, and every later section would fail on it."""
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    from diffusers import AutoencoderKL, FluxTransformer2DModel, UNet2DConditionModel   # noqa: F401  (lazy modules)
    from transformers import CLIPModel, CLIPTextModel, LlamaForCausalLM, T5EncoderModel  # noqa: F401


def size_of(args) -> str:
    return "tiny" if args.tiny else "shallow" if args.shallow else "gpu"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="the test suite's tiny model sizes (the CPU mode)")
    ap.add_argument("--shallow", action="store_true",
                    help="the published widths, FLUX, T5 and Llama one block deep, small images (fits a CPU)")
    ap.add_argument("--out", default="gpu_check.json", help="the JSON report (rewritten as it goes)")
    ap.add_argument("--limit", type=float, default=None,
                    help="seconds for the sections, after the imports (default 300; --shallow: 1800)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, in this order")
    ap.add_argument("--box", action="append", default=[], metavar="SECTION=SECONDS", help="another time box")
    ap.add_argument("--commit", default=None, help="the commit checked (default: git rev-parse HEAD)")
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dp-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.dp_worker:
        dp_worker(args)
        return 0
    begun = time.perf_counter()
    args.limit = args.limit or (1800.0 if args.shallow else 300.0)
    import faulthandler                         # a hang past the limit still ends, with its stack
    faulthandler.dump_traceback_later(args.limit + 120, exit=True)
    names = [n for n in args.sections.split(",") if n]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        ap.error(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    size = size_of(args)
    boxes = {n: (float(BOXES[n]) if size == "gpu" else 60.0 if size == "tiny" else 900.0) for n in SECTIONS}
    for item in args.box:
        name, _, seconds = item.partition("=")
        if name not in SECTIONS:
            ap.error(f"--box {item}: unknown section '{name}'")
        boxes[name] = float(seconds)
    from engine import distributed
    from engine.stages.common import setup_torch
    preload()
    distributed.init()                          # the determinism settings of `engine run` on a GPU
    setup_torch(1 if args.tiny else (os.cpu_count() or 2))    # and those of the stages
    started = time.perf_counter()               # the limit is the sections' (the imports take ~10 s)
    report = Report(Path(args.out), {
        "script": "bench/gpu_check.py", "commit": args.commit or git_commit(), "host": platform.node(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": size, "device": args.device, "limit_s": args.limit, "imports_s": round(started - begun, 1)})
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        ctx = Context(args.device, size, Path(work))
        ctx.watch_warnings()
        for name in names:
            left = args.limit - (time.perf_counter() - started)
            out = Figures(report, name, min(boxes[name], left))
            if left < 0.1:
                out["status"] = "skipped: the whole check's limit was reached"
                continue
            print(f"[gpu_check] {name}: up to {out['box_s']} s", flush=True)
            ctx.section = name
            t0 = time.perf_counter()
            try:
                with time_box(out["box_s"]):
                    SECTIONS[name](ctx, out)
                out["status"] = "ok"
            except SectionTimeout as e:
                out["status"] = "timed out"
                out["error"] = str(e)
            except Exception as e:              # a failed section is a finding: report it and go on
                out["status"] = "failed"
                out["error"] = f"{type(e).__name__}: {e}"[:2000]
                out["traceback"] = traceback.format_exc()[-4000:]
            out["seconds"] = round(time.perf_counter() - t0, 2)
            print(f"[gpu_check] {name}: {out['status']} in {out['seconds']} s", flush=True)
            gc.collect()
            if ctx.device.type == "cuda":
                torch.cuda.empty_cache()
    report.data["seconds"] = round(time.perf_counter() - started, 1)
    import resource
    report.data["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report.data["summary"] = summary(report.data)
    report.write()
    print(report.data["summary"])
    return 0 if all(s.get("status") == "ok" for s in report.data["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
