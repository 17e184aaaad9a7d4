"""PFN benchmark: quality against exact / NUTS / type-II ML GP inference, and speed.

Run: ``python benchmarks/bench_pfn.py [--quick]``. Writes ``benchmarks/results/pfn.json`` and ``pfn.md``.

1. Fixed hyperparameters (the ``gp`` prior: RBF lengthscale 0.2, output scale 1, noise 0.1, x in
   [0, 1]): on held-out datasets drawn from the prior, the PFN trained on that prior against the
   exact GP posterior predictive (the Bayes-optimal answer). Mean per-point test NLL, paired
   difference with its standard error, per training-set size n in {5, 10, 20, 50}.
2. Hyperpriors (the ``gp-hyperprior`` prior, d = 1): the shipped PFN against NUTS over the GP
   hyperparameters (numpyro; the posterior predictive as a mixture over draws), type-II maximum
   likelihood (probnn's exact GP, L-BFGS) and an oracle that knows each dataset's true
   hyperparameters (a lower bound no method can reach on average).
3. Speed on the same datasets: wall time per dataset of ``probnn.fit(..., method="pfn")`` + predict,
   type-II ML fit + predict, and NUTS (after compilation; compile time reported separately).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import probnn  # noqa: E402
from probnn.inference.pfn import CHECKPOINT_DIRECTORY, load_pfn  # noqa: E402
from probnn.inference.pfn_priors import FIXED_NOISE, HYPERPRIOR_LOGNORMALS, fixed_gp, hyperprior_gp  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SIZES = (5, 10, 20, 50)
NUM_TEST = 20


def draw_datasets(model, count: int, n: int, seed: int, num_features: int = 1):
    """``count`` datasets of ``n`` training + NUM_TEST test points from ``model``'s prior (x ~ U[0,1]^d).

    Returns x ``[B, n + NUM_TEST, d]``, y ``[B, n + NUM_TEST]`` and, for hierarchical priors, the
    hyperparameters of each dataset.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(count, n + NUM_TEST, num_features, generator=generator, dtype=torch.float64)
    if not model.hyperpriors:
        _, y = model.sample_prior_batch(x, generator=generator)
        return x, y[..., 0], None
    ys, hypers = [], []
    for index in range(count):
        # draw the hyperparameters ourselves and sample from a GP fixed at them (sample_prior_batch of
        # the hierarchical model would redraw them), so the oracle knows the truth
        values = model.draw_hyperparameters(generator)
        fixed = gp_at(values, num_features)
        ys.append(fixed.sample_prior_batch(x[index:index + 1], generator=generator)[1][0, :, 0])
        hypers.append({k: v.reshape(-1).tolist() for k, v in values.items()})
    return x, torch.stack(ys), hypers


def gp_at(values: dict, num_features: int):
    """A zero-mean RBF-ARD GP without hyperpriors, at the given hyperparameter values."""
    import gpytorch

    kernel = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=num_features)).double()
    kernel.base_kernel.lengthscale = torch.as_tensor(values["kernel.base_kernel.lengthscale"]).reshape(1, -1)
    kernel.outputscale = torch.as_tensor(values["kernel.outputscale"]).reshape(())
    return probnn.models.GP(kernel, noise=float(torch.as_tensor(values["noise"]).reshape(-1)[0]), mean="zero",
                            num_features=num_features)


def exact_gp_nll(kernel_matrix, noise: torch.Tensor, x_train, y_train, x_test, y_test) -> torch.Tensor:
    """Per-dataset mean test NLL ``[B]`` of the exact GP predictive (batched Cholesky, float64)."""
    n = x_train.shape[1]
    covariance = kernel_matrix(x_train, x_train) + noise[:, None, None] * torch.eye(n, dtype=torch.float64)
    factor = torch.linalg.cholesky(covariance)
    cross = kernel_matrix(x_train, x_test)
    alpha = torch.cholesky_solve(y_train.unsqueeze(-1), factor)
    mean = (cross.transpose(-1, -2) @ alpha)[..., 0]
    v = torch.linalg.solve_triangular(factor, cross, upper=False)
    prior_variance = torch.diagonal(kernel_matrix(x_test, x_test), dim1=-2, dim2=-1)
    variance = prior_variance - (v**2).sum(-2) + noise[:, None]
    return (0.5 * (y_test - mean) ** 2 / variance + 0.5 * torch.log(2 * math.pi * variance)).mean(-1)


def pfn_nll(network, x_train, y_train, x_test, y_test, batch: int = 250) -> torch.Tensor:
    """Per-dataset mean test NLL ``[B]`` of a PFN, batched over datasets (inputs already in [0,1])."""
    values = []
    with torch.no_grad():
        for start in range(0, x_train.shape[0], batch):
            part = slice(start, start + batch)
            context = network.condition(x_train[part], y_train[part])
            predictive = network.predictive(context, x_test[part])
            values.append(-predictive.log_prob(y_test[part]).mean(-1))
    return torch.cat(values)


def summarise(values: torch.Tensor) -> dict[str, float]:
    return {"mean": float(values.mean()), "standard_error": float(values.std() / math.sqrt(len(values))),
            "median": float(values.median()), "count": len(values)}


# ----------------------------------------------------------------------------- 1. fixed hyperparameters
def fixed_hyperparameters(count: int, checkpoint: Path) -> dict:
    network = load_pfn(checkpoint)
    prior = fixed_gp(1)
    kernel = prior.kernel

    def kernel_matrix(a, b):
        return kernel(a, b).to_dense()

    rows = {}
    for n in SIZES:
        x, y, _ = draw_datasets(prior, count, n, seed=1000 + n)
        x_train, y_train, x_test, y_test = x[:, :n], y[:, :n], x[:, n:], y[:, n:]
        noise = torch.full((count,), FIXED_NOISE, dtype=torch.float64)
        with torch.no_grad():
            exact = exact_gp_nll(kernel_matrix, noise, x_train, y_train, x_test, y_test)
        approximate = pfn_nll(network, x_train, y_train, x_test, y_test)
        gap = approximate - exact
        rows[n] = {"exact_gp": summarise(exact), "pfn": summarise(approximate), "pfn_minus_exact": summarise(gap),
                   "within_0.05_nats": bool(gap.mean() < 0.05)}
        print(f"[fixed] n={n}: exact {exact.mean():.4f}  pfn {approximate.mean():.4f}  gap {gap.mean():+.4f} "
              f"+- {gap.std() / math.sqrt(count):.4f}", flush=True)
    return {"datasets_per_n": count, "test_points_per_dataset": NUM_TEST, "checkpoint": str(checkpoint),
            "prior": network.metadata.get("prior_description"), "rows": rows}


# ----------------------------------------------------------------------------- 2. hyperpriors: NUTS
def make_nuts(num_warmup: int, num_samples: int):
    """A numpyro NUTS sampler over (lengthscale, outputscale, noise) with the preset's hyperpriors."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    jax.config.update("jax_enable_x64", True)

    def model(x, y):
        lengthscale = numpyro.sample("lengthscale", dist.LogNormal(*HYPERPRIOR_LOGNORMALS["lengthscale"]))
        outputscale = numpyro.sample("outputscale", dist.LogNormal(*HYPERPRIOR_LOGNORMALS["outputscale"]))
        noise = numpyro.sample("noise", dist.LogNormal(*HYPERPRIOR_LOGNORMALS["noise"]))
        distance = (x[:, None, 0] - x[None, :, 0]) ** 2
        # 1e-8 jitter: far below the smallest noise the prior puts mass on (~1e-4), only guards round-off
        covariance = outputscale * jnp.exp(-0.5 * distance / lengthscale**2) + (noise + 1e-8) * jnp.eye(x.shape[0])
        numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(x.shape[0]), covariance_matrix=covariance), obs=y)

    def predictive_nll(samples, x, y, x_test, y_test):
        def one(lengthscale, outputscale, noise):
            def k(a, b):
                return outputscale * jnp.exp(-0.5 * (a[:, None, 0] - b[None, :, 0]) ** 2 / lengthscale**2)

            covariance = k(x, x) + (noise + 1e-8) * jnp.eye(x.shape[0])
            factor = jnp.linalg.cholesky(covariance)
            cross = k(x, x_test)
            alpha = jax.scipy.linalg.cho_solve((factor, True), y)
            mean = cross.T @ alpha
            v = jax.scipy.linalg.solve_triangular(factor, cross, lower=True)
            variance = outputscale - (v**2).sum(0) + noise
            return -0.5 * (y_test - mean) ** 2 / variance - 0.5 * jnp.log(2 * jnp.pi * variance)

        log_density = jax.vmap(one)(samples["lengthscale"], samples["outputscale"], samples["noise"])
        mixture = jax.scipy.special.logsumexp(log_density, axis=0) - jnp.log(log_density.shape[0])
        return -mixture.mean()

    kernel = NUTS(model, target_accept_prob=0.9)
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=1, progress_bar=False,
                jit_model_args=True)
    return mcmc, jax.jit(predictive_nll), jax, jnp


def baseline_record(n, index, x_train, y_train, x_test, y_test, hypers, mcmc, nuts_nll, jax, jnp) -> dict:
    """Type-II ML, oracle and NUTS on one dataset (NLLs and wall times)."""
    record: dict = {}
    start = time.perf_counter()
    try:    # type-II ML with a zero mean, like the prior
        ml = probnn.fit(probnn.models.GP(mean="zero"), x_train, y_train, method="exact", progress=False)
        record["type_ii_ml"] = float(-ml.predict(x_test).log_prob(y_test).mean())
    except probnn.ProbnnError:
        record["type_ii_ml"] = float("nan")
    record["type_ii_ml_seconds"] = time.perf_counter() - start
    oracle = gp_at(hypers, 1)
    with torch.no_grad():
        record["oracle"] = float(exact_gp_nll(lambda a, b: oracle.kernel(a, b).to_dense(), oracle.noise.reshape(1),
                                              x_train[None], y_train[None], x_test[None], y_test[None])[0])
    key = jax.random.PRNGKey(1000 * n + index)
    xa, ya = jnp.asarray(x_train.numpy()), jnp.asarray(y_train.numpy())
    start = time.perf_counter()
    mcmc.run(key, xa, ya, extra_fields=("diverging",))
    samples = mcmc.get_samples()
    value = nuts_nll(samples, xa, ya, jnp.asarray(x_test.numpy()), jnp.asarray(y_test.numpy()))
    record["nuts"] = float(value.block_until_ready())
    record["nuts_seconds"] = time.perf_counter() - start
    record["nuts_divergences"] = int(mcmc.get_extra_fields()["diverging"].sum())
    return record


def hyperpriors(count: int, checkpoint: Path | None, num_warmup: int, num_samples: int, cache_stem: Path,
                retime: int, sizes: tuple[int, ...] = SIZES, new_baselines: bool = True,
                other_checkpoints: dict[str, Path] | None = None) -> dict:
    """Sections 2 and 3.

    NUTS / type-II ML / oracle results per dataset are cached in ``<cache_stem>_n<n>.json`` (they do
    not depend on the PFN), so baselines can run in separate processes while the PFN trains and the
    PFN is then evaluated on exactly the same datasets. With ``checkpoint=None`` only baselines run
    (index-major, so every n gets datasets at the same pace). With ``new_baselines=False`` datasets
    without cached baselines are skipped (the row reports how many were used). ``retime`` datasets
    per n re-run NUTS and type-II ML in this process, so the speed table comes from one run.
    ``other_checkpoints`` (label -> file) are further PFNs scored on the same datasets (rows
    ``pfn:<label>`` and ``pfn:<label>_minus_nuts``); the speed table times the main one.
    """
    torch.set_num_threads(1)
    prior = hyperprior_gp(1)
    mcmc, nuts_nll, jax, jnp = make_nuts(num_warmup, num_samples)
    settings = {"num_warmup": num_warmup, "num_samples": num_samples, "count": count}
    cache_stem.parent.mkdir(parents=True, exist_ok=True)
    caches, data = {}, {}
    for n in sizes:
        path = cache_stem.with_name(f"{cache_stem.name}_n{n}.json")
        cache = json.loads(path.read_text()) if path.exists() else {}
        caches[n] = (path, cache if cache.get("settings") == settings else {"settings": settings, "records": {}})
        data[n] = draw_datasets(prior, count, n, seed=2000 + n)

    def split(n, index):
        x, y, _ = data[n]
        return x[index, :n], y[index, :n], x[index, n:], y[index, n:]

    if checkpoint is None:
        for index in range(count):
            for n in sizes:
                path, cache = caches[n]
                if str(index) in cache["records"]:
                    continue
                cache["records"][str(index)] = baseline_record(n, index, *split(n, index), data[n][2][index], mcmc,
                                                               nuts_nll, jax, jnp)
                path.write_text(json.dumps(cache))
                print(f"[baselines] n={n} dataset {index}: {cache['records'][str(index)]}", flush=True)
        return {}
    network = load_pfn(checkpoint)
    others = {label: load_pfn(path) for label, path in (other_checkpoints or {}).items()}
    rows = {}
    timing = {"pfn": [], "type_ii_ml": [], "nuts": []}
    for n in sizes:
        path, cache = caches[n]
        results = {"pfn": [], "type_ii_ml": [], "nuts": [], "oracle": [], **{f"pfn:{label}": [] for label in others}}
        divergences = []
        timed = 0
        for index in range(count):
            record = cache["records"].get(str(index))
            if record is None:
                if not new_baselines:
                    continue
                record = baseline_record(n, index, *split(n, index), data[n][2][index], mcmc, nuts_nll, jax, jnp)
                cache["records"][str(index)] = record
                path.write_text(json.dumps(cache))
            x_train, y_train, x_test, y_test = split(n, index)
            if timed < retime:   # timings for the speed table, in this run; the first call of a shape compiles
                if timed == 0:
                    baseline_record(n, index, x_train, y_train, x_test, y_test, data[n][2][index], mcmc, nuts_nll,
                                    jax, jnp)
                fresh = baseline_record(n, index, x_train, y_train, x_test, y_test, data[n][2][index], mcmc,
                                        nuts_nll, jax, jnp)
                timing["nuts"].append(fresh["nuts_seconds"])
                timing["type_ii_ml"].append(fresh["type_ii_ml_seconds"])
                timed += 1
            if retime == 0 and index > 0:   # timings from the baseline runs (index 0 of a shape compiles)
                timing["nuts"].append(record["nuts_seconds"])
                timing["type_ii_ml"].append(record["type_ii_ml_seconds"])
            for name in ("type_ii_ml", "nuts", "oracle"):
                results[name].append(record[name])
            divergences.append(record["nuts_divergences"])
            # PFN: inputs already live in the unit cube the prior uses, so no bounding-box rescaling
            start = time.perf_counter()
            posterior = probnn.fit(probnn.models.GP(), x_train, y_train, method="pfn", checkpoint=network,
                                   rescale_inputs=False)
            value = -posterior.predict(x_test).log_prob(y_test).mean()
            timing["pfn"].append(time.perf_counter() - start)
            results["pfn"].append(float(value))
            for label, other in others.items():
                posterior = probnn.fit(probnn.models.GP(), x_train, y_train, method="pfn", checkpoint=other,
                                       rescale_inputs=False)
                results[f"pfn:{label}"].append(float(-posterior.predict(x_test).log_prob(y_test).mean()))
        if not results["pfn"]:
            continue
        row = {name: summarise(torch.tensor(values)) for name, values in results.items()}
        ml_values = torch.tensor(results["type_ii_ml"])
        finite = ~torch.isnan(ml_values)
        row["type_ii_ml"] = {**summarise(ml_values[finite]), "failures": int((~finite).sum())}
        pfn_values, nuts_values = torch.tensor(results["pfn"]), torch.tensor(results["nuts"])
        row["pfn_minus_nuts"] = summarise(pfn_values - nuts_values)
        for label in others:
            other_values = torch.tensor(results[f"pfn:{label}"])
            row[f"pfn:{label}_minus_nuts"] = summarise(other_values - nuts_values)
            row[f"pfn:{label}_minus_type_ii_ml"] = summarise(other_values[finite] - ml_values[finite])
        row["pfn_minus_type_ii_ml"] = summarise(pfn_values[finite] - ml_values[finite])
        row["nuts_divergences_total"] = sum(divergences)
        rows[n] = row
        print(f"[hyper] n={n}: pfn {row['pfn']['mean']:.3f}  nuts {row['nuts']['mean']:.3f}  "
              f"ml {row['type_ii_ml']['mean']:.3f}  oracle {row['oracle']['mean']:.3f}", flush=True)
    median = {name: float(torch.tensor(values).median()) for name, values in timing.items()}
    mean = {name: float(torch.tensor(values).mean()) for name, values in timing.items()}
    speed = {"median_seconds_per_dataset": median, "mean_seconds_per_dataset": mean,
             "timed_datasets": {name: len(values) for name, values in timing.items()},
             "baseline_timings_from": "this run" if retime > 0 else "the cached baseline runs (separate processes)",
             "speedup_vs_nuts_median": median["nuts"] / median["pfn"],
             "speedup_vs_type_ii_ml_median": median["type_ii_ml"] / median["pfn"]}
    print(f"[speed] pfn {median['pfn'] * 1e3:.2f} ms, ML {median['type_ii_ml'] * 1e3:.1f} ms, "
          f"NUTS {median['nuts']:.2f} s per dataset -> {speed['speedup_vs_nuts_median']:.0f}x vs NUTS", flush=True)
    return {"datasets_per_n": {n: row["pfn"]["count"] for n, row in rows.items()},
            "test_points_per_dataset": NUM_TEST, "num_features": 1,
            "nuts": {"num_warmup": num_warmup, "num_samples": num_samples, "num_chains": 1,
                     "target_accept_prob": 0.9},
            "checkpoint": str(checkpoint), "prior": network.metadata.get("prior_description"), "rows": rows,
            "other_checkpoints": {label: {"checkpoint": str(path), "prior": others[label].metadata.get(
                "prior_description"), "target_normalisation": others[label].target_normalisation}
                for label, path in (other_checkpoints or {}).items()},
            "target_normalisation": network.target_normalisation,
            "speed": speed}


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# PFN benchmark", "", f"Run: `{report['command']}` on {report['hardware']} "
             f"({report['date_utc']}, torch threads {report['torch_threads']}).", ""]
    fixed = report.get("fixed")
    if fixed:
        lines += ["## 1. Fixed hyperparameters: PFN vs exact GP posterior predictive", "",
                  f"Prior: {fixed['prior']}. {fixed['datasets_per_n']} held-out datasets per n, "
                  f"{fixed['test_points_per_dataset']} test points each. NLL = mean per-point test negative log "
                  "predictive density (nats); gap = PFN - exact (paired), +- one standard error.", "",
                  "| n | exact GP NLL | PFN NLL | gap | within 0.05? |", "|---|---|---|---|---|"]
        for n, row in fixed["rows"].items():
            lines.append(f"| {n} | {row['exact_gp']['mean']:.4f} | {row['pfn']['mean']:.4f} | "
                         f"{row['pfn_minus_exact']['mean']:+.4f} +- {row['pfn_minus_exact']['standard_error']:.4f} | "
                         f"{'yes' if row['within_0.05_nats'] else 'no'} |")
        lines.append("")
    hyper = report.get("hyperpriors")
    if hyper:
        nuts = hyper["nuts"]
        lines += ["## 2. Hyperpriors: PFN vs NUTS vs type-II ML (d = 1)", "",
                  f"Prior: {hyper['prior']}. Datasets per n: {hyper['datasets_per_n']}, "
                  f"{hyper['test_points_per_dataset']} test points each. NUTS: {nuts['num_warmup']} warm-up + "
                  f"{nuts['num_samples']} draws, 1 chain, target accept {nuts['target_accept_prob']}. Oracle = exact "
                  "GP with each dataset's true hyperparameters.", "",
                  "Means over datasets (median in round brackets; type-II ML has rare catastrophic overfits at small "
                  "n). Paired differences: mean +- standard error [median of the paired differences].",
                  "",
                  "| n | PFN | NUTS | type-II ML | oracle | PFN - NUTS | PFN - ML |", "|---|---|---|---|---|---|---|"]
        for n, row in hyper["rows"].items():
            cells = [f"{row[name]['mean']:.3f} ({row[name]['median']:.3f})"
                     for name in ("pfn", "nuts", "type_ii_ml", "oracle")]
            cells += [f"{row[name]['mean']:+.3f} +- {row[name]['standard_error']:.3f} [{row[name]['median']:+.3f}]"
                      for name in ("pfn_minus_nuts", "pfn_minus_type_ii_ml")]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        for label, other in hyper.get("other_checkpoints", {}).items():
            lines += ["", f"Second PFN on the same datasets, `{label}` ({other['checkpoint']}; "
                      f"prior: {other['prior']}; target normalisation: {other['target_normalisation']}):", "",
                      "| n | PFN | PFN - NUTS | PFN - ML |", "|---|---|---|---|"]
            for n, row in hyper["rows"].items():
                key = f"pfn:{label}"
                gap = row[key + "_minus_nuts"]
                ml = row[key + "_minus_type_ii_ml"]
                lines.append(f"| {n} | {row[key]['mean']:.3f} ({row[key]['median']:.3f}) | "
                             f"{gap['mean']:+.3f} +- {gap['standard_error']:.3f} [{gap['median']:+.3f}] | "
                             f"{ml['mean']:+.3f} +- {ml['standard_error']:.3f} [{ml['median']:+.3f}] |")
        speed = hyper["speed"]
        median = speed["median_seconds_per_dataset"]
        lines += ["", "## 3. Speed (same datasets, one thread per process)", "",
                  "| method | median seconds per dataset |", "|---|---|",
                  f"| PFN (`probnn.fit(method='pfn')` + predict) | {median['pfn']:.5f} |",
                  f"| type-II ML (exact GP, L-BFGS) + predict | {median['type_ii_ml']:.4f} |",
                  f"| NUTS (numpyro, after compilation) + predictive | {median['nuts']:.3f} |", "",
                  f"NUTS / type-II ML timings measured in: {speed['baseline_timings_from']}; datasets timed: "
                  f"{speed['timed_datasets']}.", "",
                  f"PFN speed-up: {speed['speedup_vs_nuts_median']:.0f}x vs NUTS, "
                  f"{speed['speedup_vs_type_ii_ml_median']:.0f}x vs type-II ML.", ""]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few datasets, short NUTS")
    parser.add_argument("--fixed-datasets", type=int, default=1000)
    parser.add_argument("--hyper-datasets", type=int, default=12)
    parser.add_argument("--num-warmup", type=int, default=300)
    parser.add_argument("--num-samples", type=int, default=300)
    parser.add_argument("--fixed-checkpoint", default=str(CHECKPOINT_DIRECTORY / "pfn_gp_fixed.safetensors"))
    parser.add_argument("--hyper-checkpoint", default=str(CHECKPOINT_DIRECTORY / "pfn_gp_hyperprior.safetensors"))
    parser.add_argument("--other-checkpoint", action="append", default=[], metavar="LABEL=PATH",
                        help="a further PFN scored on the hyperprior datasets (repeatable)")
    parser.add_argument("--skip", choices=["fixed", "hyperpriors"], action="append", default=[])
    parser.add_argument("--baselines-only", action="store_true",
                        help="only run and cache NUTS / type-II ML / oracle for the hyperprior datasets")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="training-set sizes, e.g. 5,10")
    parser.add_argument("--no-new-baselines", action="store_true",
                        help="evaluate only datasets whose NUTS/ML baselines are already cached")
    parser.add_argument("--retime", type=int, default=2,
                        help="datasets per n on which NUTS and type-II ML are re-timed in this run")
    parser.add_argument("--output", default=str(RESULTS / "pfn"))
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.fixed_datasets, arguments.hyper_datasets = 50, 3
        arguments.num_warmup, arguments.num_samples = 100, 100
    torch.set_num_threads(1)
    probnn.set_quiet(True)
    report: dict = {"command": "python benchmarks/bench_pfn.py " + " ".join(sys.argv[1:]),
                    "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                    "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores (shared)",
                    "torch_threads": torch.get_num_threads(), "quick": arguments.quick}
    if "fixed" not in arguments.skip:
        report["fixed"] = fixed_hyperparameters(arguments.fixed_datasets, Path(arguments.fixed_checkpoint))
    if "hyperpriors" not in arguments.skip:
        cache = Path(arguments.output).with_name(Path(arguments.output).name + "_baselines")
        sizes = tuple(int(value) for value in arguments.sizes.split(","))
        report["hyperpriors"] = hyperpriors(arguments.hyper_datasets,
                                            None if arguments.baselines_only else Path(arguments.hyper_checkpoint),
                                            arguments.num_warmup, arguments.num_samples, cache, arguments.retime,
                                            sizes, new_baselines=not arguments.no_new_baselines,
                                            other_checkpoints={label: Path(path) for label, _, path in
                                                               (item.partition("=") for item in
                                                                arguments.other_checkpoint)})
        if arguments.baselines_only:
            return
    output = Path(arguments.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(report, indent=2))
    write_markdown(report, output.with_suffix(".md"))
    print(f"wrote {output.with_suffix('.json')} and {output.with_suffix('.md')}")


if __name__ == "__main__":
    main()
