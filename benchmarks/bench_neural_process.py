"""Neural processes on the standard 1D protocol: CNP, NP, MPNP (+ ablations) and the PFN, same budget.

Protocol (the bnp code of Lee et al., scaled down for a shared 2-core CPU):

* tasks: ``x ~ U[-2, 2]``; GP prior with per-task ``l ~ U(0.1, 0.6)``, ``s ~ U(0.1, 1)``, noise std 0.02
  (:class:`probnn.models.neural_process.RandomKernelGP`): RBF and Matern-5/2 for training;
  evaluation on the training kernel and, for RBF-trained models, on RBF + Student-t noise
  (``gamma t_2.1``, ``gamma ~ U(0, 0.15)``).
* training: the shared driver :func:`probnn.inference.pretrain.pretrain`, 50 points per task with
  context size ``U{3..46}`` (targets = the rest), Adam with peak learning rate 5e-4, linear warm-up,
  cosine decay; the SAME ``steps x batch_size`` for every model (paper: 100k x 100; here far less,
  see ``--steps``), width 64 (paper: 128).
* evaluation: a fixed set of tasks per kernel (the same for every model and seed), context size
  ``U{3..46}`` and target size ``U{3..50 - n}``; per-point context and target log-likelihood as in
  the bnp code, with ``K = 50`` mixture components for NP / MPNP; mean and standard error over
  training seeds.

Run: ``python benchmarks/bench_neural_process.py [--quick] [--kernels rbf matern52] [--seeds 0 1 2]``.
Each (kernel, model, seed) result is cached in ``benchmarks/results/neural_process_runs/`` so an
interrupted run resumes; ``--report`` only rebuilds the tables from the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probnn.datasets.tasks import TaskBatch, sample_task_batch, uniform_inputs
from probnn.inference.pretrain import PretrainConfig, pretrain
from probnn.models.neural_process import CNP, MPNP, LatentNP, RandomKernelGP

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "neural_process_runs"
MODELS = {
    "CNP": lambda width: CNP(width=width),
    "NP": lambda width: LatentNP(width=width),
    "MPNP": lambda width: MPNP(width=width, heads=4),
    "MPNP (no pseudo term)": lambda width: MPNP(width=width, heads=4, pseudo_loss=False),
    "MPNP (K=1)": lambda width: MPNP(width=width, heads=4, num_train_sets=1),
    "PFN": None,   # built from the prior (bucket borders), see make_pfn
}
EVAL_SETS = {"rbf": ["rbf", "rbf_t_noise"], "matern52": ["matern52"]}


def prior_for(name: str) -> RandomKernelGP:
    if name == "rbf_t_noise":
        return RandomKernelGP("rbf", noise="student_t")
    return RandomKernelGP(name)


def make_pfn(prior: RandomKernelGP, config: PretrainConfig, width: int):
    from probnn.models.pfn import PFN

    return PFN.for_prior(prior, config, num_buckets=100, num_border_batches=50, seed=0, width=width, depth=3,
                         heads=4)


def evaluation_batches(name: str, num_batches: int, batch_size: int, seed: int = 2026) -> list[TaskBatch]:
    """Fixed evaluation tasks: context ``U{3..46}``, targets ``U{3..50 - n}`` (bnp ``max_num_points=50``)."""
    generator = torch.Generator().manual_seed(seed)
    prior = prior_for(name)
    batches = []
    for _ in range(num_batches):
        context = int(torch.randint(3, 47, (1,), generator=generator))
        target = int(torch.randint(3, 50 - context + 1, (1,), generator=generator))
        batches.append(sample_task_batch(prior, batch_size=batch_size, num_context=context, num_target=target,
                                         input_sampler=uniform_inputs(-2.0, 2.0), generator=generator))
    return batches


def evaluate(model, batches: list[TaskBatch], seed: int) -> dict[str, float]:
    """Mean per-point context and target log-likelihood over the evaluation tasks."""
    generator = torch.Generator().manual_seed(seed)
    context, target = [], []
    model.eval()
    with torch.no_grad():
        for batch in batches:
            if hasattr(model, "log_likelihood"):
                context_ll, target_ll = model.log_likelihood(batch, num_samples=50, generator=generator)
            else:   # PFN: queries are the context and the target inputs
                state = model.condition(batch.x_context.float(), batch.y_context.float())
                predictive = model.predictive(state, batch.x_all.float())
                values = predictive.log_prob(batch.y_all[..., 0].double())
                count = batch.x_context.shape[1]
                context_ll, target_ll = values[:, :count], values[:, count:]
            context.append(context_ll.mean(1))
            target.append(target_ll.mean(1))
    return {"context_ll": float(torch.cat(context).mean()), "target_ll": float(torch.cat(target).mean())}


def run_one(kernel: str, model_name: str, seed: int, args: argparse.Namespace,
            eval_sets: dict[str, list[TaskBatch]]) -> dict:
    slug = "".join(c for c in model_name.replace(" ", "_") if c.isalnum() or c == "_")
    path = RUNS / f"{kernel}__{slug}__{seed}.json"
    if path.exists() and not args.quick:
        return json.loads(path.read_text())
    torch.manual_seed(seed)
    prior = prior_for(kernel)
    config = PretrainConfig(steps=args.steps, batch_size=args.batch_size, num_context=(3, 46), num_points=50,
                            input_sampler=uniform_inputs(-2.0, 2.0), learning_rate=5e-4,
                            warmup_steps=max(1, args.steps // 20), checkpoint_every=max(1, args.steps // 4),
                            seed=seed)
    model = make_pfn(prior, config, args.width) if model_name == "PFN" else MODELS[model_name](args.width)
    checkpoint_dir = None if args.quick else RESULTS.parent / ".np_checkpoints" / path.stem
    started = time.perf_counter()
    result = pretrain(model, prior, config, checkpoint_dir=checkpoint_dir, resume=True, progress=False)
    seconds = time.perf_counter() - started
    record = {"kernel": kernel, "model": model_name, "seed": seed, "steps": args.steps,
              "batch_size": args.batch_size, "width": args.width, "train_seconds": seconds,
              "final_loss": sum(result.losses[-50:]) / len(result.losses[-50:]),
              "num_parameters": sum(p.numel() for p in model.parameters()), "eval": {}}
    for name, batches in eval_sets.items():
        record["eval"][name] = evaluate(model, batches, seed)
    if not args.quick:
        RUNS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
    print(json.dumps({k: record[k] for k in ("kernel", "model", "seed", "train_seconds", "final_loss")}),
          record["eval"], flush=True)
    return record


def summarise(records: list[dict]) -> dict:
    table: dict = {}
    for record in records:
        for eval_name, values in record["eval"].items():
            entry = table.setdefault(eval_name, {}).setdefault(record["model"], {"context_ll": [], "target_ll": [],
                                                                                   "seeds": []})
            entry["context_ll"].append(values["context_ll"])
            entry["target_ll"].append(values["target_ll"])
            entry["seeds"].append(record["seed"])
    for models in table.values():
        for entry in models.values():
            for key in ("context_ll", "target_ll"):
                values = torch.tensor(entry[key], dtype=torch.float64)
                count = len(values)
                entry[f"{key}_mean"] = float(values.mean())
                entry[f"{key}_se"] = float(values.std() / math.sqrt(count)) if count > 1 else float("nan")
    return table


def write_report(records: list[dict], args: argparse.Namespace) -> None:
    table = summarise(records)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "width": args.width,
                "eval_batches": args.eval_batches, "eval_batch_size": args.eval_batch_size,
                "mixture_components_at_test": 50, "learning_rate": 5e-4, "num_points": 50,
                "context_size": [3, 46], "torch_threads": torch.get_num_threads()}
    (RESULTS / "neural_process.json").write_text(json.dumps({"settings": settings, "summary": table,
                                                             "runs": records}, indent=1))
    lines = ["# Neural processes on the standard 1D GP protocol", "",
             f"Same budget for every model: **{args.steps} steps x {args.batch_size} tasks** (the paper: 100k x 100), "
             f"width {args.width} (paper: 128), Adam 5e-4 with warm-up + cosine, 50 points per task, context "
             "U{3..46}. MPNP: K = 4 pseudo-context sets in training, K = 50 at test; NP: 50 latent samples at "
             f"test. Evaluation: {args.eval_batches} x {args.eval_batch_size} fixed tasks per setting, per-point "
             "log-likelihood (bnp convention); mean +- standard error over training seeds.", "",
             "Columns: rbf / matern52 = trained and evaluated on that kernel; rbf_t_noise = trained on RBF, "
             "evaluated on RBF + Student-t(2.1) noise (scale U(0, 0.15)).", ""]
    for metric in ("target_ll", "context_ll"):
        lines += [f"## {metric.replace('_ll', '')} log-likelihood (higher is better)", "",
                  "| model | " + " | ".join(table) + " |", "|---|" + "---|" * len(table)]
        models = sorted({m for t in table.values() for m in t}, key=list(MODELS).index)
        for model in models:
            cells = []
            for eval_name in table:
                entry = table[eval_name].get(model)
                cells.append("-" if entry is None else
                             f"{entry[metric + '_mean']:.3f} +- {entry[metric + '_se']:.3f} (n={len(entry['seeds'])})")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        lines.append("")
    seconds: dict = {}
    for record in records:
        seconds.setdefault(record["model"], []).append(record["train_seconds"])
    lines += ["## Training time per run (seconds, shared CPU, 1 thread)", "",
              "| model | mean seconds | parameters |", "|---|---|---|"]
    for model, values in seconds.items():
        params = next(r["num_parameters"] for r in records if r["model"] == model)
        lines.append(f"| {model} | {sum(values) / len(values):.0f} | {params} |")
    (RESULTS / "neural_process.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, tiny evaluation, no cache")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kernels", nargs="+", default=["rbf", "matern52"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--eval-batches", type=int, default=50)
    parser.add_argument("--eval-batch-size", type=int, default=16)
    parser.add_argument("--report", action="store_true", help="only rebuild the tables from the cached runs")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.quick:
        args.steps, args.eval_batches, args.seeds = 20, 2, [0]
    if not args.report:
        for kernel in args.kernels:
            eval_sets = {name: evaluation_batches(name, args.eval_batches, args.eval_batch_size)
                         for name in EVAL_SETS[kernel]}
            for seed in args.seeds:
                for model_name in args.models:
                    run_one(kernel, model_name, seed, args, eval_sets)
    if args.quick:
        return
    records = [json.loads(path.read_text()) for path in sorted(RUNS.glob("*.json"))]
    write_report(records, args)


if __name__ == "__main__":
    main()
