"""What the RainbowPO miniature's stages share: the prompt splits, preference pairs from the SFT
model, one preference-tuning run, and the length-controlled evaluation against the SFT model.
The stages (lm_pairs, lm_po, lm_select, lm_evaluate) are thin wrappers around these, and the
greedy selection (lm_select) calls the same functions on its validation seeds.

Settings a variant uses (engine/algorithms/preference_kind.py):
- beta on summed log-ratios; beta_normalised on per-token means (length_norm, simpo), so that
  the scale per token is comparable; orpo has no beta (its odds-ratio weight is 0.1);
- contextual scaling (MallowsPO-style): phi(x) = -log(H(x) / log V), H(x) the reference model's
  mean next-token entropy over the pair's two responses, V the vocabulary size; divided by its
  mean over the pair set, so that it redistributes beta across prompts without changing its mean.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ..algorithms.preference import PreferenceLoss, loss_config, pair_loss, sequence_logps  # noqa: F401
from ..algorithms.preference_kind import parse_variant
from .. import store
from . import judges, lm, task

SPLITS = ("sft", "pairs", "validation", "test")


def load_model(stage: str, h: str):
    """(model, tokenizer, provenance) of a stored lm_pretrain / lm_sft / lm_po result, files checked."""
    prov = store.verify_files(stage, h)
    model, tok = lm.load(store.result_dir(stage, h) / "model")
    return model.eval(), tok, prov


def pretrain_splits(pretrain_hash: str) -> dict[str, list]:
    """The prompt sets of the data a pretrained model was made for (its provenance)."""
    return splits(store.provenance("lm_pretrain", pretrain_hash)["config"]["data"])


def load_sft(h: str):
    """(SFT model, tokenizer, its data's prompt sets)."""
    sft, tok, prov = load_model("lm_sft", h)
    return sft, tok, pretrain_splits(prov["upstream"][0])


def splits(data: dict) -> dict[str, list]:
    """The data's disjoint prompt sets, in a fixed order from one draw."""
    sizes = [data["sft_prompts"], data["pair_prompts"], data["validation_prompts"], data["test_prompts"]]
    probs = task.problems(sum(sizes), data["lo"], data["hi"], data["seed"])
    out, start = {}, 0
    for name, n in zip(SPLITS, sizes):
        out[name] = probs[start:start + n]
        start += n
    return out


# ----------------------------------------------------------------------------- pairs
def build_pairs(sft, tok, problems, pairs_cfg: dict, max_new: int, seed: int) -> dict:
    """K samples per prompt from the SFT model, scored by the length-biased training judge.
    plain: (best, worst) per prompt, ties skipped. rejection (RSO): sample y accepted with
    probability exp((r(y) - max r) / rejection_beta), then (best, worst) among the accepted."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    k = pairs_cfg["samples"]
    prompts = [p.prompt for p in problems for _ in range(k)]
    texts = lm.generate(sft, tok, prompts, max_new, pairs_cfg["temperature"], gen)
    plain, rejection, samples = [], [], []
    for i, p in enumerate(problems):
        ys = texts[i * k:(i + 1) * k]
        scores = np.array([judges.train_score(p, y) for y in ys])
        samples += [(p, y) for y in ys]
        best, worst = int(np.argmax(scores)), int(np.argmin(scores))
        if scores[best] > scores[worst]:
            plain.append((p.prompt, ys[best], ys[worst]))
        accept = rng.random(k) < np.exp((scores - scores.max()) / pairs_cfg["rejection_beta"])
        kept = np.flatnonzero(accept)
        if len(kept):
            b, w = kept[np.argmax(scores[kept])], kept[np.argmin(scores[kept])]
            if scores[b] > scores[w]:
                rejection.append((p.prompt, ys[b], ys[w]))
    return {"plain": plain, "rejection": rejection,
            "sample_accuracy": float(np.mean([task.correct(p, y) for p, y in samples])),
            "sample_length": float(np.mean([len(y) for _, y in samples]))}


def pair_stats(pairs: list, problems_by_prompt: dict) -> dict:
    """How often the chosen side is longer, and correct, in a pair set."""
    if not pairs:
        return {"count": 0, "chosen_longer": 0.0, "chosen_correct": 0.0}
    return {"count": len(pairs),
            "chosen_longer": float(np.mean([len(c) > len(r) for _, c, r in pairs])),
            "chosen_correct": float(np.mean([task.correct(problems_by_prompt[p], c) for p, c, _ in pairs]))}


# ----------------------------------------------------------------------------- one tuning run
def variant_parts(variant: str, chosen: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...]]:
    """(base loss, components) of a variant; `rainbow` is dpo with the selected components."""
    base, components = parse_variant(variant)
    return ("dpo", tuple(chosen)) if base == "rainbow" else (base, components)


@torch.no_grad()
def contextual_phi(ref, chosen: lm.Batch, rejected: lm.Batch, vocab: int) -> torch.Tensor:
    """phi(x) of each pair (module docstring), divided by its mean over the pairs given."""
    h = (sequence_logps(lm.token_entropy(ref, chosen), chosen.response, True)
         + sequence_logps(lm.token_entropy(ref, rejected), rejected.response, True)) / 2
    phi = -torch.log(h.clamp_min(1e-6) / math.log(vocab))
    return phi / phi.mean()


def _rows(b: lm.Batch, idx: torch.Tensor) -> lm.Batch:
    return lm.Batch(b.ids[idx], b.attention[idx], b.response[idx])


def train_policy(sft, tok, pairs: list, alg: dict, base: str, components: tuple[str, ...], seed: int,
                 bar=None) -> tuple[object, dict]:
    """Tune a copy of the SFT model on the pairs with the variant's loss (the SFT model is the
    frozen reference). Minibatches drawn with replacement from a generator seeded by `seed`."""
    if not pairs:
        raise ValueError("no preference pairs to train on")
    cfg = loss_config(alg, components, base)
    policy, ref = copy.deepcopy(sft).train(), sft.eval()
    chosen, rejected = lm.encode_pairs(tok, pairs)
    with torch.no_grad():
        ref_w, ref_l = lm.token_logps(ref, chosen), lm.token_logps(ref, rejected)
    phi = contextual_phi(ref, chosen, rejected, len(tok)) if cfg.contextual else torch.ones(len(pairs))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(policy.parameters(), lr=alg["lr"])
    losses, accs = [], []
    for _ in range(alg["steps"]):
        idx = torch.randint(len(pairs), (alg["batch_size"],), generator=gen)
        w, l = _rows(chosen, idx), _rows(rejected, idx)
        loss, stats = pair_loss(cfg, lm.token_logps(policy, w), w.response, lm.token_logps(policy, l), l.response,
                                ref_w[idx], ref_l[idx], phi[idx])
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        losses.append(float(loss.mean()))
        accs.append(float(stats["implicit_acc"].mean()))
        if bar is not None:
            bar.update(1)
    policy.eval()
    tail = max(1, len(losses) // 10)
    return policy, {"final_loss": float(np.mean(losses[-tail:])), "train_implicit_acc": float(np.mean(accs[-tail:])),
                    "pairs_used": len(pairs), "loss_curve": losses}


# ----------------------------------------------------------------------------- evaluation
CALIBRATION_SEED = 0


def _judged(problems, answers, ref) -> tuple[np.ndarray, np.ndarray]:
    probs = np.array([judges.win_probability(p, a, b) for p, a, b in zip(problems, answers, ref)])
    return probs, np.array([len(a) - len(b) for a, b in zip(answers, ref)], dtype=float)


def reference(sft, tok, problems, max_new: int) -> dict:
    """What every evaluation against the SFT model on these prompts shares: its greedy answers, and
    the calibration set, its sampled answers (temperature 1, a fixed seed) judged against them."""
    prompts = [p.prompt for p in problems]
    greedy = lm.generate(sft, tok, prompts, max_new, 0.0)
    sampled = lm.generate(sft, tok, prompts, max_new, 1.0, torch.Generator().manual_seed(CALIBRATION_SEED))
    return {"answers": greedy, "calibration": _judged(problems, sampled, greedy)}


def evaluate(policy, sft, tok, problems, max_new: int, ref_answers: dict | None = None) -> dict:
    """Greedy answers of the policy and of the SFT reference on the same prompts, judged by the
    length-controlled evaluation judge (engine/language/judges.py). The length coefficient is
    fitted jointly with a calibration set (`reference`), whose lengths vary at about equal quality.
    `ref_answers`: `reference(sft, tok, problems, max_new)`, when the caller has it already."""
    prompts = [p.prompt for p in problems]
    mine = lm.generate(policy, tok, prompts, max_new, 0.0)
    shared = ref_answers or reference(sft, tok, problems, max_new)
    ref = shared["answers"]
    probs, len_diff = _judged(problems, mine, ref)
    lc = judges.length_controlled(probs, len_diff, calibration=shared["calibration"])
    return {"lc_win_rate": float(lc["lc_win_rate"]), "win_rate": float(lc["win_rate"]),
            "length_coef": float(lc["length_coef"]),
            "mean_length": float(np.mean([len(a) for a in mine])),
            "accuracy": float(np.mean([task.correct(p, a) for p, a in zip(problems, mine)])),
            "ref_length": float(np.mean([len(b) for b in ref])),
            "ref_accuracy": float(np.mean([task.correct(p, b) for p, b in zip(problems, ref)])),
            "answers": list(zip(prompts, mine, ref))}
