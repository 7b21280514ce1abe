"""Fuzzing what is read back (hypothesis, fixed seed, bounded examples, no deadline): a mutation of a
stored result (a flipped bit, a truncation, a deleted file, an extra file, an edited provenance
record) is always detected by the store's check before the result is used, and the workflow then
quarantines it and recomputes the same bytes, so no table changes. Built on one small real store
(tests/tinystore.py)."""
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from engine import store
from engine.cli import main
from engine.errors import StoreError

from .tinystore import build_store, hashes_of

pytestmark = pytest.mark.slow(10)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        plan = build_store(root)
    finally:
        os.chdir(cwd)
    return root, plan


def mutate(d, kind: str, which: int, offset: int, bit: int) -> str:
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.name != store.RUN_RECORD)   # tests/test_provenance.py
    target = files[which % len(files)]
    if kind == "extra":
        extra = d / ("sub" if which % 2 else ".") / f"extra{offset % 7}.json"
        extra.parent.mkdir(exist_ok=True)
        extra.write_text("{}")
        return f"extra {extra.relative_to(d)}"
    if kind == "delete":
        target.unlink()
        return f"deleted {target.name}"
    data = bytearray(target.read_bytes())
    if kind == "truncate":
        target.write_bytes(bytes(data[:offset % max(1, len(data))]))
        return f"truncated {target.name}"
    i = offset % len(data)
    data[i] ^= 1 << bit
    target.write_bytes(bytes(data))
    return f"flipped bit {bit} of byte {i} of {target.name}"


@seed(20261130)
@FUZZ
@given(stage=st.sampled_from(["finetune", "evaluate"]), result=st.integers(0, 1),
       kind=st.sampled_from(["flip", "flip", "truncate", "delete", "extra"]),
       which=st.integers(0, 50), offset=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_every_mutation_of_a_stored_result_is_detected(tiny_store, tmp_path_factory, stage, result, kind, which,
                                                       offset, bit):
    root, plan = tiny_store
    work = tmp_path_factory.mktemp("mutated")
    shutil.copytree(root / "results", work / "results")
    h = hashes_of(plan, stage)[result]
    cwd = os.getcwd()
    os.chdir(work)
    try:
        what = mutate(store.result_dir(stage, h), kind, which, offset, bit)
        with pytest.raises(StoreError):
            store.verify_files(stage, h)
            pytest.fail(f"undetected: {what}")
    finally:
        os.chdir(cwd)


@seed(20261130)
@settings(max_examples=min(EXAMPLES, 6), deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["flip", "truncate", "delete", "extra"]), which=st.integers(0, 50),
       offset=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_a_mutated_result_is_quarantined_recomputed_bitwise_and_no_table_changes(tiny_store, tmp_path_factory,
                                                                                  kind, which, offset, bit):
    from engine.plan import build_plan
    from engine.stages import table
    root, plan = tiny_store
    work = tmp_path_factory.mktemp("recompute")
    shutil.copytree(root / "results", work / "results")
    shutil.copytree(root / "specs", work / "specs")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        plan = build_plan("smoke")
        target = plan.targets["tiny_table"]
        table.run(plan, target, lambda m: None)
        shown = [open(f, "rb").read() for f in target.files]
        h = hashes_of(plan, "evaluate")[0]
        good = {p.name: p.read_bytes() for p in store.result_dir("evaluate", h).iterdir() if p.name not in (store.PROVENANCE, store.RUN_RECORD)}
        mutate(store.result_dir("evaluate", h), kind, which, offset, bit)
        assert main(["run", "evaluate", h, "--scale", "smoke"]) == 0          # quarantined, then recomputed
        assert list((work / "results" / ".quarantine" / "evaluate").iterdir())
        assert store.verify_files("evaluate", h)
        assert {p.name: p.read_bytes() for p in store.result_dir("evaluate", h).iterdir()
                if p.name not in (store.PROVENANCE, store.RUN_RECORD)} == good
        table.run(plan, target, lambda m: None)
        assert [open(f, "rb").read() for f in target.files] == shown           # no table changes
    finally:
        os.chdir(cwd)
