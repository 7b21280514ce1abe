"""Sweeps, scales and content hashes."""
import json
import subprocess
import sys
import textwrap

import pytest

from engine.plan import build_plan

from .conftest import ROOT

BASE = """
name: {name}
data: {{kind: gaussian, dim: 2, mean: 0.0, std: 1.0}}
model:
  kind: gaussian_score
  process: {{kind: vp, beta_min: 0.1, beta_max: 20.0}}
sampler: {{kind: gddim, steps: [10, 20, 50], stochasticity: [1, 3]}}
algorithm: {{kind: ddpo, epochs: 5, batch_size: 32, lr: 0.01}}
reward: {{kind: quadratic, center: 2.0}}
evaluation: {{samples: 1000}}
resources: {{threads: 2}}
seeds: [0, 1]
scales:
  smoke: {{seeds: [0], sampler.steps: 10}}
  default: {{}}
outputs:
  tables:
    - {{name: t_{name}, caption: "a caption", rows: [sampler.stochasticity], columns: [sampler.steps], metrics: [gap]}}
"""


def write(tmp_path, text, name="s"):
    d = tmp_path / "specs"
    d.mkdir(exist_ok=True)
    (d / f"{name}.yaml").write_text(text)
    return d


def hashes(tmp_path, text, scale="default"):
    plan = build_plan(scale, write(tmp_path, text))
    return {(r.axes["sampler.steps"] if "sampler.steps" in r.axes else r.config.sampler.steps,
             r.axes["sampler.stochasticity"], r.config.seed): dict(plan.run_stages[(r.spec, r.index)])
            for r in plan.specs[0].runs}


def test_sweep_counts_and_scales(tmp_path):
    d = write(tmp_path, BASE.format(name="s"))
    assert len(build_plan("default", d).specs[0].runs) == 3 * 2 * 2
    smoke = build_plan("smoke", d)
    assert len(smoke.specs[0].runs) == 2
    assert build_plan("paper", d).specs == []            # spec does not support it
    assert {r.config.sampler.steps for r in smoke.specs[0].runs} == {10}


def test_repo_specs_plan():
    plan = build_plan("default", ROOT / "specs")
    assert {s.name for s in plan.specs} >= {"gaussian_vp_gap", "gaussian_ve_gap"}
    vp = next(s for s in plan.specs if s.name == "gaussian_vp_gap")
    assert len(vp.runs) == 4 * 3 * 4 * 3          # lambda x steps x beta x seeds (specs/base/gaussian.yaml)


def test_hash_stable_across_processes(tmp_path):
    text = BASE.format(name="s")
    here = hashes(tmp_path, text)
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT)!r})
        from engine.plan import build_plan
        p = build_plan("default", {str(tmp_path / 'specs')!r})
        print(json.dumps(sorted(h for v in p.run_stages.values() for h in v.values())))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"}).stdout
    assert json.loads(out) == sorted(h for v in here.values() for h in v.values())


EDITS_FINETUNE = [
    ("mean: 0.0", "mean: 0.5"), ("std: 1.0", "std: 2.0"), ("dim: 2", "dim: 3"), ("beta_max: 20.0", "beta_max: 10.0"),
    ("lr: 0.01", "lr: 0.02"), ("epochs: 5", "epochs: 6"), ("batch_size: 32", "batch_size: 64"),
    ("center: 2.0", "center: 1.0"), ("kind: quadratic,", "kind: quadratic, scale: 2.0,"),
    ("evaluation:", "curve: {every: 3}\nevaluation:"),
    ("beta_min: 0.1", "beta_min: 0.2"),
]


@pytest.mark.parametrize("old,new", EDITS_FINETUNE)
def test_hash_sensitive_to_training_fields(tmp_path, old, new):
    text = BASE.format(name="s")
    assert old in text
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = hashes(tmp_path / "a", text)
    b = hashes(tmp_path / "b", text.replace(old, new))
    for key in a:
        assert a[key]["finetune"] != b[key]["finetune"]
        assert a[key]["evaluate"] != b[key]["evaluate"]       # upstream changed


def test_seed_and_sweep_values_change_the_hash(tmp_path):
    h = hashes(tmp_path, BASE.format(name="s"))
    assert len({v["finetune"] for v in h.values()}) == len(h)


def test_evaluation_edit_changes_only_evaluate(tmp_path):
    text = BASE.format(name="s")
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = hashes(tmp_path / "a", text)
    b = hashes(tmp_path / "b", text.replace("samples: 1000", "samples: 2000"))
    for key in a:
        assert a[key]["finetune"] == b[key]["finetune"]
        assert a[key]["evaluate"] != b[key]["evaluate"]


@pytest.mark.parametrize("old,new", [
    ("resources: {threads: 2}", "resources: {threads: 1, mem_mb: 4000}"),
    ('caption: "a caption"', 'caption: "another caption"'),
    ("columns: [sampler.steps], metrics: [gap]", "columns: [sampler.steps], metrics: [gap, improvement]"),
    ("reward: {kind: quadratic, center: 2.0}", "reward: {center: 2.0, kind: quadratic}   # reordered"),
    ("seeds: [0, 1]", "# a comment\nseeds: [0, 1]"),
    ("sampler: {kind: gddim, steps: [10, 20, 50], stochasticity: [1, 3]}",
     "sampler:\n  stochasticity: [1, 3]\n  steps: [10, 20, 50]\n  kind: gddim"),
])
def test_hash_insensitive_to_layout_resources_captions_order_comments(tmp_path, old, new):
    text = BASE.format(name="s")
    assert old in text
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    assert hashes(tmp_path / "a", text) == hashes(tmp_path / "b", text.replace(old, new))


def test_specs_with_equal_stage_configs_share_results(tmp_path):
    d = write(tmp_path, BASE.format(name="one"), "one")
    write(tmp_path, BASE.format(name="two"), "two")
    plan = build_plan("default", d)
    one, two = plan.specs
    assert {plan.run_hash(r, "finetune") for r in one.runs} == {plan.run_hash(r, "finetune") for r in two.runs}
    assert len(plan.instances) == 2 * len(one.runs)
    assert len(plan.jobs) == 2          # one finetune + one evaluate job, shared


def test_output_names_must_be_unique_across_specs(tmp_path):
    from engine.errors import SpecError
    d = write(tmp_path, BASE.format(name="one"), "one")
    write(tmp_path, BASE.format(name="two").replace("t_two", "t_one"), "two")
    with pytest.raises(SpecError, match="also used by spec 'one'"):
        build_plan("default", d)
