"""A structured starting point for fitting a 1-D BNN's weight prior: a local basis built from tanh steps.

Why. The per-layer families of Tran et al. (2022) (Gaussian, hierarchical) draw every weight of a layer
independently with one scale. For a deep tanh network on a 1-D input that cannot give a stationary,
short-range kernel such as the RBF: a hidden unit sums ``fan_in`` randomly signed steps, a random walk
in ``x``, so far-apart inputs stay correlated (on the 1-D toy of ``benchmarks/bench_functional_prior_toy.py``
the best per-layer Gaussian fit keeps a correlation of ~0.4 at lag 2.4 where the GP has 0). A
*per-parameter* Gaussian (a :class:`~probnn.priors.flow.FlowWeightPrior` with no couplings: learnable
mean and std of every weight) can represent a local basis, but a Wasserstein fit started at zero means
never leaves the symmetric point where all units are alike. This module breaks the symmetry with a
structure, not with values tuned to any target: the fit then tunes every mean and std.

Construction (``tanh`` network ``1 -> H_1 -> H_2 -> ... -> H_L -> 1``, ``L >= 2``, on ``[low, high]``):

* layer 1, *steps*: unit ``j`` computes ``tanh(s (x - c_j))`` with centres ``c_j`` evenly spaced over
  ``[low - m (high - low), high + m (high - low)]`` (``m = margin``), spacing ``delta``, steepness
  ``s = steepness / delta``; the bias is ``b_j = -s c_j + s e_j``, ``e_j ~ N(0, jitter^2)``, a random
  shift of each step that makes the basis translation-invariant on average;
* layer 2, *bumps*: unit ``k`` computes ``tanh(a (h_k - h_{k+w}))`` (``w = bump_width`` steps,
  ``a = bump_amplitude``): ``h_k - h_{k+w}`` is 2 between ``c_k`` and ``c_{k+w}`` and 0 elsewhere, a bump;
  units beyond ``H_1 - w`` get zero weights;
* layers ``3 .. L``: the identity ``W = I`` on the first ``min(fan_in, fan_out)`` units (``tanh`` keeps
  the bumps, values below ``tanh(2a)``, nearly linear);
* output: zero-mean weights with std ``output_std`` and a zero-mean bias, so ``f = sum_k v_k bump_k(x)``
  is, given the steps, a Gaussian process with kernel ``sum_k bump_k(x) bump_k(x')``: stationary and
  zero beyond ``~w delta`` plus the steps' softness.

All weight means above are stored in the flow's raw coordinates (``W = u / sqrt(fan_in)``). Every other
parameter has mean 0 and std ``base_std``; every std, and every mean, is a learnable parameter of the
returned prior. Starting widths ``w = 1 .. 8`` all fit to the same W1 level on the toy
(``benchmarks/results/functional_prior_toy.md``), so the fit, not this start, sets the kernel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from probnn.errors import InputError
from probnn.priors.flow import FlowWeightPrior

if TYPE_CHECKING:
    from probnn.models.bnn import BNN


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise InputError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def local_basis_prior(bnn: BNN, low: float, high: float, *, bump_width: int = 1, steepness: float = 1.0,
                      jitter: float | None = None, margin: float = 0.125, bump_amplitude: float = 0.5,
                      output_std: float = 1.0, base_std: float = 1e-3) -> FlowWeightPrior:
    """A per-parameter Gaussian weight prior whose means form a local basis on ``[low, high]``.

    Use it as the starting prior of :func:`probnn.priors.fit_functional_prior` for a 1-D ``tanh`` BNN
    (see the module docstring for the construction and why the per-layer families cannot do this).

    Args:
        bnn: the network the prior is for: one input feature, one output, ``tanh``, at least two hidden
            layers.
        low, high: the input interval the basis covers (the measurement set's), ``low < high``.
        bump_width: steps per bump ``w`` (a positive int below the first hidden width).
        steepness: steepness of each step in units of the step spacing (``s = steepness / delta``).
        jitter: std of each step's random shift, in input units; default ``1.5 delta``.
        margin: the centres extend this fraction of ``high - low`` beyond each end.
        bump_amplitude: ``a``, the second layer's weight on each of a bump's two steps.
        output_std: std of the output layer's weights.
        base_std: std of every other parameter (all but the first layer's biases, std ``s * jitter``, and the
            output weights, std ``output_std``).

    Returns:
        A :class:`FlowWeightPrior` with ``num_couplings=0`` (learnable mean and std per parameter).

    Example:
        >>> from probnn.models import BNN
        >>> bnn = BNN(1, hidden=(20, 20, 20), activation="tanh")
        >>> prior = local_basis_prior(bnn, -3.0, 3.0)
        >>> functions = BNN(1, hidden=(20, 20, 20), prior=prior).sample_prior_functions(
        ...     torch.linspace(-3, 3, 50)[:, None], 8, generator=0)
        >>> functions.shape
        torch.Size([8, 50, 1])
    """
    from probnn.models.bnn import BNN  # here: probnn.models imports probnn.priors

    if not isinstance(bnn, BNN):
        raise InputError(f"bnn must be a probnn BNN; got {type(bnn).__name__}")
    if bnn.in_features != 1 or bnn.out_features != 1:
        raise InputError(f"bnn must have one input and one output feature; got {bnn.in_features} -> "
                         f"{bnn.out_features}")
    if bnn.activation != "tanh":
        raise InputError(f"bnn.activation must be 'tanh' (the steps and bumps are tanh shapes); "
                         f"got {bnn.activation!r}")
    if len(bnn.hidden) < 2:
        raise InputError(f"bnn needs at least two hidden layers (steps, then bumps); got hidden={bnn.hidden}")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InputError(f"{name} must be a finite number; got {value!r}")
    if not low < high:
        raise InputError(f"low must be below high; got low={low}, high={high}")
    width = bnn.hidden[0]
    if isinstance(bump_width, bool) or not isinstance(bump_width, int) or not 1 <= bump_width < width:
        raise InputError(f"bump_width must be an int in [1, {width - 1}] (below the first hidden width); "
                         f"got {bump_width!r}")
    steepness, bump_amplitude = _positive("steepness", steepness), _positive("bump_amplitude", bump_amplitude)
    output_std, base_std = _positive("output_std", output_std), _positive("base_std", base_std)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not (math.isfinite(margin) and margin >= 0):
        raise InputError(f"margin must be a non-negative finite number; got {margin!r}")

    extent = (high - low) * margin
    centres = torch.linspace(low - extent, high + extent, width, dtype=torch.float64)
    spacing = float(centres[1] - centres[0])  # width >= 2, as bump_width >= 1 is below it
    jitter = 1.5 * spacing if jitter is None else _positive("jitter", jitter)
    slope = steepness / spacing

    shapes = bnn.layer_shapes
    prior = FlowWeightPrior(shapes, num_couplings=0)
    with torch.no_grad():
        means = [(torch.zeros(fan_in, fan_out, dtype=torch.float64), torch.zeros(fan_out, dtype=torch.float64))
                 for fan_in, fan_out in shapes]
        stds = [(torch.full((fan_in, fan_out), base_std, dtype=torch.float64),
                 torch.full((fan_out,), base_std, dtype=torch.float64)) for fan_in, fan_out in shapes]
        # layer 1: steps tanh(s (x - c_j)); the bias carries a random shift of std s * jitter
        means[0][0][0] = slope
        means[0][1][:] = -slope * centres
        stds[0][1][:] = slope * jitter
        # layer 2: bumps a (h_k - h_{k + w})
        bumps = min(width - bump_width, shapes[1][1])
        index = torch.arange(bumps)
        means[1][0][index, index] = bump_amplitude
        means[1][0][index + bump_width, index] = -bump_amplitude
        # layers 3 .. L: identity on the shared units
        for layer in range(2, len(shapes) - 1):
            fan_in, fan_out = shapes[layer]
            shared = torch.arange(min(fan_in, fan_out))
            means[layer][0][shared, shared] = 1.0
        # output: zero-mean weights of std output_std
        stds[-1][0][:] = output_std
        for flow, (fan_in, _), (weight_mean, bias_mean), (weight_std, bias_std) in zip(
                prior.flows, shapes, means, stds, strict=True):
            root = math.sqrt(fan_in)  # raw coordinates: W = u / sqrt(fan_in)
            flow.shift.copy_(torch.cat([(weight_mean * root).reshape(-1), bias_mean]).float())
            flow.log_scale.copy_(torch.cat([(weight_std * root).reshape(-1), bias_std]).log().float())
    return prior
