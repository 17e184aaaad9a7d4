"""Neural processes on the standard 1D protocol: CNP, NP, MPNP (+ ablations), ACNP, MPANP and the PFN, same budget.

Protocol (the bnp code of Lee et al., scaled down for a shared 2-core CPU):

* tasks: ``x ~ U[-2, 2]``; GP prior with per-task ``l ~ U(0.1, 0.6)``, ``s ~ U(0.1, 1)``, noise std 0.02
  (:class:`probnn.models.neural_process.RandomKernelGP`): RBF, Matern-5/2 and periodic for training;
  evaluation on the training kernel and, for RBF-trained models, on RBF + Student-t noise
  (``gamma t_2.1``, ``gamma ~ U(0, 0.15)``).
* training: the shared driver :func:`probnn.inference.pretrain.pretrain`, 50 points per task with
  context size ``U{3..46}`` (targets = the rest), Adam, linear warm-up over 5 % of the steps, cosine
  decay to zero, gradient-norm clip 1; the SAME ``steps x batch_size`` and peak learning rate for every
  model (paper: 100k x 100 at 5e-4; here far less, see ``--steps``). The peak learning rate was chosen
  ONCE by ``--pilot`` (CNP only, on validation tasks drawn with another seed than the evaluation set)
  and then frozen for every model.
* evaluation: a fixed set of tasks per kernel (the same for every model and seed), context size
  ``U{3..46}`` and target size ``U{3..50 - n}``; per-point context and target log-likelihood as in
  the bnp code, with ``K = 50`` mixture components for NP / MPNP / MPANP; mean and standard error
  over training seeds.

Run: ``python benchmarks/bench_neural_process.py [--quick] [--kernels rbf matern52] [--seeds 0 1 2]
[--models CNP NP MPNP]``. Each (kernel, model, seed) result is cached in
``benchmarks/results/neural_process_runs/<settings>/`` so an interrupted run resumes (training
checkpoints go to ``--checkpoint-dir``); ``--report`` only rebuilds the tables from the cache;
``--pilot`` runs the learning-rate pilot.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probnn.datasets.tasks import TaskBatch, sample_task_batch, uniform_inputs
from probnn.inference.pretrain import PretrainConfig, pretrain
from probnn.models.neural_process import CNP, MPANP, MPNP, AttentiveCNP, LatentNP, RandomKernelGP

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "neural_process_runs"
MODELS = {
    "CNP": lambda width: CNP(width=width),
    "NP": lambda width: LatentNP(width=width),
    "MPNP": lambda width: MPNP(width=width, heads=4),
    "MPNP (no pseudo term)": lambda width: MPNP(width=width, heads=4, pseudo_loss=False),
    "MPNP (K=1)": lambda width: MPNP(width=width, heads=4, num_train_sets=1),
    "ACNP": lambda width: AttentiveCNP(width=width, heads=4),
    "MPANP": lambda width: MPANP(width=width, heads=4),
    "PFN": None,   # built from the prior (bucket borders), see make_pfn
}
EVAL_SETS = {"rbf": ["rbf", "rbf_t_noise"], "matern52": ["matern52"], "periodic": ["periodic"]}
#: Seed of the fixed evaluation tasks; the learning-rate pilot uses VALIDATION_SEED (other tasks).
EVALUATION_SEED, VALIDATION_SEED = 2026, 7
#: Peak learning rate for every model, frozen after the CNP pilot (see ``--pilot`` and the results file).
LEARNING_RATE = 1e-3


def prior_for(name: str) -> RandomKernelGP:
    if name == "rbf_t_noise":
        return RandomKernelGP("rbf", noise="student_t")
    return RandomKernelGP(name)


def make_pfn(prior: RandomKernelGP, config: PretrainConfig, width: int):
    from probnn.models.pfn import PFN

    return PFN.for_prior(prior, config, num_buckets=100, num_border_batches=50, seed=0, width=width, depth=3,
                         heads=4)


def evaluation_batches(name: str, num_batches: int, batch_size: int, seed: int = EVALUATION_SEED) -> list[TaskBatch]:
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


def settings_tag(args: argparse.Namespace) -> str:
    """Cache folder name: runs with other settings never mix."""
    return f"steps{args.steps}_batch{args.batch_size}_width{args.width}_lr{args.learning_rate:g}"


def pretrain_config(args: argparse.Namespace, seed: int, learning_rate: float) -> PretrainConfig:
    return PretrainConfig(steps=args.steps, batch_size=args.batch_size, num_context=(3, 46), num_points=50,
                          input_sampler=uniform_inputs(-2.0, 2.0), learning_rate=learning_rate,
                          warmup_steps=max(1, args.steps // 20), checkpoint_every=max(1, args.steps // 4),
                          seed=seed)


def train(kernel: str, model_name: str, seed: int, args: argparse.Namespace, learning_rate: float,
          checkpoint_dir: Path | None):
    torch.manual_seed(seed)
    prior = prior_for(kernel)
    config = pretrain_config(args, seed, learning_rate)
    model = make_pfn(prior, config, args.width) if model_name == "PFN" else MODELS[model_name](args.width)
    started, started_cpu = time.perf_counter(), time.process_time()
    result = pretrain(model, prior, config, checkpoint_dir=checkpoint_dir, resume=True, progress=False)
    timing = {"train_seconds": time.perf_counter() - started, "train_cpu_seconds": time.process_time() - started_cpu,
              "resumed_from": result.resumed_from}
    return model, result, timing


def run_one(kernel: str, model_name: str, seed: int, args: argparse.Namespace,
            eval_sets: dict[str, list[TaskBatch]]) -> dict:
    slug = "".join(c for c in model_name.replace(" ", "_") if c.isalnum() or c == "_")
    path = RUNS / settings_tag(args) / f"{kernel}__{slug}__{seed}.json"
    if path.exists() and not args.quick:
        return json.loads(path.read_text())
    checkpoint_dir = None if args.quick else Path(args.checkpoint_dir) / settings_tag(args) / path.stem
    model, result, timing = train(kernel, model_name, seed, args, args.learning_rate, checkpoint_dir)
    record = {"kernel": kernel, "model": model_name, "seed": seed, "steps": args.steps,
              "batch_size": args.batch_size, "width": args.width, "learning_rate": args.learning_rate, **timing,
              "final_loss": sum(result.losses[-50:]) / len(result.losses[-50:]),
              "num_parameters": sum(p.numel() for p in model.parameters()), "eval": {}}
    started = time.process_time()
    for name, batches in eval_sets.items():
        record["eval"][name] = evaluate(model, batches, seed)
    record["eval_cpu_seconds"] = time.process_time() - started
    if not args.quick:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
    print(json.dumps({k: record[k] for k in ("kernel", "model", "seed", "train_cpu_seconds", "final_loss")}),
          record["eval"], flush=True)
    return record


def pilot(args: argparse.Namespace) -> None:
    """Learning-rate pilot: CNP only, RBF, one seed, scored on validation tasks (not the evaluation set)."""
    validation = {"rbf": evaluation_batches("rbf", args.eval_batches, args.eval_batch_size, seed=VALIDATION_SEED)}
    rows = []
    for learning_rate in args.pilot_learning_rates:
        model, result, timing = train("rbf", "CNP", 0, args, learning_rate, None)
        scores = evaluate(model, validation["rbf"], 0)
        rows.append({"learning_rate": learning_rate, **scores, **timing,
                     "final_loss": sum(result.losses[-50:]) / len(result.losses[-50:])})
        print(json.dumps(rows[-1]), flush=True)
    (RESULTS / "neural_process_pilot.json").write_text(json.dumps(
        {"steps": args.steps, "batch_size": args.batch_size, "width": args.width, "model": "CNP", "kernel": "rbf",
         "validation_seed": VALIDATION_SEED, "validation_tasks": args.eval_batches * args.eval_batch_size,
         "rows": rows}, indent=1))


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
                "mixture_components_at_test": 50, "learning_rate": args.learning_rate, "num_points": 50,
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
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kernels", nargs="+", default=["rbf", "matern52"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--eval-batches", type=int, default=50)
    parser.add_argument("--eval-batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=LEARNING_RATE)
    parser.add_argument("--checkpoint-dir", default=str(Path(tempfile.gettempdir()) / "probnn_np_checkpoints"))
    parser.add_argument("--report", action="store_true", help="only rebuild the tables from the cached runs")
    parser.add_argument("--pilot", action="store_true", help="learning-rate pilot (CNP, RBF, validation tasks)")
    parser.add_argument("--pilot-learning-rates", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3, 4e-3])
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.quick:
        args.steps, args.eval_batches, args.seeds = 20, 2, [0]
        args.pilot_learning_rates = args.pilot_learning_rates[:1]
    if args.pilot:
        pilot(args)
        return
    if not args.report:
        for kernel in args.kernels:
            eval_sets = {name: evaluation_batches(name, args.eval_batches, args.eval_batch_size)
                         for name in EVAL_SETS[kernel]}
            for seed in args.seeds:
                for model_name in args.models:
                    run_one(kernel, model_name, seed, args, eval_sets)
    if args.quick:
        return
    records = [json.loads(path.read_text()) for path in sorted((RUNS / settings_tag(args)).glob("*.json"))]
    write_report(records, args)


if __name__ == "__main__":
    main()
