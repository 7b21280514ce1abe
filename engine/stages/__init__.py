"""Stage kinds: what Snakemake rules call. Each is `<name>.py` (its `run`, may import torch)
beside `<name>_kind.py` (its registration: version, the metrics and series it writes). The
planner and the Snakefile read the registrations only (engine/registry.py);
`registry.implementation(registry.stage(name))` loads a stage's code."""
