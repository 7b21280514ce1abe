"""The content-addressed result store: results/<stage>/<hash>/.

A result directory appears atomically: it is written under a temporary name, its files
are fsynced, provenance.json (with a sha256 of every file) is written last, and the
directory is renamed into place. A directory without provenance.json is never trusted.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

from .errors import StoreError
from .plan import result_dir

PROVENANCE = "provenance.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def is_complete(stage: str, h: str) -> bool:
    return (result_dir(stage, h) / PROVENANCE).is_file()


@lru_cache(maxsize=1)
def git_state() -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", "engine", "specs")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


@lru_cache(maxsize=1)
def package_versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for name in ("engine", "torch", "numpy", "pydantic", "diffusers", "snakemake"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


_HOST = "".join(c if c.isalnum() else "_" for c in platform.node()) or "host"


def _remove_stale_tmp(final: Path) -> None:
    """Remove temporary directories of `final` left by killed processes on this host
    (another host's or a live process's are left alone)."""
    for tmp in final.parent.glob(f".tmp-{final.name}-{_HOST}-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:         # alive, someone else's
            pass


@contextlib.contextmanager
def writing(instance, requested_by: list | None = None):
    """Yield a temporary directory; on success it becomes results/<stage>/<hash>/ atomically."""
    final = result_dir(instance.stage, instance.hash)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(final)
    tmp = final.parent / f".tmp-{instance.hash}-{_HOST}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    t0 = time.time()
    try:
        yield tmp
        files = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
                files[str(p.relative_to(tmp))] = sha256_file(p)
        prov = {
            "stage": instance.stage, "hash": instance.hash, "config": instance.config,
            "upstream": list(instance.upstream), "requested_by": requested_by or instance.runs,
            "git": git_state(), "packages": package_versions(), "host": platform.node(),
            "seed": instance.config.get("seed"), "wall_seconds": round(time.time() - t0, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1), "files": files, "argv": sys.argv[1:3],
        }
        write_json_atomic(tmp / PROVENANCE, prov)
        _fsync_dir(tmp)
        if final.exists():          # someone else finished it meanwhile: keep theirs
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
            _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def provenance(stage: str, h: str) -> dict:
    path = result_dir(stage, h) / PROVENANCE
    if not path.is_file():
        raise StoreError(f"result {stage}/{h} is missing or incomplete (no {PROVENANCE}); run the workflow to make it")
    return json.loads(path.read_text())


def verify_files(stage: str, h: str) -> dict:
    """Provenance of a result whose files all match their recorded sha256; StoreError otherwise."""
    prov = provenance(stage, h)
    d = result_dir(stage, h)
    for name, digest in prov["files"].items():
        p = d / name
        if not p.is_file():
            raise StoreError(f"result {stage}/{h}: file {name} is missing")
        if sha256_file(p) != digest:
            raise StoreError(f"result {stage}/{h}: file {name} does not match its recorded sha256 "
                             f"(modified after it was written); delete {d} and rerun")
    return prov


def read_json(stage: str, h: str, name: str, verify: bool = True) -> dict:
    if verify:
        verify_files(stage, h)
    return json.loads((result_dir(stage, h) / name).read_text())
