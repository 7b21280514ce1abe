"""RPO and Diffusion-DPO on digits (engine/imagepo/): the loss against the published formula written
out here, the gradient swap at initialisation, the sign check on pairs labelled by a known reward
(training raises it by > 3 paired standard errors, flipped labels lower it), the editor against
scipy's grey morphology, the critic's findings on drawn images and their parse, and the pairs
stage's output in the shared smoke store (equal counts; every kept edit scored higher by the critic)."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from engine.algorithms.preference import PreferenceLoss
from engine.imagepo import editor, instructions
from engine.imagepo.critic import ClassStats, Critic, centroids, ink, strokes
from engine.imagepo.dpo_loss import diffusion_pair_loss
from engine.imagepo.image_po import pair_terms
from engine.models.unet import UNetPolicy, alphas_cumprod, build_unet
from engine.models.unet_kind import Pretrain, UNetModel
from engine.samplers.gddim import gddim_stds, sample_chain


def _tensors(seed=0, b=5, d=(1, 4, 4)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, *d, generator=g) for _ in range(6)]


def test_loss_is_the_published_formula():
    eps_w, eps_l, pw, pl, rw, rl = _tensors()
    beta = 7.0
    loss, stats = diffusion_pair_loss(PreferenceLoss(beta=beta), eps_w, eps_l, pw, pl, rw, rl)
    sq = lambda a, b: (a - b).pow(2).flatten(1).sum(1)       # noqa: E731
    inside = -beta / 2 * ((sq(eps_w, pw) - sq(eps_w, rw)) - (sq(eps_l, pl) - sq(eps_l, rl)))
    assert torch.allclose(loss, -F.logsigmoid(inside), atol=1e-6)
    assert torch.equal(stats["implicit_acc"], (inside > 0).float())
    # the authors' code: mean over elements (length_norm here) at beta_dpo
    mean, _ = diffusion_pair_loss(PreferenceLoss(beta=beta, length_norm=True), eps_w, eps_l, pw, pl, rw, rl)
    assert torch.allclose(mean, -F.logsigmoid(inside / eps_w[0].numel()), atol=1e-6)


def _policy(seed=0):
    torch.manual_seed(seed)
    cfg = UNetModel(kind="unet", channels=[8, 16], norm_groups=4, pretrain=Pretrain(train_timesteps=100))
    return UNetPolicy(build_unet(cfg, 8), cfg.pretrain, 10, 8, keep_reference=True), cfg


def test_swapping_chosen_and_rejected_negates_the_gradient_at_initialisation():
    policy, cfg = _policy()
    abar = alphas_cumprod(cfg.pretrain).float()
    g = torch.Generator().manual_seed(1)
    w, l = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1, torch.rand(6, 1, 8, 8, generator=g) * 2 - 1
    c, t, noise = torch.arange(6) % 10, torch.randint(0, 100, (6,), generator=g), torch.randn(6, 1, 8, 8, generator=g)
    grads = []
    for a, b in ((w, l), (l, w)):
        policy.zero_grad()
        loss, stats = pair_terms(policy, PreferenceLoss(beta=50.0), a, b, c, abar, t, noise, None)
        assert torch.allclose(stats["margin"], torch.zeros(6), atol=1e-6)      # policy = reference
        loss.mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in policy.unet.parameters() if p.grad is not None]))
    assert grads[0].norm() > 0
    assert torch.allclose(grads[0], -grads[1], atol=1e-6 * grads[0].abs().max().item())


@pytest.fixture(scope="module")
def pretrained():
    """A tiny UNet pretrained briefly on the digits (enough for its samples to carry ink)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8 - 1
    y = torch.tensor(d.target)
    policy, cfg = _policy()
    abar = alphas_cumprod(cfg.pretrain).float()
    opt = torch.optim.Adam(policy.unet.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        i = torch.randint(0, len(x), (64,), generator=g)
        t = torch.randint(0, 100, (64,), generator=g)
        n = torch.randn(64, 1, 8, 8, generator=g)
        a = abar[t].view(-1, 1, 1, 1)
        loss = F.mse_loss(policy.unet(a.sqrt() * x[i] + (1 - a).sqrt() * n, t, class_labels=y[i]).sample, n)
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {k: v.clone() for k, v in policy.unet.state_dict().items()}
    return state, cfg, x, y


def _tuned_ink(pretrained, flip: bool):
    """Diffusion-DPO on pairs of real digits labelled by ink (r = mean brightness), from the pretrained
    state; returns the per-sample ink of the tuned and the pretrained model's ODE samples (same noises)."""
    import copy
    state, cfg, x, y = pretrained
    policy, _ = _policy()
    policy.unet.load_state_dict(state)
    policy.ref = copy.deepcopy(policy.unet).requires_grad_(False)
    abar = alphas_cumprod(cfg.pretrain).float()
    g = torch.Generator().manual_seed(2)
    a_idx, b_idx = torch.randint(0, len(x), (2, 400), generator=g)
    same = y[a_idx] == y[b_idx]
    a_idx, b_idx = a_idx[same], b_idx[same]
    brighter = ink(x[a_idx]) > ink(x[b_idx])
    w = torch.where(brighter.view(-1, 1, 1, 1), x[a_idx], x[b_idx])
    l = torch.where(brighter.view(-1, 1, 1, 1), x[b_idx], x[a_idx])
    if flip:
        w, l = l, w
    opt = torch.optim.Adam(policy.unet.parameters(), lr=1e-3)
    for _ in range(60):
        i = torch.randint(0, len(w), (32,), generator=g)
        t = torch.randint(0, 100, (32,), generator=g)
        loss, _ = pair_terms(policy, PreferenceLoss(beta=20.0), w[i], l[i], y[a_idx][i], abar, t,
                             torch.randn(32, 1, 8, 8, generator=g), None)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
    stds = gddim_stds(policy.a, policy.s, 0.0)
    prompts = torch.arange(200) % 10
    out = []
    for net in (policy.unet, policy.ref):
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            x0 = sample_chain(lambda z, k: policy._call(net, z, k, prompts), policy.a, policy.s, stds,
                              torch.randn(200, 1, 8, 8, generator=gen), gen, record=False)["x0"]
        out.append(ink(x0))
    return out


@pytest.mark.slow(8)
@pytest.mark.parametrize("flip", [False, True])
def test_sign_check_known_reward(pretrained, flip):
    tuned, base = _tuned_ink(pretrained, flip)
    diff = tuned - base
    z = diff.mean() / (diff.std() / math.sqrt(len(diff)))
    assert (z < -3) if flip else (z > 3), f"paired z = {z:.2f} (flip={flip})"


def test_editor_matches_scipy_grey_morphology():
    g = np.random.default_rng(0)
    y = (g.random((3, 1, 8, 8)) > 0.7) * g.random((3, 1, 8, 8))
    x = torch.tensor(y * 2 - 1, dtype=torch.float32)
    closed = ndimage.grey_closing(y, footprint=np.ones((1, 1, 3, 3)), mode="constant", cval=0.0)
    # scipy pads the dilation with 0 and the erosion with 0: erode the padded dilation as the editor does
    dil = ndimage.grey_dilation(np.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1))), footprint=np.ones((1, 1, 3, 3)),
                                mode="constant", cval=0.0)
    ero = ndimage.grey_erosion(dil, footprint=np.ones((1, 1, 3, 3)), mode="nearest")[..., 1:-1, 1:-1]
    assert np.allclose((editor.close(x).numpy() + 1) / 2, ero, atol=1e-6)
    assert (ero >= y - 1e-9).all() and closed.shape == y.shape           # closing is extensive
    cross = np.zeros((1, 1, 3, 3))
    cross[0, 0, 1, :] = cross[0, 0, :, 1] = 1
    thick = np.clip(np.maximum(y, 0.6 * ndimage.grey_dilation(y, footprint=cross.astype(bool), mode="constant",
                                                              cval=0.0)) * 1.2, 0, 1)
    assert np.allclose((editor.thicken(x).numpy() + 1) / 2, thick, atol=1e-6)
    shifted = editor.shift(x, 2, -1)
    assert torch.equal(shifted[..., :7, 2:], x[..., 1:, :6]) and (shifted[..., 7, :] == -1).all()


def _stats():
    return ClassStats(faint=torch.full((10,), 0.1), strokes=torch.ones(10), centre=torch.full((10, 2), 3.5))


class _Net(torch.nn.Module):
    """A fixed 'classifier' that always says class 3."""
    def forward(self, x):
        logits = torch.full((len(x), 10), -5.0)
        logits[:, 3] = 5.0
        return logits


def test_critic_findings_and_their_instructions():
    img = torch.full((1, 1, 8, 8), -1.0)
    img[0, 0, 1:7, 3:5] = 1.0                          # a bar centred at column 3.5, row 3.5
    broken = img.clone()
    broken[0, 0, 4, 3:5] = -1.0                        # two strokes
    moved = editor.shift(img, 2, 1)                    # centroid (5.5, 4.5)
    faint = img * 0 - 0.9                              # little ink everywhere
    x = torch.cat([img, broken, moved, faint])
    assert strokes(x).tolist()[:3] == [1, 2, 1]
    assert torch.allclose(centroids(moved)[0], torch.tensor([5.5, 4.5]))
    critic = Critic(_Net(), _stats())
    texts = critic.critique(x, torch.tensor([3, 3, 3, 8]))
    assert texts[0] == ""
    assert texts[1] == "broken stroke"
    assert texts[2] == "off-centre by (2, 1)"
    assert texts[3].startswith("resembles 3, not 8") and "too faint" in texts[3]
    kinds = [[i.kind for i in instructions.parse(t)] for t in texts]
    assert kinds == [[], ["close"], ["centre"], ["redraw", "thicken"]]
    centred = editor.apply(None, critic, moved, [instructions.parse(texts[2])], 4, 0.0, torch.Generator())
    assert torch.equal(centred, img)
    assert critic.score(centred, torch.tensor([3])) > critic.score(moved, torch.tensor([3]))


def test_parser_on_free_text_and_unknown_findings():
    ins = instructions.parse("The sky is dull. Make the sky bluer; it should have more contrast\nlovely")
    assert [(i.kind, i.text) for i in ins] == [("free", "make the sky bluer"), ("free", "make it have more contrast")]
    assert instructions.parse("resembles 1, not 7; resembles 2, not 7")[0].args == {"target": 7, "strong": False}
    assert len(instructions.parse("resembles 1, not 7; resembles 2, not 7")) == 1
    assert instructions.parse("nice digit") == []


def test_pairs_in_the_smoke_store(smoke_store):
    """The stored pairs: reward and rpo sets of equal count among training and among held-out pairs,
    rejection at most that; no image of a held-out pair in any training pair; every kept RPO edit scored
    higher by the critic than its original, its class term not lower (recomputed from the stored critic)."""
    import contextlib
    from safetensors.torch import load_file
    from engine.models.classifiers import load_stored
    from engine.plan import build_plan
    with contextlib.chdir(smoke_store):
        plan = build_plan("smoke")
        hashes = {h for h, i in plan.instances.items() if i.stage == "image_pairs"}
    assert hashes
    for h in hashes:
        d = smoke_store / "results" / "image_pairs" / h
        t = load_file(str(d / "pairs.safetensors"))
        prov = json.loads((d / "provenance.json").read_text())
        roles = dict(zip(prov["roles"], prov["upstream"]))
        for part in (0, 1):
            n = {s: int((t[f"{s}_heldout"] == part).sum()) for s in ("reward", "rpo", "rejection")}
            assert n["reward"] == n["rpo"] >= n["rejection"] and n["reward"] >= 1
        held = [t[f"{s}_{k}"][t[f"{s}_heldout"] == 1] for s in ("reward", "rpo", "rejection") for k in ("chosen", "rejected")]
        train = [t[f"{s}_{k}"][t[f"{s}_heldout"] == 0] for s in ("reward", "rpo", "rejection") for k in ("chosen", "rejected")]
        held, train = torch.cat(held).flatten(1), torch.cat(train).flatten(1)
        assert torch.cdist(held, train).min() > 0            # no image shared across the split
        with contextlib.chdir(smoke_store):
            net = load_stored(roles["critic"])
            data = load_file(str(smoke_store / "results" / "data" / roles["data"] / "data.safetensors"))
        critic = Critic(net, ClassStats.measure(data["train_x"], data["train_y"], prov["config"]["image_pairs"]["faint_quantile"]))
        p, w, l = t["rpo_prompts"], t["rpo_chosen"], t["rpo_rejected"]
        assert (critic.score(w, p) > critic.score(l, p)).all()
        with torch.no_grad():
            lp = lambda z: critic.log_probs(z).gather(1, p.view(-1, 1))[:, 0]      # noqa: E731
            assert (lp(w) >= lp(l)).all()
