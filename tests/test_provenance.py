"""provenance.json next to every result, and the refusal of a result whose files do not
match it: by `engine show`, `engine verify` and the stages that read it."""
import json
import subprocess

import pytest

from engine import store
from engine.cli import main

from .tinystore import GAUSSIAN, build_store, hashes_of


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "tiny.yaml").write_text(GAUSSIAN)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "specs"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "spec"],
                   cwd=tmp_path, check=True)
    store.git_state.cache_clear()
    yield build_store(tmp_path, GAUSSIAN + "# an uncommitted comment: same hashes, a dirty tree\n")
    store.git_state.cache_clear()


def test_provenance_records_what_made_the_result(tiny, tmp_path):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    ft, ev = hashes_of(tiny, "finetune")[0], hashes_of(tiny, "evaluate")[0]
    prov = store.verify_files("finetune", ft)
    assert prov["hash"] == ft and prov["stage"] == "finetune" and prov["version"] >= 1
    assert prov["config"]["algorithm"]["epochs"] == 4                     # the resolved, hashed slice
    assert prov["run_config"]["evaluation"]["samples"] == 2000            # the whole resolved run
    assert prov["seed"] in (0, 1) and prov["seed"] == prov["config"]["seed"]
    assert prov["requested_by"][0]["file"] == "specs/tiny.yaml" and "seed" in prov["requested_by"][0]["axes"]
    assert prov["git"]["commit"] == head and prov["git"]["dirty"] is True
    assert {"python", "torch", "numpy", "pydantic"} <= set(prov["packages"])
    assert prov["torch"]["deterministic_algorithms"] is True
    assert not set(store.VOLATILE) & set(prov)                            # timings: the run record
    run = store.run_record("finetune", ft)
    assert run["wall_seconds"] > 0 and run["peak_rss_mb"] > 0 and run["host"] and run["started"]
    assert set(prov["files"]) == {"policy.safetensors", "curve.json", "metrics.json"}
    assert store.verify_files("evaluate", ev)["upstream"] == [tiny.instances[ev].upstream[0]]


def tamper(stage, h, name="metrics.json"):
    p = store.result_dir(stage, h) / name
    data = json.loads(p.read_text())
    data["gap"] = data["gap"] + 1.0
    p.write_text(json.dumps(data))


def refused(capsys, argv, *expected):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    for text in expected:
        assert text in err, err


def test_show_and_verify_refuse_a_modified_result(tiny, capsys):
    ev = hashes_of(tiny, "evaluate")[0]
    assert main(["show", ev]) == 0
    tamper("evaluate", ev)
    msg = f"result evaluate/{ev}: file metrics.json does not match its recorded sha256"
    refused(capsys, ["show", ev], msg, "delete results/evaluate/")
    refused(capsys, ["verify", ev], msg)


def test_table_stage_refuses_a_modified_result(tiny, capsys):
    tamper("evaluate", hashes_of(tiny, "evaluate")[1])
    key = tiny.targets["tiny_table"].key
    refused(capsys, ["run", "table", key, "--scale", "smoke"], "metrics.json does not match its recorded sha256")


def test_evaluate_stage_refuses_a_modified_checkpoint(tiny, capsys):
    ev = hashes_of(tiny, "evaluate")[0]
    ft = tiny.instances[ev].upstream[0]
    ckpt = store.result_dir("finetune", ft) / "policy.safetensors"
    raw = bytearray(ckpt.read_bytes())
    raw[-1] ^= 1                                                       # one flipped bit of one weight
    ckpt.write_bytes(bytes(raw))
    subprocess.run(["rm", "-r", str(store.result_dir("evaluate", ev))], check=True)
    refused(capsys, ["run", "evaluate", ev, "--scale", "smoke"],
            f"result finetune/{ft}: file policy.safetensors does not match its recorded sha256")


def test_extra_files_and_edited_provenance_are_refused(tiny, capsys):
    ft_a, ft_b = hashes_of(tiny, "finetune")
    (store.result_dir("finetune", ft_a) / "notes.txt").write_text("hello")
    refused(capsys, ["show", ft_a], "file notes.txt is not part of the recorded result")
    prov_path = store.result_dir("finetune", ft_b) / store.PROVENANCE
    prov = json.loads(prov_path.read_text())
    prov["config"]["algorithm"]["lr"] = 0.5                             # claims another config
    prov_path.write_text(json.dumps(prov))
    refused(capsys, ["show", ft_b], "provenance.json was edited after it was written")
    prov[store.RECORD_DIGEST] = store.record_digest(prov)               # resealed: the config hash still refuses it
    prov_path.write_text(json.dumps(prov))
    refused(capsys, ["show", ft_b], "provenance.json does not describe this result")


def test_the_run_record_is_sealed_and_belongs_to_its_result(tiny, capsys):
    """Timings live in .run.json beside the result (out of DVC's hashes, .dvcignore); it is sealed like
    the provenance record: an edited one, or one copied from another result, is refused."""
    ft, ev = hashes_of(tiny, "finetune")[0], hashes_of(tiny, "evaluate")[0]
    assert main(["show", ft]) == 0 and "wall " in capsys.readouterr().out
    path = store.result_dir("finetune", ft) / store.RUN_RECORD
    rec = json.loads(path.read_text())
    path.write_text(json.dumps({**rec, "wall_seconds": 0.001}))
    with pytest.raises(store.StoreError, match="was edited after it was written"):
        store.run_record("finetune", ft)
    path.write_text((store.result_dir("evaluate", ev) / store.RUN_RECORD).read_text())   # another result's
    with pytest.raises(store.StoreError, match="belongs to another result"):
        store.run_record("finetune", ft)
    path.unlink()                                                          # as after a DVC pull
    assert store.run_record("finetune", ft) == {}
    assert main(["show", ft]) == 0 and "no run record" in capsys.readouterr().out


@pytest.mark.slow(20)
def test_a_second_reproduction_changes_nothing_dvc_sees(tmp_path, monkeypatch):
    """Reproduce a spec from scratch twice: the second leaves `dvc status` clean and dvc.lock as it was
    (timings, hosts and start times are in the run records, which .dvcignore keeps out)."""
    import shutil
    from .conftest import ROOT
    monkeypatch.chdir(tmp_path)
    dvc = lambda *a: subprocess.run([str(ROOT / ".venv" / "bin" / "dvc"), *a], cwd=tmp_path, check=True,   # noqa: E731
                                    capture_output=True, text=True).stdout
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q")
    shutil.copy(ROOT / ".dvcignore", tmp_path / ".dvcignore")
    (tmp_path / "dvc.yaml").write_text("stages:\n  workflow:\n    cmd: 'true'\n    outs:\n"
                                       "      - results:\n          persist: true\n")
    build_store(tmp_path, GAUSSIAN)
    dvc("commit", "-f", "-q")
    lock = (tmp_path / "dvc.lock").read_text()
    runs = sorted(p.read_text() for p in (tmp_path / "results").rglob(store.RUN_RECORD))
    shutil.rmtree(tmp_path / "results")
    build_store(tmp_path, GAUSSIAN)
    assert sorted(p.read_text() for p in (tmp_path / "results").rglob(store.RUN_RECORD)) != runs   # new timings
    assert "up to date" in dvc("status")
    dvc("commit", "-f", "-q")
    assert (tmp_path / "dvc.lock").read_text() == lock
