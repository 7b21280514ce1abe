"""RainbowPO's paper scale without a GPU or the hub: the Llama-3-8B spec compiles to a torchrun DAG,
fetch-models refuses a gated model without a token, the pairs file is checked, and one training step
runs on CPU on a tiny Llama built from a config (only the adapters move, the loss is finite)."""
import hashlib
import json

import pytest
import torch

from engine import hub, launch
from engine.errors import EngineError
from engine.language import lm, lm_hub_po, pairs_file, task, tokenizer
from engine.plan import build_plan

from .conftest import ROOT

ARCH = {"hidden": 32, "intermediate": 64, "layers": 2, "heads": 2, "max_length": 64}
ALG = {"variant": "dpo+length_norm+margin+ref_mix+sft+link", "beta": 0.1, "beta_normalised": 10.0, "link": "cauchy",
       "margin": 0.5, "ref_mix": 0.75, "sft_weight": 0.1, "steps": 1, "batch_size": 4, "lr": 1e-2}


def test_the_llama3_spec_compiles_to_a_torchrun_dag():
    plan = build_plan("paper", files=[ROOT / "specs" / "rainbowpo_llama3_paper.yaml"])
    jobs = list(plan.jobs.values())
    assert len(jobs) == 8 and {j.stage for j in jobs} == {"lm_hub_po"}
    commands = {launch.command(j) for j in jobs}
    assert commands == {"-m torch.distributed.run --standalone --nnodes 1 --nproc_per_node 8 -m engine"}
    assert {launch.gpus(j) for j in jobs} == {8}
    needs = hub.merge_needs(n for s in plan.specs for r in s.runs for n in hub.run_needs(r.config))
    assert [(n.id, n.gated) for n in needs] == [("meta-llama/Meta-Llama-3-8B-Instruct", True)]
    assert "model*.safetensors" in needs[0].patterns and not any(p.endswith(".bin") for p in needs[0].patterns)


def test_fetch_models_says_a_gated_model_needs_a_token(tmp_path, monkeypatch):
    need = hub.Need("meta-llama/Meta-Llama-3-8B-Instruct", "main", ("config.json",), ("config.json",), gated=True)
    asked = []
    fake_commit = lambda repo, rev: asked.append(repo) or "a" * 40           # noqa: E731
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(EngineError) as e:
        hub.fetch([need], tmp_path / "lock.json", commit_of=fake_commit, download=None, log=lambda *a: None)
    assert "is gated" in str(e.value) and "HF_TOKEN" in str(e.value) and not asked    # nothing was asked of the hub
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    lock = hub.fetch([need], tmp_path / "lock.json", commit_of=fake_commit, download=lambda *a: snapshot,
                     log=lambda *a: None)
    assert asked and "HF_TOKEN" not in json.dumps(lock) and "hf_test" not in json.dumps(lock)


def _pairs_file(tmp_path, n=12):
    problems = task.problems(n, 0, 9, seed=0)
    rows = [{"prompt": p.prompt, "chosen": task.render(p, p.answer, True, 0), "rejected": task.render(p, p.answer + 1, False, 1)}
            for p in problems]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_pairs_file_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _pairs_file(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    train, held = pairs_file.read({"path": "pairs.jsonl", "sha256": digest, "n_heldout": 2})
    assert len(train) == 10 and len(held) == 2 and held[-1][0] == json.loads(path.read_text().splitlines()[-1])["prompt"]
    with pytest.raises(EngineError, match="does not match the sha256"):
        pairs_file.read({"path": "pairs.jsonl", "sha256": "0" * 64, "n_heldout": 2})
    path.write_text(path.read_text() + '{"prompt": "1+1="}\n')
    with pytest.raises(EngineError, match=r"pairs.jsonl:13: not a \{prompt, chosen, rejected\} object"):
        pairs_file.read({"path": "pairs.jsonl", "n_heldout": 2})


@pytest.mark.parametrize("lora", [{"rank": 4, "alpha": 8.0, "target_modules": ["q_proj", "v_proj"]}, None])
def test_one_training_step_on_a_tiny_llama(tmp_path, lora):
    tok = tokenizer.build(task.CHARS)
    lm.save(lm.build(ARCH, tok, seed=0), tok, tmp_path / "tiny")
    model_cfg = {"pretrained": {"id": str(tmp_path / "tiny"), "revision": "main"}, "lora": lora,
                 "precision": "bf16", "max_length": 64}
    device = torch.device("cpu")
    tok2, model, ref = lm_hub_po.load(model_cfg, device)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    pairs = [tuple(r.values()) for r in map(json.loads, _pairs_file(tmp_path).read_text().splitlines())]
    stats = lm_hub_po.train(model, ref, tok2, pairs, ALG, 64, seed=0, device=device)
    assert torch.isfinite(torch.tensor(stats["final_loss"])) and stats["pairs_used"] == len(pairs)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    if lora:
        assert moved and all("lora_" in n for n in moved)           # only the adapters move
        assert next(model.parameters()).dtype == torch.float32       # bf16 is for GPUs; CPUs run fp32
    else:
        assert len(moved) == len(before)                              # full fine-tuning moves every tensor
        assert all(not p.requires_grad for p in ref.parameters())     # against a frozen copy
    m = lm_hub_po.margins(model, ref, tok2, pairs[:3], stats["cfg"], device)
    assert m.shape == (3,) and torch.isfinite(m).all()


HUB_SPEC = """name: dp_llama
title: tiny hub LM
data: {{kind: pairs_file, path: pairs.jsonl, n_heldout: 2}}
model: {{kind: causal_lm, pretrained: {{id: ./tiny}}, lora: {{rank: 4, alpha: 8.0, target_modules: [q_proj, v_proj]}},
        max_length: 64}}
algorithm: {{kind: preference, variant: dpo+length_norm+sft, steps: 4, batch_size: 4, lr: 1.0e-2}}
seeds: [0]
scales: {{smoke: {{}}}}
outputs: {{tables: [{{name: dp_llama_table, rows: [seed], metrics: [final_loss, heldout_implicit_acc]}}]}}
{resources}"""


@pytest.mark.slow(30)
def test_two_processes_equal_one(tmp_path, monkeypatch):
    """The paper-scale stage under torchrun (2 CPU processes, gloo) against one process, same global
    minibatches: metrics within 1e-4, adapter weights within 1e-3 (float32; summation order only)."""
    from safetensors.torch import load_file

    from .conftest import copy_project, snakemake
    tok = tokenizer.build(task.CHARS)
    for name, res in (("one", ""), ("two", "resources: {threads: 2, mem_mb: 2000, processes: 2}\n")):
        root = tmp_path / name
        root.mkdir()
        copy_project(root, specs=False)
        (root / "specs").mkdir(exist_ok=True)
        (root / "specs" / "dp_llama.yaml").write_text(HUB_SPEC.format(resources=res))
        lm.save(lm.build(ARCH, tok, seed=0), tok, root / "tiny")
        _pairs_file(root)
        snakemake("--config", "scale=smoke", cwd=root)
    monkeypatch.chdir(tmp_path / "one")
    (h,) = [h for h, i in build_plan("smoke").instances.items() if i.stage == "lm_hub_po"]
    a, b = (tmp_path / n / "results" / "lm_hub_po" / h for n in ("one", "two"))
    logs = "".join(p.read_text() for p in (tmp_path / "two" / "logs" / "lm_hub_po").glob("*.log"))
    assert "data parallel: 2 processes" in logs
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert all(abs(ma[k] - mb[k]) <= 1e-4 for k in ("final_loss", "train_implicit_acc", "heldout_implicit_acc"))
    wa, wb = (load_file(str(d / "adapter" / "adapter_model.safetensors")) for d in (a, b))
    assert wa.keys() == wb.keys() and max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-3
    base = load_file(str(tmp_path / "one" / "tiny" / "model.safetensors"))
    assert all("lora" in k for k in wa) and len(wa) and base
