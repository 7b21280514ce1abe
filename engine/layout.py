"""Where things live and how they are named: result directories, job manifests, paper
outputs, and the content hashes that name them. No imports from the rest of the engine."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

RESULTS = Path("results")
HASH_LEN = 16


def content_hash(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LEN]


def instance_hash(stage: str, version: int, config: dict, upstream, components: dict | None = None) -> str:
    """The content hash of a stage instance (also recomputed to check a stored result).
    `components`: the non-baseline versions of the kinds it uses (identity.versions_in_hash);
    absent when all are at the baseline, so such hashes are those of before it existed."""
    payload = {"stage": stage, "version": version, "config": config, "upstream": list(upstream)}
    if components:
        payload["components"] = dict(components)
    return content_hash(payload)


def paper_dir(scale: str) -> Path:
    """Default-scale outputs live in paper/; other scales in paper/<scale>/."""
    return Path("paper") if scale == "default" else Path("paper") / scale


def result_dir(stage: str, h: str) -> Path:
    return RESULTS / stage / h


def manifest_path(stage: str, job_id: str) -> Path:
    return RESULTS / "jobs" / stage / f"{job_id}.json"


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def select_files(scale: str, papers: list[str], paper: str, index_file: str, targets, jobs) -> list[str]:
    """What `snakemake` builds: every output, the index, and every job's manifest (so a spec without
    outputs still runs); with `paper`, only that paper's outputs and jobs (no index: it lists every
    paper). targets: (paper, files) pairs; jobs: (paper, manifest) pairs. Snakemake's --config reads
    `paper=2503.11720` as the number 2503.1172, so an id is also matched by its numeric value."""
    if paper and paper not in papers:
        paper = next((p for p in papers if _same_number(p, paper)), paper)
    if paper and paper not in papers:
        from .errors import SpecError
        raise SpecError("<command line>", None, "paper", f"no spec of paper '{paper}' at scale {scale} "
                                                          f"(papers: {', '.join(papers) or 'none'})")
    files = [f for p, fs in targets if not paper or p == paper for f in fs]
    files += sorted(str(m) for p, m in jobs if not paper or p == paper)
    return files + [index_file] if targets and not paper else files
