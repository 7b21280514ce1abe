"""Code identity per component (engine/identity.py): no component's code may change without a
version bump, versions enter hashes per component, and the digest sees every file reached."""
import json

import pytest

from engine import identity, registry
from engine.plan import build_plan

COMPONENTS = identity.components()


@pytest.mark.parametrize("cid", list(COMPONENTS))
def test_component_code_matches_its_recorded_fingerprint(cid):
    item = COMPONENTS[cid]
    rec = identity.recorded().get(cid)
    assert rec is not None, f"no fingerprint for {cid}: run `engine fingerprint --update`"
    assert rec["version"] == item.version, f"{cid}: version bumped to {item.version}; record it with " \
                                           f"`engine fingerprint --update`"
    assert rec["digest"] == identity.digest(item), (
        f"the code of {cid} changed: bump `version=` in {item.declared_in} so old results are recomputed, "
        f"then run `engine fingerprint --update`")


def test_update_refuses_a_change_without_bump(tmp_path, monkeypatch):
    fp = tmp_path / "fingerprints.json"
    monkeypatch.setattr(identity, "FINGERPRINTS", fp)
    assert identity.update_fingerprints() == []
    rec = identity.recorded()
    rec["algorithm:mixgrpo"]["digest"] = "0" * 16               # as if MixGRPO's code had changed since
    fp.write_text(json.dumps(rec))
    problems = identity.update_fingerprints()
    assert len(problems) == 1 and problems[0].startswith("algorithm:mixgrpo")
    assert identity.update_fingerprints(no_numeric_change=True) == []


def test_closure_follows_imports_inside_functions():
    """stages/evaluate.py imports the classifier loader inside a function: the digest sees it."""
    files = {str(p.relative_to(identity.ENGINE_DIR)) for _, p in identity.closure(("engine.stages.evaluate",))}
    assert "models/classifiers.py" in files and "evaluation.py" in files and "stages/common.py" in files
    assert "algorithms/mixgrpo.py" not in files            # looked up by name: a component of its own


def test_bumping_one_algorithm_rekeys_only_its_results(monkeypatch):
    before = build_plan("smoke")
    mix = registry.kind("algorithm", "mixgrpo")
    monkeypatch.setitem(registry._KINDS, ("algorithm", "mixgrpo"), type(mix)(**{**mix.__dict__, "version": 2}))
    after = build_plan("smoke")
    for key, roles in before.run_stages.items():
        run = next(r for s in before.specs for r in s.runs if (r.spec, r.index) == key)
        for role, h in roles.items():
            inst = before.instances[h]
            changed = after.run_stages[key][role] != h
            uses_mix = ("algorithm", "mixgrpo") in inst.uses
            assert changed == uses_mix, f"{run.spec} {role}: changed={changed} but uses mixgrpo={uses_mix}"
    assert any(("algorithm", "mixgrpo") in i.uses for i in before.instances.values())


def test_a_new_component_file_leaves_other_digests_unchanged(tmp_path):
    """Digests are closures over imports: a module nobody imports is in no digest."""
    every = {p for item in COMPONENTS.values() for _, p in identity.closure(identity.own_modules(item))}
    assert all(p.is_relative_to(identity.ENGINE_DIR) for p in every)
    assert not any(p.name == "cli.py" for p in every)
