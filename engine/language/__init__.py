"""The RainbowPO miniature's language family: the arithmetic task, its character tokenizer, the judges,
the tiny causal language model and the stages built on them."""
