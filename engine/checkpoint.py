"""Resume checkpoints of long stages: a killed job restarts from its last checkpoint.

A checkpoint lives in the *resume area* ``results/.resume/<stage>/<hash>/``, outside the job's
declared outputs (Snakemake deletes those when a job fails) and outside the result store
(``results/<stage>/<hash>/`` appears only when complete). One file, ``checkpoint.safetensors``,
holds everything a bitwise-identical continuation needs: the policy's trained parameters (not
its frozen weights and buffers, which the run rebuilds from its config: for Stable Diffusion
the LoRA adapter, not the 4 GB pipeline), the optimizer's
state, the run's RNG generator and torch's global RNG, the epoch, and JSON extras (the curve
so far). It is written atomically (temporary file, fsync, rename), so a kill at any moment
leaves the previous checkpoint or the new one, never half of one. No pickle: tensors are
safetensors, everything else JSON in its metadata.

A checkpoint records the number of training processes that wrote it (`world`). Every rank holds the
same parameters, optimizer state and run generator (engine/distributed.py), and the sampled noises
do not depend on the number of processes, so a checkpoint written by N processes resumes with M: the
continuation equals the uninterrupted run up to float summation order, the tolerance of N processes
against one (tests/test_resume_world.py). The result's provenance records every resume
(`notes.resumed`: the epoch, and the world sizes before and after).

How often to checkpoint is ``resources.checkpoint_every`` (epochs), which is not part of any
hash: resuming continues the same computation, so it cannot change a number.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from contextvars import ContextVar
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from . import distributed
from .layout import RESULTS
from .store import write_bytes_atomic

FORMAT = "engine-resume-3"          # 3: the record carries its sha256
FILE = "checkpoint.safetensors"


_AREA: ContextVar[Path | None] = ContextVar("resume_area", default=None)


def resume_dir(stage: str, h: str) -> Path:
    return (_AREA.get() or RESULTS / ".resume") / stage / h


@contextlib.contextmanager
def private_area(root: Path):
    """Resume areas under `root` instead of the store's (engine verify: a rerun never reads or
    writes the live store's checkpoints)."""
    token = _AREA.set(root)
    try:
        yield
    finally:
        _AREA.reset(token)


def discard(stage: str, h: str) -> None:
    """Remove an instance's resume area (its result is complete), and its parents once empty."""
    area = resume_dir(stage, h)
    shutil.rmtree(area, ignore_errors=True)
    for parent in (area.parent, area.parent.parent):
        try:
            parent.rmdir()
        except OSError:                 # not empty, or already gone
            break


# ----------------------------------------------------------------------------- (de)serialization
def _optimizer_split(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's per-parameter state as tensors plus JSON (scalars, hyperparameters)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optimizer/{idx}/{k}"] = v.detach().clone().contiguous()
            else:
                scalars[f"{idx}/{k}"] = v
    groups = [{k: v for k, v in g.items() if k != "params"} for g in sd["param_groups"]]
    return tensors, {"scalars": scalars, "groups": json.loads(json.dumps(groups, default=str))}


def _optimizer_state(optimizer, tensors: dict, meta: dict) -> dict:
    """The state_dict to load into `optimizer`; ValueError if the checkpoint is for another one."""
    sd = optimizer.state_dict()
    groups = json.loads(json.dumps([{k: v for k, v in g.items() if k != "params"} for g in sd["param_groups"]],
                                   default=str))
    if groups != meta["groups"]:
        raise ValueError("optimizer hyperparameters differ from the checkpoint's")
    state: dict = {}
    for key, v in tensors.items():
        _, idx, k = key.split("/", 2)
        state.setdefault(int(idx), {})[k] = v
    for key, v in meta["scalars"].items():
        idx, k = key.split("/", 1)
        state.setdefault(int(idx), {})[k] = v
    return {"state": state, "param_groups": sd["param_groups"]}


def _trained(policy) -> dict[str, torch.Tensor]:
    """The parameters training changes (those that require gradients), by name."""
    return {k: p for k, p in policy.named_parameters() if p.requires_grad}


def digest(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    """sha256 of a checkpoint's whole record: every metadata entry but this digest, and every
    tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        h.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save(path: Path, *, stage: str, h: str, epoch: int, policy, optimizer, generator, extra: dict) -> None:
    """Write one checkpoint atomically."""
    tensors = {f"policy/{k}": v.detach().clone().contiguous() for k, v in _trained(policy).items()}
    opt_tensors, opt_meta = _optimizer_split(optimizer)
    tensors.update(opt_tensors)
    tensors["rng/generator"] = generator.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    meta = {"format": FORMAT, "stage": stage, "hash": h, "epoch": str(epoch), "world": str(distributed.world()),
            "optimizer": json.dumps(opt_meta), "extra": json.dumps(extra, allow_nan=False)}
    meta["sha256"] = digest(tensors, meta)
    write_bytes_atomic(path, safetensors_bytes(tensors, metadata=meta))


def read_epoch(path: Path) -> int:
    """The epoch a checkpoint file was written after (for logs and tests)."""
    with safe_open(str(path), "pt") as f:
        return int(f.metadata()["epoch"])


def read_world(path: Path) -> int | None:
    """The number of processes that wrote a checkpoint (None: written before it was recorded)."""
    with safe_open(str(path), "pt") as f:
        w = (f.metadata() or {}).get("world")
    return int(w) if w else None


def load(path: Path, *, stage: str, h: str, policy, optimizer, generator) -> tuple[int, dict]:
    """Restore policy, optimizer and RNG states in place; return (epoch, extra).
    Raises ValueError (nothing restored) if the file does not belong to this instance."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if meta.get("format") != FORMAT or meta.get("stage") != stage or meta.get("hash") != h:
        raise ValueError(f"not a {stage} {h} checkpoint of format {FORMAT}")
    if meta.get("sha256") != digest(tensors, meta):
        raise ValueError("the checkpoint does not match its recorded sha256 (damaged)")
    policy_state = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("policy/")}
    current = _trained(policy)
    if set(policy_state) != set(current) or any(policy_state[k].shape != current[k].shape for k in current):
        raise ValueError("policy tensors differ from the checkpoint's")
    opt_state = _optimizer_state(optimizer, {k: v for k, v in tensors.items() if k.startswith("optimizer/")},
                                 json.loads(meta["optimizer"]))
    extra = json.loads(meta["extra"])
    optimizer.load_state_dict(opt_state)      # validates first, so a mismatch changes nothing
    with torch.no_grad():
        for k, p in current.items():
            p.copy_(policy_state[k])
    generator.set_state(tensors["rng/generator"])
    torch.set_rng_state(tensors["rng/torch"])
    return int(meta["epoch"]), extra


# ----------------------------------------------------------------------------- what a stage uses
class Resume:
    """The resume area of one stage instance: restore at start, save every `every` epochs."""

    def __init__(self, instance, every: int, log):
        self.stage, self.hash, self.every, self.log = instance.stage, instance.hash, every, log
        self.path = resume_dir(self.stage, self.hash) / FILE

    def restore(self, policy, optimizer, generator) -> tuple[int, dict] | None:
        """(epoch, extra) of the last checkpoint, states restored; None to start from scratch."""
        if not self.path.is_file():
            return None
        try:
            epoch, extra = load(self.path, stage=self.stage, h=self.hash, policy=policy, optimizer=optimizer,
                                generator=generator)
        except Exception as e:          # unreadable, damaged or foreign: start over, never trust it
            aside = self.path.with_name(self.path.name + ".damaged")
            self.path.replace(aside)
            self.log(f"warning: ignoring checkpoint {self.path} ({type(e).__name__}: {e}); moved to {aside.name}, "
                     f"starting from scratch")
            return None
        before, now = read_world(self.path), distributed.world()
        self.log(f"resuming from checkpoint after epoch {epoch} ({self.path})"
                 + (f"; written by {before} processes, resumed by {now}" if before not in (None, now) else ""))
        from . import store
        store.note("resumed", {"after_epoch": epoch, "world_before": before, "world_now": now})
        return epoch, extra

    def maybe_save(self, epoch: int, last_epoch: int, policy, optimizer, generator, extra: dict) -> None:
        """Checkpoint after `epoch` if it is a multiple of `every` (not after the last one:
        the result itself follows)."""
        if self.every <= 0 or epoch % self.every or epoch >= last_epoch or not distributed.is_main():
            return
        try:
            save(self.path, stage=self.stage, h=self.hash, epoch=epoch, policy=policy, optimizer=optimizer,
                 generator=generator, extra=extra)
        except OSError as e:            # a checkpoint only saves time; the run goes on without it
            self.log(f"could not write checkpoint after epoch {epoch}: {e}")
            return
        self.log(f"checkpoint after epoch {epoch} -> {self.path}")
