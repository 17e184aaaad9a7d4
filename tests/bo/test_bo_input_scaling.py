"""probnn.bo.minimize fits surrogates with non-translation-invariant priors on [-1, 1]^d."""

import pytest
import torch

import probnn
import probnn.bo.loop
from probnn.bo import minimize
from probnn.bo.surrogate import from_model_inputs, input_scaling_for, is_translation_invariant, to_model_inputs
from probnn.errors import InputError
from probnn.gp.nngp import NNGPKernel
from probnn.posterior import Posterior
from probnn.predictive import GaussianPredictive


def _mean_correlation(kernel, x):
    matrix = kernel(x).to_dense().detach()
    scale = matrix.diag().sqrt()
    correlation = matrix / scale[:, None] / scale[None]
    return float(correlation[~torch.eye(len(x), dtype=torch.bool)].mean())


def test_centring_decorrelates_a_dot_product_kernel():
    # depth-3 ReLU NNGP: on the positive orthant every pair of points is strongly correlated a priori
    # (0.91 on average over 200 uniform points); centring to [-1, 1]^2 spreads the angles (0.76), while a
    # stationary kernel is unchanged up to its lengthscale.
    kernel = NNGPKernel(depth=3, activation="relu").double()
    unit = torch.rand(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    before, after = _mean_correlation(kernel, unit), _mean_correlation(kernel, to_model_inputs(unit, "centred"))
    assert before > 0.88
    assert after < before - 0.1
    # two distinct points along the diagonal: correlation 0.82 in the unit cube, 0.62 centred
    pair = torch.tensor([[0.2, 0.2], [0.8, 0.8]], dtype=torch.float64)
    assert _mean_correlation(kernel, to_model_inputs(pair, "centred")) < _mean_correlation(kernel, pair) - 0.15


def test_auto_scaling_follows_the_prior():
    assert input_scaling_for(probnn.models.GP()) == "unit"  # default RBF-ARD, built later
    assert input_scaling_for(probnn.models.GP(NNGPKernel(depth=3))) == "centred"
    assert input_scaling_for(probnn.gp.ScaleMixtureNNGP()) == "centred"
    assert not is_translation_invariant(probnn.models.BNN(2, hidden=(8,)))
    # the PFN backend rescales itself and was trained on the unit cube
    assert input_scaling_for(probnn.models.GP(NNGPKernel(depth=3)), {"rescale_inputs"}) == "unit"
    unit = torch.rand(7, 3, dtype=torch.float64)
    for scaling in ("unit", "centred"):
        torch.testing.assert_close(from_model_inputs(to_model_inputs(unit, scaling), scaling), unit)
    assert float(to_model_inputs(unit, "centred").min()) >= -1 and float(to_model_inputs(unit, "centred").max()) <= 1


class _BowlPosterior(Posterior):
    """A fake posterior whose mean is ``|x - centre|^2`` in the coordinates it was fitted in."""

    def __init__(self, centre):
        self.centre = centre
        self.num_features = len(centre)

    def predict(self, x):
        mean = ((x - self.centre) ** 2).sum(-1)
        return GaussianPredictive(mean, torch.full_like(mean, 1e-4))

    def sample_functions(self, x, num_samples, *, generator=None):
        # the bowl is deterministic: every function draw is the mean
        return ((x - self.centre) ** 2).sum(-1).expand(num_samples, len(x))

    def get_state(self):
        return {}

    @classmethod
    def from_state(cls, state):
        return cls(torch.zeros(2))


BOUNDS = torch.tensor([[-5.0, 0.0], [10.0, 15.0]], dtype=torch.float64)
BOWL_CENTRE = torch.tensor([0.5, -0.5], dtype=torch.float64)


def _run_on_bowl(monkeypatch, **options):
    """Run the loop on an NNGP surrogate whose every fit is the bowl posterior: (inputs of each fit, result)."""
    seen = []

    def fake_fit(model, x, y, **fit_options):
        seen.append(x.clone())
        return _BowlPosterior(BOWL_CENTRE)

    monkeypatch.setattr(probnn.bo.loop, "fit", fake_fit)
    result = minimize(lambda x: float(x.sum()), BOUNDS, surrogate=probnn.models.GP(NNGPKernel(depth=3)), budget=4,
                      initial_points=3, generator=0, progress=False, **options)
    return seen, result


@pytest.mark.parametrize("scaling", ["unit", "centred"])
def test_loop_fits_and_maps_candidates_back(monkeypatch, scaling):
    # the surrogate sees 2 u - 1 (centred) or u (unit); the acquisition's maximiser in the surrogate's
    # coordinates (the bowl's centre c) comes back as lower + width * from_model_inputs(c)
    seen, result = _run_on_bowl(monkeypatch, input_scaling=scaling)
    unit = (result.x[:3] - BOUNDS[0]) / (BOUNDS[1] - BOUNDS[0])
    torch.testing.assert_close(seen[0], to_model_inputs(unit, scaling))
    expected_unit = from_model_inputs(BOWL_CENTRE, scaling).clamp(0, 1)
    torch.testing.assert_close(result.x[3], BOUNDS[0] + (BOUNDS[1] - BOUNDS[0]) * expected_unit, atol=2e-3, rtol=0)
    assert result.config["input_scaling"] == scaling


def test_auto_centres_the_nngp_in_the_loop(monkeypatch):
    seen = []
    original = probnn.bo.loop.fit

    def recording_fit(model, x, y, **options):
        seen.append(x.clone())
        return original(model, x, y, **options)

    monkeypatch.setattr(probnn.bo.loop, "fit", recording_fit)
    minimize(lambda x: float(((x - 0.3) ** 2).sum()), [[0.0, 0.0], [1.0, 1.0]],
             surrogate=probnn.models.GP(NNGPKernel(depth=2)), budget=4, initial_points=3, generator=0, progress=False)
    assert float(seen[0].min()) < 0  # centred: the design's points are 2 u - 1


def test_bad_input_scaling():
    with pytest.raises(InputError, match="input_scaling"):
        minimize(lambda x: 0.0, [[0.0], [1.0]], input_scaling="standardised", budget=2)


def test_screen_polish_reaches_a_smooth_maximum_in_the_cube():
    from probnn.bo.loop import _optimise_acquisition

    centre = torch.tensor([0.31, 0.77, 0.52], dtype=torch.float64)
    calls = []

    def score(x):
        calls.append(len(x))
        return -((x - centre) ** 2).sum(-1)

    generator = torch.Generator().manual_seed(0)
    observed = torch.rand(6, 3, generator=generator, dtype=torch.float64)
    point = _optimise_acquisition(score, observed, torch.randn(6, generator=generator, dtype=torch.float64), 3,
                                  generator, "screen")
    # 7 batched calls (first screen + SCREEN_ROUNDS) instead of one call per L-BFGS-B step; the last
    # round's spread (0.0023 of the cube) bounds the error
    assert len(calls) == 1 + probnn.bo.loop.SCREEN_ROUNDS
    assert float((point - centre).abs().max()) < 0.01
    assert float(point.min()) >= 0 and float(point.max()) <= 1


def test_auto_polish_screens_for_the_pfn(monkeypatch, pfn_loop):
    seen = []
    original = probnn.bo.loop._optimise_acquisition

    def recording(*args):
        seen.append(args[-1])
        return original(*args)

    monkeypatch.setattr(probnn.bo.loop, "_optimise_acquisition", recording)
    pfn_loop()
    minimize(lambda x: float(((x - 0.5) ** 2).sum()), [[0.0, 0.0], [1.0, 1.0]], budget=4, initial_points=3,
             generator=0, progress=False)
    assert seen == ["screen", "lbfgs"]


def test_botorch_optimizer_searches_the_centred_box(monkeypatch):
    pytest.importorskip("botorch")
    seen, result = _run_on_bowl(monkeypatch, acquisition_optimizer="botorch")
    assert float(seen[0].min()) < 0
    # BoTorch's optimum of the bowl's EI in [-1, 1]^2 is the centre (0.5, -0.5) -> unit (0.75, 0.25)
    expected = BOUNDS[0] + (BOUNDS[1] - BOUNDS[0]) * torch.tensor([0.75, 0.25], dtype=torch.float64)
    torch.testing.assert_close(result.x[3], expected, atol=0.05, rtol=0)
