"""A declarative experiment engine for diffusion-model alignment research."""
import os

__version__ = "0.1.0"

# OpenMP worker threads (torch's libgomp) that wait for work spin about 1,000 times, then sleep,
# instead of libgomp's default of hundreds of thousands of spins. Read when torch loads libgomp,
# so it is set before any torch import of the engine. Arithmetic is unchanged (bitwise); what it
# prevents: two 2-thread torch processes on 2 cores (two test workers, two Snakemake invocations,
# a shared cluster node) took 112 s each for a 3.4 s training loop, and take 5.2 s with it (alone:
# 3.6 s). README, "Benchmarks"; bench/contention.py measures it.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
