"""The character-level tokenizer of the RainbowPO miniature, built with the `tokenizers` library and
wrapped as a transformers PreTrainedTokenizerFast (so it saves and loads through AutoTokenizer).

Vocabulary: ids 0..3 are the special tokens <pad>, <bos>, <eos>, <unk>; then one id per distinct
character of `chars`, in order of first appearance, so the size is 4 + len(set(chars)).
Encoding splits the text into single characters (pre-tokenizer Split on the regex "." with
behavior "isolated", no normalizer) and maps each to its id (WordLevel; characters outside
`chars` become <unk>). Decoding concatenates the tokens (decoder Fuse), so
decode(encode(s)) == s for every s over `chars`, spaces included. No special tokens are added
on encoding: the language model places <bos> and <eos> itself.
"""
from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

SPECIALS = {"pad_token": "<pad>", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>"}


def _vocabulary(chars: str) -> dict[str, int]:
    tokens = list(SPECIALS.values()) + list(dict.fromkeys(chars))
    return {t: i for i, t in enumerate(tokens)}


def build(chars: str) -> PreTrainedTokenizerFast:
    """A character tokenizer over `chars` with <pad>, <bos>, <eos>, <unk> set."""
    core = Tokenizer(models.WordLevel(_vocabulary(chars), unk_token=SPECIALS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(list(SPECIALS.values()))
    return PreTrainedTokenizerFast(tokenizer_object=core, clean_up_tokenization_spaces=False, **SPECIALS)


def save(tok: PreTrainedTokenizerFast, path: str | Path) -> None:
    tok.save_pretrained(path)


def load(path: str | Path) -> PreTrainedTokenizerFast:
    return AutoTokenizer.from_pretrained(path, use_safetensors=True)
