"""Pretrained models from the Hugging Face hub, pinned: the lock file and its checks.

`engine fetch-models` (run where the hub is reachable) resolves each hub model that the
specs name to a commit, downloads the files the engine loads (`allow_patterns`) and records
their sha256 in specs/models.lock.json; it records the sha256 of local weight files (the
aesthetic head) too. Jobs run with HF_HUB_OFFLINE=1: `resolve` maps a hub id to its locked
snapshot in the local cache and checks every locked file's sha256 before anything loads it.
Local directories are used as they are. This module imports no torch.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError
from .store import sha256_file

LOCK = Path("specs/models.lock.json")
LOCK_VERSION = 1
COMMIT = re.compile(r"^[0-9a-f]{40}$")

# the files a CLIP model or processor is loaded from (nothing else is downloaded or trusted)
CLIP_FILES = ("*.json", "*.txt", "model.safetensors")
CLIP_REQUIRED = ("config.json", "model.safetensors")
PROCESSOR_FILES = ("*.json", "*.txt")
PROCESSOR_REQUIRED = ()


@dataclass(frozen=True)
class Need:
    """One model a run loads: a hub repo or local directory (`patterns`), or a local file."""
    id: str
    revision: str = "main"
    patterns: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    file: bool = False
    gated: bool = False     # the hub serves it only to accounts that accepted its licence (a token)

    @property
    def key(self) -> str:
        return self.id if self.file else f"{self.id}@{self.revision}"


def is_local(ref_id: str) -> bool:
    """A path (it exists, or is written as one) rather than a hub id."""
    return ref_id.startswith(("/", "./", "../", "~")) or Path(ref_id).expanduser().exists()


def run_needs(cfg) -> list[Need]:
    """The pretrained models a run config loads (each kind that loads any declares `hub_needs`)."""
    from .registry import kinds_of
    out = []
    for k in kinds_of(cfg):
        if "hub_needs" in k.traits:     # the kind's declaration lists the files it loads
            out += k.traits["hub_needs"](getattr(cfg, k.room))
    return out


def merge_needs(needs) -> list[Need]:
    """One need per model (repo and revision, or file): the union of their file patterns."""
    merged: dict[str, Need] = {}
    for n in needs:
        m = merged.get(n.key)
        merged[n.key] = n if m is None else Need(n.id, n.revision, tuple(dict.fromkeys(m.patterns + n.patterns)),
                                                 tuple(dict.fromkeys(m.required + n.required)), n.file,
                                                 m.gated or n.gated)
    return [merged[k] for k in sorted(merged)]


# ----------------------------------------------------------------------------- the lock file


def read_lock(path: Path = LOCK) -> dict:
    path = Path(path)
    if not path.is_file():
        return {"version": LOCK_VERSION, "hub": {}, "files": {}}
    lock = json.loads(path.read_text())
    if lock.get("version") != LOCK_VERSION:
        raise EngineError(f"{path}: lock file version {lock.get('version')!r} is not {LOCK_VERSION}; "
                          f"rerun `engine fetch-models`")
    return lock


def write_lock(lock: dict, path: Path = LOCK) -> None:
    from .store import write_bytes_atomic
    write_bytes_atomic(Path(path), (json.dumps(lock, indent=2, sort_keys=True) + "\n").encode())


def snapshot_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under a snapshot folder (symlinks into the blob store followed)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.relative_to(folder).parts}


def verify_files(folder: Path, files: dict[str, str], what: str) -> None:
    for rel, digest in sorted(files.items()):
        p = Path(folder) / rel
        if not p.is_file():
            raise EngineError(f"{what}: locked file {rel} is missing from {folder}; rerun `engine fetch-models`")
        if sha256_file(p) != digest:
            raise EngineError(f"{what}: {rel} in {folder} does not match its sha256 in the lock file "
                              f"(changed after `engine fetch-models`); delete it and fetch again")


# ----------------------------------------------------------------------------- what jobs call
def resolve(ref_id: str, revision: str = "main", lock_path: Path = LOCK, cache_dir: str | None = None) -> str:
    """The local directory to load `ref_id` from: itself if local, else its locked, verified snapshot."""
    if is_local(ref_id):
        path = Path(ref_id).expanduser()
        if not path.exists():
            raise EngineError(f"pretrained model '{ref_id}' not found: no such directory")
        return str(path)
    lock = read_lock(lock_path)
    entry = lock["hub"].get(f"{ref_id}@{revision}")
    if entry is None:
        raise EngineError(f"pretrained model '{ref_id}' (revision {revision}) is not pinned in {lock_path}: "
                          f"run `engine fetch-models` where the hub is reachable")
    from huggingface_hub import snapshot_download
    try:
        folder = snapshot_download(ref_id, revision=entry["commit"], allow_patterns=list(entry["patterns"]),
                                   cache_dir=cache_dir, local_files_only=True)
    except (OSError, ValueError) as e:
        raise EngineError(f"pretrained model '{ref_id}' (commit {entry['commit']}) is not in the local Hugging "
                          f"Face cache: run `engine fetch-models` where the hub is reachable ({e})") from e
    verify_files(Path(folder), entry["files"], f"pretrained model '{ref_id}'")
    return folder


def load_pretrained(cls, ref, what: str, **kwargs):
    """`cls.from_pretrained` (transformers or diffusers) on the locked local copy of `ref` (a
    spec's Pretrained), weights from safetensors only (harmless for tokenizers, processors and
    schedulers); an engine error naming the model when it is missing or unreadable."""
    path = resolve(ref.id, ref.revision)
    try:
        return cls.from_pretrained(path, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise EngineError(f"{what} '{ref.id}' (revision {ref.revision}) could not be loaded from {path}"
                          + (f" ({kwargs['subfolder']}/)" if "subfolder" in kwargs else "") + f": {first}") from e


def verify_local_file(path: str, lock_path: Path = LOCK) -> Path:
    """A local weights file that exists and, when the lock records it, matches its sha256."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise EngineError(f"weights file '{path}' not found")
    digest = read_lock(lock_path)["files"].get(path)
    if digest is not None and sha256_file(p) != digest:
        raise EngineError(f"weights file '{path}' does not match its sha256 in {lock_path}")
    return p


# ----------------------------------------------------------------------------- fetch-models
def hub_commit(repo_id: str, revision: str) -> str:
    from huggingface_hub import model_info
    return model_info(repo_id, revision=revision).sha


def hub_download(repo_id: str, commit: str, patterns: tuple[str, ...], cache_dir: str | None = None) -> str:
    from huggingface_hub import snapshot_download
    return snapshot_download(repo_id, revision=commit, allow_patterns=list(patterns), cache_dir=cache_dir)


def fetch(needs: list[Need], lock_path: Path = LOCK, commit_of=hub_commit, download=hub_download,
          log=print) -> dict:
    """Pin every hub need to a commit, download its files and record their sha256; record local
    files' sha256. Writes the lock file (entries of other models are kept) and returns it."""
    lock = read_lock(lock_path)
    problems = []
    for need in merge_needs(needs):
        if need.file:
            p = Path(need.id).expanduser()
            if not p.is_file():
                problems.append(f"weights file '{need.id}' not found (see README: Paper scale)")
                continue
            lock["files"][need.id] = sha256_file(p)
            log(f"{need.id}: sha256 {lock['files'][need.id][:12]}")
            continue
        if is_local(need.id):
            log(f"{need.id}: local directory, not pinned")
            continue
        if need.gated and not os.environ.get("HF_TOKEN"):
            problems.append(f"'{need.id}' is gated: accept its licence at https://huggingface.co/{need.id} with "
                            f"your account, then set HF_TOKEN to one of its access tokens (read from the "
                            f"environment, never stored)")
            continue
        commit = need.revision if COMMIT.match(need.revision) else commit_of(need.id, need.revision)
        folder = Path(download(need.id, commit, need.patterns))
        files = snapshot_files(folder)
        missing = [r for r in need.required if r not in files]
        if missing:
            problems.append(f"'{need.id}' at {commit} has no {', '.join(missing)} (the engine loads safetensors "
                            f"only): pin a revision that has them")
            continue
        lock["hub"][need.key] = {"repo_id": need.id, "revision": need.revision, "commit": commit,
                                 "patterns": list(need.patterns), "files": files}
        log(f"{need.key}: commit {commit}, {len(files)} files")
    write_lock(lock, lock_path)
    if problems:
        raise EngineError("; ".join(problems))
    return lock


def check(needs: list[Need], lock_path: Path = LOCK, cache_dir: str | None = None, log=print) -> None:
    """What jobs do before loading, for every need, offline."""
    for need in merge_needs(needs):
        if need.file:
            verify_local_file(need.id, lock_path)
        else:
            resolve(need.id, need.revision, lock_path, cache_dir)
        log(f"{need.key}: ok")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
