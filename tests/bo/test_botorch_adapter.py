"""The BoTorch adapter on the exact GP matches BoTorch's SingleTaskGP with the same hyperparameters."""

import math

import pytest
import torch

import probnn

botorch = pytest.importorskip("botorch")
gpytorch = pytest.importorskip("gpytorch")

from botorch.acquisition import (  # noqa: E402
    LogExpectedImprovement,
    ProbabilityOfImprovement,
    UpperConfidenceBound,
    qExpectedImprovement,
    qLogExpectedImprovement,
)
from botorch.models import SingleTaskGP  # noqa: E402
from botorch.optim import optimize_acqf  # noqa: E402

from probnn.bo.botorch_adapter import ProbnnModel, ProbnnSampler  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(12, 2, generator=generator, dtype=torch.float64)
    y = torch.sin(5 * x[:, 0]) + x[:, 1] ** 2 + 0.05 * torch.randn(12, generator=generator, dtype=torch.float64)
    posterior = probnn.fit(probnn.models.GP(), x, y, method="exact", progress=False)
    model = posterior.model
    hyper = model.get_hyperparameters()
    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=2)).to(torch.float64)
    kernel.base_kernel.lengthscale = hyper["kernel.base_kernel.lengthscale"]
    kernel.outputscale = hyper["kernel.outputscale"]
    reference = SingleTaskGP(x, y.unsqueeze(-1), covar_module=kernel, outcome_transform=None)
    reference.likelihood.noise = hyper["noise"].reshape(1)
    reference.mean_module.constant.data.fill_(float(hyper["mean"]))
    reference.eval()
    return x, y, posterior, reference


def test_mean_variance_match_single_task_gp(fitted):
    _x, _y, posterior, reference = fitted
    test = torch.rand(5, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = ProbnnModel(posterior).posterior(test)
    theirs = reference.posterior(test)
    assert ours.mean.shape == theirs.mean.shape == (5, 3, 1)
    assert ours.variance.shape == (5, 3, 1)
    torch.testing.assert_close(ours.mean, theirs.mean, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(ours.variance, theirs.variance, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", ["logei", "pi", "ucb"])
def test_analytic_acquisitions_match(fitted, name):
    _x, y, posterior, reference = fitted
    test = torch.rand(7, 1, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    best = y.max()
    make = {"logei": lambda m: LogExpectedImprovement(m, best_f=best),
            "pi": lambda m: ProbabilityOfImprovement(m, best_f=best),
            "ucb": lambda m: UpperConfidenceBound(m, beta=2.0)}[name]
    torch.testing.assert_close(make(ProbnnModel(posterior))(test), make(reference)(test), rtol=1e-5, atol=1e-8)


def test_gradients_match_autograd(fitted):
    """Finite-difference gradients of LogEI agree with BoTorch's autograd gradients."""
    _x, y, posterior, reference = fitted
    test = torch.rand(4, 1, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    grads = []
    for model in (ProbnnModel(posterior), reference):
        point = test.clone().requires_grad_(True)
        LogExpectedImprovement(model, best_f=y.max())(point).sum().backward()
        grads.append(point.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_rsample_shapes_and_joint_covariance(fitted):
    _x, _y, posterior, reference = fitted
    test = torch.rand(2, 3, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ours = ProbnnModel(posterior).posterior(test)
    draws = ours.rsample(torch.Size([4000]), seed=0)
    assert draws.shape == (4000, 2, 3, 1)
    # Joint draws: the empirical covariance over q matches the GP's covariance. Entry-wise MC
    # standard error of a covariance estimate is about sqrt((s_ii s_jj + s_ij^2) / n); allow 5 SE.
    expected = reference.posterior(test).distribution.covariance_matrix
    empirical = torch.stack([torch.cov(draws[:, b, :, 0].T) for b in range(2)])
    scale = torch.sqrt((torch.diagonal(expected, dim1=-2, dim2=-1).unsqueeze(-1)
                        * torch.diagonal(expected, dim1=-2, dim2=-1).unsqueeze(-2) + expected**2) / 4000)
    assert bool(((empirical - expected).abs() <= 5 * scale).all())
    assert ours.rsample(torch.Size([3]), seed=1).equal(ours.rsample(torch.Size([3]), seed=1))


def test_qei_matches_single_task_gp(fitted):
    _x, y, posterior, reference = fitted
    test = torch.rand(3, 2, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    num = 4096
    sampler = botorch.sampling.SobolQMCNormalSampler(torch.Size([num]), seed=0)
    theirs = qExpectedImprovement(reference, best_f=y.max(), sampler=sampler)(test)
    ours = qExpectedImprovement(ProbnnModel(posterior), best_f=y.max(),
                                sampler=ProbnnSampler(torch.Size([num]), seed=0))
    value = ours(test)
    assert value.shape == (3,)
    # MC standard error of a mean of num improvements: std(improvement) / sqrt(num) <= stddev / sqrt(num).
    bound = 5 * reference.posterior(test).variance.max().sqrt() / math.sqrt(num) + 1e-6
    assert bool(((value - theirs).abs() <= bound).all())


def test_optimize_acqf_runs_unchanged(fitted):
    _x, y, posterior, _ = fitted
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    model = ProbnnModel(posterior)
    candidate, value = optimize_acqf(LogExpectedImprovement(model, best_f=y.max()), bounds=bounds, q=1,
                                     num_restarts=2, raw_samples=64)
    assert candidate.shape == (1, 2)
    # the optimiser improves on the best raw sample of a fresh Sobol grid
    grid = torch.rand(64, 1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(value) >= float(LogExpectedImprovement(model, best_f=y.max())(grid).max()) - 1e-6
    candidates, _ = optimize_acqf(qLogExpectedImprovement(model, best_f=y.max()), bounds=bounds, q=2,
                                  num_restarts=2, raw_samples=32, options={"maxiter": 20})
    assert candidates.shape == (2, 2)


def test_wrong_features_raise(fitted):
    _, _, posterior, _ = fitted
    with pytest.raises(probnn.InputError, match="features"):
        ProbnnModel(posterior).posterior(torch.zeros(3, 1, 5, dtype=torch.float64))
