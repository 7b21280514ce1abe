"""Editor support and versioning: the committed JSON Schema is current, every spec file
(as written, before `extends:` merging) validates against it and points to it, the schema
rejects what an editor should underline, and an outdated spec is told what changed."""
import json
import os

import jsonschema
import pytest

from engine.cli import main
from engine.spec import models as M
from engine.spec import versions
from engine.spec.schema import SCHEMA_FILE, schema_text, spec_json_schema
from engine.spec.yamlload import load_yaml

from .conftest import ROOT

SPEC_FILES = sorted((ROOT / "specs").rglob("*.yaml"))
MODELINE = "# yaml-language-server: $schema="


@pytest.fixture(scope="module")
def validator():
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_current():
    committed = (ROOT / SCHEMA_FILE).read_text()
    assert committed == schema_text(), f"{SCHEMA_FILE} is stale: run `make schema` (engine schema -o {SCHEMA_FILE})"


@pytest.mark.parametrize("path", SPEC_FILES, ids=[str(p.relative_to(ROOT / "specs")) for p in SPEC_FILES])
def test_every_spec_file_validates_and_points_to_the_schema(path, validator):
    first = path.read_text().splitlines()[0]
    assert first.startswith(MODELINE), f"{path.name}: first line must be '{MODELINE}<relative path>'"
    target = (path.parent / first[len(MODELINE):]).resolve()
    assert target == (ROOT / SCHEMA_FILE).resolve(), f"{path.name}: modeline points to {target}"
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(load_yaml(path).data)]
    assert errors == [], errors


def test_top_level_specs_carry_the_current_schema_version():
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        assert load_yaml(path).data.get("schema_version") == M.SCHEMA_VERSION, path.name


GOOD = {"schema_version": 1, "name": "x", "extends": "base/gaussian.yaml",
        "sampler": {"kind": "gddim", "steps": [10, 20], "stochasticity": 1.0},
        "algorithm": {"epochs": 5},            # partial: kind comes from the base
        "scales": {"smoke": {"seeds": [0]}, "default": {}},
        "outputs": {"tables": [{"name": "t", "rows": ["sampler.steps"], "metrics": ["gap"]}]}}


@pytest.mark.parametrize("edit, where", [
    ({"colour": "red"}, ""),                                                   # unknown top-level key
    ({"seed": 3}, ""),                                                         # `seed` is per run
    ({"sampler": {"kind": "gddim", "stepz": 10}}, "sampler"),                  # unknown nested key
    ({"sampler": {"kind": "heun"}}, "sampler"),                                # unknown kind
    ({"sampler": {"kind": "gddim", "steps": "ten"}}, "sampler"),               # wrong type
    ({"sampler": {"kind": "gddim", "stochasticity": [-1, 2]}}, "sampler"),     # out of range, in a sweep
    ({"sampler": {"kind": "gddim", "steps": []}}, "sampler"),                  # empty sweep
    ({"name": "Has Spaces"}, "name"),
    ({"scales": {"huge": {}}}, "scales"),
    ({"schema_version": M.SCHEMA_VERSION + 1}, "schema_version"),
    ({"outputs": {"tables": [{"name": "t", "rows": ["seed"]}]}}, "outputs.tables.0"),   # list items stay whole
])
def test_schema_rejects(edit, where, validator):
    assert list(validator.iter_errors(GOOD)) == []
    errors = list(validator.iter_errors({**GOOD, **edit}))
    assert errors, f"accepted {edit}"
    assert any(".".join(map(str, e.absolute_path)).startswith(where) for e in errors), [e.message for e in errors]


def test_every_version_has_a_changelog_entry():
    assert sorted(versions.CHANGES) == list(range(1, M.SCHEMA_VERSION + 1))


def test_outdated_spec_is_told_what_changed(tmp_path, monkeypatch, capsys):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "gaussian.yaml").write_text((ROOT / "specs" / "base" / "gaussian.yaml").read_text())
    spec = tmp_path / "old.yaml"
    spec.write_text((ROOT / "specs" / "gaussian_vp_gap.yaml").read_text().replace("name: gaussian_vp_gap", "name: old"))
    assert main(["validate", str(spec)]) == 0
    monkeypatch.setattr(M, "SCHEMA_VERSION", M.SCHEMA_VERSION + 1)
    monkeypatch.setitem(versions.CHANGES, M.SCHEMA_VERSION, "`sampler.steps` was renamed `sampler.num_steps`")
    capsys.readouterr()
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    line = 1 + spec.read_text().splitlines().index("schema_version: 1")
    assert f"old.yaml:{line}: schema_version: spec is written for schema version 1" in err, err
    assert "renamed `sampler.num_steps`" in err and f"schema_version: {M.SCHEMA_VERSION}" in err, err
    # without the field a spec is read as version 1, so it is outdated too
    spec.write_text(spec.read_text().replace("schema_version: 1\n", ""))
    assert main(["validate", str(spec)]) == 2
    assert "schema version 1;" in capsys.readouterr().err


def test_engine_schema_writes_the_file(tmp_path):
    out = tmp_path / "s.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["properties"]["sampler"]
    assert os.path.getsize(out) == len(schema_text().encode())
