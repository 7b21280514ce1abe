"""bench/gpu_check.py, the prepared GPU check, in its CPU mode (--device cpu --tiny): every section runs
the engine's own code on tiny models, so a broken check is found here and not in a GPU's minutes. The
real-size configs are held to the published parameter counts (built on the meta device), and the
wheels it carries to the GPU machine to the lock file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.py"


def check(tmp_path, *args, timeout=240):
    out = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--out", str(out), *args],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    return p, json.loads(out.read_text())


@pytest.mark.slow(25)
def test_cpu_mode_runs_every_section(tmp_path):
    p, report = check(tmp_path, "--commit", "abc123")
    sections = report["sections"]
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert list(sections) == ["environment", "sd15", "sd15_throughput", "determinism", "data_parallel",
                              "sd15_full", "flux", "llama"]
    assert {s["status"] for s in sections.values()} == {"ok"}
    assert report["commit"] == "abc123" and report["mode"] == "tiny" and report["seconds"] < report["limit_s"]

    sd = sections["sd15"]
    assert sd["logp"]["finite"] and sd["logp"]["rewards_finite"]
    assert sd["logp"]["recomputed_max_abs_diff"] < 1e-3          # the training path recomputes the chain's log-probs
    assert 0 < sd["parameters"]["lora_trained"] < sd["parameters"]["unet"]
    for ckpt in ("off", "on"):
        step = sd[f"ddpo_lora_step_checkpointing_{ckpt}"]
        assert step["loss_finite"] and step["s"] > 0 and step["trained_steps"] == 3   # 4 steps, the last deterministic
        assert 0 <= step["clipfrac"] <= 1
    assert sd["logp"]["ratio_reduction"] == "mean"        # specs/base/sd15.yaml: ddpo-pytorch's per-dimension ratio
    assert sections["sd15_full"]["parameters"]["trained"] > sd["parameters"]["unet"]   # every weight, LoRA's too

    tp = sections["sd15_throughput"]
    assert tp["images_per_s"] == pytest.approx(tp["images"] / tp["epoch"]["s"], rel=1e-2)
    assert tp["ratio_to_ddpo_pytorch"] == pytest.approx(tp["images_per_s"] / (25600 / 14400 / 8), rel=1e-2)

    det = sections["determinism"]
    assert det["bitwise_equal"] and det["max_abs_diff"] == 0.0 and det["settings"]["deterministic_algorithms"]
    assert det["relative_l2_diff"] == 0.0 and det["nondeterministic_kernels"] == []

    dp = sections["data_parallel"]          # two gloo processes through engine/distributed.py against one
    assert dp["backend"] == "gloo" and dp["tensors_on"] == "cpu" and dp["noise_floor"] == 0.0
    assert dp["rewards_max_abs_diff"] < 1e-5 and 0 < dp["relative_diff"] < 1e-4     # float summation order only

    assert sections["flux"]["sample"]["logp_finite"] and sections["flux"]["mixgrpo_epoch"]["loss_finite"]
    llama = sections["llama"]
    assert "+" in llama["variant"]                              # the spec's combined RainbowPO variant
    steps = [k for k in llama if k.startswith("step_")]
    assert steps == ["step_2_pairs", "step_16_pairs"] and all(llama[k]["loss_finite"] for k in steps)

    table = report["summary"].splitlines()
    assert table[0].startswith("| section | status |") and len(table) == 2 + len(sections)
    assert all("| ok |" in row for row in table[2:])


@pytest.mark.slow(10)
def test_a_section_past_its_box_is_cut_and_the_report_still_written(tmp_path):
    """sd15 cannot build its pipeline, sample and train in the whole limit of 0.2 s: its box is cut to what is
    left of the limit, it is stopped and reported, and nothing is left for the next section, which is skipped
    and reported; the run says it failed."""
    p, report = check(tmp_path, "--sections", "sd15,environment", "--limit", "0.2")
    assert p.returncode == 1
    sd, env = report["sections"]["sd15"], report["sections"]["environment"]
    # the box is what is left of the limit when sd15 starts (a few ms less than 0.2 s on a loaded machine)
    assert sd["status"] == "timed out" and 0.1 <= sd["box_s"] <= 0.2
    assert f"time box of {sd['box_s']:g} s" in sd["error"] and sd["box_s"] <= sd["seconds"] < 5
    assert env["status"].startswith("skipped")
    assert "| sd15 | timed out" in report["summary"] and "| environment | skipped" in report["summary"]


def test_real_configs_have_the_published_parameter_counts(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_models as G
    from diffusers import AutoencoderKL, FluxTransformer2DModel, UNet2DConditionModel
    from transformers import AutoModelForCausalLM, CLIPModel, CLIPTextModel, T5EncoderModel

    G.write_sd15(tmp_path / "sd", tiny=False)
    G.write_clip(tmp_path / "clip_l", tiny=False, which="L")
    G.write_clip(tmp_path / "clip_h", tiny=False, which="H")
    G.write_flux(tmp_path / "flux", tiny=False)
    G.write_llama(tmp_path / "llama", tiny=False)
    built = {"sd15_unet": (UNet2DConditionModel, "sd/unet"), "sd15_vae": (AutoencoderKL, "sd/vae"),
             "clip_l_text": (CLIPTextModel, "sd/text_encoder"), "clip_l": (CLIPModel, "clip_l"),
             "clip_h": (CLIPModel, "clip_h"), "flux_transformer": (FluxTransformer2DModel, "flux/transformer"),
             "t5_xxl_encoder": (T5EncoderModel, "flux/text_encoder_2"), "llama3_8b": (AutoModelForCausalLM, "llama")}
    assert set(built) == set(G.PUBLISHED)
    for name, (cls, folder) in built.items():
        n = G.parameter_count(cls, tmp_path / folder)
        assert n == pytest.approx(G.PUBLISHED[name], rel=1e-3), name


def test_summary_reports_failures_and_out_of_memory():
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_check
    report = {"sections": {
        "sd15": {"status": "failed", "error": "RuntimeError: upsample_nearest2d_backward_out_cuda", "seconds": 3.0},
        "llama": {"status": "ok", "seconds": 9.0, "parameters": {"model": 8_030_261_248},
                  "step_2_pairs": {"s": 1.5, "peak_gib": 20.0}, "step_16_pairs": {"out_of_memory": "CUDA out of memory"}}}}
    rows = gpu_check.summary(report).splitlines()[2:]
    assert rows[0].startswith("| sd15 | failed: RuntimeError: upsample_nearest2d_backward_out_cuda | 3.0 |")
    assert rows[1] == ("| llama | ok | 9.0 | 8.03 B; 2 pairs: 1.50 s, peak 20.00 GiB; 16 pairs: out of memory |")


def test_the_carried_wheels_are_the_locked_versions():
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_wheels
    pins = dict(p.split("==") for p in gpu_wheels.pins())
    lock = {gpu_wheels.normal(line.split("==")[0]): line.split("==")[1].strip()
            for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line}
    assert {gpu_wheels.normal(k): v for k, v in pins.items()}.items() <= lock.items()
    for needed in ("diffusers", "transformers", "peft", "pydantic", "safetensors", "tokenizers"):   # the list
        assert needed in pins
    assert not any(gpu_wheels.normal(k) in ("torch", "snakemake", "dvc") for k in pins)
