"""Share results through DVC: the default remote, push, pull, and timestamps after a pull.

`dvc.yaml` has one stage that runs Snakemake and declares `results/` a persistent output:
DVC stores and moves what Snakemake computed, Snakemake decides what to compute. After a
pull the files carry checkout times in arbitrary order, while Snakemake judges outputs by
modification time; `touch_in_dag_order` restamps the workflow's outputs upstream first, so
`snakemake -n` plans nothing and deleting one table regenerates just that table.

The default remote is a local directory (DVC_REMOTE_DIR, else ../dvc-remote beside the
repository), written to .dvc/config.local (not committed), unless a shared S3 or SSH remote
is the default in the committed .dvc/config (README).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .errors import EngineError
from .layout import RESULTS, paper_dir
from .spec.models import SCALES
from .store import tree_size

LOCAL_REMOTE = "local"
REMOTE_ENV = "DVC_REMOTE_DIR"


def dvc(*args: str, capture: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """Run the dvc client of this Python (its Snakemake, too, comes first on PATH)."""
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}
    p = subprocess.run([sys.executable, "-m", "dvc", *args], env=env, text=True,
                       capture_output=capture)
    if check and p.returncode != 0:
        detail = f":\n{(p.stdout or '')[-2000:]}{(p.stderr or '')[-2000:]}" if capture else " (see above)"
        raise EngineError(f"`dvc {' '.join(args)}` failed with exit status {p.returncode}{detail}")
    return p


def default_remote(level: str | None = None) -> str | None:
    """The default remote's name, from one config level (project, local, ...) or all of them."""
    p = dvc("remote", "default", *([f"--{level}"] if level else []), capture=True, check=False)
    name = p.stdout.strip()
    return name if p.returncode == 0 and name else None


def ensure_remote(directory: str | Path | None = None) -> str:
    """Make sure a default remote exists; return a description of it.

    An explicit directory (argument or $DVC_REMOTE_DIR) becomes the default, in
    .dvc/config.local. Otherwise a default in the committed .dvc/config wins (a local
    default set earlier by this function is dropped), then any configured default, and
    only without one is ../dvc-remote set up."""
    directory = directory or os.environ.get(REMOTE_ENV)
    if not directory:
        project = default_remote("project")
        if project:
            if default_remote("local") == LOCAL_REMOTE:
                dvc("remote", "default", "--local", "--unset", capture=True)
            return f"remote '{project}' (.dvc/config)"
        name = default_remote()
        if name:
            return f"remote '{name}' (configured)"
        directory = Path.cwd().resolve().parent / "dvc-remote"
    directory = Path(directory).expanduser().resolve()     # `dvc push` creates it
    dvc("remote", "add", "--local", "--default", "--force", LOCAL_REMOTE, str(directory), capture=True)
    return f"remote '{LOCAL_REMOTE}' -> {directory}"


# ----------------------------------------------------------------------------- timestamps
def dag_order(root: Path | str = ".") -> list[list[Path]]:
    """The workflow's existing output files, grouped upstream first: the job manifests by the
    depth of their instances in the DAG (read from the results' provenance), then every scale's
    tables and figures, then indexes and review pages."""
    root = Path(root)
    depth: dict[Path, int] = {}

    def instance_depth(stage: str, h: str) -> int:
        d = root / RESULTS / stage / h
        if d not in depth:
            depth[d] = 0
            try:
                up = json.loads((d / "provenance.json").read_text())["upstream"]
            except (OSError, ValueError, KeyError, TypeError):
                up = []
            depth[d] = 1 + max((instance_depth(p.parent.name, p.name) for u in up
                                for p in (root / RESULTS).glob(f"*/{u}") if p.parent.name != "jobs"), default=-1)
        return depth[d]

    manifests: dict[int, list[Path]] = {}
    for m in sorted((root / RESULTS / "jobs").glob("*/*.json")):
        try:
            level = max((instance_depth(m.parent.name, h) for h in json.loads(m.read_text())["instances"]), default=0)
        except (OSError, ValueError, KeyError, TypeError):
            level = 0
        manifests.setdefault(level, []).append(m)
    groups = [manifests[k] for k in sorted(manifests)]
    papers = [root / paper_dir(s) for s in SCALES]
    groups.append(sorted(f for d in papers for sub in ("tables", "figures") for f in (d / sub).glob("*")
                         if f.is_file()))
    groups.append(sorted({f for d in papers for f in (d / "README.md", *d.glob("*/README.md")) if f.is_file()}))
    return groups                       # the last group: every index and the papers' review pages


def touch_in_dag_order(root: Path | str = ".", now: float | None = None) -> int:
    """Give each group a modification time one second after the previous one (all in the
    past), so every output is newer than its inputs. Returns the number of files stamped."""
    groups = dag_order(root)
    t0 = (time.time() if now is None else now) - len(groups) - 1
    for i, group in enumerate(groups):
        for f in group:
            os.utime(f, (t0 + i, t0 + i))
    return sum(map(len, groups))


# ----------------------------------------------------------------------------- push, pull
def paper_paths(paper: str, scale: str) -> list[str]:
    """The result directories and job manifests of one paper's specs at `scale`, upstream included."""
    from .plan import build_plan
    plan = build_plan(scale)
    files = plan.all_files(paper)              # refuses an unknown paper, naming the known ones
    names = {j.spec for j in plan.jobs.values() if str(j.manifest) in files}
    jobs = [j for j in plan.jobs.values() if str(j.manifest) in files or j.spec in names]
    needed = {h for j in jobs for h in j.hashes}
    todo = list(needed)
    while todo:                                 # upstream instances made by other specs' jobs
        for u in plan.instances[todo.pop()].upstream:
            if u not in needed:
                needed.add(u)
                todo.append(u)
    by_hash = {h: j for j in plan.jobs.values() for h in j.hashes}
    manifests = {str(by_hash[h].manifest) for h in needed}
    return sorted({str(plan.instances[h].path) for h in needed} | manifests)


def pull(log=print, paper: str = "", scale: str = "default") -> None:
    """dvc pull everything, or with `paper` only that paper's results (a granular pull inside
    results/); then check every pulled result against its provenance and restamp the outputs."""
    from .errors import StoreError
    from .store import quarantine, result_dirs, verify_files
    log(f"dvc: {ensure_remote()}")
    targets = paper_paths(paper, scale) if paper else []
    before = set(result_dirs())
    dvc("pull", *targets)
    results = [Path(t) for t in targets if not t.startswith(str(RESULTS / "jobs"))] or result_dirs()
    damaged = []
    for d in results:
        try:
            verify_files(d.parent.name, d.name)
        except StoreError as e:         # never leave a damaged download where the workflow would use it
            damaged.append(f"{e} -> moved to {quarantine(d.parent.name, d.name)}")
    from .levels import record_pulled, rewrite_outputs    # what arrived and checked out is at level p
    record_pulled([(d.parent.name, d.name) for d in results if d not in before and d.is_dir()])
    if damaged:
        raise StoreError(f"{len(damaged)} pulled results are damaged, quarantined; `snakemake` recomputes them "
                         f"(or pull from a good remote):\n  " + "\n  ".join(damaged))
    from .plan import build_plan
    rewritten = sum(rewrite_outputs(build_plan(s), None, lambda m: None) for s in SCALES)   # the pulled levels
    n = touch_in_dag_order()
    log(f"checked {len(results)} results against their provenance; rewrote {rewritten} outputs with their "
        f"verification levels; restamped {n} workflow outputs in DAG order; "
        f"`snakemake -n` should now plan nothing" + (f" for paper {paper}" if paper else ""))


def push(log=print, paper: str = "", scale: str = "default") -> None:
    """dvc repro (Snakemake, incremental) to update dvc.lock, then dvc push everything, or with
    `paper` only that paper's results."""
    log(f"dvc: {ensure_remote()}")
    dvc("repro")              # runs Snakemake only if specs/code/results changed; it skips stored results
    dvc("push", *(paper_paths(paper, scale) if paper else []))
    n, size = tree_size(RESULTS)
    log(f"pushed {RESULTS}/: {n} files, {size / 2**20:.1f} MiB")
    changed = subprocess.run(["git", "status", "--porcelain", "--", "dvc.lock"], capture_output=True, text=True)
    if changed.stdout.strip():
        log("dvc.lock changed: commit it (git add dvc.lock && git commit) so others can pull these results")
