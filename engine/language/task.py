"""The synthetic instruction task of the RainbowPO miniature: add two non-negative integers.

A problem is a pair (a, b); its prompt is "a+b=" and its answer is a + b. A response is written
in one of these styles (no terminator: the language model appends its own eos token):
    short      "46"
    explained  "46 because 12+34=46"
    padded     a short or explained response followed by k >= 1 repetitions of " ok",
               e.g. "46 ok ok" or "46 because 12+34=46 ok".
Formally a well-formed response matches  V( because A+B=V')?( ok)*  with V, A, B, V' integers.

Correctness: parse(text) is the response's leading integer V. The response is correct when it is
well-formed, V == a + b, and, if it has an explanation, A == a, B == b and V' == V. Anything else
(a malformed or inconsistent explanation, stray characters) is incorrect.

Why length is gameable: padding and explanations change the length of a response but never its
correctness (" ok" carries no information; a consistent explanation restates the value). So at
equal correctness the answers span a wide range of lengths ("46" has 2 characters, "46 because
12+34=46 ok ok" has 25), and a judge that likes length can be satisfied without being right.

Data:
- problems(n, lo, hi, seed): a, b uniform in [lo, hi]; the n pairs are distinct when
  n <= (hi - lo + 1)^2, otherwise drawn independently.
- sft_answer: the SFT demonstrations. Value = a + b, or with probability error_prob
  a + b + d with d uniform over the nonzero offsets in [-3, 3] that keep the value >= 0;
  explained with probability explain_prob; pad uniform in [0, max_pad].
- pretrain_corpus: prompt + response texts whose value is a + b with probability 1/2 and
  otherwise uniform over [2 lo, 2 hi + 1] without a + b; explained with probability 1/2;
  pad uniform in [0, PRETRAIN_MAX_PAD]. Explanations restate the (possibly wrong) value. Half the
  answers are right and the problems are drawn over the whole range, so pretraining teaches the
  format and also some of the arithmetic (the evaluation prompts included).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

CHARS = "0123456789+= " + "".join(sorted(set("because ok") - {" "}))
PAD = " ok"
PRETRAIN_MAX_PAD = 3
MAX_ERROR_OFFSET = 3
RESPONSE = re.compile(r"(\d+)(?: because (\d+)\+(\d+)=(\d+))?(?: ok)*")


@dataclass(frozen=True)
class Problem:
    """a + b with a, b non-negative integers."""
    a: int
    b: int

    @property
    def prompt(self) -> str:
        return f"{self.a}+{self.b}="

    @property
    def answer(self) -> int:
        return self.a + self.b


def problems(n: int, lo: int, hi: int, seed: int) -> list[Problem]:
    """n problems with a, b uniform in [lo, hi]; distinct pairs when there are at least n of them."""
    rng = np.random.default_rng(seed)
    width = hi - lo + 1
    if n <= width * width:
        flat = rng.choice(width * width, size=n, replace=False)
        a, b = np.divmod(flat, width)
    else:
        a, b = rng.integers(0, width, size=(2, n))
    return [Problem(int(x) + lo, int(y) + lo) for x, y in zip(a, b)]


def render(p: Problem, value: int, explained: bool, pad: int) -> str:
    """The response stating `value`, with an explanation if asked, then `pad` times " ok"."""
    text = str(value)
    if explained:
        text += f" because {p.a}+{p.b}={value}"
    return text + PAD * pad


def _wrong_value(answer: int, rng: np.random.Generator) -> int:
    """answer + d, d uniform over the nonzero offsets in [-3, 3] with answer + d >= 0."""
    offsets = [d for d in range(-MAX_ERROR_OFFSET, MAX_ERROR_OFFSET + 1) if d != 0 and answer + d >= 0]
    return answer + offsets[int(rng.integers(len(offsets)))]


def sft_answer(p: Problem, rng: np.random.Generator, explain_prob: float, error_prob: float, max_pad: int) -> str:
    """One SFT demonstration: mostly right, sometimes explained, sometimes padded."""
    value = _wrong_value(p.answer, rng) if rng.random() < error_prob else p.answer
    explained = bool(rng.random() < explain_prob)
    pad = int(rng.integers(0, max_pad + 1))
    return render(p, value, explained, pad)


def parse(text: str) -> int | None:
    """The leading integer of a response; None if it does not start with a digit."""
    m = re.match(r"\d+", text)
    return int(m.group()) if m else None


def correct(p: Problem, text: str) -> bool:
    """Well-formed, states a + b, and any explanation is "because a+b=v" with v the stated value."""
    m = RESPONSE.fullmatch(text)
    if m is None or int(m[1]) != p.answer:
        return False
    return m[2] is None or (int(m[2]), int(m[3]), int(m[4])) == (p.a, p.b, p.answer)


def _random_value(p: Problem, lo: int, hi: int, rng: np.random.Generator) -> int:
    """a + b with probability 1/2, else uniform over [2 lo, 2 hi + 1] without a + b."""
    if rng.random() < 0.5:
        return p.answer
    v = int(rng.integers(2 * lo, 2 * hi + 1))        # one value short of the range: skip a + b
    return v + 1 if v >= p.answer else v


def pretrain_corpus(n: int, lo: int, hi: int, seed: int) -> list[str]:
    """n prompt + response texts with random styles and random (about half wrong) values."""
    rng = np.random.default_rng([seed, 1])          # a stream apart from the problems' own
    texts = []
    for p in problems(n, lo, hi, seed):
        value = _random_value(p, lo, hi, rng)
        explained = bool(rng.random() < 0.5)
        pad = int(rng.integers(0, PRETRAIN_MAX_PAD + 1))
        texts.append(p.prompt + render(p, value, explained, pad))
    return texts
