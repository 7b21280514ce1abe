"""The gDDIM chain with a (tiny, randomly initialized) class-conditional UNet against
diffusers' DDIMScheduler, and the log-probability paths."""
import pytest
import torch

from engine.algorithms.policy_gradient import chain_log_probs
from engine.models.unet import UNetPolicy, build_unet
from engine.samplers.gddim import gddim_stds, sample_chain
from engine.models.unet_kind import Pretrain, UNetModel


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    cfg = UNetModel(kind="unet", channels=[8, 16], norm_groups=4)
    return UNetPolicy(build_unet(cfg, 8).eval(), Pretrain(), steps=10, size=8)


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_chain_matches_diffusers_ddim_loop(policy, lam):
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                          set_alpha_to_one=True, timestep_spacing="leading")
    sched.set_timesteps(10)
    labels = torch.arange(4)
    g = torch.Generator().manual_seed(1)
    x_T = torch.randn(4, 1, 8, 8, generator=g)
    stds = gddim_stds(policy.a, policy.s, lam)
    with torch.no_grad():
        ours = sample_chain(lambda x, k: policy.eps(x, k, labels), policy.a, policy.s, stds, x_T,
                            torch.Generator().manual_seed(2), record=False)["x0"]
        g2 = torch.Generator().manual_seed(2)
        x = x_T
        for i, t in enumerate(sched.timesteps):
            eps = policy.unet(x, t.expand(4), class_labels=labels).sample
            k = len(sched.timesteps) - 1 - i
            noise = torch.randn(x.shape, generator=g2) if stds[k] > 0 else None
            x = sched.step(eps, t, x, eta=lam, variance_noise=noise).prev_sample
    assert torch.allclose(ours, x, atol=1e-4), (ours - x).abs().max()


def test_stored_trajectory_rescored_and_replayed(policy):
    stds = gddim_stds(policy.a, policy.s, 2.0)
    labels = torch.tensor([3, 1, 4, 1, 5, 9])

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return sample_chain(lambda x, k: policy.eps(x, k, labels), policy.a, policy.s, stds,
                                policy.prior(6, g), g)

    out = draw(7)
    steps = torch.arange(1, len(stds))
    with torch.no_grad():
        again = chain_log_probs(policy, out["xs"], steps, stds, labels)      # training path, batched
    assert torch.allclose(again, out["logps"][steps], atol=1e-3, rtol=1e-5)
    assert torch.isfinite(out["logps"]).all() and torch.all(out["logps"][0] == 0)
    replay = draw(7)                                                           # noise replayable from the seed
    assert torch.equal(replay["xs"], out["xs"]) and torch.equal(replay["logps"], out["logps"])
