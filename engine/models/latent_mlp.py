"""The score network of compressed-sensing diffusion: an MLP in R^m (a dense sketch is never
image-shaped), trained by denoising score matching on the process's noise levels and sampled
with the engine's samplers (engine/samplers) on the process's grid (engine/models/processes.py)."""
from __future__ import annotations



import torch
from torch import nn

from ..samplers import step_stds
from ..samplers.gddim import sample_chain
from .processes import grid, prior_std, vp_abar


class ScoreMLP(nn.Module):
    """eps_hat(x, sigma) for x = y + sigma eps with standardised y (unit scale), through the
    preconditioned denoiser of Karras et al. (2022): y_hat = c_skip x + c_out F(c_in x, log sigma),
    c_skip = 1 / (sigma^2 + 1), c_out = sigma / sqrt(sigma^2 + 1), c_in = 1 / sqrt(sigma^2 + 1), and
    eps_hat = (x - y_hat) / sigma. The skip term makes the high-noise levels (eps ~ x / sigma) free,
    which a plain MLP in hundreds of dimensions does not learn in a short budget."""

    def __init__(self, dim: int, hidden: int, layers: int):
        super().__init__()
        sizes = [dim + 1] + [hidden] * layers
        blocks = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            blocks += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(sizes[-1], dim))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        var = (sigma ** 2 + 1.0)[:, None]
        f = self.net(torch.cat([x * torch.rsqrt(var), torch.log(sigma)[:, None]], dim=1))
        y_hat = x / var + sigma[:, None] * torch.rsqrt(var) * f
        return (x - y_hat) / sigma[:, None]


def noise_levels(process, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, s) of n random training levels: VE log-uniform sigma in [sigma_min, sigma_max] (a = 1);
    VP uniform t in (0, 1]."""
    u = torch.rand(n, generator=generator)
    if process.kind == "ve":
        s = process.sigma_min * (process.sigma_max / process.sigma_min) ** u
        return torch.ones_like(s), s
    abar = vp_abar(u.clamp_min(1e-3), process.beta_min, process.beta_max)
    return abar.sqrt(), (1.0 - abar).sqrt()


_WARM = False


def warm_up() -> None:
    """A few untimed steps of a throwaway model, once per process, so the first instance of a
    batched job is not charged torch's one-off start-up in its timings."""
    global _WARM
    if _WARM:
        return
    _WARM = True
    net = ScoreMLP(8, 16, 2)
    opt = torch.optim.Adam(net.parameters())
    for _ in range(3):
        loss = net(torch.randn(4, 8), torch.ones(4)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        net(torch.randn(4, 8), torch.ones(4))


def train(y: torch.Tensor, model_cfg, generator: torch.Generator, log, every: int = 500, bar=None) -> tuple[ScoreMLP, list]:
    """Denoising score matching on standardised latents y [n, m]: E || eps_hat(a y + s eps, s/a) - eps ||^2."""
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    net = ScoreMLP(y.shape[1], model_cfg.hidden, model_cfg.layers)
    opt = torch.optim.Adam(net.parameters(), lr=model_cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, model_cfg.train_steps)
    losses = []
    for step in range(model_cfg.train_steps):
        idx = torch.randint(0, len(y), (model_cfg.batch_size,), generator=generator)
        a, s = noise_levels(model_cfg.process, model_cfg.batch_size, generator)
        eps = torch.randn(model_cfg.batch_size, y.shape[1], generator=generator)
        x = a[:, None] * y[idx] + s[:, None] * eps
        loss = ((net(x / a[:, None], s / a) - eps) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
        if (step + 1) % every == 0 or step + 1 == model_cfg.train_steps:
            log(f"step {step + 1}/{model_cfg.train_steps}: loss {sum(losses[-every:]) / len(losses[-every:]):.4f}")
    return net, losses


@torch.no_grad()
def sample(net: ScoreMLP, process, sampler, n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """n standardised latents from the sampler's chain on the process's grid (x_T ~ N(0, prior))."""
    a, s = grid(process, sampler.steps, dtype=torch.float32)
    stds = step_stds(sampler, a, s)
    x_T = torch.randn(n, dim, generator=generator) * prior_std(process)

    def eps_fn(x, k):
        sig = torch.full((x.shape[0],), float(s[k + 1] / a[k + 1]))
        return net(x / a[k + 1], sig)

    return sample_chain(eps_fn, a, s, stds, x_T, generator, record=False)["x0"]



