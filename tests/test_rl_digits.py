"""DDPO and MixGRPO on a small pretrained digits UNet: each raises the classifier reward on
held-out noises (fixed seeds), and the same run with negated advantages lowers it."""
import pytest
import torch

from engine.algorithms import ddpo, mixgrpo
from engine.evaluation import expected_reward
from engine.models.classifiers import build_classifier
from engine.models.unet import UNetPolicy, alphas_cumprod, build_unet
from engine.rewards.classifier import ClassifierReward
from engine.samplers.gddim import gddim_stds
from engine.spec.models import Classifier, DDPOAlgorithm, MixGRPOAlgorithm, Pretrain, UNetModel

pytestmark = pytest.mark.slow
STEPS = 6
MARGIN = 0.05          # nats of log p(c | x), mean over 200 held-out chains


@pytest.fixture(scope="module")
def setup():
    from sklearn.datasets import load_digits
    torch.set_num_threads(2)
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8 - 1
    y = torch.tensor(d.target)
    g = torch.Generator().manual_seed(0)
    clf = build_classifier(Classifier(arch="cnn", width=16, seed=0), 8)
    opt = torch.optim.Adam(clf.parameters(), 3e-3)
    for _ in range(200):
        i = torch.randint(0, len(x), (128,), generator=g)
        loss = torch.nn.functional.cross_entropy(clf(x[i]), y[i])
        opt.zero_grad(), loss.backward(), opt.step()
    pre = Pretrain(steps=120)
    torch.manual_seed(0)
    unet = build_unet(UNetModel(kind="unet", channels=[16, 32]), 8)
    opt = torch.optim.Adam(unet.parameters(), 2e-3)
    ac = alphas_cumprod(pre).float()
    for _ in range(pre.steps):
        i = torch.randint(0, len(x), (128,), generator=g)
        t = torch.randint(0, 1000, (128,), generator=g)
        n = torch.randn(128, 1, 8, 8, generator=g)
        xt = ac[t].sqrt().view(-1, 1, 1, 1) * x[i] + (1 - ac[t]).sqrt().view(-1, 1, 1, 1) * n
        loss = torch.nn.functional.mse_loss(unet(xt, t, class_labels=y[i]).sample, n)
        opt.zero_grad(), loss.backward(), opt.step()
    return unet.state_dict(), ClassifierReward(clf.eval().requires_grad_(False)), pre


def fine_tune(setup, algo, sign):
    state, reward, pre = setup
    unet = build_unet(UNetModel(kind="unet", channels=[16, 32]), 8)
    unet.load_state_dict(state)
    policy = UNetPolicy(unet, pre, STEPS, 8)
    stds = gddim_stds(policy.a, policy.s, 1.0)
    before, _ = expected_reward(policy, stds, reward, "monte_carlo", 200, seed=99)
    if algo == "ddpo":
        cfg = DDPOAlgorithm(kind="ddpo", epochs=8, batch_size=32, lr=3e-4, clip_range=1e-4, advantage_sign=sign)
        ddpo.train(policy, stds, reward, cfg, torch.Generator().manual_seed(1))
    else:
        cfg = MixGRPOAlgorithm(kind="mixgrpo", epochs=8, prompts_per_epoch=4, group_size=8, lr=3e-4,
                               clip_range=1e-4, window_size=3, iters_per_window=2, advantage_sign=sign)
        mixgrpo.train(policy, stds, reward, cfg, torch.Generator().manual_seed(1))
    after, se = expected_reward(policy, stds, reward, "monte_carlo", 200, seed=99)
    return before, after, se


@pytest.mark.parametrize("algo", ["ddpo", "mixgrpo"])
def test_fine_tuning_raises_the_reward_and_negated_advantages_lower_it(setup, algo):
    before, up, se = fine_tune(setup, algo, +1)
    _, down, _ = fine_tune(setup, algo, -1)
    assert up > before + MARGIN, (before, up, se)
    assert down < before - MARGIN, (before, down, se)
