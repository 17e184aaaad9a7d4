"""probnn.bo.minimize: finds minima within budget, resumes exactly, closed-form acquisitions."""

import math

import pytest
import torch

import probnn
from probnn.bo import BOResult, minimize
from probnn.bo.acquisition import acquisition_scores, log_expected_improvement
from probnn.predictive import GaussianPredictive, MixturePredictive, StudentTPredictive


def quadratic_1d(x: torch.Tensor) -> float:
    return float((x[0] - 0.3) ** 2)


def branin(x: torch.Tensor) -> float:
    """Branin on [-5, 10] x [0, 15]; global minimum 0.397887 (three minimisers)."""
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * torch.cos(x[0]) + s)


def test_finds_1d_minimum():
    result = minimize(quadratic_1d, [[-1.0], [1.0]], budget=10, initial_points=3, generator=0, progress=False)
    assert result.num_evaluations == 10
    assert abs(float(result.best_x[0]) - 0.3) < 0.02
    assert result.best_y < 1e-3


def test_finds_branin_minimum_beats_random():
    bounds = [[-5.0, 0.0], [10.0, 15.0]]
    result = minimize(branin, bounds, budget=25, initial_points=5, generator=1, progress=False)
    random = minimize(branin, bounds, surrogate="random", budget=25, initial_points=5, generator=1, progress=False)
    assert result.best_y - 0.397887 < 0.05
    assert result.best_y < random.best_y
    assert torch.equal(result.best_so_far, torch.cummin(result.y, 0).values)
    assert len(result.iteration_seconds) == 25 and result.phase.count("initial") == 5


@pytest.mark.parametrize("acquisition", ["pi", "ucb"])
def test_other_acquisitions(acquisition):
    result = minimize(quadratic_1d, [[-1.0], [1.0]], acquisition=acquisition, budget=10, generator=0, progress=False)
    assert result.best_y < 1e-2


def test_resume_equals_uninterrupted(tmp_path):
    bounds = [[-5.0, 0.0], [10.0, 15.0]]
    full = minimize(branin, bounds, budget=9, initial_points=4, generator=7, progress=False)
    first = minimize(branin, bounds, budget=6, initial_points=4, generator=7, progress=False)
    path = first.save(tmp_path / "history.json")
    resumed = minimize(branin, bounds, budget=9, initial_points=4, history=BOResult.load(path), progress=False)
    torch.testing.assert_close(resumed.x, full.x, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(resumed.y, full.y, rtol=1e-9, atol=1e-9)
    assert resumed.config["seed"] == 7


def test_save_load_roundtrip_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    result = minimize(quadratic_1d, [[-1.0], [1.0]], surrogate="random", budget=5, generator=0, progress=False)
    loaded = BOResult.load(result.save(tmp_path / "h.json"))
    assert torch.equal(loaded.x, result.x) and torch.equal(loaded.y, result.y)
    assert loaded.phase == result.phase and loaded.config == result.config
    ax = loaded.plot_convergence(optimum=0.0)
    assert len(ax.lines) >= 1


def test_bad_inputs():
    with pytest.raises(probnn.InputError, match="bounds"):
        minimize(quadratic_1d, [[1.0], [0.0]], budget=3)
    with pytest.raises(probnn.InputError, match="acquisition"):
        minimize(quadratic_1d, [[0.0], [1.0]], acquisition="foo", budget=3)


def test_gaussian_log_ei_matches_closed_form_and_tail():
    mean = torch.tensor([0.0, 1.0, 12.0], dtype=torch.float64)
    std = torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64)
    value = log_expected_improvement(GaussianPredictive(mean, std**2), 0.2).exp()
    z = (0.2 - mean) / std
    exact = std * (z * torch.special.ndtr(z) + torch.exp(-0.5 * z**2) / math.sqrt(2 * math.pi))
    torch.testing.assert_close(value[:2], exact[:2], rtol=1e-10, atol=0)
    # z = -11.8 uses the asymptotic series: compare with adaptive quadrature
    from scipy import integrate, stats

    direct, _ = integrate.quad(lambda y: (0.2 - y) * stats.norm.pdf(y, 12.0, 1.0), -50, 0.2, epsabs=0, epsrel=1e-12,
                               points=[0.2])
    assert abs(float(value[2]) / direct - 1) < 1e-3


def test_student_t_and_mixture_ei_match_quadrature():
    from scipy import integrate, stats

    t = StudentTPredictive(torch.tensor([3.0]), torch.tensor([0.5], dtype=torch.float64),
                           torch.tensor([0.8], dtype=torch.float64))
    expected, _ = integrate.quad(lambda y: (0.0 - y) * stats.t.pdf(y, 3.0, 0.5, 0.8), -math.inf, 0.0)
    assert abs(float(log_expected_improvement(t, 0.0).exp()) / expected - 1) < 1e-6
    components = GaussianPredictive(torch.tensor([[0.0], [2.0]], dtype=torch.float64),
                                    torch.tensor([[1.0], [0.25]], dtype=torch.float64))
    mixture = MixturePredictive(components, torch.log(torch.tensor([0.3, 0.7], dtype=torch.float64)))
    expected = sum(w * integrate.quad(lambda y, m=m, s=s: (0.5 - y) * stats.norm.pdf(y, m, s), -math.inf, 0.5)[0]
                   for w, m, s in ((0.3, 0.0, 1.0), (0.7, 2.0, 0.5)))
    assert abs(float(log_expected_improvement(mixture, 0.5).exp()) / expected - 1) < 1e-6


def test_pi_and_ucb_scores():
    predictive = GaussianPredictive(torch.tensor([0.0, 1.0], dtype=torch.float64),
                                    torch.tensor([1.0, 4.0], dtype=torch.float64))
    pi = acquisition_scores(predictive, 0.5, "pi").exp()
    torch.testing.assert_close(pi, torch.special.ndtr(torch.tensor([0.5, -0.25], dtype=torch.float64)))
    ucb = acquisition_scores(predictive, 0.5, "ucb", beta=4.0)
    torch.testing.assert_close(ucb, torch.tensor([2.0, 3.0], dtype=torch.float64))


def _fitted_gp_score():
    x = torch.rand(12, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = torch.sin(6 * x).sum(-1)
    y = (y - y.mean()) / y.std()
    posterior = probnn.fit(probnn.models.GP(), x, y, method="exact", progress=False)
    from probnn.bo.surrogate import predict_latent

    return x, y, lambda z: acquisition_scores(predict_latent(posterior, z), float(y.min()), "ei")


def test_exact_gp_acquisition_gradient_matches_finite_differences():
    from probnn.bo.loop import _differentiable_scores

    x, _, score = _fitted_gp_score()
    points = (x[:4] + 0.03).clamp(0, 1).requires_grad_(True)
    (gradient,) = torch.autograd.grad(score(points).sum(), points)
    step = 1e-6
    for j in range(2):
        shift = torch.zeros_like(points)
        shift[:, j] = step
        with torch.no_grad():
            central = (score(points + shift) - score(points - shift)) / (2 * step)
        torch.testing.assert_close(gradient[:, j], central, rtol=1e-4, atol=1e-6)
    assert _differentiable_scores(score, points[:1])
    # scores that autograd cannot reach fall back to finite differences
    assert not _differentiable_scores(lambda z: score(z).detach(), points[:1])


def test_gradient_polish_improves_every_start_and_stays_in_the_cube():
    from probnn.bo.loop import _polish

    _, _, score = _fitted_gp_score()
    starts = torch.rand(6, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    with torch.no_grad():
        before = score(starts)
    polished, after = _polish(score, starts, exact_gradients=True)
    assert bool(((polished >= 0) & (polished <= 1)).all())
    assert bool((after >= before - 1e-9).all())                 # no start gets worse
    assert float(after.max()) > float(before.max())
    # the gradient polish reaches at least the finite-difference polish's best value
    _, fd_after = _polish(score, starts, exact_gradients=False)
    assert float(after.max()) >= float(fd_after.max()) - 1e-3 * abs(float(fd_after.max()))


def test_loop_gives_pfn_unit_cube_inputs_without_rescaling(monkeypatch, pfn_loop):
    seen = []
    original = probnn.bo.loop.fit

    def recording_fit(model, x, y, **options):
        seen.append(options.get("rescale_inputs"))
        return original(model, x, y, **options)

    monkeypatch.setattr(probnn.bo.loop, "fit", recording_fit)
    pfn_loop(budget=5)
    assert seen == [False, False]
