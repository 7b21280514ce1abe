"""Every hash of the specs of 5cba3f6 (frozen in tests/fixtures/specs_5cba3f6/) is the one they had
before the plug-in refactor (tests/fixtures/plan_hashes.json, recorded at 5cba3f6): runs' stage
instances, jobs, output keys. The only exceptions are the instances whose kinds have had their
version bumped since (identity.versions_in_hash: a deliberate re-key, e.g. model:gaussian_score v2
when its training curve gained the distances to the KL optimum): those must get new hashes, and
everything downstream of them with them."""
import json

import pytest

from engine.plan import build_plan, spec_files

from .conftest import ROOT

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "plan_hashes.json").read_text())
SPECS = ROOT / "tests" / "fixtures" / "specs_5cba3f6"


@pytest.mark.parametrize("scale", ["smoke", "default", "paper"])
def test_hashes_of_the_specs_of_5cba3f6_are_unchanged_unless_a_version_was_bumped(scale):
    plan = build_plan(scale, files=spec_files(SPECS))
    want = FIXTURE[scale]
    runs = {f"{spec}#{idx}": dict(sorted(roles.items())) for (spec, idx), roles in sorted(plan.run_stages.items())}
    assert runs.keys() == want["runs"].keys()
    rekeyed = set()
    for run, roles in runs.items():
        for role, h in roles.items():
            bumped = plan.instances[h].components
            if bumped:
                assert h != want["runs"][run][role], (run, role, bumped)
                rekeyed.add(run.split("#")[0])
            else:
                assert h == want["runs"][run][role], (run, role)
    assert scale == "paper" or rekeyed == {"gaussian_vp_gap", "gaussian_ve_gap"}   # the bumps so far
    jobs = {f"{j.stage}/{j.id}": j.spec for j in plan.jobs.values()}
    same = {j for j, spec in jobs.items() if spec not in rekeyed}
    assert same <= set(want["jobs"])                       # jobs of untouched specs keep their ids
    assert not (set(jobs) - same) & set(want["jobs"])     # the re-keyed specs' jobs are all new
    assert len(jobs) == len(want["jobs"])
    targets = {n: t.key for n, t in plan.targets.items()}
    for name, key in targets.items():
        spec = plan.targets[name].spec.name if name != "index" else None
        if spec is None or spec in rekeyed or name == "index":
            assert key != want["targets"].get(name) or not rekeyed, name
        else:
            assert key == want["targets"][name], name
    assert targets.keys() == want["targets"].keys()
