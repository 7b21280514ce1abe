"""The tiny causal language model of the RainbowPO miniature: a transformers Llama built from a
config (a few layers, character vocabulary), trained in the DAG, saved with `save_pretrained`
(safetensors) and loaded through `AutoModelForCausalLM` / `AutoTokenizer`.

A sequence is <bos> prompt response <eos>; the response is everything after the prompt, the
<eos> included (so a model learns where to stop). Log-probabilities are per token of the
response; sequences are right-padded and masked. Generation groups prompts of equal length, so
no prompt is ever padded, and samples with a seeded torch.Generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor          # [B, T] token ids (right-padded)
    attention: torch.Tensor    # [B, T] 1 on real tokens
    response: torch.Tensor     # [B, T-1] float: 1 where the *predicted* token (position t+1) is response


def build(arch: dict, tok, seed: int):
    """A freshly initialised LlamaForCausalLM (seeded) for the tokenizer's vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(vocab_size=len(tok), hidden_size=arch["hidden"], intermediate_size=arch["intermediate"],
                         num_hidden_layers=arch["layers"], num_attention_heads=arch["heads"],
                         num_key_value_heads=arch["heads"], max_position_embeddings=arch["max_length"],
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def save(model, tok, path: Path) -> None:
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)


def load(path: Path):
    """(model, tokenizer) from a directory written by `save`, through the Auto classes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)
    return model, AutoTokenizer.from_pretrained(path, use_safetensors=True)


def encode(tok, prompts: list[str], responses: list[str]) -> Batch:
    """<bos> prompt response <eos>, right-padded; the response mask covers response and <eos>."""
    rows, starts = [], []
    for p, r in zip(prompts, responses):
        pi = tok(p, add_special_tokens=False)["input_ids"]
        ri = tok(r, add_special_tokens=False)["input_ids"]
        rows.append([tok.bos_token_id, *pi, *ri, tok.eos_token_id])
        starts.append(1 + len(pi))
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width - 1))
    for i, (row, s) in enumerate(zip(rows, starts)):
        ids[i, :len(row)] = torch.tensor(row)
        attention[i, :len(row)] = 1
        response[i, s - 1:len(row) - 1] = 1.0        # predictions of tokens s .. end
    return Batch(ids, attention, response)


def encode_pairs(tok, pairs) -> tuple[Batch, Batch]:
    """(chosen, rejected) batches of (prompt, chosen, rejected) triples."""
    prompts = [p for p, _, _ in pairs]
    return encode(tok, prompts, [c for _, c, _ in pairs]), encode(tok, prompts, [r for _, _, r in pairs])


def token_logps(model, batch: Batch) -> torch.Tensor:
    """[B, T-1]: log p(token t+1 | tokens <= t) (mask it with batch.response)."""
    logits = model(input_ids=batch.ids, attention_mask=batch.attention).logits[:, :-1].float()
    return torch.gather(F.log_softmax(logits, -1), 2, batch.ids[:, 1:, None]).squeeze(2)


def token_entropy(model, batch: Batch) -> torch.Tensor:
    """[B, T-1]: the entropy of the next-token distribution at each position."""
    logits = model(input_ids=batch.ids, attention_mask=batch.attention).logits[:, :-1].float()
    logp = F.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def train_lm(model, tok, prompts: list[str], responses: list[str], steps: int, batch_size: int, lr: float,
             gen: torch.Generator, full_sequence: bool, bar=None) -> list[float]:
    """Maximum likelihood on (prompt, response) pairs drawn with replacement: on the whole sequence
    (pretraining) or on the response only (SFT). Adam, constant learning rate. Returns the losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(prompts), (batch_size,), generator=gen).tolist()
        b = encode(tok, [prompts[i] for i in idx], [responses[i] for i in idx])
        mask = b.attention[:, 1:].float() if full_sequence else b.response
        loss = -(token_logps(model, b) * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if bar is not None:
            bar.update(1)
    model.eval()
    return losses


@torch.no_grad()
def generate(model, tok, prompts: list[str], max_new: int, temperature: float,
             gen: torch.Generator | None = None) -> list[str]:
    """One response per prompt: greedy when temperature == 0, else sampled at that temperature.
    Prompts of equal token length decode together (no padding); stops at <eos> or max_new tokens."""
    model.eval()
    encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    out: list[str | None] = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, e in enumerate(encoded):
        by_length.setdefault(len(e), []).append(i)
    for length in sorted(by_length):
        rows = by_length[length]
        ids = torch.tensor([[tok.bos_token_id, *encoded[i]] for i in rows])
        new = torch.full((len(rows), 0), tok.eos_token_id, dtype=torch.long)
        done = torch.zeros(len(rows), dtype=torch.bool)
        past, step_ids = None, ids
        for _ in range(max_new):
            o = model(input_ids=step_ids, cache=past, use_cache=True)
            past, logits = o.cache, o.logits[:, -1].float()
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                nxt = torch.multinomial(F.softmax(logits / temperature, -1), 1, generator=gen).squeeze(1)
            nxt = torch.where(done, torch.full_like(nxt, tok.eos_token_id), nxt)
            new = torch.cat([new, nxt[:, None]], 1)
            done |= nxt == tok.eos_token_id
            if bool(done.all()):
                break
            step_ids = nxt[:, None]
        for j, i in enumerate(rows):
            toks = new[j].tolist()
            if tok.eos_token_id in toks:
                toks = toks[:toks.index(tok.eos_token_id)]
            out[i] = tok.decode(toks, skip_special_tokens=True)
    return out  # type: ignore[return-value]
