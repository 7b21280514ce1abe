"""`engine gc`: lists, and with --yes removes, exactly the results no spec references at
any scale, with the space they take; a spec that does not validate stops it."""
import os
import re

from engine import store
from engine.cli import main

from .tinystore import GAUSSIAN, build_store, hashes_of


def test_gc_lists_then_removes_only_unreferenced_results(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path)
    seed1 = [h for h, inst in plan.instances.items() if inst.runs[0][1] == 1]     # both stages of run 1
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN.replace("seeds: [0, 1]", "seeds: [0]"))
    stale_job = tmp_path / "results" / "jobs" / "finetune" / "00000000000000ff.json"
    stale_job.parent.mkdir(parents=True)
    stale_job.write_text("{}")
    old_tmp = tmp_path / "results" / "evaluate" / ".tmp-0123-99"
    old_tmp.mkdir()
    (old_tmp / "metrics.json").write_bytes(b"x" * 1000)
    os.utime(old_tmp, (1e9, 1e9))
    fresh_tmp = tmp_path / "results" / "finetune" / ".tmp-4567-98"            # a job writing right now
    fresh_tmp.mkdir()
    expected = {f"results/{plan.instances[h].stage}/{h}" for h in seed1} | {
        "results/jobs/finetune/00000000000000ff.json", "results/evaluate/.tmp-0123-99"}
    size = sum(p.stat().st_size for e in expected for p in [tmp_path / e, *(tmp_path / e).rglob("*")]
               if p.is_file())

    capsys.readouterr()
    assert main(["gc"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert listed == expected, out
    assert "was for specs/tiny.yaml run 1" in out
    m = re.search(r"(\d+) entries no spec references, ([\d.]+) KiB", out)
    assert m and int(m.group(1)) == 4 and abs(float(m.group(2)) - size / 1024) < 0.06, out
    assert all((tmp_path / e).exists() for e in expected)                       # listing removes nothing

    assert main(["gc", "--yes"]) == 0
    assert "removed 4 entries" in capsys.readouterr().out
    assert not any((tmp_path / e).exists() for e in expected)
    assert fresh_tmp.is_dir()
    kept = [h for h in plan.instances if h not in seed1]
    assert all(store.is_complete(plan.instances[h].stage, h) for h in kept)
    assert main(["gc"]) == 0 and "nothing to collect" in capsys.readouterr().out


def test_gc_refuses_when_a_spec_is_invalid(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    plan = build_store(tmp_path)
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN.replace("steps: 10", "stepz: 10"))
    assert main(["gc", "--yes"]) == 2
    assert "unknown field 'stepz'" in capsys.readouterr().err
    assert all(store.is_complete("finetune", h) for h in hashes_of(plan, "finetune"))
