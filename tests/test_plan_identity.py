"""Every hash of the committed specs is the one they had before the plug-in refactor
(tests/fixtures/plan_hashes.json, recorded at 5cba3f6): runs' stage instances, jobs, output keys."""
import json
import shutil

import pytest

from engine.plan import build_plan, spec_files

from .conftest import ROOT

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "plan_hashes.json").read_text())


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("specs") / "specs"
    shutil.copytree(ROOT / "specs", d)
    return d


@pytest.mark.parametrize("scale", ["smoke", "default", "paper"])
def test_hashes_of_committed_specs_are_unchanged(spec_dir, scale):
    plan = build_plan(scale, files=spec_files(spec_dir))
    runs = {f"{spec}#{idx}": dict(sorted(roles.items())) for (spec, idx), roles in sorted(plan.run_stages.items())}
    want = FIXTURE[scale]
    assert runs == want["runs"]
    assert sorted(f"{j.stage}/{j.id}" for j in plan.jobs.values()) == want["jobs"]
    assert {n: t.key for n, t in plan.targets.items()} == want["targets"]
