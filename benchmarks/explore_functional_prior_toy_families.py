"""1D functional-prior toy: other weight-prior families than the per-layer Gaussian (exploration runs).

The search behind the "trying for 5x" section of docs/priors.md; its measured figures are in
benchmarks/results/functional_prior_toy_families.md. Same target (GP RBF lengthscale 0.6), BNN
(1-50-50-50-1 tanh), grid (200 points on [-3, 3]), Wasserstein fit (128 functions, critic 100 initial + 5
steps per prior step, cosine learning-rate decay, generator 0) and held-out estimator (fresh critic, 2000
Adam steps, pools of 16384 + 4096 held-out functions per side, seed 11) as bench_functional_prior_toy.py.

Variants (comma-separated names on the command line):

* ``flow<K>``: ``FlowWeightPrior`` with ``K`` couplings, warm-started at the committed per-layer Gaussian
  fit (elementwise log-scales = that fit's log stds, shifts 0, couplings at the identity); ``flow0`` is
  a per-parameter Gaussian with learnable means and stds.
* ``ladder<a>[_<span>[_<noise>]]``: ``flow0`` whose *first* layer starts as a ladder of tanh steps:
  unit ``j`` has weight mean ``+-a`` (alternating signs) and bias mean ``-w_j c_j`` with the centres
  ``c_j`` evenly spaced on ``[-span, span]`` (default 3.6, just outside the grid), every first-layer
  parameter with std ``noise`` (default 0.3); the other layers at the committed Gaussian fit.
* ``hierarchical``: ``HierarchicalWeightPrior(1, 1, bias_std=1)``, RMSprop 0.05. The committed row was
  measured when this prior had one learnable Gamma shape / rate shared by all layers; that form no longer
  exists: the fit now learns a shape / rate per layer (the paper's per-layer family, with fixed biases here;
  ``bench_functional_prior_toy.py`` fits the full family with Gamma bias precisions).

Usage: python benchmarks/explore_functional_prior_toy_families.py NAMES STEPS LEARNING_RATE [rmsprop|adam]
[FUNCTIONS_PER_STEP (default 128)]
(``STEPS = 0`` evaluates the initial prior without fitting). Prints one line per fit and per evaluation.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch

import probnn
from probnn.models.bnn import BNN
from probnn.priors import GridMeasurementSet, HierarchicalWeightPrior, fit_functional_prior
from probnn.priors.flow import FlowWeightPrior
from probnn.priors.functional import function_space_distance

sys.path.insert(0, str(Path(__file__).parent))
from bench_functional_prior_toy import make_target

HIDDEN = (50, 50, 50)
#: The per-layer Gaussian fit (weight stds, bias stds) on [-3, 3] that these runs warm-start from, as committed
#: in benchmarks/results/functional_prior_toy.json at commit fd193fe (before that file held both grids).
COMMITTED_GAUSSIAN_FIT = ([2.8866117000579834, 4.845581531524658, 8.789262771606445, 0.9375951290130615],
                          [4.808228969573975, 0.3385683298110962, 0.36484161019325256, 0.09565657377243042])


def warm_flow(shapes, num_couplings: int, weight_stds, bias_stds) -> FlowWeightPrior:
    """A flow prior that starts exactly at the per-layer Gaussian prior with the given stds."""
    prior = FlowWeightPrior(shapes, num_couplings=num_couplings)
    with torch.no_grad():
        for flow, (fan_in, fan_out), weight_std, bias_std in zip(prior.flows, shapes, weight_stds, bias_stds,
                                                                  strict=True):
            flow.log_scale[: fan_in * fan_out] = math.log(weight_std)
            flow.log_scale[fan_in * fan_out:] = math.log(bias_std)
    return prior


def ladder_flow(shapes, weight_stds, bias_stds, steepness: float, span: float, noise: float) -> FlowWeightPrior:
    """``flow0`` with the first layer's means set to a ladder of tanh steps across ``[-span, span]``."""
    prior = warm_flow(shapes, 0, weight_stds, bias_stds)
    width = shapes[0][1]
    with torch.no_grad():
        first = prior.flows[0]
        weight = steepness * torch.tensor([1.0, -1.0]).repeat(width // 2 + 1)[:width]
        first.shift[:width] = weight
        first.shift[width:] = -weight * torch.linspace(-span, span, width)
        first.log_scale[:] = math.log(noise)
    return prior


def main() -> None:
    names, steps, learning_rate = sys.argv[1].split(","), int(sys.argv[2]), float(sys.argv[3])
    optimizer = sys.argv[4] if len(sys.argv) > 4 else "rmsprop"
    num_function_samples = int(sys.argv[5]) if len(sys.argv) > 5 else 128
    torch.set_num_threads(1)
    probnn.set_quiet(True)
    weight_stds, bias_stds = COMMITTED_GAUSSIAN_FIT
    target = make_target()
    measurement = GridMeasurementSet(-3.0, 3.0, 200)
    x = measurement.sample()
    shapes = BNN(1, hidden=HIDDEN, activation="tanh").layer_shapes

    def evaluate(prior) -> tuple[float, float]:
        bnn = BNN(1, hidden=HIDDEN, activation="tanh", prior=prior)
        return function_space_distance(bnn, target, x, prior=prior, num_function_samples=16384, num_held_out=4096,
                                       num_critic_steps=2000, batch_size=256, return_standard_error=True,
                                       generator=11)

    for name in names:
        rate = learning_rate
        if name.startswith("flow"):
            initial = warm_flow(shapes, int(name[4:]), weight_stds, bias_stds)
        elif name.startswith("ladder"):
            parts = [float(part) for part in name[6:].split("_")]
            steepness, span, noise = parts + [3.6, 0.3][len(parts) - 1:]
            initial = ladder_flow(shapes, weight_stds, bias_stds, steepness, span, noise)
        elif name == "hierarchical":
            initial, rate = HierarchicalWeightPrior(1.0, 1.0, bias_std=1.0), 0.05
        else:
            raise SystemExit(f"unknown variant {name!r}")
        prior = initial
        if steps > 0:
            bnn = BNN(1, hidden=HIDDEN, activation="tanh", prior=initial)
            cpu, wall = time.process_time(), time.perf_counter()
            fit = fit_functional_prior(
                bnn, target, measurement_set=measurement, num_function_samples=num_function_samples,
                distance="wasserstein", num_steps=steps, learning_rate=rate, learning_rate_schedule="cosine",
                optimizer=optimizer, generator=0, progress=False,
                distance_options={"num_critic_steps": 5, "num_initial_critic_steps": 100})
            prior = fit.prior
            print(name, "fit cpu", round(time.process_time() - cpu, 1), "wall", round(time.perf_counter() - wall, 1),
                  "history", [round(h, 2) for h in fit.history[-5:]], flush=True)
        value, error = evaluate(prior)
        print(name, steps, rate, optimizer, num_function_samples, "W1", round(value, 3), "+-", round(error, 3),
              flush=True)


if __name__ == "__main__":
    main()
