"""Determinism: the same spec, scale and seed give bitwise-identical results in two runs on
CPU, and `engine verify` reruns one result and reports the largest difference.

FAMILIES lists one small spec per model family. The neural family (being added) appends its
smallest spec here; if one of its kernels cannot be deterministic, name it in
engine.verify.TOLERANCES and compare within that tolerance instead of bitwise.
"""
import hashlib
import json
import shutil

import pytest

from engine import store
from engine.cli import main
from engine.plan import RESULTS

from .tinystore import GAUSSIAN, build_store, hashes_of

FAMILIES = {"gaussian": GAUSSIAN}


def snapshot(root):
    """sha256 of every stored file except provenance.json (it holds the git state) and the run records
    (timings)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / RESULTS).rglob("*")) if p.is_file() and p.name not in (store.PROVENANCE, store.RUN_RECORD)
            and "jobs" not in p.parts}


@pytest.mark.parametrize("family", FAMILIES)
def test_same_spec_and_seed_give_bitwise_identical_results(family, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path, FAMILIES[family])
    first = snapshot(tmp_path)
    shutil.rmtree(tmp_path / RESULTS)
    build_store(tmp_path, FAMILIES[family])
    assert snapshot(tmp_path) == first
    # and the comparison can tell: another seed gives other numbers
    a, b = (json.loads((store.result_dir("evaluate", h) / "metrics.json").read_text())
            for h in hashes_of(plan, "evaluate"))
    assert a["reward_ode"] != b["reward_ode"]


def test_engine_verify_reports_the_largest_difference(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path)
    ft, ev = hashes_of(plan, "finetune")[0], hashes_of(plan, "evaluate")[0]
    capsys.readouterr()
    assert main(["verify", ft]) == 0
    out = capsys.readouterr().out
    assert "policy.safetensors       bitwise identical" in out
    assert f"finetune {ft}: largest absolute difference 0, tolerance 0: REPRODUCED" in out

    # a stored result made by other code: consistent hashes, other numbers
    d = store.result_dir("evaluate", ev)
    metrics = json.loads((d / "metrics.json").read_text())
    metrics["reward_ode"] += 0.25
    (d / "metrics.json").write_text(json.dumps(metrics))
    prov = json.loads((d / store.PROVENANCE).read_text())
    prov["files"]["metrics.json"] = store.sha256_file(d / "metrics.json")
    prov[store.RECORD_DIGEST] = store.record_digest(prov)                 # sealed anew, as its code would
    (d / store.PROVENANCE).write_text(json.dumps(prov))
    assert main(["verify", ev[:8]]) == 1
    out = capsys.readouterr().out
    assert "largest absolute difference 0.25 (metrics.json: reward_ode)" in out and "NOT REPRODUCED" in out
    assert main(["verify", ev, "--tolerance", "0.3"]) == 0
