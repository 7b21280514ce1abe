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

from . import identity, registry
from .errors import StoreError
from .layout import RESULTS, instance_hash, result_dir

PROVENANCE = "provenance.json"
# the volatile side of a run (start time, wall time, peak memory, host): next to the result, sealed
# like the provenance record, but outside the hashed payload: .dvcignore keeps it out of DVC, so a
# reproduction that gives the same files leaves results/ and dvc.lock unchanged
RUN_RECORD = ".run.json"
# `engine verify`'s sealed record of a successful re-verification (engine/levels.py): part of the result
# for DVC (its level travels with a pull), not of its recorded files
VERIFICATION_RECORD = ".verified.json"
VOLATILE = ("started", "wall_seconds", "peak_rss_mb", "host")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


RECORD_DIGEST = "record_sha256"


def record_digest(prov: dict) -> str:
    """sha256 of a provenance record's canonical JSON without its own digest field: it seals the
    whole record (seed, git, run_config, timings), not selected fields."""
    body = {k: v for k, v in prov.items() if k != RECORD_DIGEST}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()).hexdigest()


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
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:               # a full disk, a kill: leave no partial file behind
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def is_complete(stage: str, h: str) -> bool:
    return (result_dir(stage, h) / PROVENANCE).is_file()


QUARANTINE = RESULTS / ".quarantine"


def quarantine(stage: str, h: str) -> Path:
    """Move a damaged result directory aside, under results/.quarantine/<stage>/, and remove the
    manifests of the jobs that list it, so that Snakemake plans those jobs again and they
    recompute it; nothing damaged is used or deleted unseen. Returns where it went (`engine gc`
    lists it after an hour, like other leftovers)."""
    dst = QUARANTINE / stage / f"{h}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(result_dir(stage, h), dst)
    for manifest in sorted((RESULTS / "jobs" / stage).glob("*.json")):    # so Snakemake plans its job again
        try:
            listed = h in json.loads(manifest.read_text()).get("instances", [])
        except (OSError, ValueError, AttributeError):
            listed = True                               # an unreadable manifest proves nothing either
        if listed:
            manifest.unlink(missing_ok=True)
    return dst


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
    for name in ("engine", "torch", "numpy", "pydantic", "diffusers", "transformers", "safetensors", "snakemake"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _torch_state() -> dict:
    torch = sys.modules.get("torch")          # never imported here: the planner must not need it
    if torch is None:
        return {}
    return {"deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "threads": torch.get_num_threads()}
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


_NOTES: dict = {}


def note(key: str, value) -> None:
    """Add a JSON entry to the provenance of the result being written in this process (e.g. that it
    resumed from a checkpoint written by another number of processes: engine/checkpoint.py)."""
    _NOTES[key] = value


@contextlib.contextmanager
def writing(instance, requested_by: list | None = None, run_config: dict | None = None):
    """Yield a temporary directory; on success it becomes results/<stage>/<hash>/ atomically.

    `requested_by`: the runs that need it ({spec, file, run, axes}); `run_config`: the full
    resolved config of the first of them (the instance's own `config` is its hashed slice).
    Under torchrun only process 0 stores the result; the others write into a scratch directory."""
    if os.environ.get("RANK", "0") != "0":
        import tempfile
        with tempfile.TemporaryDirectory() as scratch:
            yield Path(scratch)
        return
    final = result_dir(instance.stage, instance.hash)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(final)
    tmp = final.parent / f".tmp-{instance.hash}-{_HOST}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    t0 = time.time()
    _NOTES.clear()
    try:
        yield tmp
        files = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
                files[str(p.relative_to(tmp))] = sha256_file(p)
        prov = {
            "stage": instance.stage, "hash": instance.hash, "version": registry.stage(instance.stage).version,
            "components": dict(getattr(instance, "components", {})), "uses": [list(u) for u in instance.uses],
            "code_digest": identity.instance_digest(instance.stage, instance.uses), "config": instance.config,
            "upstream": list(instance.upstream), "roles": list(getattr(instance, "roles", ())),
            "requested_by": requested_by or instance.runs,
            "run_config": run_config, "git": git_state(), "packages": package_versions(),
            "torch": _torch_state(),
            "seed": instance.config.get("seed", (run_config or {}).get("seed")),
            "files": files, "argv": sys.argv[1:3],
            **({"notes": dict(_NOTES)} if _NOTES else {}),
        }
        prov[RECORD_DIGEST] = record_digest(prov)
        write_json_atomic(tmp / PROVENANCE, prov)
        run = {"hash": instance.hash, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
               "wall_seconds": round(time.time() - t0, 3), "peak_rss_mb": round(peak_rss_mb(), 1),
               "host": platform.node()}
        write_json_atomic(tmp / RUN_RECORD, {**run, RECORD_DIGEST: record_digest(run)})
        _fsync_dir(tmp)
        if final.exists() and not (final / PROVENANCE).is_file():    # a damaged leftover: never keep it
            moved = quarantine(instance.stage, instance.hash)
            print(f"warning: {final} had no {PROVENANCE}; moved it to {moved}", file=sys.stderr)
        if final.exists():          # someone else finished it meanwhile: keep theirs
            shutil.rmtree(tmp)
        else:
            os.rename(tmp, final)
            _fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(path: Path, record: dict) -> None:
    """A job manifest (Snakemake's done-marker of a job), sealed like a provenance record."""
    write_json_atomic(path, {**record, RECORD_DIGEST: record_digest(record)})


def manifest_problem(path: Path, stage: str, hashes) -> str | None:
    """Why a job manifest cannot be trusted (None when it can): unreadable, not sealed or edited,
    listing other instances than the job's, or listing a result that is not stored complete."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        return f"unreadable ({e.__class__.__name__})"
    if not isinstance(record, dict) or record.get(RECORD_DIGEST) != record_digest(record):
        return "not sealed, or edited after it was written"
    if record.get("stage") != stage or sorted(record.get("instances") or []) != sorted(hashes):
        return "lists other instances than its job's"
    gone = [h for h in hashes if not is_complete(stage, h)]
    return f"lists {stage}/{gone[0]}, which is not stored complete" if gone else None


def check_manifests(jobs) -> list[str]:
    """Remove every job manifest that cannot be trusted (`manifest_problem`), so that Snakemake plans
    its job again (which reuses the stored results that verify and recomputes the others). Cheap:
    reads the small manifests and checks that each listed result has its provenance record; the
    results themselves are verified by their readers. Returns what it removed and why."""
    removed = []
    for job in jobs:
        path = Path(job.manifest)
        if path.is_file() and (why := manifest_problem(path, job.stage, job.hashes)):
            path.unlink(missing_ok=True)
            removed.append(f"{path}: {why}; removed, so its job runs again")
    return removed


def seal_records(results: Path = RESULTS) -> tuple[int, int, list[str]]:
    """Add the record digest to every stored result written before records were sealed, after
    checking its files and config hash (a result that fails is left as it is, and named), and to
    every job manifest. Returns (sealed now, already sealed, failures)."""
    done = already = 0
    failed = []
    for d in result_dirs(results):
        stage, h = d.parent.name, d.name
        try:
            prov = verify_files(stage, h, sealed=False)
        except StoreError as e:
            failed.append(str(e))
            continue
        if RECORD_DIGEST in prov:
            already += 1
            continue
        prov[RECORD_DIGEST] = record_digest(prov)
        write_json_atomic(d / PROVENANCE, prov)
        done += 1
    for m in sorted((results / "jobs").glob("*/*.json")):        # job manifests written before sealing
        try:
            record = json.loads(m.read_text())
        except (OSError, ValueError):
            continue                                              # the Snakefile removes it
        if isinstance(record, dict) and RECORD_DIGEST not in record:
            times = m.stat()
            write_manifest(m, record)
            os.utime(m, ns=(times.st_atime_ns, times.st_mtime_ns))   # a done-marker's time is Snakemake's
            done += 1
    return done, already, failed


def tree_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under a directory (a file: 1 and its size)."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def result_dirs(results: Path = RESULTS) -> list[Path]:
    """Every stored result directory, results/<stage>/<hash>: not the job manifests, the resume
    area, the quarantine or temporary directories."""
    return [d for d in sorted(results.glob("*/*")) if d.is_dir() and d.parent.name != "jobs"
            and not d.parent.name.startswith(".") and not d.name.startswith(".")]


def find(prefix: str) -> tuple[str, str]:
    """(stage, hash) of the one stored result whose hash starts with `prefix`."""
    if not prefix or not set(prefix) <= set("0123456789abcdef"):
        raise StoreError(f"{prefix!r} is not a result hash or a prefix of one (lower-case hex digits)")
    hits = [d for d in result_dirs() if d.name.startswith(prefix)]
    if not hits:
        raise StoreError(f"no result {prefix} under {RESULTS}/")
    if len(hits) > 1:
        raise StoreError(f"{prefix} is ambiguous: " + ", ".join(str(h) for h in hits))
    return hits[0].parent.name, hits[0].name


def provenance(stage: str, h: str, sealed: bool = True) -> dict:
    """A result's provenance record, checked whole against its digest (`sealed=False`: the other
    checks only, for `engine upgrade-store` sealing records of results written before digests)."""
    path = result_dir(stage, h) / PROVENANCE
    if not path.is_file():
        raise StoreError(f"result {stage}/{h} is missing or incomplete (no {PROVENANCE}); run the workflow to make it")
    try:
        prov = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"result {stage}/{h}: {path} is not readable JSON ({e}); delete {path.parent} and rerun "
                         f"the workflow (or `engine pull` a good copy)") from None
    missing = [k for k, kind in (("version", int), ("config", dict), ("upstream", list), ("files", dict))
               if not isinstance(prov.get(k) if isinstance(prov, dict) else None, kind)]
    if missing:
        raise StoreError(f"result {stage}/{h}: {path} lacks a valid {', '.join(missing)} (damaged or edited); "
                         f"delete {path.parent} and rerun the workflow (or `engine pull` a good copy)")
    if sealed and RECORD_DIGEST not in prov:
        raise StoreError(f"result {stage}/{h}: {path} carries no record digest (written before records were sealed); "
                         f"run `engine upgrade-store` once, which seals every result whose files verify")
    if sealed and prov[RECORD_DIGEST] != record_digest(prov):
        raise StoreError(f"result {stage}/{h}: {path} was edited after it was written (its record digest does not "
                         f"match); delete {path.parent} and rerun the workflow (or `engine pull` a good copy)")
    return prov


def verify_files(stage: str, h: str, sealed: bool = True) -> dict:
    """Provenance of an untouched result: a whole record matching its digest, exactly its recorded
    files, each matching its sha256, and a recorded config that hashes to the directory's name.
    StoreError otherwise."""
    prov = provenance(stage, h, sealed)
    d = result_dir(stage, h)
    advice = f"delete {d} and rerun the workflow (or `engine pull` a good copy)"
    recomputed = instance_hash(stage, prov["version"], prov["config"], prov["upstream"], prov.get("components"))
    if recomputed != h or prov.get("hash") != h:
        raise StoreError(f"result {stage}/{h}: {PROVENANCE} does not describe this result (its config hashes "
                         f"to {recomputed}); {advice}")
    for name, digest in prov["files"].items():
        p = d / name
        if not p.is_file():
            raise StoreError(f"result {stage}/{h}: file {name} is missing; {advice}")
        if sha256_file(p) != digest:
            raise StoreError(f"result {stage}/{h}: file {name} does not match its recorded sha256 "
                             f"(modified after it was written); {advice}")
    extra = sorted(str(p.relative_to(d)) for p in d.rglob("*")                  # sub/provenance.json counts
                   if p.is_file() and str(p.relative_to(d)) not in (PROVENANCE, RUN_RECORD, VERIFICATION_RECORD, *prov["files"]))
    if extra:
        raise StoreError(f"result {stage}/{h}: file {extra[0]} is not part of the recorded result; {advice}")
    return prov


def run_record(stage: str, h: str) -> dict:
    """The volatile side of a stored run (started, wall_seconds, peak_rss_mb, host): its run record,
    checked against its digest and its result's hash, or the same fields of a provenance record
    written before run records; {} when neither has them (a result pulled through DVC, which does not
    carry run records). StoreError when the run record was edited or belongs to another result."""
    path = result_dir(stage, h) / RUN_RECORD
    if path.is_file():
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise StoreError(f"result {stage}/{h}: {RUN_RECORD} is unreadable ({type(e).__name__})") from e
        if not isinstance(rec, dict) or rec.get(RECORD_DIGEST) != record_digest(rec) or rec.get("hash") != h:
            raise StoreError(f"result {stage}/{h}: {RUN_RECORD} was edited after it was written, or belongs to "
                             f"another result; delete it (it holds timings only)")
        return {k: rec[k] for k in VOLATILE if k in rec}
    prov = provenance(stage, h)
    return {k: prov[k] for k in VOLATILE if k in prov}


def read_json(stage: str, h: str, name: str, verify: bool = True) -> dict:
    if verify:
        verify_files(stage, h)
    return json.loads((result_dir(stage, h) / name).read_text())
