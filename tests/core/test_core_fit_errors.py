"""probnn.fit and predict: bad input gets a clear error naming the argument (examples + hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import probnn
from probnn.errors import InputError, InputTypeError, MethodError, ProbnnError

DTYPE = torch.float64


@pytest.fixture(scope="module")
def xy() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(12, 2, generator=generator, dtype=DTYPE)
    return x, torch.sin(3 * x[:, 0])


@pytest.fixture(scope="module")
def posterior(xy) -> probnn.Posterior:
    return probnn.fit(probnn.models.GP(), *xy, method="exact", progress=False, max_iterations=5)


def test_misspelled_method_lists_valid_ones(xy) -> None:
    with pytest.raises(MethodError, match=r"valid methods: \['exact'\].*Did you mean 'exact'"):
        probnn.fit(probnn.models.GP(), *xy, method="exakt")
    with pytest.raises(MethodError, match="valid methods"):
        probnn.fit(probnn.models.GP(), *xy, method="nuts")
    with pytest.raises(MethodError, match="must be a string"):
        probnn.fit(probnn.models.GP(), *xy, method=3)


def test_unknown_option_lists_valid_ones(xy) -> None:
    with pytest.raises(MethodError, match=r"unknown option\(s\) \['num_sampels'\].*max_iterations"):
        probnn.fit(probnn.models.GP(), *xy, method="exact", num_sampels=3)


def test_not_a_model(xy) -> None:
    with pytest.raises(InputTypeError, match="model must be a probnn model"):
        probnn.fit(object(), *xy)


@pytest.mark.parametrize("bad, match", [
    (float("nan"), "x must be finite.*NaN"),
    (float("inf"), "x must be finite.*inf"),
])
def test_non_finite_inputs(xy, bad: float, match: str) -> None:
    x, y = xy
    x = x.clone()
    x[3, 1] = bad
    with pytest.raises(InputError, match=match):
        probnn.fit(probnn.models.GP(), x, y, method="exact")
    y = y.clone()
    y[0] = bad
    with pytest.raises(InputError, match="y must be finite"):
        probnn.fit(probnn.models.GP(), xy[0], y, method="exact")


def test_shapes_lengths_dtypes_and_empty(xy) -> None:
    x, y = xy
    gp = probnn.models.GP()
    with pytest.raises(InputError, match=r"x must be 2-D.*reshape\(-1, 1\)"):
        probnn.fit(gp, x[:, 0], y)
    with pytest.raises(InputError, match="x must be 2-D"):
        probnn.fit(gp, x.unsqueeze(0), y)
    with pytest.raises(InputError, match=r"same number of points.*12 inputs and 11 targets"):
        probnn.fit(gp, x, y[:11])
    with pytest.raises(InputError, match="x is empty"):
        probnn.fit(gp, x[:0], y[:0])
    with pytest.raises(InputError, match="no features"):
        probnn.fit(gp, x[:, :0], y)
    with pytest.raises(InputTypeError, match="x must have a floating-point dtype"):
        probnn.fit(gp, x.long(), y)
    with pytest.raises(InputTypeError, match="y must have a floating-point dtype"):
        probnn.fit(gp, x, (y > 0).long())
    with pytest.raises(InputTypeError, match="strings"):
        probnn.fit(gp, [["a", "b"]], [1.0])
    with pytest.raises(InputTypeError, match="y is required"):
        probnn.fit(gp, x, None)
    with pytest.raises(InputError, match="single output"):
        probnn.fit(gp, x, torch.stack([y, y], -1), method="exact")


def test_numpy_and_float32_inputs_are_accepted(xy) -> None:
    x, y = xy
    posterior = probnn.fit(probnn.models.GP(), x.numpy().astype(np.float32), y.numpy(), method="exact",
                           optimize=False)
    assert posterior.predict(x.float()).mean.dtype == DTYPE


def test_predict_with_wrong_features_or_bad_values(posterior) -> None:
    with pytest.raises(InputError, match="x must have 2 features"):
        posterior.predict(torch.zeros(3, 5, dtype=DTYPE))
    with pytest.raises(InputError, match="x must be finite"):
        posterior.predict(torch.full((3, 2), math.nan, dtype=DTYPE))
    with pytest.raises(InputTypeError, match="floating-point"):
        posterior.predict(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(probnn.UnsupportedOperationError, match="to_arviz"):
        posterior.to_arviz()


def test_model_before_fitting_cannot_be_saved(tmp_path) -> None:
    with pytest.raises(probnn.NotFittedError, match="fit or sample first"):
        probnn.models.GP().save(tmp_path / "gp.safetensors")


def test_generator_argument_is_checked() -> None:
    gp = probnn.models.GP(num_features=1)
    x = torch.zeros(2, 1, dtype=DTYPE)
    with pytest.raises(InputTypeError, match="generator"):
        gp.sample_prior_functions(x, 2, generator="seed")
    with pytest.raises(InputTypeError, match="generator"):
        gp.sample_prior_functions(x, 2, generator=-1)


# ---------------------------------------------------------------------------- properties
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
special = st.sampled_from([math.nan, math.inf, -math.inf])


@st.composite
def corrupted_data(draw):
    """A well-formed (x, y) with exactly one defect of a randomly chosen kind."""
    n = draw(st.integers(2, 8))
    d = draw(st.integers(1, 3))
    x = draw(hnp.arrays(np.float64, (n, d), elements=finite))
    y = draw(hnp.arrays(np.float64, (n,), elements=finite))
    defect = draw(st.sampled_from(["x_special", "y_special", "length", "x_ndim", "x_int", "y_int", "empty",
                                   "x_3d", "y_2d_wide", "x_bool"]))
    if defect == "x_special":
        x[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = draw(special)
    elif defect == "y_special":
        y[draw(st.integers(0, n - 1))] = draw(special)
    elif defect == "length":
        y = y[: draw(st.integers(0, n - 1))] if draw(st.booleans()) else np.concatenate([y, y[:1]])
    elif defect == "x_ndim":
        x = x[:, 0]
    elif defect == "x_int":
        x = x.astype(np.int64)
    elif defect == "y_int":
        y = y.astype(np.int32)
    elif defect == "empty":
        x, y = x[:0], y[:0]
    elif defect == "x_3d":
        x = x[None]
    elif defect == "y_2d_wide":
        y = np.stack([y, y, y], -1)
    elif defect == "x_bool":
        x = x > 0
    return defect, x, y


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_data())
def test_bad_training_data_never_fits_silently(case) -> None:
    _defect, x, y = case
    with pytest.raises(ProbnnError) as raised:
        probnn.fit(probnn.models.GP(), x, y, method="exact", progress=False, max_iterations=2)
    message = str(raised.value)
    assert ("x" in message) or ("y" in message), message  # names the argument


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(0, 3), st.one_of(special, finite))
def test_bad_prediction_inputs_never_predict_silently(num_points: int, features: int, value: float) -> None:
    posterior = _cached_posterior()
    x = torch.full((num_points, features), value, dtype=DTYPE)
    if features == 2 and math.isfinite(value):
        predictive = posterior.predict(x)  # valid input: a finite, positive-variance answer
        assert bool(torch.isfinite(predictive.mean).all()) and bool((predictive.variance > 0).all())
        return
    with pytest.raises(ProbnnError, match="x"):
        posterior.predict(x)


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, (3,), elements=st.one_of(finite, special)))
def test_predictive_scores_never_return_nan(values) -> None:
    """log_prob / cdf / crps: a NaN target raises; +-inf targets give the correct limits; finite ones
    give finite scores. No kind ever returns NaN silently."""
    predictives = [probnn.predictive.GaussianPredictive(torch.zeros(3, dtype=DTYPE), torch.ones(3, dtype=DTYPE)),
                   probnn.predictive.StudentTPredictive(3.0, torch.zeros(3, dtype=DTYPE), torch.ones(3, dtype=DTYPE))]
    y = torch.as_tensor(values)
    for predictive in predictives:
        for method in ("log_prob", "cdf"):
            if bool(torch.isnan(y).any()):
                with pytest.raises(InputError, match="NaN"):
                    getattr(predictive, method)(y)
                continue
            result = getattr(predictive, method)(y)
            assert not bool(torch.isnan(result).any())
            assert bool(torch.isfinite(result[torch.isfinite(y)]).all())


_POSTERIOR: list[probnn.Posterior] = []


def _cached_posterior() -> probnn.Posterior:
    if not _POSTERIOR:
        x = torch.rand(10, 2, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
        _POSTERIOR.append(probnn.fit(probnn.models.GP(), x, x.sum(-1), method="exact", progress=False,
                                     max_iterations=3))
    return _POSTERIOR[0]
