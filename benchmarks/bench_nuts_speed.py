"""NUTS speed: ESS per second of the predictive mean for a 1-50-1 tanh BNN (100 points, 4 chains).

Compares, in one run and on the same data / prior / likelihood / sampler settings:

* probnn: ``probnn.fit(BNN(1, (50,)), x, y, method="nuts")`` (compiled numpyro path);
* (a) the same model hand-written directly in numpyro (NUTS, vectorised chains);
* (b) the same model in pyro NUTS (probnn's ``engine="pyro"`` generic path is the same pyro NUTS
  on ``BNN.pyro_model``; here a hand-written pyro model is used so nothing of probnn is involved).

ESS: ArviZ bulk ESS of the network output ``f(x*)`` at 50 test inputs (chains x draws), median over
the test inputs. Seconds: warm-up + sampling wall time, compilation included (the user waits for it).
pyro NUTS is slow, so it runs fewer draws (stated in the results); ESS/s still compares fairly.

Usage: python benchmarks/bench_nuts_speed.py [--quick]
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
from probnn.models import BNN  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN = 50
NOISE = 0.1


def make_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(100, 1, generator=generator) * 4 - 2
    y = torch.sin(2 * x[:, 0]) + NOISE * torch.randn(100, generator=generator)
    x_test = torch.linspace(-2.5, 2.5, 50).unsqueeze(-1)
    return x, y, x_test


def median_ess(f: np.ndarray) -> float:
    """Median over test points of the bulk ESS of ``f [chains, draws, points]``."""
    import arviz

    ess = arviz.ess(arviz.convert_to_dataset({"f": f}), method="bulk")["f"].values
    return float(np.median(ess))


def run_probnn(x, y, x_test, args) -> dict:
    model = BNN(1, hidden=(HIDDEN,), activation="tanh", noise=NOISE)
    posterior = probnn.fit(model, x, y, method="nuts", num_warmup=args.warmup, num_samples=args.samples,
                           num_chains=4, generator=1, progress=False)
    seconds = posterior.fit_info["warmup_seconds"] + posterior.fit_info["sampling_seconds"]
    flat = posterior.flat_draws()
    f = model.functions_from_draws(flat, x_test)[..., 0].reshape(4, args.samples, -1).numpy()
    ess = median_ess(f)
    return {"seconds": seconds, "fit_seconds_total": posterior.fit_info["fit_seconds"], "ess": ess,
            "ess_per_second": ess / seconds, "draws_per_chain": args.samples, "warmup": args.warmup,
            "function_rhat_max": posterior.summary()["diagnostics"]["function_rhat_max"],
            "divergences": posterior.summary()["diagnostics"]["num_divergences"]}


def run_numpyro(x, y, x_test, args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    def model(inputs, targets=None):
        w0 = numpyro.sample("w0", dist.Normal(0, 1.0).expand([1, HIDDEN]).to_event(2))
        b0 = numpyro.sample("b0", dist.Normal(0, 1.0).expand([HIDDEN]).to_event(1))
        w1 = numpyro.sample("w1", dist.Normal(0, 1.0 / math.sqrt(HIDDEN)).expand([HIDDEN, 1]).to_event(2))
        b1 = numpyro.sample("b1", dist.Normal(0, 1.0).expand([1]).to_event(1))
        f = (jnp.tanh(inputs @ w0 + b0) @ w1 + b1)[:, 0]
        with numpyro.plate("data", inputs.shape[0]):
            numpyro.sample("y", dist.Normal(f, NOISE), obs=targets)

    xj, yj = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())
    mcmc = MCMC(NUTS(model), num_warmup=args.warmup, num_samples=args.samples, num_chains=4,
                chain_method="vectorized", progress_bar=False)
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(1), xj, yj)
    jax.block_until_ready(mcmc.get_samples())
    seconds = time.perf_counter() - start
    s = mcmc.get_samples(group_by_chain=True)
    xt = np.asarray(x_test.numpy())
    f = np.tanh(xt[None, None] @ np.asarray(s["w0"]) + np.asarray(s["b0"])[:, :, None]) @ np.asarray(s["w1"])
    f = (f + np.asarray(s["b1"])[:, :, None])[..., 0]
    ess = median_ess(f)
    return {"seconds": seconds, "ess": ess, "ess_per_second": ess / seconds, "draws_per_chain": args.samples,
            "warmup": args.warmup}


def run_pyro(x, y, x_test, args) -> dict:
    import pyro
    import pyro.distributions as dist
    from pyro.infer import MCMC, NUTS

    def model(inputs, targets=None):
        w0 = pyro.sample("w0", dist.Normal(torch.zeros(1, HIDDEN), 1.0).to_event(2))
        b0 = pyro.sample("b0", dist.Normal(torch.zeros(HIDDEN), 1.0).to_event(1))
        w1 = pyro.sample("w1", dist.Normal(torch.zeros(HIDDEN, 1), 1.0 / math.sqrt(HIDDEN)).to_event(2))
        b1 = pyro.sample("b1", dist.Normal(torch.zeros(1), 1.0).to_event(1))
        f = (torch.tanh(inputs @ w0 + b0) @ w1 + b1)[:, 0]
        with pyro.plate("data", inputs.shape[0]):
            pyro.sample("y", dist.Normal(f, NOISE), obs=targets)

    torch.manual_seed(1)
    chains = []
    start = time.perf_counter()
    for _ in range(4):
        mcmc = MCMC(NUTS(model), num_samples=args.pyro_samples, warmup_steps=args.pyro_warmup, disable_progbar=True)
        mcmc.run(x, y)
        chains.append(mcmc.get_samples())
    seconds = time.perf_counter() - start
    fs = []
    for s in chains:
        f = torch.tanh(x_test.unsqueeze(0) @ s["w0"] + s["b0"].unsqueeze(1)) @ s["w1"] + s["b1"].unsqueeze(1)
        fs.append(f[..., 0].numpy())
    ess = median_ess(np.stack(fs))
    return {"seconds": seconds, "ess": ess, "ess_per_second": ess / seconds,
            "draws_per_chain": args.pyro_samples, "warmup": args.pyro_warmup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.warmup, args.samples = (100, 100) if args.quick else (500, 500)
    args.pyro_warmup, args.pyro_samples = (10, 10) if args.quick else (50, 50)
    torch.set_num_threads(1)
    x, y, x_test = make_data()
    results = {"settings": {"model": "1-50-1 tanh BNN, N(0, 1/fan_in) weights, N(0,1) biases, noise 0.1",
                            "num_train": 100, "num_test": 50, "num_chains": 4, "quick": args.quick,
                            "cpu_threads": 1, "machine": "2 shared CPU cores (8 developers)",
                            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}}
    results["numpyro_handwritten"] = run_numpyro(x, y, x_test, args)
    print("numpyro", results["numpyro_handwritten"], flush=True)
    results["probnn"] = run_probnn(x, y, x_test, args)
    print("probnn", results["probnn"], flush=True)
    results["pyro"] = run_pyro(x, y, x_test, args)
    print("pyro", results["pyro"], flush=True)
    ratio_a = results["probnn"]["ess_per_second"] / results["numpyro_handwritten"]["ess_per_second"]
    ratio_b = results["probnn"]["ess_per_second"] / results["pyro"]["ess_per_second"]
    results["ratio_vs_numpyro"] = ratio_a
    results["ratio_vs_pyro"] = ratio_b
    name = "nuts_speed_quick" if args.quick else "nuts_speed"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = ["# NUTS speed: ESS/s of the predictive mean (1-50-1 tanh BNN, 100 points, 4 chains)", "",
             f"Settings: {json.dumps(results['settings'])}", "",
             "| sampler | warm-up / draws per chain | seconds | median bulk ESS of f(x*) | ESS/s |",
             "|---|---|---|---|---|"]
    for key in ("probnn", "numpyro_handwritten", "pyro"):
        r = results[key]
        lines.append(f"| {key} | {r['warmup']} / {r['draws_per_chain']} | {r['seconds']:.1f} | {r['ess']:.1f} | "
                     f"{r['ess_per_second']:.3f} |")
    lines += ["", f"probnn / hand-written numpyro: **{ratio_a:.2f}x** (goal >= 0.9x)",
              f"probnn / pyro NUTS: **{ratio_b:.1f}x** (goal >= 10x)",
              f"probnn function-space R-hat max: {results['probnn']['function_rhat_max']:.3f}, "
              f"divergences: {results['probnn']['divergences']}"]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
