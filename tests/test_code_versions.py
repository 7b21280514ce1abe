"""A stage's code may not change without a bump of its version (part of every hash)."""
import pytest

from engine import stages


@pytest.mark.parametrize("stage", list(stages.VERSIONS))
def test_stage_code_matches_its_recorded_fingerprint(stage):
    rec = stages.recorded_fingerprints().get(stage)
    assert rec is not None, f"no fingerprint for {stage}: run `engine fingerprint --update`"
    assert rec["version"] == stages.VERSIONS[stage], \
        f"{stage}: version bumped to {stages.VERSIONS[stage]}; record it with `engine fingerprint --update`"
    assert rec["digest"] == stages.source_digest(stage), (
        f"the code of stage '{stage}' changed: bump engine.stages.VERSIONS['{stage}'] so old results are "
        f"recomputed, then run `engine fingerprint --update`")


def test_update_refuses_a_change_without_bump(tmp_path, monkeypatch):
    fp = tmp_path / "fingerprints.json"
    monkeypatch.setattr(stages, "FINGERPRINTS", fp)
    assert stages.update_fingerprints() == []
    rec = stages.recorded_fingerprints()
    rec["finetune"]["digest"] = "0" * 16               # as if the code had changed since
    fp.write_text(__import__("json").dumps(rec))
    problems = stages.update_fingerprints()
    assert problems and "finetune" in problems[0]
    monkeypatch.setitem(stages.VERSIONS, "finetune", stages.VERSIONS["finetune"] + 1)
    assert stages.update_fingerprints() == []
