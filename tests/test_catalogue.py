"""The algorithm catalogue (README, "Algorithm catalogue"): every registered algorithm kind places
itself in the survey 2409.11564's taxonomy through its `taxonomy` trait, `engine algorithms`
prints the table, and the README's copy of it cannot go stale (`--check` exits 1 when it differs)."""
import dataclasses

import pytest

from engine import registry
from engine.algorithms.preference_kind import BASES
from engine.cli import CATALOGUE_BEGIN, CATALOGUE_END, TAXONOMY_FIELDS, catalogue, catalogue_rows
from engine.errors import EngineError

from .conftest import ROOT, engine_cmd

README = ROOT / "README.md"


def test_every_algorithm_kind_has_a_complete_taxonomy():
    rows = catalogue_rows()
    assert {k.name for k, _, _ in rows} == {k.name for k in registry.kinds("algorithm")}
    for k, variant, tax in rows:
        where = f"{k.name} {variant}".strip()
        assert isinstance(tax.get("online"), bool), where
        for field in TAXONOMY_FIELDS[1:]:
            assert tax.get(field), f"{where}: no {field}"
        assert tax["policy"].startswith("on-policy" if tax["online"] else "off-policy"), where
        assert "§" in tax["section"] or "Table" in tax["section"], where     # a place in the survey
        assert all(":" in m for m in tax["modality"]), where                # "survey modality: what here"
    # the preference kind: one row per base loss it accepts, and the image route's modality on dpo only
    variants = {v: tax for k, v, tax in rows if k.name == "preference"}
    assert set(variants) == set(BASES) | {"rainbow"}
    assert [v for v, tax in variants.items() if any(m.startswith("vision") for m in tax["modality"])] == ["dpo"]
    assert all(any(m.startswith("text") for m in tax["modality"]) for tax in variants.values())
    assert "unpaired" in variants["kto"]["feedback"] and "pairwise" in variants["dpo"]["feedback"]


def test_readme_table_is_the_generated_one():
    text = README.read_text()
    begin, end = text.index(CATALOGUE_BEGIN) + len(CATALOGUE_BEGIN), text.index(CATALOGUE_END)
    assert text[begin:end].strip() == catalogue().strip(), \
        "README's algorithm table is stale: put the output of `engine algorithms` between its markers"


def test_command_prints_the_table_and_checks_the_readme(tmp_path):
    p = engine_cmd("algorithms", cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout == catalogue()
    assert p.stdout.count("\n") == 2 + len(catalogue_rows())
    p = engine_cmd("algorithms", "--check", str(README), cwd=ROOT)
    assert p.returncode == 0, p.stderr

    altered = tmp_path / "README.md"
    altered.write_text(README.read_text().replace("| online |", "| offline |", 1))
    p = engine_cmd("algorithms", "--check", str(altered), cwd=ROOT)
    assert p.returncode == 1 and "differs" in p.stderr, p.stderr
    altered.write_text(README.read_text().replace(CATALOGUE_END, ""))
    p = engine_cmd("algorithms", "--check", str(altered), cwd=ROOT)
    assert p.returncode == 1 and "markers" in p.stderr, p.stderr


def test_an_incomplete_taxonomy_is_refused(monkeypatch):
    k = registry.kind("algorithm", "ddpo")
    tax = {f: v for f, v in k.traits["taxonomy"].items() if f != "feedback"}
    monkeypatch.setitem(registry._KINDS, ("algorithm", "ddpo"),
                        dataclasses.replace(k, traits={**k.traits, "taxonomy": tax}))
    with pytest.raises(EngineError, match="ddpo .*lacks feedback"):
        catalogue()
