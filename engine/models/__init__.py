"""Model families: one file each (`<kind>.py`, with its declaration `<kind>_kind.py`). Each
implementation module defines the model contract:

- `policy(cfg, upstream, generator=None)`: the fine-tunable policy at its pretrained start;
- `pretrained(cfg, upstream, generator=None)`: the same, as evaluation's baseline;
- `save_trained(policy, out_dir)`: what fine-tuning changed, into a finetune result;
- `finetuned(cfg, upstream, result_dir, generator=None)`: the policy from a finetune result;
- `pretrain_loss(pretrain_cfg)` (families pretrained by the `pretrain` stage): the training loss
  loss(unet, x0, labels, generator).
"""
from __future__ import annotations


def family(cfg):
    """The implementation module of a run's model family."""
    from .. import registry
    return registry.implementation(registry.kind("model", cfg.model.kind))
