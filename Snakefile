# The engine's workflow: specs/*.yaml -> plan -> jobs -> tables, figures, paper index.
#   snakemake --cores 2                         # default scale -> paper/
#   snakemake --cores 2 --config scale=smoke    # -> paper/smoke/
# The plan is built here at parse time (pydantic + yaml only, no torch), or read from its cache
# under build/plan/ when no spec, engine file or setting changed (engine/plancache.py). Rules are
# thin: they name outputs by content hash and call `engine run`.
import os
import sys

sys.path.insert(0, workflow.basedir)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

import engine.report.snake as REPORT_RULES
from engine.errors import EXIT_BAD_INPUT, SpecError, SpecErrors
from engine.plancache import light_plan
from engine.stamps import stamp
from engine.store import check_manifests

SCALE = str(config.get("scale", "default"))
try:
    PLAN = light_plan(SCALE)
    TARGETS = PLAN.all_files(str(config.get("paper", "")))
    # one more input per output: a stamp that is newer than the output when the output does not embed
    # its planned key, so a stale output reruns even when Snakemake would call it up to date (engine/stamps.py)
    STAMPS = {name: stamp(SCALE, name, t.key, t.files[0]) for name, t in PLAN.targets.items()}
    STAMPS["index"] = stamp(SCALE, "index", PLAN.index_key, PLAN.index_file)
    # a job manifest (done-marker) that is unsealed, edited or lists a result not stored is removed, so
    # its job runs again (engine/store.py: check_manifests)
    for _line in check_manifests(PLAN.jobs.values()):
        sys.stderr.write(f"warning: {_line}\n")
except (SpecError, SpecErrors) as _e:
    sys.stderr.write(f"{_e}\n")
    sys.exit(EXIT_BAD_INPUT)

# The interpreter of this virtual environment, for the rules' shell commands ($ENGINE_PYTHON): part of
# the environment, not a parameter, so moving the environment reruns nothing (README, "Layout").
os.environ["ENGINE_PYTHON"] = sys.executable


envvars:
    "ENGINE_PYTHON",


report: "rules/captions/workflow.rst"


wildcard_constraints:
    job="[0-9a-f]{16}",
    stage="[a-z0-9_]+",
    name="[a-z0-9_-]+",


localrules:
    all,


rule all:
    input:
        TARGETS,
    default_target: True


include: "rules/stage.smk"
include: "rules/paper.smk"
include: "rules/report.smk"
