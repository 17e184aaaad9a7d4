"""Build the example notebooks in ``examples/`` from the cell sources below (``python examples/build_notebooks.py``).

The notebooks are generated, not hand-edited: change the cells here and rebuild. Each notebook reads
``PROBNN_NOTEBOOK_QUICK=1`` (set by ``tests/test_notebooks.py``) to use tiny settings, so CI executes
every notebook end to end; each ends with a figure.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = """import os
import matplotlib.pyplot as plt
import torch
import probnn

QUICK = os.environ.get("PROBNN_NOTEBOOK_QUICK", "0") == "1"   # tiny settings for CI
probnn.set_quiet(QUICK)
torch.manual_seed(0)"""

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}

NOTEBOOKS["01_quick_start"] = [
    ("markdown", """# probnn quick start: one dataset, every backend

One model API for every model and inference backend: build a model, `probnn.fit(model, x, y, method=...)`,
and use the returned posterior's `predict(x)`, a `Predictive` with `mean`, `stddev`, `interval`, `log_prob`,
`crps`, ... The evaluation zoo (`probnn.evaluation.ZOO`) lists every model x backend that `probnn evaluate`
runs; here we fit each regression entry on scikit-learn's *diabetes* data and compare the uncertainty."""),
    ("code", SETUP),
    ("code", """from probnn.datasets import load_sklearn
from probnn.evaluation import ZOO, evaluate_entry

data = load_sklearn("diabetes", seed=0)
if QUICK:
    data = data.subsample_train(120, seed=0)
print(data.name, "train", data.num_train, "test", data.num_test, "features", data.num_features)
[entry.name for entry in ZOO.values() if entry.task == "regression"]"""),
    ("markdown", "Fit every regression entry (quick options in CI). A backend that fails is reported, not hidden."),
    ("code", """runs, failures = {}, {}
for entry in ZOO.values():
    if entry.task != "regression":
        continue
    try:
        runs[entry.name] = evaluate_entry(entry, data, quick=True, seed=0, keep_objects=True, progress=False)
    except Exception as error:  # report and continue
        failures[entry.name] = repr(error)
from probnn.evaluation.report import markdown_table
results = [dict(run.result.to_dict(), method=ZOO[name].method) for name, run in runs.items()]
print(markdown_table(results))
failures"""),
    ("markdown", "Predictions against the truth with 90 % predictive intervals, and every backend's calibration."),
    ("code", """from probnn.evaluation.report import plot_calibration

y = data.y_test_original
order = torch.argsort(y)
figure, axes = plt.subplots(1, len(runs) + 1, figsize=(4.2 * (len(runs) + 1), 3.6))
axes = list(axes) if len(runs) else [axes]
for ax, (name, run) in zip(axes, runs.items()):
    low, high = run.predictive.interval(0.9)
    ax.errorbar(y[order], run.predictive.mean[order], yerr=torch.stack([(run.predictive.mean - low)[order],
                (high - run.predictive.mean)[order]]).detach(), fmt=".", alpha=0.5, markersize=3)
    ax.plot([y.min(), y.max()], [y.min(), y.max()], "k--", linewidth=1)
    ax.set_title(f"{name}: NLL {run.result.metrics['nll']:.2f}")
    ax.set_xlabel("true target"); ax.set_ylabel("predictive mean, 90 % interval")
levels_ax = axes[-1]
for name, run in runs.items():
    cal = run.result.metrics["calibration"]
    levels_ax.plot(cal["levels"], cal["coverage"], marker="o", markersize=3, label=name)
levels_ax.plot([0, 1], [0, 1], "k--", linewidth=1)
levels_ax.set_xlabel("nominal level"); levels_ax.set_ylabel("observed coverage"); levels_ax.legend(fontsize=7)
levels_ax.set_title("calibration")
figure.tight_layout()
plt.show()"""),
]

NOTEBOOKS["02_functional_priors"] = [
    ("markdown", """# Functional priors: a BNN prior that behaves like a GP prior

Tran et al. (2022) choose the BNN's *weight* prior so that the induced prior over *functions* matches a
target process, here a GP with an RBF kernel (lengthscale 0.6), by minimising a Wasserstein distance
between function draws on a measurement set. `probnn.priors.fit_functional_prior` returns a weight prior
that plugs straight into `BNN(prior=...)` and every inference backend.

Two fits of a 1-50-50-50-1 tanh BNN on the official notebooks' grid [-6, 6]: the paper's per-layer
Gaussian family (a learnable weight and bias std per layer), and a per-parameter flow started at
`local_basis_prior` (probnn's start for 1-input networks: tanh steps tiling the interval, differenced into
bumps; the fit then tunes every weight's mean and std)."""),
    ("code", SETUP),
    ("code", """import gpytorch
from probnn.models import BNN, GP
from probnn.priors import GridMeasurementSet, fit_functional_prior, function_space_distance, local_basis_prior

kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())
kernel.base_kernel.lengthscale = 0.6
kernel.outputscale = 1.0
target = GP(kernel, noise=0.01, mean="zero", num_features=1)
bnn = BNN(1, hidden=(50, 50, 50), activation="tanh")  # the fixed N(0, 1) prior
measurement = GridMeasurementSet(-6.0, 6.0, 200, num_features=1)
settings = {"measurement_set": measurement, "num_function_samples": 32 if QUICK else 128,
            "num_steps": 10 if QUICK else 300, "learning_rate_schedule": "cosine", "distance": "wasserstein",
            "generator": 0}
gaussian_fit = fit_functional_prior(bnn, target, learning_rate=0.05, **settings)
start = local_basis_prior(bnn, -6.0, 6.0)
local_fit = fit_functional_prior(BNN(1, hidden=(50, 50, 50), activation="tanh", prior=start), target,
                                 learning_rate=0.01, optimizer="adam", **settings)
print(gaussian_fit)
print(local_fit)"""),
    ("markdown", "Held-out 1-Wasserstein distance to the GP on the grid (fresh critic, held-out functions):"),
    ("code", """x = measurement.sample()
options = {"num_function_samples": 512 if QUICK else 16384, "num_held_out": 256 if QUICK else 4096,
           "num_critic_steps": 50 if QUICK else 2000, "batch_size": 256, "return_standard_error": True,
           "generator": 11}
priors = {"fixed N(0, 1)": bnn.prior, "per-layer Gaussian, fitted": gaussian_fit.prior,
          "local-basis start": start, "local-basis start, fitted": local_fit.prior}
for name, prior in priors.items():
    value, error = function_space_distance(bnn, target, x, prior=prior, **options)
    print(f"{name:28s} W1 = {value:6.2f} +- {error:.2f}")"""),
    ("markdown", "Prior function draws: the GP target, the BNN with its default prior, and the two fitted priors."),
    ("code", """x = torch.linspace(-6, 6, 200, dtype=torch.float64).unsqueeze(-1)
draws = {"target GP": target.sample_prior_functions(x, 8, generator=1)}
for name in ("fixed N(0, 1)", "per-layer Gaussian, fitted", "local-basis start, fitted"):
    draws[name] = BNN(1, hidden=(50, 50, 50), activation="tanh", prior=priors[name]).sample_prior_functions(
        x.float(), 8, generator=1)
figure, axes = plt.subplots(1, 5, figsize=(20, 3.4))
for ax, (title, f) in zip(axes, draws.items()):
    ax.plot(x[:, 0], f[..., 0].detach().T, linewidth=1)
    ax.set_title(title); ax.set_ylim(-4, 4)
axes[4].plot(gaussian_fit.history, label="per-layer Gaussian")
axes[4].plot(local_fit.history, label="local-basis start")
axes[4].set_title("Wasserstein estimate during the fit"); axes[4].set_xlabel("step"); axes[4].legend()
figure.tight_layout()
plt.show()"""),
]

NOTEBOOKS["03_student_t_processes"] = [
    ("markdown", """# Student-t processes: scale-mixture NNGPs that survive outliers

Lee et al. (2022) put an inverse-gamma prior on the last-layer variance of an infinitely wide network: the
NNGP becomes a Student-t process whose predictive widens where the data disagree with the model. We fit an
NNGP-GP and the Student-t process to data with heavy-tailed noise and compare predictive NLL."""),
    ("code", SETUP),
    ("code", """from probnn.gp.nngp import NNGPKernel

generator = torch.Generator().manual_seed(0)
n = 40 if QUICK else 150
x = torch.rand(n, 1, generator=generator, dtype=torch.float64) * 4 - 2
noise = torch.distributions.StudentT(1.5).sample((n,)).to(torch.float64) * 0.1
y = torch.sin(2 * x[:, 0]) + noise
x_test = torch.linspace(-3, 3, 200, dtype=torch.float64).unsqueeze(-1)
y_test = torch.sin(2 * x_test[:, 0])
nngp = probnn.fit(probnn.models.GP(NNGPKernel(depth=3, activation="relu")), x, y, method="exact", progress=False)
inverse_gamma = torch.distributions.InverseGamma(torch.tensor(2.0, dtype=torch.float64),
                                                 torch.tensor(2.0, dtype=torch.float64))
student = probnn.fit(probnn.gp.ScaleMixtureNNGP(NNGPKernel(depth=3, activation="relu"), scale_prior=inverse_gamma,
                                                noise="learned"), x, y, progress=False)
for name, posterior in (("NNGP", nngp), ("Student-t process", student)):
    print(name, "test NLL", float(-posterior.predict(x_test).log_prob(y_test).mean()))"""),
    ("code", """figure, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for ax, (name, posterior) in zip(axes, (("NNGP", nngp), ("Student-t process", student))):
    predictive = posterior.predict(x_test)
    low, high = predictive.interval(0.9)
    ax.fill_between(x_test[:, 0], low, high, alpha=0.3, label="90 % interval")
    ax.plot(x_test[:, 0], predictive.quantile(0.5), label="median")
    ax.plot(x_test[:, 0], y_test, "k--", linewidth=1, label="truth")
    ax.scatter(x[:, 0], y, s=8, color="black")
    ax.set_title(name); ax.set_ylim(-4, 4)
axes[0].legend(fontsize=7)
figure.tight_layout()
plt.show()"""),
]

NOTEBOOKS["04_pfn_pretraining"] = [
    ("markdown", """# Pre-training a PFN and using it as a posterior

A prior-data fitted network (Müller et al., 2022) learns to map a training set to the posterior predictive
of a prior, from an endless stream of datasets drawn from that prior. Here: the fixed-hyperparameter GP
prior (`gp` preset), where the exact GP posterior is the Bayes-optimal answer to compare against. CI runs a
few dozen steps; the shipped checkpoints were trained far longer (`probnn pretrain`)."""),
    ("code", SETUP),
    ("code", """from probnn.inference.pfn_priors import fixed_gp
from probnn.inference.pretrain import PretrainConfig, pretrain
from probnn.models.pfn import PFN

prior = fixed_gp(1)
config = PretrainConfig(steps=30 if QUICK else 3000, batch_size=8 if QUICK else 32, num_context=(1, 20),
                        num_target=20, num_features=1, learning_rate=1e-3, warmup_steps=5 if QUICK else 200,
                        seed=0)
network = PFN.for_prior(prior, config, num_buckets=64 if QUICK else 500, num_border_batches=10 if QUICK else 200,
                        target_normalisation="none", width=32 if QUICK else 128, depth=2 if QUICK else 4)
result = pretrain(network, prior, config, progress=not QUICK)
print(f"{result.steps} steps in {result.seconds:.1f}s, final loss {result.losses[-1]:.3f}")"""),
    ("markdown", "The PFN's predictive (a bar distribution) next to the exact GP posterior on a new dataset."),
    ("code", """generator = torch.Generator().manual_seed(3)
x = torch.rand(8, 1, generator=generator, dtype=torch.float64)
y = prior.sample_observations(prior.sample_prior_functions(x, 1, generator=generator)[0], generator=generator)[:, 0]
exact = probnn.fit(fixed_gp(1), x, y, method="exact", optimize=False, progress=False)
amortized = probnn.fit(fixed_gp(1), x, y, method="pfn", checkpoint=network, rescale_inputs=False, progress=False)
x_test = torch.linspace(0, 1, 200, dtype=torch.float64).unsqueeze(-1)
figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for name, posterior in (("exact GP", exact), ("PFN", amortized)):
    predictive = posterior.predict(x_test)
    low, high = predictive.interval(0.9)
    axes[0].fill_between(x_test[:, 0], low.detach(), high.detach(), alpha=0.25, label=f"{name} 90 %")
    axes[0].plot(x_test[:, 0], predictive.mean.detach(), label=f"{name} mean")
axes[0].scatter(x[:, 0], y, color="black", s=12, zorder=3)
axes[0].legend(fontsize=7); axes[0].set_title("posterior predictive")
axes[1].plot(result.losses); axes[1].set_xlabel("step"); axes[1].set_ylabel("loss (NLL of bar distribution)")
axes[1].set_title("pre-training loss")
figure.tight_layout()
plt.show()"""),
]

NOTEBOOKS["05_bayesian_optimization"] = [
    ("markdown", """# Bayesian optimisation with probnn surrogates

`probnn.bo.minimize` runs a BO loop with any probnn model and backend as the surrogate: closed-form
acquisitions on the predictive (Gaussian, Student-t, mixtures, the PFN's bar distribution), a history you
can save, plot and resume. `probnn.bo.botorch_adapter.ProbnnModel` exposes any posterior to BoTorch."""),
    ("code", SETUP),
    ("code", """import math
from probnn.bo import BOResult, minimize

def branin(x):
    a, b, c, r, s, t = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return float(a * (x[1] - b * x[0]**2 + c * x[0] - r)**2 + s * (1 - t) * torch.cos(x[0]) + s)

bounds = [[-5.0, 0.0], [10.0, 15.0]]
budget = 14 if QUICK else 40
gp_run = minimize(branin, bounds, surrogate=probnn.models.GP(), acquisition="ei", budget=budget,
                  initial_points=5, generator=0)
random_run = minimize(branin, bounds, surrogate="random", budget=budget, initial_points=5, generator=0)
print("best found", gp_run.best_y, "at", gp_run.best_x.tolist(), "(optimum 0.397887)")"""),
    ("markdown", "Save the history, and resume it with a larger budget: the continuation equals an uninterrupted run."),
    ("code", """import tempfile, pathlib
path = gp_run.save(pathlib.Path(tempfile.mkdtemp()) / "history.json")
resumed = minimize(branin, bounds, surrogate=probnn.models.GP(), budget=budget + 3, initial_points=5,
                   history=BOResult.load(path))
print(resumed.num_evaluations, "evaluations; best", resumed.best_y)"""),
    ("markdown", "The same posterior inside BoTorch: BoTorch's LogEI on the probnn GP, optimised by `optimize_acqf`."),
    ("code", """from botorch.acquisition import LogExpectedImprovement
from botorch.optim import optimize_acqf
from probnn.bo.botorch_adapter import ProbnnModel

unit_x = (resumed.x - torch.tensor(bounds[0], dtype=torch.float64)) / 15.0
unit_y = -(resumed.y - resumed.y.mean()) / resumed.y.std()          # BoTorch maximises
posterior = probnn.fit(probnn.models.GP(), unit_x, unit_y, method="exact", progress=False)
acquisition = LogExpectedImprovement(ProbnnModel(posterior), best_f=unit_y.max())
candidate, value = optimize_acqf(acquisition, bounds=torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64),
                                 q=1, num_restarts=2, raw_samples=64)
print("next point (unit cube)", candidate.tolist(), "log EI", float(value))"""),
    ("code", """figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
gp_run.plot_convergence(axes[0], optimum=0.397887, label="GP + EI")
random_run.plot_convergence(axes[0], optimum=0.397887, label="random search")
axes[0].legend(); axes[0].set_title("Branin: simple regret")
grid = torch.stack(torch.meshgrid(torch.linspace(-5, 10, 80), torch.linspace(0, 15, 80), indexing="xy"), -1)
values = torch.tensor([[branin(p) for p in row] for row in grid.to(torch.float64)])
axes[1].contourf(grid[..., 0], grid[..., 1], values.log(), levels=30)
axes[1].scatter(gp_run.x[:, 0], gp_run.x[:, 1], c=range(gp_run.num_evaluations), cmap="autumn", s=18)
axes[1].set_title("evaluated points (colour = order) on log Branin")
figure.tight_layout()
plt.show()"""),
]


def build() -> list[Path]:
    paths = []
    for name, cells in NOTEBOOKS.items():
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.cells = [nbformat.v4.new_markdown_cell(source) if kind == "markdown"
                          else nbformat.v4.new_code_cell(source) for kind, source in cells]
        path = HERE / f"{name}.ipynb"
        nbformat.write(notebook, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in build():
        print("wrote", written)
