"""Key stamps: outputs are regenerated when what they show changes, even when the file is there.

Every table, figure and index embeds the key it was made for (`engine-key KEY`: a comment in
Markdown and LaTeX, a PNG text chunk, a comment in the index). The key hashes what the output
shows (its spec entry, runs, stage version; for the index, every output key and every spec's
header and claims). At parse time the Snakefile gives each output rule one more input, a stamp
file under build/stamps/<scale>/ holding the planned key:

  - the output exists and embeds the planned key: the stamp is written with an old modification
    time (1 s after the epoch), so it never triggers a rerun;
  - otherwise (missing, older layout, other runs, edited claims): the stamp is written now, newer
    than the output, and Snakemake reruns the rule, and with it whatever results it is missing.

Without this, Snakemake treats an existing output as up to date whenever nothing upstream has to
run for it (asked for by name with its runs missing, a store pulled for other runs), and an edited
claim or title never reaches the index.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

STAMPS = Path("build") / "stamps"
MARK = "engine-key"
_PATTERN = re.compile(rb"engine-key[ :=]+([0-9a-f]{16})")
OLD = 1.0          # the modification time of a stamp that must not trigger (seconds after the epoch)


def mark(key: str) -> str:
    return f"{MARK} {key}"


def recorded_key(path: str | Path) -> str | None:
    """The key an output embeds (searched in its first 8 KiB), or None."""
    try:
        with open(path, "rb") as f:
            m = _PATTERN.search(f.read(8192))
    except OSError:
        return None
    return m.group(1).decode() if m else None


def stamp(scale: str, name: str, key: str, output: str | Path) -> str:
    """The stamp input of one output (see the module docstring); written only when it changes."""
    path = STAMPS / scale / name
    fresh = recorded_key(output) == key
    try:
        current = path.read_text()
    except OSError:
        current = None
    if current != key:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(key)
        os.replace(tmp, path)
    old = path.stat().st_mtime <= OLD
    if fresh and not old:
        os.utime(path, (OLD, OLD))   # never a reason to rerun an output that shows what it should
    elif not fresh and old:
        os.utime(path)               # newer than the output: Snakemake reruns it
    return str(path)
