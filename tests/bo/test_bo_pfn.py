"""The BO loop and the BoTorch adapter with a PFN surrogate (bar-distribution predictive)."""

import pytest
import torch

import probnn
from probnn.bo import minimize
from probnn.bo.acquisition import acquisition_scores
from probnn.models.pfn import PFN
from probnn.predictive.bar import BarPredictive


def tiny_pfn() -> PFN:
    torch.manual_seed(0)
    return PFN(torch.linspace(-4, 4, 33, dtype=torch.float64), max_features=2, width=16, depth=1, heads=2)


def test_loop_uses_the_bar_distributions_closed_form_ei():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 20, generator=generator, dtype=torch.float64)
    bar = BarPredictive(logits, torch.linspace(-3, 3, 21, dtype=torch.float64))
    scores = acquisition_scores(bar, 0.1, "ei").exp()
    torch.testing.assert_close(scores, bar.expected_improvement(0.1, maximize=False), rtol=1e-10, atol=1e-300)
    torch.testing.assert_close(acquisition_scores(bar, 0.1, "pi").exp(), bar.cdf(torch.full((5,), 0.1,
                                                                                   dtype=torch.float64)))


def test_minimize_with_pfn_surrogate_runs_and_records():
    network = tiny_pfn()
    result = minimize(lambda x: float(((x - 0.5) ** 2).sum()), [[0.0, 0.0], [1.0, 1.0]], surrogate=probnn.models.GP(),
                      method="pfn", fit_options={"checkpoint": network}, budget=6, initial_points=3, generator=0,
                      progress=False)
    assert result.num_evaluations == 6 and result.phase.count("bo") == 3
    assert bool(((result.x >= 0) & (result.x <= 1)).all())


def test_botorch_adapter_on_pfn_uses_marginal_draws():
    pytest.importorskip("botorch")
    from probnn.bo.botorch_adapter import ProbnnModel

    x = torch.rand(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    posterior = probnn.fit(probnn.models.GP(), x, x.sum(-1), method="pfn", checkpoint=tiny_pfn())
    wrapped = ProbnnModel(posterior).posterior(torch.rand(3, 2, 2, dtype=torch.float64))
    assert not wrapped.joint
    predictive = posterior.predict(wrapped.X.reshape(-1, 2))
    torch.testing.assert_close(wrapped.mean.reshape(-1), predictive.mean)
    torch.testing.assert_close(wrapped.variance.reshape(-1), predictive.variance)
    draws = wrapped.rsample(torch.Size([4000]), seed=0)
    assert draws.shape == (4000, 3, 2, 1)
    # independent marginals: the sample correlation between the two q points is ~ 0 (SE 1/sqrt(4000))
    correlation = torch.corrcoef(draws[:, 0, :, 0].T)[0, 1]
    assert abs(float(correlation)) < 5 / 4000**0.5
