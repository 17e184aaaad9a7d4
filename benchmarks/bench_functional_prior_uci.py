"""UCI regression: GP-matched (functional) weight prior vs the fixed N(0, 1) prior (Tran et al., 2022).

Follows the official notebook (tranbahien/you-need-a-good-prior, notebooks/uci_regression.ipynb) except
where stated. Model: BNN with one hidden layer of 100 tanh units, Gaussian likelihood with fixed noise
variance 0.1 on standardised targets; inputs and targets standardised with training statistics. Two
priors, the same posterior sampler (probnn's adaptive SGHMC, settings below):

* fixed: NT Gaussian N(0, 1) (``W ~ N(0, 1/fan_in)``, ``b ~ N(0, 1)``);
* GP-matched: a per-layer Gaussian prior (learnable std of W and b) fitted by
  :func:`probnn.priors.fit_functional_prior` to the notebook's *hierarchical* GP target -- RBF-ARD with
  lengthscale_j ~ LogNormal(log sqrt(2 d), 1) and variance ~ LogNormal(0.1, 1), redrawn per function,
  NOT fitted to the data -- on measurement sets of 100 points (70% training inputs, 30% uniform in
  their bounding box), redrawn per step; 200 steps, 128 functions, RMSprop lr 0.05 (the notebook's).

Deviations, stated: the 30% uniform points use the training inputs' bounding box (the notebook also
uses the test inputs); the critic is warm-started with a few steps per prior step (the notebook
re-initialises it and trains up to 200 Adagrad steps per prior step); SGHMC runs 2000 adaptation steps
then keeps 30 draws per chain every 100 steps (the notebook: 2000 burn-in, keeps 40 draws every 2000
steps and discards the first 10), with learning rate 0.1 instead of 0.01 to cover a comparable
trajectory in 2.4 % of the steps (probnn's step size is ``learning_rate / sqrt(N)`` as in the notebook's
sampler; friction 0.01 and batch 32 as in the notebook). The NLL is the probnn predictive's (a mixture
over draws of Gaussians with the noise variance); the notebook's moment-matched Gaussian NLL is
reported beside it (``nll_gaussian``). Metrics are in original units.

``--protocol notebook`` removes the critic and sampler deviations (results in
``functional_prior_uci_notebook.{md,json}``): the critic follows the official code
(:data:`probnn.priors.distances.NOTEBOOK_CRITIC_OPTIONS`: re-initialised at every prior step, Xavier-normal
weights and N(0, 1) biases, up to 200 Adagrad steps of learning rate 0.02 on an independent batch of 128
functions per side, early stop at loss-gradient norm 0.1, Adagrad state kept for the whole fit); SGHMC
uses learning rate 0.01, 2000 burn-in steps, then 40 draws every 2000 steps of which the first 10 are
discarded (probnn: ``num_burnin = 2000 + 10 * 2000``, 30 draws, thinning 2000); the 30% uniform
measurement points use the bounding box of the training AND test inputs (``get_input_range`` in the
notebook). ``--thinning T`` scales the sampler down (burn-in ``2000 + 10 T``, 30 draws every ``T``).
Deviations that remain under ``--protocol notebook`` (with the default ``--sampler probnn``): probnn's
step is ``learning_rate / sqrt(N)`` (the notebook's is ``lr`` itself: 21x larger on boston) on the weights
``W`` (the notebook samples raw weights ``sqrt(fan_in) W``) -- these two set the sampler's levels --; probnn's
SGHMC adapts its preconditioner during
the whole burn-in (22000 steps; the notebook adapts during the first 2000 and then only discards 10
draws), starts its chains at the prior's median (``init_to_median``; the notebook at N(0, 1) raw
weights and zero biases), draws minibatches with replacement, does not clip gradients (the notebook
clips the minibatch gradient's norm at 100) and omits the ``-lr^4`` term of the noise variance; the
prior's stds are ``exp`` of a log parameter starting at 1 (the notebook: ``softplus`` of a raw
parameter starting at 1, i.e. stds starting at 1.31), so the same RMSprop steps move them differently.

``--sampler official`` (with ``--protocol notebook``; results in
``functional_prior_uci_official_sampler*.{md,json}``) removes the sampler deviations too, with the
options of :func:`probnn.inference.sghmc.fit_sghmc` that reproduce the official adaptive SGHMC (see its
module docstring): step ``eps = lr = 0.01`` (``step_size_scaling="none"``; probnn's default divides by
``sqrt(N)``), raw-weight coordinates (``parameter_scale = 1 / sqrt(fan_in)`` on the weight sites), the
preconditioner adapted during the first 2000 steps only (``num_adaptation=2000``), chains started at raw
weights ~ N(0, 1) and zero biases redrawn per chain, the minibatch gradient's norm clipped at ``100 N``
(the official 100 on the per-datum loss), shuffled epochs without replacement, and the official
statistics' start values / update order / ``- eps^4`` noise term (``update_form="tran2022"``).
``--sampler-ablation NAME [NAME ...]`` reverts those options to probnn's defaults (everything else
official) to measure which deviation matters.

``--noise learned`` replaces the fixed noise variance 0.1 by a noise std ~ HalfNormal(1) on the standardised
targets, sampled with the weights (results ``functional_prior_uci_learned_noise*``); ``--long-chains`` gives
the default protocol the notebook's chain budget (burn-in 2000 + 10 x 2000, 30 draws every 2000). The
protocol of those runs: ``results/functional_prior_uci_learned_noise_protocol.md``.

Usage: python benchmarks/bench_functional_prior_uci.py [--quick] [--budget-minutes 12] [--datasets boston]
       [--protocol default|notebook] [--sampler probnn|official] [--sampler-ablation NAME ...]
       [--noise fixed|learned] [--long-chains]
       [--thinning T] [--splits N] [--first-split K] [--name STEM] [--resume]
       [--priors-from STEM]  (sample with the priors fitted in results/STEM.json: critic x sampler factorial)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

import probnn  # noqa: E402
from probnn.datasets.uci import resolve_uci_path  # noqa: E402
from probnn.errors import InputError  # noqa: E402
from probnn.gp.linalg import cholesky_with_jitter  # noqa: E402
from probnn.models.bnn import BNN  # noqa: E402
from probnn.priors import DataMeasurementSet, GaussianWeightPrior, fit_functional_prior  # noqa: E402
from probnn.priors.distances import NOTEBOOK_CRITIC_OPTIONS  # noqa: E402
from probnn.random import as_generator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"boston": "bostonHousing", "yacht": "yacht", "energy": "energy", "concrete": "concrete"}
OFFICIAL = {"boston": {"gp_prior": (2.797, 2.470), "fixed_prior": (3.132, 2.567)}}  # (RMSE, NLL), 10 splits
#: The notebook's printed per-split figures (RMSE, moment-matched Gaussian NLL), splits 0-9, from the outputs
#: of ``notebooks/uci_regression.ipynb`` (cells "> RMSE = ... | NLL = ...").
OFFICIAL_PER_SPLIT = {"boston": {
    "gp_prior": [(2.3857, 2.4005), (2.4616, 2.4216), (2.0982, 2.3557), (2.5340, 2.3985), (3.8330, 2.6421),
                 (1.7339, 2.3044), (1.7887, 2.3298), (3.1674, 2.4984), (3.4735, 2.6189), (4.4936, 2.7285)],
    "fixed_prior": [(2.5470, 2.3949), (2.6648, 2.4296), (2.4642, 2.3709), (2.5669, 2.3812), (4.2503, 2.9322),
                    (2.2998, 2.3237), (1.9066, 2.2692), (3.5748, 2.6458), (3.7176, 2.7335), (5.3246, 3.1874)]}}
SETTINGS = {
    "target": "hierarchical GP: RBF-ARD, lengthscale_j ~ LogNormal(log sqrt(2d), 1), variance ~ LogNormal(0.1, 1)",
    "prior_fit": {"distance": "wasserstein", "num_function_samples": 128, "num_steps": 200,
                  "measurement_points": 100, "data_fraction": 0.7, "learning_rate": 0.05,
                  "distance_options": {"num_critic_steps": 10, "num_initial_critic_steps": 100}},
    "sghmc": {"num_samples": 30, "num_burnin": 2000, "thinning": 100, "num_chains": 4, "batch_size": 32,
              "learning_rate": 0.1, "momentum_decay": 0.01},
    "noise_variance": 0.1,
}
#: The official notebook's protocol: its critic schedule and its SGHMC (2000 burn-in, then 40 draws every
#: 2000 steps, the first 10 discarded -> probnn burn-in 2000 + 10 * 2000 and 30 kept draws).
NOTEBOOK_BURNIN, NOTEBOOK_DISCARDED, NOTEBOOK_THINNING = 2000, 10, 2000
NOTEBOOK = {
    "target": SETTINGS["target"],
    "prior_fit": {**SETTINGS["prior_fit"], "distance_options": dict(NOTEBOOK_CRITIC_OPTIONS),
                  "bounding_box": "training and test inputs"},
    "sghmc": {"num_samples": 30, "num_burnin": NOTEBOOK_BURNIN + NOTEBOOK_DISCARDED * NOTEBOOK_THINNING,
              "thinning": NOTEBOOK_THINNING, "num_chains": 4, "batch_size": 32, "learning_rate": 0.01,
              "momentum_decay": 0.01},
    "noise_variance": 0.1,
}
#: The official adaptive SGHMC's options (``--sampler official``); "init" and "parameter_scale" are
#: built per model by :func:`official_sampler_options` (raw-weight coordinates and start).
OFFICIAL_SAMPLER = {"step_size_scaling": "none", "num_adaptation": NOTEBOOK_BURNIN,
                    "init": "raw N(0, 1) weights, zero biases", "parameter_scale": "1 / sqrt(fan_in) on weights",
                    "gradient_clip_per_datum": 100.0,
                    "minibatch_schedule": "epochs", "update_form": "tran2022"}
#: ``--sampler-ablation NAME ...``: the probnn defaults those NAMEs restore (everything else official).
ABLATIONS = {"step_size": {"step_size_scaling": "inverse_sqrt_num_data"},
             "coordinates": {"parameter_scale": None},
             "adaptation": {"num_adaptation": None},
             "init": {"init": "median"},
             "clip": {"gradient_clip_per_datum": None},
             "minibatch": {"minibatch_schedule": "with_replacement"},
             "update_form": {"update_form": "default"}}
QUICK = {
    "prior_fit": {**SETTINGS["prior_fit"], "num_steps": 5, "num_function_samples": 32,
                  "distance_options": {"num_critic_steps": 2, "num_initial_critic_steps": 10}},
    "sghmc": {"num_samples": 5, "num_burnin": 50, "thinning": 5, "num_chains": 2, "batch_size": 32,
              "learning_rate": 0.1, "momentum_decay": 0.01},
    "noise_variance": 0.1,
}


class HierarchicalRBFTarget:
    """The notebook's target: a zero-mean GP, RBF-ARD kernel, hyperparameters redrawn per function.

    ``log l_j ~ N(log sqrt(2 d), 1)`` for each of the ``d`` lengthscales and ``log s^2 ~ N(0.1, 1)`` for the
    variance, then ``f ~ N(0, s^2 exp(-||(x - x') / l||^2 / 2))``. Mathematically the same prior as
    ``probnn.models.GP(..., hyperpriors={"lengthscale": LogNormal, "outputscale": LogNormal})``, whose
    sampler loops over draws (about 3 ms each, 0.4-1 s per step of 128 functions here); this one does all
    draws with one batched Cholesky (a few ms per step).
    """

    def __init__(self, num_features: int) -> None:
        self.num_features = num_features
        self.log_lengthscale_mean = math.log(math.sqrt(2 * num_features))

    def sample_prior_functions(self, x: torch.Tensor, num_samples: int, *, generator=None) -> torch.Tensor:
        generator = as_generator(generator)
        x = x.to(torch.float64)
        normal = torch.randn(num_samples, 1, self.num_features + 1, generator=generator, dtype=torch.float64)
        lengthscales = torch.exp(self.log_lengthscale_mean + normal[..., :-1])  # [S, 1, d]
        variances = torch.exp(0.1 + normal[..., -1:])  # [S, 1, 1]; LogNormal(0.1, 1) as in the notebook
        scaled = x.unsqueeze(0) / lengthscales
        covariance = variances * torch.exp(-0.5 * torch.cdist(scaled, scaled).pow(2))
        factor, _ = cholesky_with_jitter(covariance, warn=False)
        z = torch.randn(num_samples, x.shape[0], 1, generator=generator, dtype=torch.float64)
        return factor @ z


def likelihood_noise(settings: dict) -> dict:
    """``BNN`` noise keywords: a fixed std ``sqrt(noise_variance)``, or ``"learned"`` (``--noise learned``)."""
    if settings.get("noise") == "learned":
        return {"noise": "learned", "noise_prior_scale": settings["noise_prior_scale"]}
    return {"noise": math.sqrt(settings["noise_variance"])}


def notebook_chain_budget(sghmc: dict, thinning: int) -> dict:
    """``sghmc`` settings with the notebook's schedule at ``thinning``: burn-in 2000 + 10 thinning, then 30
    draws every ``thinning`` steps (the notebook: thinning 2000)."""
    return {**sghmc, "thinning": thinning, "num_burnin": NOTEBOOK_BURNIN + NOTEBOOK_DISCARDED * thinning}


def official_sampler_options(model: BNN, num_data: int, options: dict, noise_start: float | None = None) -> dict:
    """``fit_sghmc`` keywords of the official sampler (``OFFICIAL_SAMPLER`` with any ablation applied).

    The official MLP stores raw weights ``W_raw ~ N(0, 1)`` at initialisation and divides them by
    ``sqrt(fan_in)`` in the forward pass; probnn's weight site is ``W = W_raw / sqrt(fan_in)``, so the raw
    coordinates are ``parameter_scale = 1 / sqrt(fan_in)`` and the raw start is ``W ~ N(0, 1 / fan_in)``
    with zero biases, redrawn per chain. A learned noise std starts at ``noise_start`` in every chain.
    """
    shapes = model.layer_shapes
    out = {key: value for key, value in options.items()
           if key in ("step_size_scaling", "num_adaptation", "minibatch_schedule", "update_form")}
    if options.get("parameter_scale") is not None:
        out["parameter_scale"] = {f"w{index}": 1 / math.sqrt(fan_in) for index, (fan_in, _) in enumerate(shapes)}
    if options.get("gradient_clip_per_datum") is not None:  # the official clip is on the per-datum loss
        out["gradient_clip"] = options["gradient_clip_per_datum"] * num_data
    if options.get("init") != "median":
        def init(generator: torch.Generator) -> dict[str, torch.Tensor]:
            values = {}
            for index, (fan_in, fan_out) in enumerate(shapes):
                values[f"w{index}"] = torch.randn(fan_in, fan_out, generator=generator) / math.sqrt(fan_in)
                values[f"b{index}"] = torch.zeros(fan_out)
            if model.learned_noise:
                values["noise"] = torch.tensor(noise_start)
            return values
        out["init"] = init
    return out


def noise_cut(posterior) -> dict[str, float]:
    """How much the official ``- eps^4`` term cools the chains, over all coordinates and chains.

    The official noise variance is ``2 eps^2 C m_inv - eps^4 = 2 eps^2 C m_inv (1 - rho)`` with
    ``rho = eps^2 sqrt(v_hat) / (2 C)`` (``m_inv = 1 / sqrt(v_hat)``): a coordinate gets a fraction
    ``1 - rho`` of the noise SGHMC needs, none where ``rho >= 1``. Reported for every sampler (with
    probnn's update form the noise is not cut; ``rho`` then only says what the official form would do).
    """
    info = posterior.fit_info
    if info.get("preconditioner") is None:
        return {}
    v_hat = np.concatenate([np.asarray(value, dtype=np.float64).reshape(-1)
                            for value in info["preconditioner"].values()])
    rho = info["step_size"] ** 2 * np.sqrt(v_hat) / (2 * info["momentum_decay"])
    return {"noise_cut_rho_median": float(np.median(rho)),
            "noise_cut_fraction_rho_over_half": float(np.mean(rho > 0.5)),
            "noise_cut_fraction_noise_off": float(np.mean(rho >= 1))}


def load_split(name: str, split: int) -> tuple[torch.Tensor, ...]:
    folder = resolve_uci_path(DATASETS[name])  # root arg, $PROBNN_UCI_ROOT, ../shared/data/uci
    data = np.loadtxt(folder / "data.txt")
    features = np.loadtxt(folder / "index_features.txt", dtype=int).reshape(-1)
    target = int(np.loadtxt(folder / "index_target.txt", dtype=int))
    train = np.loadtxt(folder / f"index_train_{split}.txt", dtype=int)
    test = np.loadtxt(folder / f"index_test_{split}.txt", dtype=int)
    x, y = data[:, features], data[:, target]
    return tuple(torch.tensor(a, dtype=torch.float32) for a in (x[train], y[train], x[test], y[test]))


def evaluate(predictive, y_test: torch.Tensor, y_mean: float, y_std: float) -> dict[str, float]:
    """RMSE and mean NLL in original units (NLL_orig = NLL_std + log y_std)."""
    mean = predictive.mean.double().reshape(-1) * y_std + y_mean
    rmse = float(((mean - y_test.double()) ** 2).mean().sqrt())
    standardised = ((y_test.double() - y_mean) / y_std).reshape(predictive.mean.shape)
    nll = float(-predictive.log_prob(standardised.to(predictive.mean.dtype)).double().mean()) + math.log(y_std)
    variance = predictive.variance.double().reshape(-1) * y_std**2
    nll_gaussian = float((0.5 * torch.log(2 * math.pi * variance)
                          + 0.5 * (y_test.double() - mean) ** 2 / variance).mean())
    return {"rmse": rmse, "nll": nll, "nll_gaussian": nll_gaussian}


def run_one(name: str, split: int, settings: dict, fitted: dict | None = None) -> dict:
    x, y, x_test, y_test = load_split(name, split)
    x_mean, x_std = x.mean(0), x.std(0).clamp_min(1e-6)
    y_mean, y_std = float(y.mean()), float(y.std())
    xs, xt = (x - x_mean) / x_std, (x_test - x_mean) / x_std
    ys = (y - y_mean) / y_std
    out: dict = {"split": split, "num_train": len(x)}

    start, cpu_start = time.perf_counter(), time.process_time()
    target = HierarchicalRBFTarget(x.shape[1])
    noise = likelihood_noise(settings)
    fixed = BNN(x.shape[1], hidden=(100,), activation="tanh", prior=GaussianWeightPrior(), **noise)
    if fitted is None:
        fit_options = dict(settings["prior_fit"])
        measurement = DataMeasurementSet(xs.double(), num_points=fit_options.pop("measurement_points"),
                                         data_fraction=fit_options.pop("data_fraction"))
        if fit_options.pop("bounding_box", "training inputs") == "training and test inputs":  # the notebook's
            measurement.low = torch.minimum(measurement.low, xt.double().min(0).values)
            measurement.high = torch.maximum(measurement.high, xt.double().max(0).values)
        fit = fit_functional_prior(fixed, target, measurement_set=measurement, generator=split, progress=False,
                                   **fit_options)
        prior = fit.prior
        out["prior_fit"] = {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
                            "mean_critic_steps": fit.fit_info.get("mean_critic_steps"),
                            "history_first": fit.history[:3],
                            "history_last": fit.history[-3:],
                            "history_mean_last_20": float(np.mean(fit.history[-20:])),
                            "weight_std": fit.prior.log_weight_std.exp().tolist(),
                            "bias_std": fit.prior.log_bias_std.exp().tolist()}
    else:  # --priors-from: the per-layer stds fitted in an earlier run (the whole fitted prior)
        prior = GaussianWeightPrior(fitted["weight_std"], fitted["bias_std"])
        out["prior_fit"] = {"seconds": 0.0, "cpu_seconds": 0.0, "from": fitted["from"],
                            "weight_std": fitted["weight_std"], "bias_std": fitted["bias_std"]}
    matched = BNN(x.shape[1], hidden=(100,), activation="tanh", prior=prior, **noise)
    for label, model in (("fixed_prior", fixed), ("gp_prior", matched)):
        start, cpu_start = time.perf_counter(), time.process_time()
        official = settings.get("official_sampler")
        extra = {} if official is None else official_sampler_options(model, len(xs), official,
                                                                     noise_start=settings.get("noise_start"))
        posterior = probnn.fit(model, xs, ys, method="sghmc", generator=1000 + split, progress=False,
                               **settings["sghmc"], **extra)
        out[label] = {**evaluate(posterior.predict(xt), y_test, y_mean, y_std),
                      "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start,
                      **noise_cut(posterior)}
        if "noise" in posterior.draws:  # --noise learned: the posterior of the noise std, standardised units
            draws = posterior.draws["noise"].double()
            out[label]["noise_std_mean"] = float(draws.mean())
            out[label]["noise_std_chain_means"] = draws.mean(1).tolist()
        print(name, split, label, out[label], flush=True)
    return out


def write(results: dict, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = ["# UCI: GP-matched functional prior vs fixed N(0, 1) prior (BNN 1 x 100 tanh, SGHMC)", "",
             f"Protocol: {results.get('protocol', 'default')}. Budget {results['budget_minutes']} min per invocation "
             f"on a shared 2-core machine (single thread); splits run: "
             f"{json.dumps(results['splits_run'])} (official notebook: 10 splits).", "",
             f"Settings: {json.dumps(results['settings'])}", "",
             "Test RMSE / NLL (probnn mixture predictive; the notebook's moment-matched Gaussian NLL in brackets), "
             "original units, mean +- std over the splits run.", "",
             "| dataset | splits | fixed N(0,1) prior | GP-matched prior | official fixed | official GP-matched |",
             "|---|---|---|---|---|---|"]
    for dataset, runs in results["runs"].items():
        if not runs:
            continue

        def cell(key: str, runs=runs) -> str:
            rmse = [r[key]["rmse"] for r in runs]
            nll = [r[key]["nll"] for r in runs]
            gaussian = [r[key].get("nll_gaussian", float("nan")) for r in runs]
            return (f"{np.mean(rmse):.3f} +- {np.std(rmse):.3f} / {np.mean(nll):.3f} +- {np.std(nll):.3f} "
                    f"(Gaussian NLL {np.mean(gaussian):.3f})")

        official = OFFICIAL.get(dataset)
        official_cells = ["-", "-"]
        if official:
            official_cells = [f"{official['fixed_prior'][0]:.2f} / {official['fixed_prior'][1]:.2f}",
                              f"{official['gp_prior'][0]:.2f} / {official['gp_prior'][1]:.2f}"]
        wins = sum(r["gp_prior"]["nll"] < r["fixed_prior"]["nll"] for r in runs)
        rmse_wins = sum(r["gp_prior"]["rmse"] < r["fixed_prior"]["rmse"] for r in runs)
        lines.append(f"| {dataset} | {len(runs)} | {cell('fixed_prior')} | {cell('gp_prior')} | "
                     f"{official_cells[0]} | {official_cells[1]} |")
        lines.append(f"|  | GP prior better NLL on {wins}/{len(runs)}, better RMSE on {rmse_wins}/{len(runs)} splits "
                     "|  |  |  |  |")
        gaps = []
        for key in ("rmse", "nll", "nll_gaussian"):
            gap = np.array([r["gp_prior"][key] - r["fixed_prior"][key] for r in runs])
            error = gap.std(ddof=1) / math.sqrt(len(gap)) if len(gap) > 1 else float("nan")
            gaps.append(f"{key} {gap.mean():+.3f} (s.e. {error:.3f})")
        lines.append(f"|  | GP-matched minus fixed, paired: {'; '.join(gaps)} |  |  |  |  |")
    lines += ["", "Per split (RMSE / NLL / Gaussian NLL; CPU seconds of the prior fit and of each sampler run; "
              "fitted stds of the [hidden, output] layers; mean critic steps per prior step):", "",
              "| dataset | split | fixed N(0,1) | GP-matched | prior fit s | SGHMC s fixed / GP | weight std | "
              "bias std | critic steps |", "|---|---|---|---|---|---|---|---|---|"]
    for dataset, runs in results["runs"].items():
        for r in runs:
            def triple(key: str, r=r) -> str:
                return f"{r[key]['rmse']:.3f} / {r[key]['nll']:.3f} / {r[key].get('nll_gaussian', float('nan')):.3f}"

            fit = r["prior_fit"]
            seconds = [fit.get("cpu_seconds", fit["seconds"])] + [
                r[key].get("cpu_seconds", r[key]["seconds"]) for key in ("fixed_prior", "gp_prior")]
            steps = fit.get("mean_critic_steps")
            lines.append(f"| {dataset} | {r['split']} | {triple('fixed_prior')} | {triple('gp_prior')} | "
                         f"{seconds[0]:.0f} | {seconds[1]:.0f} / {seconds[2]:.0f} | "
                         f"{', '.join(f'{v:.2f}' for v in fit['weight_std'])} | "
                         f"{', '.join(f'{v:.2f}' for v in fit['bias_std'])} | "
                         f"{'-' if steps is None else f'{steps:.0f}'} |")
    for dataset, runs in results["runs"].items():
        official = OFFICIAL_PER_SPLIT.get(dataset)
        if not runs or official is None:
            continue
        lines += ["", f"{dataset} per split against the notebook's printed figures (RMSE / Gaussian NLL):", "",
                  "| split | fixed: probnn | fixed: notebook | GP-matched: probnn | GP-matched: notebook |",
                  "|---|---|---|---|---|"]
        for r in runs:
            cells = []
            for key in ("fixed_prior", "gp_prior"):
                rmse, nll = official[key][r["split"]]
                cells += [f"{r[key]['rmse']:.3f} / {r[key]['nll_gaussian']:.3f}", f"{rmse:.3f} / {nll:.3f}"]
            lines.append(f"| {r['split']} | " + " | ".join(cells) + " |")
    noise = [(dataset, r["split"], key, r[key]) for dataset, runs in results["runs"].items() for r in runs
             for key in ("fixed_prior", "gp_prior") if "noise_cut_rho_median" in r[key]]
    if noise:
        lines += ["", "Noise cut of the official ``- eps^4`` term, rho = eps^2 sqrt(v_hat) / (2 C) over all "
                  "coordinates "
                  "and chains (a coordinate gets a fraction 1 - rho of SGHMC's noise; none at rho >= 1): median rho "
                  f"{np.median([n[3]['noise_cut_rho_median'] for n in noise]):.3f} (median over runs), fraction with "
                  f"rho > 0.5 {np.mean([n[3]['noise_cut_fraction_rho_over_half'] for n in noise]):.4f}, fraction "
                  f"with the noise off {np.mean([n[3]['noise_cut_fraction_noise_off'] for n in noise]):.4f} "
                  "(means over runs)."]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget-minutes", type=float, default=12.0)
    parser.add_argument("--datasets", nargs="*", default=["boston"])
    parser.add_argument("--splits", type=int, default=10, help="run splits first-split .. splits - 1")
    parser.add_argument("--first-split", type=int, default=0)
    parser.add_argument("--name", default=None, help="results file stem (default functional_prior_uci, "
                        "functional_prior_uci_notebook with --protocol notebook)")
    parser.add_argument("--protocol", choices=("default", "notebook"), default="default",
                        help="notebook: the official critic schedule and SGHMC settings (see the docstring)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the splits already in the results file (same settings) and run the others")
    parser.add_argument("--priors-from", default=None, metavar="STEM",
                        help="skip the prior fits: use the stds fitted per split in results/STEM.json (separates "
                        "the critic's effect from the sampler's)")
    parser.add_argument("--sampler", choices=("probnn", "official"), default="probnn",
                        help="official: the options that reproduce Tran et al.'s adaptive SGHMC (needs --protocol "
                        "notebook)")
    parser.add_argument("--sampler-ablation", choices=sorted(ABLATIONS), default=None, nargs="+",
                        help="with --sampler official: restore probnn's defaults for these options")
    parser.add_argument("--noise", choices=("fixed", "learned"), default="fixed",
                        help="learned: noise std ~ HalfNormal(1) on the standardised targets, sampled with the "
                        "weights by the same SGHMC (with --sampler official its chains start at sqrt(0.1)); "
                        "fixed: the notebook's noise variance 0.1")
    parser.add_argument("--long-chains", action="store_true",
                        help="the notebook's chain budget (burn-in 2000 + 10 x 2000, 30 draws every 2000) with the "
                        "default protocol's sampler settings")
    parser.add_argument("--thinning", type=int, default=None,
                        help="notebook protocol scaled down: 30 draws every T steps after 2000 + 10 T burn-in")
    args = parser.parse_args()
    try:
        resolve_uci_path(DATASETS[next(iter(DATASETS))])
    except InputError as error:
        print(f"UCI data not found ({error}); nothing to do")
        return
    torch.set_num_threads(1)
    probnn.set_quiet(True)
    notebook = args.protocol == "notebook"
    if args.quick:
        settings = {**QUICK, "prior_fit": {**QUICK["prior_fit"], "distance_options": {
            **NOTEBOOK_CRITIC_OPTIONS, "num_critic_steps": 5}}} if notebook else QUICK
    else:
        settings = NOTEBOOK if notebook else SETTINGS
    if args.thinning is not None:
        if not notebook:
            parser.error("--thinning scales the notebook protocol's sampler; use it with --protocol notebook")
        settings = {**settings, "sghmc": notebook_chain_budget(settings["sghmc"], args.thinning)}
    if args.sampler == "official":
        if not notebook:
            parser.error("--sampler official reproduces the notebook's sampler; use it with --protocol notebook")
        official = dict(OFFICIAL_SAMPLER)
        if args.sampler_ablation:
            for ablation in args.sampler_ablation:
                official.update(ABLATIONS[ablation])
            official["ablation"] = sorted(args.sampler_ablation)
        if official["num_adaptation"] is not None:  # --quick / --thinning: no more than the burn-in
            official["num_adaptation"] = min(official["num_adaptation"], settings["sghmc"]["num_burnin"])
        settings = {**settings, "official_sampler": official}
    elif args.sampler_ablation:
        parser.error("--sampler-ablation needs --sampler official")
    if args.long_chains:
        if notebook:
            parser.error("--long-chains lengthens the default protocol's chains (--protocol notebook has them)")
        settings = {**settings, "sghmc": notebook_chain_budget(settings["sghmc"], NOTEBOOK_THINNING)}
    if args.noise == "learned":
        settings = {key: value for key, value in settings.items() if key != "noise_variance"}
        settings.update(noise="learned", noise_prior_scale=1.0, noise_start=math.sqrt(0.1))
    stem = "functional_prior_uci_notebook" if notebook else "functional_prior_uci"
    if args.sampler == "official":
        stem = "functional_prior_uci_official_sampler" + (
            "_without_" + "_".join(sorted(args.sampler_ablation)) if args.sampler_ablation else "")
    if args.noise == "learned":
        stem += "_learned_noise"
    if args.long_chains:
        stem += "_long_chains"
    name = args.name or (f"{stem}_quick" if args.quick else stem)
    fitted: dict = {}
    if args.priors_from:
        source = json.loads((RESULTS / f"{args.priors_from}.json").read_text())
        fitted = {(dataset, run["split"]): {**{key: run["prior_fit"][key] for key in ("weight_std", "bias_std")},
                                             "from": args.priors_from}
                  for dataset, runs in source["runs"].items() for run in runs}
        settings = {**settings, "prior_fit": {"from": args.priors_from, "settings": source["settings"]["prior_fit"]}}
    results = {"settings": settings, "protocol": args.protocol, "budget_minutes": args.budget_minutes,
               "official": OFFICIAL,
               "load_average_at_start": os.getloadavg()[0],
               "runs": {d: [] for d in args.datasets}, "splits_run": {d: [] for d in args.datasets}}
    previous = RESULTS / f"{name}.json"
    if args.resume and previous.exists():
        earlier = json.loads(previous.read_text())
        if earlier["settings"] != json.loads(json.dumps(settings)):
            parser.error(f"--resume: {previous} was run with other settings")
        for dataset in args.datasets:
            results["runs"][dataset] = earlier["runs"].get(dataset, [])
            results["splits_run"][dataset] = earlier["splits_run"].get(dataset, [])
    start = time.perf_counter()
    for split in range(args.first_split, args.splits):
        for dataset in args.datasets:
            if split in results["splits_run"][dataset]:
                continue
            if time.perf_counter() - start > 60 * args.budget_minutes:
                write(results, name)
                return
            if args.priors_from and (dataset, split) not in fitted:
                continue
            results["runs"][dataset].append(run_one(dataset, split, settings, fitted.get((dataset, split))))
            results["splits_run"][dataset].append(split)
            results["elapsed_seconds"] = time.perf_counter() - start
            write(results, name)
        if args.quick:
            break


if __name__ == "__main__":
    main()
