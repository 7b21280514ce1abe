"""Progress bars for long stages (tqdm), written as whole lines so a rule's log file reads
top to bottom (`tail -f logs/finetune/<job>.log`): one line when the bar starts, at most one
every ENGINE_PROGRESS_SECONDS (default 10) while it runs, and one when it ends. Silent on
data-parallel ranks other than 0. Progress never changes a number.
"""
from __future__ import annotations

import os
import sys
import time

from . import distributed


class _Lines:
    """A stream for tqdm that turns its carriage-return refreshes into separate lines."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> None:
        s = s.replace("\r", "").rstrip("\n")
        if s.strip():
            self.stream.write(s + "\n")

    def flush(self) -> None:
        self.stream.flush()


def bar(total: int, desc: str, unit: str = "it", initial: int = 0):
    """A tqdm bar over `total` units on stderr (the rule's log), starting at `initial` (a resumed run)."""
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=_Lines(sys.stderr), ascii=True,
                ncols=100, mininterval=float(os.environ.get("ENGINE_PROGRESS_SECONDS", "10")),
                disable=not distributed.is_main())


class Log:
    """Progress lines with elapsed time, flushed at once (they go to the rule's log file).
    quiet: say nothing (data-parallel ranks other than 0)."""

    def __init__(self, prefix: str = "", quiet: bool = False):
        self.t0 = time.time()
        self.prefix = prefix
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        print(f"[{time.time() - self.t0:7.1f}s] {self.prefix}{msg}", file=sys.stderr, flush=True)
