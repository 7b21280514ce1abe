"""engine/plancache.py: the Snakefile's plan read back from build/plan/ only when nothing it is
made of changed, and equal to the plan built from the specs."""
import json
import os
import shutil

import pytest

from engine import plancache
from engine.plan import build_plan
from engine.plancache import light_plan

from .conftest import FIXTURE_SPECS


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(FIXTURE_SPECS / "base", tmp_path / "specs" / "base")
    for name in ("gaussian_vp_gap.yaml", "digits_ddpo_lambda.yaml"):
        shutil.copy2(FIXTURE_SPECS / name, tmp_path / "specs" / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cache_files(project):
    return sorted((project / "build" / "plan").glob("*.json"))


@pytest.mark.parametrize("scale", ["smoke", "default"])
def test_light_plan_is_the_plan(project, scale):
    from engine.launch import command, gpus
    full = build_plan(scale)
    for light in (light_plan(scale), light_plan(scale)):          # built, then read back
        assert set(light.jobs) == set(full.jobs)
        for jid, j in full.jobs.items():
            lj = light.jobs[jid]
            assert (lj.inputs, lj.hashes, lj.manifest, lj.threads, lj.mem_mb, lj.runtime_min, lj.launch, lj.gpus) == \
                (tuple(j.inputs), tuple(j.hashes), str(j.manifest), j.threads, j.mem_mb, j.runtime_min, command(j), gpus(j))
        assert {n: (t.key, t.files, t.inputs) for n, t in light.targets.items()} == \
            {n: (t.key, tuple(t.files), tuple(t.inputs)) for n, t in full.targets.items()}
        assert (light.index_key, light.index_file) == (full.index_key, full.index_file)
        assert light.all_files() == full.all_files()
        assert light.all_files("2510.10767") == full.all_files("2510.10767")
    assert len(cache_files(project)) == 1


def test_any_change_rebuilds_and_damage_is_never_used(project, monkeypatch):
    first = light_plan("smoke")
    (path,) = cache_files(project)
    spec = project / "specs" / "gaussian_vp_gap.yaml"
    spec.write_text(spec.read_text().replace("seeds: [0]", "seeds: [0, 1]"))
    edited = light_plan("smoke")
    assert edited.targets["gaussian_vp_gap_table"].key != first.targets["gaussian_vp_gap_table"].key
    assert edited.targets == build_plan_light("smoke").targets
    (path,) = cache_files(project)                            # one cache file per scale: the old one is gone
    data = json.loads(path.read_text())
    data["plan"]["targets"]["gaussian_vp_gap_table"]["key"] = "0" * 16
    path.write_text(json.dumps(data))                         # same cache key, forged content
    key = data["key"]
    data["key"] = "f" * 32
    assert light_plan("smoke").targets["gaussian_vp_gap_table"].key == "0" * 16   # the key is what is checked...
    path.write_text(json.dumps(data))                         # ...so a file naming another key is rebuilt
    assert light_plan("smoke").targets == edited.targets
    path.write_text("{ damaged")
    assert light_plan("smoke").targets == edited.targets
    assert json.loads(cache_files(project)[0].read_text())["key"] == key
    monkeypatch.setenv("ENGINE_MAX_RUNS", "3")                # a setting planning reads: another key
    assert plancache.cache_key("smoke", project / "specs") != key
    monkeypatch.delenv("ENGINE_MAX_RUNS")
    code = plancache.ENGINE_DIR / "plan.py"
    st = code.stat()
    try:
        os.utime(code, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))   # the engine's code changed
        assert plancache.cache_key("smoke", project / "specs") != key
    finally:
        os.utime(code, ns=(st.st_atime_ns, st.st_mtime_ns))


def build_plan_light(scale):
    return plancache._light(build_plan(scale))
