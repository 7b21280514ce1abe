"""Reading a `pairs_file` data set: JSON Lines of {"prompt", "chosen", "rejected"}, checked."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import EngineError
from ..store import sha256_file


def read(data: dict) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(training pairs, held-out pairs): the last `n_heldout` lines are held out."""
    path = Path(data["path"])
    if not path.is_file():
        raise EngineError(f"pairs file {path} not found (the paper scale reads pairs the user provides; README)")
    if data.get("sha256") and sha256_file(path) != data["sha256"]:
        raise EngineError(f"pairs file {path} does not match the sha256 its spec states")
    pairs = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pairs.append((str(row["prompt"]), str(row["chosen"]), str(row["rejected"])))
        except (ValueError, KeyError, TypeError) as e:
            raise EngineError(f"{path}:{i}: not a {{prompt, chosen, rejected}} object ({e})") from e
    n = data["n_heldout"]
    if len(pairs) <= n:
        raise EngineError(f"{path}: {len(pairs)} pairs, not more than the {n} held out")
    return pairs[:-n], pairs[-n:]
