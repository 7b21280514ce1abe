"""Defects of the issue "Trust nothing read back", each reproduced as the red-team pass found
it and kept as a regression test with its exact outcome (numbers: the issue's list)."""
import json
import os
import shutil
from pathlib import Path

import pytest

from engine import store
from engine.cli import main
from engine.errors import SpecError, StoreError
from engine.plan import build_plan

from .tinystore import GAUSSIAN, build_store, hashes_of


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return build_store(tmp_path)


def edit_provenance(stage, h, change) -> None:
    path = store.result_dir(stage, h) / store.PROVENANCE
    prov = json.loads(path.read_text())
    change(prov)
    path.write_text(json.dumps(prov))


def test_1_a_record_without_its_version_is_refused(tiny, capsys):
    """Removing `version` used to skip the config-hash check, so an edited config passed."""
    ft = hashes_of(tiny, "finetune")[0]

    def strip_and_edit(prov):
        del prov["version"]
        prov["config"]["reward"]["center"] = 20.0
    edit_provenance("finetune", ft, strip_and_edit)
    with pytest.raises(store.StoreError, match="lacks a valid version"):
        store.verify_files("finetune", ft)
    assert main(["show", ft]) == 1 and "lacks a valid version" in capsys.readouterr().err


def test_14_a_nested_provenance_file_is_an_extra_file(tiny):
    ft = hashes_of(tiny, "finetune")[0]
    sub = store.result_dir("finetune", ft) / "sub"
    sub.mkdir()
    (sub / store.PROVENANCE).write_text("{}")
    with pytest.raises(store.StoreError, match="file sub/provenance.json is not part of the recorded result"):
        store.verify_files("finetune", ft)


@pytest.mark.parametrize("damage", ["truncated", "files null", "not an object"])
def test_16_a_damaged_record_is_a_clear_error_not_a_traceback(tiny, damage, capsys):
    ft = hashes_of(tiny, "finetune")[0]
    path = store.result_dir("finetune", ft) / store.PROVENANCE
    text = path.read_text()
    path.write_text({"truncated": text[: len(text) // 2], "files null": json.dumps({**json.loads(text), "files": None}),
                     "not an object": "[1, 2]"}[damage])
    assert main(["show", ft]) == 1
    err = capsys.readouterr().err
    assert f"result finetune/{ft}:" in err and "delete" in err and "Traceback" not in err
    assert ("not readable JSON" if damage == "truncated" else "lacks a valid") in err


@pytest.mark.parametrize("suffix", [".yml", ".YAML", ".Yaml"])
def test_6_a_spec_under_another_suffix_is_refused_not_skipped(tmp_path, monkeypatch, suffix, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / f"tiny{suffix}").write_text(GAUSSIAN)
    with pytest.raises(SpecError, match=r"specs are read from \*\.yaml files only: rename it to tiny\.yaml"):
        build_plan("smoke")
    assert main(["plan", "--scale", "smoke"]) == 2
    assert f"specs/tiny{suffix}:1: <document>: specs are read from *.yaml" in capsys.readouterr().err


def test_6_gc_refuses_when_no_spec_is_found_or_most_results_would_go(tiny, tmp_path, capsys):
    results = sorted(p for p in (tmp_path / "results").glob("*/*") if p.parent.name != "jobs")
    (tmp_path / "specs" / "tiny.yaml").rename(tmp_path / "tiny.yaml.bak")
    assert main(["gc", "--yes"]) == 2
    assert "no spec found" in capsys.readouterr().err
    assert sorted(p for p in (tmp_path / "results").glob("*/*") if p.parent.name != "jobs") == results
    # a spec of another experiment: every stored result is unreferenced, more go than stay
    (tmp_path / "specs" / "other.yaml").write_text(GAUSSIAN.replace("name: tiny", "name: other")
                                                   .replace("center: 2.0", "center: 3.0").replace("tiny_table", "o"))
    assert main(["gc", "--yes"]) == 2
    assert "it would remove" in capsys.readouterr().err and all(p.exists() for p in results)
    assert main(["gc", "--yes", "--force"]) == 0
    assert not any(p.exists() for p in results)


def test_19_two_specs_with_one_name_are_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "tiny.yaml").write_text(GAUSSIAN.replace("center: 2.0", f"center: {len(d) + (d == 'b')}.0"))
    with pytest.raises(SpecError, match="spec name 'tiny' is also the name of a/tiny.yaml") as e:
        build_plan("smoke", files=[tmp_path / "a" / "tiny.yaml", tmp_path / "b" / "tiny.yaml"])
    assert e.value.file == "b/tiny.yaml" and e.value.line == 2


@pytest.mark.parametrize("value", ["²", "١٢", "0", "-3", "1e3"])
def test_23_engine_max_runs_must_be_an_ascii_positive_integer(tmp_path, monkeypatch, value, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN)
    monkeypatch.setenv("ENGINE_MAX_RUNS", value)
    assert main(["plan", "--scale", "smoke"]) == 2
    assert "ENGINE_MAX_RUNS: must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("arg", ["[0-9a-f]*", "*", "../x", "ABC"])
def test_24_engine_show_takes_a_hash_prefix_never_a_glob(tiny, arg, capsys):
    assert main(["show", arg]) == 1
    err = capsys.readouterr().err
    assert "is not a result hash or a prefix of one" in err and "Traceback" not in err


@pytest.mark.parametrize("char", ["\ufeff", "\u00a0", "\u200b", "\u202e"])
def test_21_invisible_characters_in_a_field_name_are_shown_escaped(tmp_path, monkeypatch, char, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN.replace("name: tiny\n", f"name: tiny\ntitle{char}: x\n", 1))
    assert main(["plan", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert f"title\\u{ord(char):04x}" in err and char not in err, err


def test_20_a_huge_value_is_not_echoed_in_full(tmp_path, monkeypatch, capsys):
    """A 900 KB value: the error is one short line (this also took hours before: the float
    pattern of the YAML loader backtracked quadratically on long digit runs)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN.replace("center: 2.0", "center: " + "7" * 900_000 + "x"))
    assert main(["plan", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1000 and err.startswith("specs/tiny.yaml:7: reward.center: must be a valid number"), err[:300]


def test_20_21_any_error_line_is_shown_short_and_visible():
    from engine.errors import SpecError
    line = SpecError("specs/x.yaml", 3, "title\ufeff", "v" * 5000 + " did you mean 'title'?").format()
    assert line.startswith("specs/x.yaml:3: title\\ufeff: vvv") and line.endswith("did you mean 'title'?")
    assert "characters left out" in line and len(line) < 1100


def test_3_a_flipped_bit_in_a_resume_checkpoint_is_never_resumed_from(tmp_path, monkeypatch):
    """Each checkpoint records the sha256 of its whole record; a damaged one is moved aside
    with a warning and the run starts from scratch (before: resumed from, stored as valid)."""
    import torch
    from types import SimpleNamespace
    from engine import checkpoint
    monkeypatch.setattr(checkpoint, "RESULTS", tmp_path / "results")
    torch.manual_seed(0)
    policy = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(policy.parameters(), lr=0.1)
    policy(torch.randn(4, 3)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(5)
    logs = []
    resume = checkpoint.Resume(SimpleNamespace(stage="finetune", hash="ab" * 8), every=1, log=logs.append)
    resume.maybe_save(1, 3, policy, opt, gen, {"k": 1})
    trained = policy.weight.detach().clone()

    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    assert resume.restore(fresh, fresh_opt, torch.Generator()) == (1, {"k": 1})
    assert torch.equal(fresh.weight, trained)

    data = bytearray(resume.path.read_bytes())
    data[-5] ^= 0x10                               # one bit of the last tensor's bytes
    resume.path.write_bytes(bytes(data))
    other = torch.nn.Linear(3, 2)
    before = other.weight.detach().clone()
    assert resume.restore(other, torch.optim.Adam(other.parameters(), lr=0.1), torch.Generator()) is None
    assert torch.equal(other.weight, before)                                   # nothing restored
    assert "does not match its recorded sha256" in logs[-1] and "starting from scratch" in logs[-1]
    assert not resume.path.exists() and resume.path.with_name("checkpoint.safetensors.damaged").is_file()


def test_4_engine_verify_never_touches_the_live_resume_area(tiny, tmp_path, capsys):
    """Before: verify read and wrote results/.resume/, so a second verify resumed from the first
    one's checkpoint and said REPRODUCED without recomputing."""
    from engine import checkpoint
    ft = hashes_of(tiny, "finetune")[0]
    live = checkpoint.resume_dir("finetune", ft) / checkpoint.FILE
    live.parent.mkdir(parents=True)
    live.write_bytes(b"a checkpoint a verify must not read")
    assert main(["verify", ft]) == 0
    captured = capsys.readouterr()
    assert "REPRODUCED" in captured.out and "NOT REPRODUCED" not in captured.out
    assert "checkpoint" not in captured.err                       # neither read nor written
    assert sorted(p.name for p in live.parent.iterdir()) == [checkpoint.FILE]
    assert live.read_bytes() == b"a checkpoint a verify must not read"


def test_12_a_trend_claim_on_an_axis_that_is_not_swept_is_refused(tmp_path, monkeypatch, capsys):
    """Before: it rendered "0/0 groups, does not hold"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    claim = ("claims:\n  - name: lam\n    text: more noise helps\n"
             "    check: {kind: trend, metric: gap, axis: sampler.stochasticity, direction: increasing}\n")
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN + claim)
    assert main(["plan", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "specs/tiny.yaml:" in err and "specs/tiny.yaml:17: claims.0.check.axis: 'sampler.stochasticity' takes 1 value (2.0)" in err
    assert "a trend check needs an axis swept over at least 2 values (swept axes: seed)" in err
    swept = GAUSSIAN.replace("stochasticity: 2}", "stochasticity: [1, 2]}") + claim
    (tmp_path / "specs" / "tiny.yaml").write_text(swept)
    assert main(["plan", "--scale", "smoke"]) == 0


@pytest.mark.parametrize("value, ok", [("true", False), ("1", True), ("1.0", True), ("2", False)])
def test_9_where_filters_are_typed_like_their_field(tmp_path, monkeypatch, value, ok, capsys):
    """Before: `where: {algorithm.kl_coef: true}` selected the runs with kl_coef = 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    spec = GAUSSIAN.replace("algorithm: {kind: ddpo,", "algorithm: {kind: ddpo, kl_coef: [0.0, 1.0],")
    spec = spec.replace("metrics: [gap, reward_ode]}]", f"metrics: [gap, reward_ode], where: {{algorithm.kl_coef: {value}}}}}]")
    (tmp_path / "specs" / "tiny.yaml").write_text(spec)
    assert main(["plan", "--scale", "smoke"]) == (0 if ok else 2)
    err = capsys.readouterr().err
    if not ok:
        assert "outputs.tables.0.where.algorithm.kl_coef: no run has algorithm.kl_coef =" in err, err
        assert ("true/false are not numbers" in err) == (value == "true"), err


@pytest.mark.parametrize("overlay", ["{algorithm.epochs: 2, algorithm: {kind: ddpo, epochs: 3, batch_size: 8}}",
                                     "{algorithm: {kind: ddpo, epochs: 3, batch_size: 8}, algorithm.epochs: 2}"])
def test_10_overlapping_overlay_paths_are_an_error(tmp_path, monkeypatch, overlay, capsys):
    """Before: whichever came last won, silently."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN.replace("scales: {smoke: {},", f"scales: {{smoke: {overlay},"))
    assert main(["plan", "--scale", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "specs/tiny.yaml:" in err and "overlaps" in err and "set each field once" in err, err


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_22_a_bad_byte_is_reported_on_its_line_whatever_the_line_breaks(tmp_path, monkeypatch, newline, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    lines = GAUSSIAN.splitlines()
    lines[4] = lines[4] + " # caf\xe9"            # line 5: a Latin-1 byte, not UTF-8
    (tmp_path / "specs" / "tiny.yaml").write_bytes(newline.join(lines).encode("latin-1"))
    assert main(["plan", "--scale", "smoke"]) == 2
    assert "specs/tiny.yaml:5: <document>: file is not valid UTF-8 (byte 0xe9" in capsys.readouterr().err


def test_18_a_failed_write_leaves_no_temporary_and_gc_collects_old_ones_under_paper(tiny, tmp_path, monkeypatch, capsys):
    target = tmp_path / "paper" / "smoke" / "tables" / "t.md"

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(store.os, "replace", full_disk)
        with pytest.raises(OSError):
            store.write_bytes_atomic(target, b"| a |")
    assert list(target.parent.iterdir()) == []                      # before: a .t.md.tmp-PID stayed
    stale = target.parent / ".t.md.tmp-4242"                         # a write killed an hour ago
    stale.write_bytes(b"")
    os.utime(stale, (1e9, 1e9))
    fresh = target.parent / ".u.md.tmp-4243"                         # maybe still being written
    fresh.write_bytes(b"")
    assert main(["gc"]) == 0
    out = capsys.readouterr().out
    assert ".t.md.tmp-4242" in out and "temporary file of a killed write" in out and ".u.md" not in out
    assert main(["gc", "--yes"]) == 0
    assert not stale.exists() and fresh.exists()


def test_2_a_damaged_result_is_quarantined_and_recomputed(tiny, tmp_path, capsys):
    """Before: a directory without provenance.json was never repaired (the recomputed result
    was thrown away because the directory existed); a tampered one now goes the same way."""
    ft, ev = hashes_of(tiny, "finetune")[0], hashes_of(tiny, "evaluate")[0]
    good = (store.result_dir("finetune", ft) / "metrics.json").read_bytes()
    (store.result_dir("finetune", ft) / store.PROVENANCE).unlink()
    assert main(["run", "finetune", ft, "--scale", "smoke"]) == 0
    assert "had no provenance.json; moved it to results/.quarantine/finetune/" in capsys.readouterr().err
    assert store.verify_files("finetune", ft) and (store.result_dir("finetune", ft) / "metrics.json").read_bytes() == good
    metrics = store.result_dir("evaluate", ev) / "metrics.json"
    metrics.write_text(metrics.read_text().replace("1", "2", 1))                  # tampered after it was written
    assert main(["run", "evaluate", ev, "--scale", "smoke"]) == 0
    err = capsys.readouterr().err
    assert "does not match its recorded sha256" in err and "recomputing" in err and "1 computed, 0 reused" in err
    assert store.verify_files("evaluate", ev)
    quarantined = sorted(p.parent.name for p in (tmp_path / "results" / ".quarantine").glob("*/*"))
    assert quarantined == ["evaluate", "finetune"]
    assert main(["gc"]) == 0 and ".quarantine" not in capsys.readouterr().out     # kept for an hour, to be seen
    for d in (tmp_path / "results" / ".quarantine").glob("*/*"):
        os.utime(d, (1e9, 1e9))
    assert main(["gc"]) == 0
    assert capsys.readouterr().out.count("a damaged result, moved aside") == 2


def test_2_a_damaged_upstream_fails_its_reader_and_is_planned_again(tiny, tmp_path, capsys):
    """The evaluate job finds its finetune result tampered with: it quarantines it, removes the
    manifest of the job that made it (so Snakemake plans that job again) and fails, naming it."""
    ft = hashes_of(tiny, "finetune")[0]
    ev = next(h for h in hashes_of(tiny, "evaluate") if ft in tiny.instances[h].upstream)
    jobs = tmp_path / "results" / "jobs" / "finetune"
    jobs.mkdir(parents=True)
    (jobs / "aaaa.json").write_text(json.dumps({"stage": "finetune", "instances": [ft]}))
    (jobs / "bbbb.json").write_text(json.dumps({"stage": "finetune", "instances": ["0" * 16]}))
    metrics = store.result_dir("finetune", ft) / "metrics.json"
    metrics.write_text(metrics.read_text().replace("1", "3", 1))
    shutil.rmtree(store.result_dir("evaluate", ev))
    assert main(["run", "evaluate", ev, "--scale", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "damaged upstream results, quarantined; rerun the workflow" in err and f"finetune/{ft}" in err
    assert not store.result_dir("evaluate", ev).exists() and not store.result_dir("finetune", ft).exists()
    assert sorted(p.name for p in jobs.iterdir()) == ["bbbb.json"]
    assert main(["run", "finetune", ft, "--scale", "smoke"]) == 0            # what the replanned job does
    assert main(["run", "evaluate", ev, "--scale", "smoke"]) == 0


def test_5_engine_pull_quarantines_what_does_not_check_out(tiny, tmp_path, monkeypatch):
    """Before: a corrupted remote object was checked out and `snakemake -n` planned nothing."""
    from engine import dvcsync
    monkeypatch.setattr(dvcsync, "ensure_remote", lambda: "a test remote")
    monkeypatch.setattr(dvcsync, "dvc", lambda *args: None)                # the objects are already "pulled"
    ft = hashes_of(tiny, "finetune")[0]
    (store.result_dir("finetune", ft) / "metrics.json").write_text("{}")
    with pytest.raises(store.StoreError, match="1 pulled results are damaged, quarantined"):
        dvcsync.pull(log=lambda m: None)
    assert not store.result_dir("finetune", ft).exists()
    assert len(list((tmp_path / "results" / ".quarantine" / "finetune").iterdir())) == 1
    dvcsync.pull(log=lambda m: None)                                       # the rest checks out


EVIL = ["![x](https://evil.example/p.png)", "[click](https://evil.example)", "<https://evil.example/a>",
        "| a | b |\n|---|---|\n| 1 | 2 |", "# heading", "\\[x](https://evil.example/b.png)", "<img src=x>"]


@pytest.mark.parametrize("evil", EVIL)
def test_13_free_text_never_becomes_an_image_a_link_a_table_or_a_heading(evil):
    """Rendered as the report renders Markdown (markdown-it, tables on): the text shows, as text."""
    from engine.report.escape import md_block, md_cell, md_inline
    from engine.report.html import markdown_to_html
    for escaped in (md_block(evil), md_inline(evil), "| " + md_cell(evil) + " | x |\n|---|---|\n"):
        html = markdown_to_html(escaped)
        for tag in ("<img", "<a ", "<h1", "<script"):
            assert tag not in html, (evil, escaped, html)
        assert html.count("<table") <= (1 if escaped.startswith("| ") else 0), html
    assert "evil.example" in markdown_to_html(md_inline(evil)) or "evil" not in evil


def test_13_spec_text_in_generated_markdown_stays_text(tiny, tmp_path):
    """Title, caption and claim text of a spec, through the index, a table and the claims table."""
    from engine.report.html import markdown_to_html
    evil = "![x](https://evil.example/p.png) | [l](https://evil.example)"
    spec = GAUSSIAN.replace("name: tiny\n", f"name: tiny\ntitle: \"{evil}\"\n", 1).replace(
        "rows: [seed],", f"caption: \"{evil}\", rows: [seed],")
    spec += ("claims:\n  - name: c\n    text: \"" + evil + "\"\n"
             "    check: {kind: compare, left: reward_ode, op: '>', right: reward_ode_pretrained}\n")
    build_store(tmp_path, spec)
    assert main(["run", "table", build_plan("smoke").targets["tiny_table"].key, "--scale", "smoke"]) == 0
    assert main(["run", "index", "--scale", "smoke"]) == 0
    for md in ("paper/smoke/tables/tiny_table.md", "paper/smoke/README.md"):
        text = (tmp_path / md).read_text()
        assert "evil.example" in text
        html = markdown_to_html(text)
        assert "<img" not in html and 'href="https://evil' not in html, (md, html)


@pytest.mark.parametrize("field, value", [("seed", 7), ("git", {"commit": "0" * 40}), ("run_config", {}),
                                          ("requested_by", []), ("wall_seconds", 0.0)])
def test_15_every_field_of_the_provenance_record_is_sealed(tiny, capsys, field, value):
    """Before: fields outside `config` (seed, git, run_config) could be edited undetected. Now the
    whole record carries a digest; an edit anywhere is refused, and a record without one (written
    before) is sealed by `engine upgrade-store` after its files verify."""
    ft = hashes_of(tiny, "finetune")[0]
    edit_provenance("finetune", ft, lambda p: p.__setitem__(field, value))
    with pytest.raises(StoreError, match="was edited after it was written"):
        store.verify_files("finetune", ft)


def test_15_upgrade_store_seals_old_records_whose_files_verify(tiny, capsys):
    ft_a, ft_b = hashes_of(tiny, "finetune")
    for h in (ft_a, ft_b):
        edit_provenance("finetune", h, lambda p: p.pop(store.RECORD_DIGEST))
    with pytest.raises(StoreError, match="run `engine upgrade-store` once"):
        store.verify_files("finetune", ft_a)
    (store.result_dir("finetune", ft_b) / "metrics.json").write_text("{}")          # damaged: never sealed
    assert main(["upgrade-store"]) == 0
    out, err = capsys.readouterr()
    assert "sealed 1 result records" in out and "1 failed their checks" in out and ft_b in err
    assert store.verify_files("finetune", ft_a)[store.RECORD_DIGEST]
    with pytest.raises(StoreError):
        store.verify_files("finetune", ft_b)


def test_engine_verify_outputs_regenerates_tables_figures_and_the_index_privately(tiny, capsys):
    """What to build 2: `engine verify --outputs` regenerates every output in a private folder and
    compares bytes, so an output left stale by a spec edit, or edited by hand, is named."""
    from engine.stages import index, table
    for t in tiny.targets.values():
        table.run(tiny, t, lambda m: None)
    index.run(tiny, None, lambda m: None)
    md = tiny.targets["tiny_table"].files[0]
    written = {p: p.stat().st_mtime_ns for p in Path("paper").rglob("*") if p.is_file()}
    assert main(["verify", "--outputs", "--scale", "smoke"]) == 0
    assert "4 of 4 generated files of scale smoke are exactly what" in capsys.readouterr().out   # with the review page
    assert {p: p.stat().st_mtime_ns for p in Path("paper").rglob("*") if p.is_file()} == written   # nothing written
    spec = Path("specs/tiny.yaml")
    spec.write_text(spec.read_text().replace("name: tiny_table,", "name: tiny_table, caption: a new caption,"))
    Path(md).write_text(Path(md).read_text())                                  # unchanged bytes, newer file
    assert main(["verify", "--outputs", "--scale", "smoke"]) == 1
    out = capsys.readouterr().out
    assert f"{md}: differs from what its spec and results give now" in out and "0 of 4 generated files" in out
    assert "tiny_table.tex: differs" in out and "README.md: differs" in out            # the caption shows in all three


STALE_SPEC = GAUSSIAN.replace("outputs:\n  tables: [{name: tiny_table, rows: [seed], metrics: [gap, reward_ode]}]\n", """\
title: Tiny
description: A tiny spec.
paper: tiny-paper
miniature: Smaller than the paper.
outputs:
  tables: [{name: tiny_table, caption: The table, rows: [seed], metrics: [gap, reward_ode]}]
  figures: [{name: tiny_curve, caption: The curve, x: epoch, y: gap}]
claims:
  - name: narrows
    text: The gap narrows
    check: {kind: curve_narrows, metric: gap, ratio: 0.75}
    min_effect: 0.0
    min_fraction: 0.75
""")
EDITS = [  # (what, old, new, outputs whose content key must change besides the index)
    ("title", "title: Tiny", "title: Tiny, edited", set()),
    ("description", "description: A tiny spec.", "description: Edited.", set()),
    ("paper", "paper: tiny-paper", "paper: other-paper", set()),
    ("miniature", "miniature: Smaller than the paper.", "miniature: Edited.", set()),
    ("table caption", "caption: The table", "caption: Edited table", {"tiny_table"}),
    ("figure caption", "caption: The curve", "caption: Edited curve", {"tiny_curve"}),
    ("claim text", "text: The gap narrows", "text: Edited claim", set()),
    ("claim parameter", "ratio: 0.75}", "ratio: 0.05}", set()),
    ("claim min_effect", "min_effect: 0.0", "min_effect: 0.5", set()),
    ("claim min_fraction", "min_fraction: 0.75", "min_fraction: 1.0", set()),
]


@pytest.mark.parametrize("what, old, new, changed", EDITS, ids=[e[0] for e in EDITS])
def test_every_shown_field_edit_regenerates_what_shows_it_and_never_training(tmp_path, what, old, new, changed):
    """What to build 2, tested field by field on the plan: an edit of a header field, a caption or a
    claim parameter changes the content key of the index (and of the output showing a caption), so
    Snakemake regenerates them; no stage instance's hash moves, so nothing is retrained; outputs
    that do not show the field keep their keys."""
    (tmp_path / "specs").mkdir()
    spec = tmp_path / "specs" / "tiny.yaml"
    spec.write_text(STALE_SPEC)
    before = build_plan("smoke", tmp_path / "specs")
    assert old in STALE_SPEC
    spec.write_text(STALE_SPEC.replace(old, new))
    after = build_plan("smoke", tmp_path / "specs")
    assert set(after.instances) == set(before.instances)                       # nothing recomputed
    assert after.index_key != before.index_key                                  # the index shows it
    moved = {n for n in before.targets if after.targets[n].key != before.targets[n].key}
    assert moved == changed, (what, moved)


def test_an_output_read_as_input_is_checked_first(tiny, tmp_path):
    """What to build 1, generated outputs where they are inputs: the report shows a table, figure or
    index only if it is byte for byte what its spec and results give now."""
    from engine.errors import EngineError
    from engine.report import items
    from engine.stages import index, table
    for t in tiny.targets.values():
        table.run(tiny, t, lambda m: None)
    index.run(tiny, None, lambda m: None)
    items.write(tiny, "table", "tiny_table", tmp_path / "ok.html")
    md = Path(tiny.targets["tiny_table"].files[0])
    md.write_text(md.read_text().replace("| 0 |", "| 7 |", 1))                 # a hand edit, key kept
    with pytest.raises(EngineError, match="tiny_table.md differs from what its spec and results give now"):
        items.write(tiny, "table", "tiny_table", tmp_path / "edited.html")
    Path(tiny.index_file).write_text(Path(tiny.index_file).read_text() + "\nappended\n")
    with pytest.raises(EngineError, match="README.md differs"):
        items.write(tiny, "index", "index", tmp_path / "index.html")


def test_job_manifests_are_sealed_and_checked_at_every_snakemake_start(tiny, capsys):
    """What to build 1, job manifests: a manifest (Snakemake's done-marker) that is edited, unsealed
    or lists a result no longer stored is removed when the Snakefile is parsed, so its job runs again."""
    job = next(j for j in tiny.jobs.values() if j.stage == "finetune")
    path = job.manifest
    path.parent.mkdir(parents=True, exist_ok=True)
    assert main(["run", "finetune", *job.hashes, "--scale", "smoke", "--manifest", str(path)]) == 0
    assert store.check_manifests(tiny.jobs.values()) == [] and path.is_file()
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "instances": record["instances"][:1]}))       # edited
    assert "not sealed, or edited after it was written" in store.check_manifests(tiny.jobs.values())[0]
    assert not path.exists()
    legacy = {k: v for k, v in record.items() if k != store.RECORD_DIGEST}
    path.write_text(json.dumps(legacy))                                                   # written before sealing
    os.utime(path, (1_000_000, 1_000_000))
    assert main(["upgrade-store"]) == 0
    assert path.stat().st_mtime == 1_000_000 and store.check_manifests(tiny.jobs.values()) == []
    shutil.rmtree(store.result_dir("finetune", job.hashes[0]))                             # a listed result is gone
    assert f"lists finetune/{job.hashes[0]}, which is not stored complete" in store.check_manifests(tiny.jobs.values())[0]
