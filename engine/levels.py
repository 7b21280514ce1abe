"""Verification levels: what was checked behind each number a table or figure shows, derived from the
store, never written by hand (README, "Provenance, verification and determinism").

A stored result is at one of these levels, strongest first:

- v: re-verified bitwise by `engine verify` (its sealed record `.verified.json` in the result, kept by DVC,
  so the level travels with `dvc pull`);
- t: re-verified within a tolerance by `engine verify` (a metric's declared one, or `--tolerance`: the record
  names it);
- h: computed in this store: a run here wrote it (its run record, which DVC never carries, or the timings of
  a record from before run records);
- p: pulled from a DVC remote and hash-checked (`engine pull` checks every pulled result against its
  provenance and lists it in the local ledger `results/.pulled.json`, which DVC ignores), or stored without
  a run record (a plain `dvc pull`).

Whatever changes a level rewrites the outputs that show it: `engine pull` rewrites every table, figure and
index it has the results for, `engine verify` those that show the result it verified, and Snakemake the
outputs of what it computes; so a generated file always shows the levels of the store beside it, and
`engine verify --outputs` can compare bytes.

A number that a metric declares not deterministic (a wall time) is at level n whatever its result's
level: it can never be compared. A table cell is at the weakest level of the results behind it; a figure
likewise. Records are read back sealed (a digest over their fields and the result's hash): an edited or
foreign record is not trusted, and the result falls back to h or p.
"""
from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

from . import store
from .errors import StoreError
from .layout import RESULTS, result_dir

VERIFIED = store.VERIFICATION_RECORD
PULLED = ".pulled.json"
ORDER = ("p", "h", "t", "v")                 # weakest first; n stands apart
LEGEND = {"v": "re-verified bitwise by `engine verify`",
          "t": "re-verified within a stated tolerance by `engine verify`",
          "h": "computed in this store",
          "p": "pulled from a DVC remote and hash-checked",
          "n": "not deterministic by declaration (a timing): never compared"}
SYMBOLS = ("v", "t", "h", "p", "n")          # legend order


def _sealed(rec: dict) -> dict:
    return {**rec, store.RECORD_DIGEST: store.record_digest(rec)}


def _read_sealed(path: Path, h: str | None = None) -> dict | None:
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get(store.RECORD_DIGEST) != store.record_digest(rec):
        return None
    if h is not None and rec.get("hash") != h:
        return None
    return rec


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- records
def record_verification(stage: str, h: str, max_abs: float, tolerance: float, bitwise: bool) -> None:
    """Seal `engine verify`'s success into the result (level v when bitwise, else t)."""
    rec = _sealed({"hash": h, "stage": stage, "verified": _now(), "commit": _commit(), "bitwise": bool(bitwise),
                   "max_abs": float(max_abs), "tolerance": float(tolerance)})
    store.write_bytes_atomic(result_dir(stage, h) / VERIFIED, (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode())


def drop_verification(stage: str, h: str) -> None:
    """A failed re-verification withdraws an earlier one."""
    (result_dir(stage, h) / VERIFIED).unlink(missing_ok=True)


def verification(stage: str, h: str) -> dict | None:
    return _read_sealed(result_dir(stage, h) / VERIFIED, h)


def _pulled_path(results: Path = RESULTS) -> Path:
    return results / PULLED


def record_pulled(hashes: list[tuple[str, str]], results: Path = RESULTS) -> None:
    """Add (stage, hash) pairs that `engine pull` fetched and checked to the local ledger."""
    rec = _read_sealed(_pulled_path(results)) or {}
    entries = sorted(set(map(tuple, rec.get("results", []))) | {tuple(x) for x in hashes})
    out = _sealed({"results": [list(e) for e in entries]})
    store.write_bytes_atomic(_pulled_path(results), (json.dumps(out) + "\n").encode())


def pulled(results: Path = RESULTS) -> set[tuple[str, str]]:
    rec = _read_sealed(_pulled_path(results))
    return {tuple(x) for x in rec.get("results", [])} if rec else set()


# ----------------------------------------------------------------------------- levels
class Levels:
    """The level of stored results, each read once (one table or figure, or the index)."""

    def __init__(self):
        self._pulled = pulled()
        self._cache: dict[tuple[str, str], tuple[str, dict]] = {}

    def of(self, stage: str, h: str) -> tuple[str, dict]:
        """(level, detail): detail holds `verified` (a date) for v and t, `commit` and `started` for h."""
        key = (stage, h)
        if key not in self._cache:
            self._cache[key] = self._find(stage, h, key)
        return self._cache[key]

    def _find(self, stage: str, h: str, key) -> tuple[str, dict]:
        rec = verification(stage, h)
        if rec is not None:
            return ("v" if rec.get("bitwise") is True else "t"), rec
        if key in self._pulled:
            return "p", {}
        try:
            run = store.run_record(stage, h)
        except StoreError:              # an edited timing file: computed here, its details not trusted
            return "h", {}
        if not run:                     # no run record: it came through DVC
            return "p", {}
        commit = (store.provenance(stage, h).get("git") or {}).get("commit") or ""
        return "h", {"commit": commit, "started": run.get("started", "")}


def weakest(levels) -> str:
    """The weakest of some results' levels ("" for none); n (not deterministic) wins over all."""
    levels = set(levels)
    if "n" in levels:
        return "n"
    return min(levels, key=ORDER.index) if levels else ""


def legend(used: dict[str, list[dict]], sup=lambda s: f"<sup>{s}</sup>") -> str:
    """One line naming the levels present, with their commits and dates: used = level -> details."""
    parts = []
    for s in SYMBOLS:
        if s not in used:
            continue
        text = LEGEND[s]
        details = used[s]
        if s == "h":
            commits = sorted({d["commit"][:7] for d in details if d.get("commit")})
            dates = sorted({d["started"][:10] for d in details if d.get("started")})
            bits = []
            if commits:
                bits.append("commit " + ", ".join(commits[:3]) + (f" and {len(commits) - 3} more" if len(commits) > 3 else ""))
            if dates:
                bits.append(dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}")
            text += f" ({'; '.join(bits)})" if bits else ""
        elif s in ("v", "t"):
            dates = sorted({d["verified"][:10] for d in details if d.get("verified")})
            text += f" ({dates[0] if len(dates) == 1 else f'{dates[0]} to {dates[-1]}'})" if dates else ""
        parts.append(f"{sup(s)} {text}")
    return "Verification: " + " · ".join(parts) + "." if parts else ""


# ----------------------------------------------------------------------------- keeping outputs current
def rewrite_outputs(plan, changed: set[str] | None = None, log=print) -> int:
    """Rewrite the tables and figures of `plan` that show a result in `changed` (all when None) and whose
    results are all stored, then the index and review pages when every output could be written: after a
    level changed (a pull, a verification), so each file shows the levels of the store beside it. Returns
    the number of outputs rewritten."""
    from . import registry
    done, complete = 0, True
    for t in plan.targets.values():
        behind = plan.target_hashes(t)
        if not all((plan.instances[h].path / store.PROVENANCE).is_file() for h in behind):
            complete = False
            continue
        if changed is None or behind & changed:
            registry.implementation(registry.stage(t.kind)).run(plan, t, log)
            done += 1
    if complete and done:
        registry.implementation(registry.stage("index")).run(plan, None, log)
    return done
