"""Compressed-sensing diffusion (arXiv 2509.03898): each piece against an independent oracle.
FISTA against the closed form for an orthogonal matrix and against the LASSO's KKT solution on a
known support; the sketch against N(0, 1/m); the DCT basis against scipy.fft; VaR and ES against
scipy.stats.norm; the sliced W2 against its closed form for shifted Gaussians; the latent score
model against the moments of the Gaussian it was trained on; the decoder of the sample stage on
exactly sparse signals; the return panel's heavy tails and volatility clustering."""
import math

import numpy as np
import pytest
import torch
from scipy import fft as sfft
from scipy import stats as sps

from engine import registry
from engine.sensing import signals
from engine.sensing.distances import sliced_w2
from engine.sensing.fista import fista, lasso_objective, power_iteration, soft_threshold
from engine.sensing.risk import gaussian_var_es, min_variance_weights, var_es
from engine.sensing.sketch import dct_basis, gaussian_sketch, pca_basis


pytestmark = pytest.mark.slow(20)


def data(kind, **kw):
    return registry.kind("data", kind).spec.model_validate({"kind": kind, **kw})


# ----------------------------------------------------------------------------- FISTA
@pytest.mark.parametrize("box", [None, (0.0, 1.0)])
def test_fista_on_an_orthogonal_matrix_is_the_proximal_map_of_its_transpose(box):
    """With M orthogonal the LASSO separates: c = clip(soft_threshold(M^T y, lam), box)."""
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(32, 32, generator=g, dtype=torch.float64))
    y = torch.randn(5, 32, generator=g, dtype=torch.float64)
    lam = 0.3
    expected = soft_threshold(y @ q, lam)
    expected = expected if box is None else expected.clamp(*box)
    assert power_iteration(q) == pytest.approx(1.0, abs=1e-10)
    got = fista(q, y, lam, iters=50, box=box)
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=0)


def test_fista_matches_the_lasso_solution_on_the_known_support():
    """Noiseless y = M c with c 4-sparse (large entries): the LASSO solution keeps the support and
    signs, and there it is c_S = (M_S^T M_S)^-1 (M_S^T y - lam sign(c_S)) (the KKT conditions),
    provided off the support |M^T (y - M c)| < lam (checked first: the case is one where it holds)."""
    g = torch.Generator().manual_seed(1)
    m, d, lam = 80, 128, 0.05
    M = gaussian_sketch(m, d, g)
    support = torch.tensor([3, 40, 77, 120])
    c = torch.zeros(d, dtype=torch.float64)
    c[support] = torch.tensor([2.0, -1.5, 3.0, -2.5], dtype=torch.float64)
    y = (M @ c)[None]
    Ms = M[:, support]
    c_s = torch.linalg.solve(Ms.T @ Ms, Ms.T @ y[0] - lam * torch.sign(c[support]))
    expected = torch.zeros(d, dtype=torch.float64)
    expected[support] = c_s
    off = torch.ones(d, dtype=torch.bool)
    off[support] = False
    assert (M.T @ (y[0] - M @ expected))[off].abs().max() < 0.9 * lam      # the certificate holds
    assert torch.equal(torch.sign(c_s), torch.sign(c[support]))
    got = fista(M, y, lam, iters=5000)[0]
    torch.testing.assert_close(got, expected, atol=1e-9, rtol=0)
    # and it is a minimiser: no random perturbation does better
    base = lasso_objective(M, y, got[None], lam)
    for _ in range(20):
        bumped = got + 1e-3 * torch.randn(d, generator=g, dtype=torch.float64)
        assert lasso_objective(M, y, bumped[None], lam) >= base


def test_power_iteration_is_the_largest_squared_singular_value():
    M = gaussian_sketch(20, 50, torch.Generator().manual_seed(2))
    assert power_iteration(M, 500) == pytest.approx(float(torch.linalg.matrix_norm(M, 2)) ** 2, rel=1e-8)


def test_fista_refuses_a_box_without_zero():
    with pytest.raises(ValueError, match="must contain 0"):
        fista(torch.eye(3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64), 0.1, 5, box=(0.5, 1.0))


# ----------------------------------------------------------------------------- sketch, bases
def test_the_sketch_has_iid_normal_entries_of_variance_one_over_m():
    m, d = 64, 300
    A = gaussian_sketch(m, d, torch.Generator().manual_seed(3))
    entries = (A * math.sqrt(m)).flatten().numpy()
    assert sps.kstest(entries, "norm").pvalue > 0.01
    assert abs(entries.mean()) < 4 / math.sqrt(len(entries)) and entries.var() == pytest.approx(1.0, abs=0.03)
    x = torch.randn(2000, d, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ratio = ((x @ A.T) ** 2).sum(1).mean() / (x ** 2).sum(1).mean()     # E ||A x||^2 = ||x||^2
    assert float(ratio) == pytest.approx(1.0, abs=0.05)
    again = gaussian_sketch(m, d, torch.Generator().manual_seed(3))
    assert torch.equal(A, again)


def test_dct_basis_is_scipys_orthonormal_dct():
    psi = dct_basis(16)
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    np.testing.assert_allclose((x @ psi).numpy(), sfft.dct(x.numpy(), norm="ortho", axis=1), atol=1e-12)
    torch.testing.assert_close(psi.T @ psi, torch.eye(16, dtype=torch.float64))


def test_pca_basis_is_orthonormal_and_ordered_by_variance():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * torch.tensor(
        [5.0, 1.0, 3.0, 0.1, 2.0, 0.5], dtype=torch.float64)
    psi = pca_basis(x)
    torch.testing.assert_close(psi.T @ psi, torch.eye(6, dtype=torch.float64))
    var = ((x - x.mean(0)) @ psi).var(0)
    assert torch.all(var[:-1] >= var[1:])


# ----------------------------------------------------------------------------- distances, risk
def test_sliced_w2_of_shifted_gaussians_is_the_shift_over_root_d():
    """W2 of N(0, 1) and N(theta . mu, 1) in direction theta is |theta . mu|; over uniform unit
    directions E (theta . mu)^2 = |mu|^2 / d."""
    g = torch.Generator().manual_seed(7)
    d = 8
    mu = torch.full((d,), 1.5, dtype=torch.float64)
    x = torch.randn(4000, d, generator=g, dtype=torch.float64)
    y = torch.randn(4000, d, generator=g, dtype=torch.float64) + mu
    expected = float(mu.norm()) / math.sqrt(d)
    assert sliced_w2(x, y, 1000, torch.Generator().manual_seed(8)) == pytest.approx(expected, rel=0.05)
    assert sliced_w2(x[:2000], x[2000:], 500, torch.Generator().manual_seed(8)) < 0.1


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_var_es_closed_forms_and_historical_estimates_for_gaussian_returns(level):
    mu, sigma = 0.3, 2.0
    z = sps.norm.ppf(level)
    var, es = gaussian_var_es(mu, sigma, level)
    assert var == pytest.approx(-mu + sigma * z, rel=1e-12)
    assert es == pytest.approx(-mu + sigma * sps.norm.pdf(z) / (1 - level), rel=1e-12)
    assert var == pytest.approx(-sps.norm.ppf(1 - level, loc=mu, scale=sigma), rel=1e-12)
    r = torch.tensor(sps.norm.rvs(loc=mu, scale=sigma, size=400_000, random_state=9))
    hv, he = var_es(r, level)
    assert hv == pytest.approx(var, rel=0.02) and he == pytest.approx(es, rel=0.02)


def test_var_es_of_a_small_sample_by_hand():
    r = torch.tensor([-5.0, -3.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], dtype=torch.float64)
    assert var_es(r, 0.9) == (5.0, 5.0)                 # the worst 1 of 10
    assert var_es(r, 0.8) == (3.0, 4.0)                 # the worst 2: -5, -3


def test_minimum_variance_weights_minimise_variance():
    g = torch.Generator().manual_seed(10)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    cov = a @ a.T + 0.5 * torch.eye(5, dtype=torch.float64)
    w = min_variance_weights(cov)
    assert float(w.sum()) == pytest.approx(1.0)
    for _ in range(50):
        v = torch.randn(5, generator=g, dtype=torch.float64)
        v = v - v.mean()                                # stays fully invested
        assert float((w + 0.05 * v) @ cov @ (w + 0.05 * v)) >= float(w @ cov @ w)


# ----------------------------------------------------------------------------- data, models, decoder
def test_sparse_signals_are_k_sparse_in_their_basis():
    cfg = data("sparse_signals", dim=64, sparsity=5, n_train=300, n_val=10, n_test=20)
    sig = signals.load(cfg)
    coef = sig.train @ sig.basis
    assert ((coef.abs() > 1e-9).sum(1) <= 5).all() and ((coef.abs() > 1e-9).sum(1) == 5).float().mean() > 0.99
    assert sig.box is None and sig.train.shape == (300, 64) and sig.test.shape == (20, 64)


def test_return_panel_has_heavy_tails_and_volatility_clustering():
    cfg = data("factor_returns", assets=4, days=10, n_train=2000, n_val=10, n_test=20)
    r = signals.load(cfg).train.reshape(-1, 4)[:, 0].numpy()
    assert sps.kurtosis(r) > 1.0                                             # excess kurtosis: heavy tails
    sq = r ** 2 - (r ** 2).mean()
    assert float((sq[1:] * sq[:-1]).mean() / (sq * sq).mean()) > 0.05          # squared returns autocorrelate


def test_digits_are_in_the_unit_box_with_a_fixed_split():
    sig = signals.load(data("pixel_digits", n_val=50, n_test=100))
    assert sig.box == (0.0, 1.0) and sig.basis is None and sig.dim == 64
    assert float(sig.train.min()) >= 0 and float(sig.train.max()) <= 1 and len(sig.test) == 100
    assert torch.equal(sig.test, signals.load(data("pixel_digits", n_val=50, n_test=100)).test)


def test_the_decoder_recovers_exactly_sparse_signals_and_is_the_identity_at_m_equal_d():
    from engine.models.latent_mlp_kind import Recovery
    from engine.stages.latent_sample import Decoder
    sig = signals.load(data("sparse_signals", dim=128, sparsity=4, n_train=10, n_val=20, n_test=50))
    A = gaussian_sketch(64, 128, torch.Generator().manual_seed(11))
    dec = Decoder(A, sig, Recovery(iterations=500), seed=0)
    dec.choose([0.001, 0.01, 0.1], sig.val, A, lambda s: None)
    err = float(((dec(sig.test @ A.T) - sig.test.float()) ** 2).mean() / (sig.test ** 2).mean())
    assert dec.lam == 0.001 and err < 1e-3
    ident = Decoder(torch.eye(128, dtype=torch.float64), sig, Recovery(), seed=0)
    assert torch.equal(ident(sig.test), sig.test.float())


def test_the_latent_score_model_learns_a_gaussians_moments():
    """Trained by denoising score matching on N(mu, diag(s^2)) and sampled with the engine's gDDIM
    sampler on the VE grid, the samples' moments match (the standardisation is the stage's job,
    done here by hand)."""
    from engine.models.latent_mlp import sample, train
    from engine.models.latent_mlp_kind import LatentMLP
    from engine.samplers.gddim_kind import GDDIMSampler
    torch.manual_seed(0)
    mu, s = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 1.0])
    y = mu + s * torch.randn(4000, 2, generator=torch.Generator().manual_seed(12))
    cfg = LatentMLP(kind="latent_mlp", latent_dim=2, hidden=64, layers=2, train_steps=600, batch_size=256, lr=3e-3)
    net, losses = train(y, cfg, torch.Generator().manual_seed(13), lambda m: None)
    out = sample(net, cfg.process, GDDIMSampler(kind="gddim", steps=100, stochasticity=1.0), 4000, 2,
                 torch.Generator().manual_seed(14))
    assert torch.allclose(out.mean(0), mu, atol=0.12), out.mean(0)
    assert torch.allclose(out.std(0), s, rtol=0.15), out.std(0)


# ----------------------------------------------------------------------------- paper scale: a file the user provides
def test_array_file_reads_images_fields_and_returns_and_checks_the_files_hash(tmp_path, monkeypatch):
    from engine.data.array_file import generate
    from engine.store import sha256_file as sha256
    from engine.errors import EngineError
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    imgs = np.random.default_rng(0).integers(0, 256, size=(30, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "data" / "imgs.npy", imgs)
    cfg = data("array_file", path="data/imgs.npy", format="npy_images", shape=[4, 4], n_val=5, n_test=10)
    sig = generate(cfg)
    assert sig.box == (0.0, 1.0) and sig.basis is None and sig.dim == 16 and len(sig.train) == 15
    np.testing.assert_allclose(sig.test.numpy(), imgs[20:].reshape(10, 16) / 255.0)
    up = generate(data("array_file", path="data/imgs.npy", format="npy_images", shape=[8, 8], n_val=5, n_test=10))
    assert up.dim == 64 and float(up.train.max()) <= 1.0
    fields = generate(data("array_file", path="data/imgs.npy", format="npy_fields", shape=[4, 4], n_val=5, n_test=10))
    assert fields.basis_name == "dct" and fields.box is None and abs(float(fields.train.mean())) < 1e-9
    torch.testing.assert_close(fields.basis.T @ fields.basis, torch.eye(16, dtype=torch.float64))
    rows = ["date,a,b"] + [f"2020-01-{i + 1:02d},{0.1 * i},{-0.2 * i}" for i in range(28)]
    (tmp_path / "data" / "r.csv").write_text("\n".join(rows) + "\n")
    ret = generate(data("array_file", path="data/r.csv", format="csv_returns", assets=2, days=3, n_val=2, n_test=3))
    assert ret.dim == 6 and len(ret.train) + len(ret.val) + len(ret.test) == 9 and ret.basis_name == "pca"
    assert ret.train[1].tolist() == pytest.approx([0.3, -0.6, 0.4, -0.8, 0.5, -1.0])   # days 3-5, day-major
    good = sha256(tmp_path / "data" / "imgs.npy")
    assert generate(data("array_file", path="data/imgs.npy", format="npy_images", shape=[4, 4], n_val=5, n_test=10,
                         sha256=good)).dim == 16
    with pytest.raises(EngineError, match="does not match the sha256"):
        generate(data("array_file", path="data/imgs.npy", format="npy_images", shape=[4, 4], n_val=5, n_test=10,
                      sha256="0" * 64))
    with pytest.raises(EngineError, match="does not exist"):
        generate(data("array_file", path="data/none.npy", format="npy_images", shape=[4, 4]))
    with pytest.raises(EngineError, match="expected 3 finite return columns"):
        generate(data("array_file", path="data/r.csv", format="csv_returns", assets=3, days=3, n_val=2, n_test=3))


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.npy", "data/../../x.npy", "~/x.npy", "C:x.npy"])
def test_array_file_paths_stay_inside_the_project(path):
    with pytest.raises(Exception, match="relative to the project"):
        data("array_file", path=path, format="npy_images", shape=[4, 4])
