"""Rewards against what they must rank."""
import torch

from engine.models.classifiers import build_classifier
from engine.rewards.classifier import ClassifierReward
from engine.rewards.jpeg import JpegSize, jpeg_kb
from engine.rewards.quadratic import QuadraticReward
from engine.rewards.classifier_kind import Classifier


def test_jpeg_compressibility_ranks_flat_above_noise():
    g = torch.Generator().manual_seed(0)
    flat = torch.zeros(1, 1, 16, 16)
    noise = torch.rand(1, 1, 16, 16, generator=g) * 2 - 1
    r = JpegSize(quality=95, sign=-1.0)(torch.cat([flat, noise]))
    assert r[0] > r[1]
    inc = JpegSize(quality=95, sign=1.0)(torch.cat([flat, noise]))
    assert torch.allclose(inc, -r)
    assert jpeg_kb(noise[0], 95) > jpeg_kb(noise[0], 10)        # quality matters


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return torch.tensor(d.images, dtype=torch.float32)[:, None] / 8 - 1, torch.tensor(d.target)


def test_classifier_reward_ranks_the_prompted_class_first():
    x, y = _digits()
    net = build_classifier(Classifier(arch="cnn", width=16, seed=0), 8)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, 1500, (128,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(), loss.backward(), opt.step()
    reward = ClassifierReward(net.eval())
    held = torch.arange(1500, 1797)
    right = reward(x[held], y[held])
    wrong = reward(x[held], (y[held] + 1) % 10)
    assert (right > wrong).float().mean() > 0.9
    assert torch.all(right <= 0)                                  # a log-probability


def test_quadratic_expectation_matches_samples():
    g = torch.Generator().manual_seed(0)
    mean, var = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])
    x = mean + var.sqrt() * torch.randn(200_000, 2, generator=g)
    r = QuadraticReward(1.0, 2.0)
    mc = r(x)
    assert abs(mc.mean() - r.expectation(mean, var)) < 4 * mc.std() / len(mc) ** 0.5
