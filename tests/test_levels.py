"""Verification levels (engine/levels.py) on a real two-run store: every cell starts computed here (h);
a result `engine pull` fetched is p; `engine verify` seals v into the result, which the cell then shows,
and a failed or edited record is not trusted; a timing is n; `engine verify --sample` re-verifies
random results and rewrites the outputs that show them."""
import json
from types import SimpleNamespace

from engine import levels, store
from engine.cli import main
from engine.registry import Metric
from engine.report import tables

from .tinystore import build_store


def cells(plan):
    (target,) = [t for t in plan.targets.values() if t.kind == "table"]
    data = tables.build(plan, target)
    return {row[0]: [c[3] for c in cs] for row, cs in zip(data["rows"], data["cells"])}, data["levels"], target


def test_levels_follow_the_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path)
    by_seed, used, _ = cells(plan)
    assert by_seed == {"0": ["h", "h"], "1": ["h", "h"]} and set(used["h"][0]) == {"commit", "started"}
    runs = {r.config.seed: plan.run_hash(r, "evaluate") for r in plan.specs[0].runs}
    levels.record_pulled([("evaluate", runs[1])])
    assert cells(plan)[0] == {"0": ["h", "h"], "1": ["p", "p"]}
    assert main(["verify", runs[0]]) == 0                       # bitwise: sealed into the result
    rec = levels.verification("evaluate", runs[0])
    assert rec["max_abs"] == 0.0 and rec["hash"] == runs[0]
    store.verify_files("evaluate", runs[0])                      # the record is not an unexpected file
    by_seed, used, _ = cells(plan)
    assert by_seed == {"0": ["v", "v"], "1": ["p", "p"]} and set(used) == {"v", "p"}
    path = store.result_dir("evaluate", runs[0]) / levels.VERIFIED
    edited = json.loads(path.read_text())
    edited["max_abs"] = 0.5                                       # an edited record is not trusted
    path.write_text(json.dumps(edited))
    assert cells(plan)[0]["0"] == ["h", "h"]
    levels.drop_verification("evaluate", runs[0])
    assert not path.exists()


def test_a_timing_is_never_compared_so_its_cells_are_n():
    run = SimpleNamespace(metrics={"seconds_per_epoch": ("finetune", Metric("seconds_per_epoch", determinism="none"))})
    assert tables._level(None, run, "seconds_per_epoch", None) == ("n", {})
    assert levels.weakest(["v", "h", "p"]) == "p" and levels.weakest(["v", "n"]) == "n" and levels.weakest([]) == ""


def test_verify_sample_reverifies_and_rewrites_the_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path)
    assert main(["run", "outputs", *[t.key for t in plan.targets.values()], "--scale", "smoke"]) == 0
    _, _, target = cells(plan)
    md = tmp_path / target.files[0]
    assert "<sup>v</sup>" not in md.read_text() and "<sup>h</sup>" in md.read_text()
    assert main(["verify", "--sample", "20", "--seed", "0", "--scale", "smoke"]) == 0    # every result behind it
    text = md.read_text()
    assert "<sup>h</sup>" not in text.split("Verification:")[0] and text.count("<sup>v</sup>") == 5   # 4 cells + legend
    assert "re-verified bitwise" in text


def test_each_paper_gets_a_review_page_with_changes_levels_claims_and_miniature(tmp_path, monkeypatch):
    import subprocess
    from engine.plan import build_plan
    monkeypatch.chdir(tmp_path)
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)   # noqa: E731
    plan = build_store(tmp_path)
    assert main(["run", "index", "--scale", "smoke"]) == 0
    page = (tmp_path / plan.review_files["tiny"]).read_text()
    assert "No release tag" in page                              # not a git checkout here
    assert "| h | computed in this store | 4 |" in page and "## Miniature vs paper" in page
    git("init", "-q", "-b", "main")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "start")
    git("add", "specs")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "spec")
    git("tag", "v0.1")
    spec = tmp_path / "specs" / "tiny.yaml"
    spec.write_text(spec.read_text().replace("seeds: [0, 1]", "seeds: [0]"))        # a run dropped since v0.1
    plan = build_plan("smoke", tmp_path / "specs")
    from engine.stages import index
    page = index.pages(plan)[plan.review_files["tiny"]]
    assert "`engine diff v0.1`" in page and "tiny (specs/tiny.yaml): changed, 2 → 1 runs" in page
    assert "-1 removed" in page and "| h | computed in this store | 2 |" in page
