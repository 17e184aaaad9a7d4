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
LEARNING_RATE = 2e-3


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


#: Column order of the tables (evaluation settings).
EVAL_ORDER = ["rbf", "matern52", "rbf_t_noise", "periodic"]
#: Comparisons reported as differences of target log-likelihood: (model, baseline).
COMPARISONS = [("MPNP", "CNP"), ("MPNP", "NP"), ("MPNP", "MPNP (no pseudo term)"), ("MPNP", "MPNP (K=1)"),
               ("MPNP (no pseudo term)", "NP"),
               ("MPANP", "ACNP"), ("MPANP", "MPNP"), ("PFN", "MPNP")]
#: Hand-written text after this heading in the results file survives ``--report`` rebuilds.
READING_HEADING = "## Reading"


def _cell(entry: dict | None, metric: str) -> str:
    if entry is None:
        return "-"
    se = entry[metric + "_se"]
    spread = "" if math.isnan(se) else f" +- {se:.3f}"
    return f"{entry[metric + '_mean']:.3f}{spread} (n={len(entry['seeds'])})"


def _difference_cell(first: dict | None, second: dict | None) -> str:
    """Paired (by seed) difference of target LL, its s.e. and z; the unpaired s.e. in brackets."""
    if first is None or second is None:
        return "-"
    common = sorted(set(first["seeds"]) & set(second["seeds"]))
    if not common:
        return "-"
    def by_seed(entry: dict, seed: int) -> float:
        return entry["target_ll"][entry["seeds"].index(seed)]

    values = torch.tensor([by_seed(first, seed) - by_seed(second, seed) for seed in common], dtype=torch.float64)
    difference = float(values.mean())
    if len(common) < 2:
        return f"{difference:+.3f} (n=1)"
    paired = float(values.std() / math.sqrt(len(common)))
    unpaired = math.sqrt(first["target_ll_se"] ** 2 + second["target_ll_se"] ** 2)
    return f"{difference:+.3f} +- {paired:.3f} ({difference / paired:+.1f} s.e.) [{unpaired:.3f}] (n={len(common)})"


def _budget_label(record: dict) -> str:
    return f"{record['steps']:,} steps x {record['batch_size']} tasks"


def _models_in(records: list[dict]) -> list[str]:
    return sorted({r["model"] for r in records}, key=list(MODELS).index)


def _metric_tables(table: dict, columns: list[str], models: list[str], extra: dict | None = None) -> list[str]:
    """Target and context LL tables; ``extra`` = {row label: summary table} appended (other budgets)."""
    lines = []
    for metric in ("target_ll", "context_ll"):
        lines += [f"### {metric.replace('_ll', '')} log-likelihood (higher is better)", "",
                  "| model | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
        for model in models:
            lines.append(f"| {model} | " + " | ".join(_cell(table.get(c, {}).get(model), metric) for c in columns)
                         + " |")
        for label, (other_table, model) in (extra or {}).items():
            lines.append(f"| {label} | " + " | ".join(_cell(other_table.get(c, {}).get(model), metric)
                                                      for c in columns) + " |")
        lines.append("")
    return lines


def _difference_table(table: dict, columns: list[str]) -> list[str]:
    lines = ["### Target log-likelihood differences (model - baseline)", "",
             "Paired by training seed (seed s of every model sees the same training-task stream and all models "
             "see the same evaluation tasks): mean of the per-seed differences +- its standard error, and that "
             "margin in standard errors; in brackets the unpaired s.e. sqrt(se_1^2 + se_2^2).", "",
             "| model - baseline | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for model, baseline in COMPARISONS:
        cells = [_difference_cell(table.get(column, {}).get(model), table.get(column, {}).get(baseline))
                 for column in columns]
        if any(cell != "-" for cell in cells):
            lines.append(f"| {model} - {baseline} | " + " | ".join(cells) + " |")
    lines.append("")
    if "rbf" in table and "rbf_t_noise" in table:
        lines += _margin_change_table(table)
    return lines


def _margin_change_table(table: dict) -> list[str]:
    """Does a margin hold or grow when RBF-trained models meet t-noise data? Paired by seed.

    Per seed: ``(model - baseline on rbf_t_noise) - (model - baseline on rbf)``; the same trained networks
    are evaluated on both, so the seed-to-seed spread cancels twice.
    """
    lines = ["### Margin change from RBF to RBF + t-noise (same RBF-trained networks)", "",
             "Per seed: (model - baseline target LL on rbf_t_noise) - (the same on rbf); mean +- paired s.e. "
             "Positive = the margin grows on t-noise data.", "",
             "| model - baseline | margin on rbf | margin on rbf_t_noise | change |", "|---|---|---|---|"]
    for model, baseline in COMPARISONS:
        entries = [table[name].get(model) for name in ("rbf", "rbf_t_noise")] + \
                  [table[name].get(baseline) for name in ("rbf", "rbf_t_noise")]
        if any(entry is None for entry in entries):
            continue
        clean, noisy, clean_base, noisy_base = entries
        seeds = sorted(set(clean["seeds"]) & set(noisy["seeds"]) & set(clean_base["seeds"]) & set(noisy_base["seeds"]))
        if len(seeds) < 2:
            continue

        def at(entry: dict, seed: int) -> float:
            return entry["target_ll"][entry["seeds"].index(seed)]

        changes = torch.tensor([(at(noisy, s) - at(noisy_base, s)) - (at(clean, s) - at(clean_base, s)) for s in seeds],
                               dtype=torch.float64)
        change, se = float(changes.mean()), float(changes.std() / math.sqrt(len(seeds)))
        lines.append(f"| {model} - {baseline} | {_difference_cell(clean, clean_base)} | "
                     f"{_difference_cell(noisy, noisy_base)} | {change:+.3f} +- {se:.3f} ({change / se:+.1f} s.e.) "
                     f"(n={len(seeds)}) |")
    lines.append("")
    return lines


def _per_seed_table(records: list[dict], columns: list[str]) -> list[str]:
    """Every run's target / context LL: shows which seeds left the plateau (context LL near -0.44)."""
    lines = ["### Per seed: target LL / context LL", "",
             "| model | seed | " + " | ".join(columns) + " | final training loss |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    pairs = sorted({(r["model"], r["seed"]) for r in records}, key=lambda pair: (list(MODELS).index(pair[0]), pair[1]))
    for model, seed in pairs:
        siblings = sorted((r for r in records if r["model"] == model and r["seed"] == seed),
                          key=lambda r: EVAL_ORDER.index(r["kernel"]))
        cells = []
        for column in columns:
            values = next((r["eval"][column] for r in siblings if column in r["eval"]), None)
            cells.append("-" if values is None else f"{values['target_ll']:.3f} / {values['context_ll']:.3f}")
        losses = ", ".join(f"{r['kernel']} {r['final_loss']:.3f}" for r in siblings)
        lines.append(f"| {model} | {seed} | " + " | ".join(cells) + f" | {losses} |")
    lines.append("")
    return lines


def _cost_table(records: list[dict]) -> list[str]:
    lines = ["### Cost per run (CPU seconds, 1 thread; mean over runs)", "",
             "| model | runs | train CPU s | evaluation CPU s | parameters |", "|---|---|---|---|---|"]
    for model in _models_in(records):
        runs = [r for r in records if r["model"] == model]
        train_cpu = sum(r.get("train_cpu_seconds", r["train_seconds"]) for r in runs) / len(runs)
        eval_cpu = sum(r.get("eval_cpu_seconds", 0.0) for r in runs) / len(runs)
        lines.append(f"| {model} | {len(runs)} | {train_cpu:.0f} | {eval_cpu:.0f} | {runs[0]['num_parameters']} |")
    lines.append("")
    return lines


def _cpu_minutes(records: list[dict]) -> float:
    return sum(r.get("train_cpu_seconds", 0) + r.get("eval_cpu_seconds", 0) for r in records) / 60


def write_report(records: list[dict], args: argparse.Namespace, other_budgets: dict[str, list[dict]]) -> None:
    """Results file: the budget of ``args`` as the main tables, every other cached budget after it.

    Models that were run only at another budget appear in the main tables as extra rows labelled with
    their budget (never mixed into the paired differences, which stay within one budget).
    """
    table = summarise(records)
    other_tables = {tag: summarise(runs) for tag, runs in other_budgets.items()}
    every_column = set(table) | {c for t in other_tables.values() for c in t}
    columns = [name for name in EVAL_ORDER if name in every_column]
    models = _models_in(records)
    extra = {}
    for tag, runs in other_budgets.items():
        label = _budget_label(runs[0])
        for model in _models_in(runs):
            if model not in models:
                extra[f"{model} [{label}]"] = (other_tables[tag], model)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "width": args.width,
                "eval_batches": args.eval_batches, "eval_batch_size": args.eval_batch_size,
                "mixture_components_at_test": 50, "learning_rate": args.learning_rate,
                "warmup_steps": max(1, args.steps // 20), "schedule": "linear warm-up, cosine to 0", "grad_clip": 1.0,
                "num_points": 50, "context_size": [3, 46], "torch_threads": torch.get_num_threads()}
    (RESULTS / "neural_process.json").write_text(json.dumps(
        {"settings": settings, "summary": table, "runs": records,
         "other_budgets": {tag: {"summary": other_tables[tag], "runs": runs} for tag, runs in other_budgets.items()}},
        indent=1))
    lines = ["# Neural processes on the standard 1D GP protocol", "",
             f"Main budget, the same for every model: **{args.steps:,} optimiser steps x {args.batch_size} tasks = "
             f"{args.steps * args.batch_size:,} tasks** (the paper: 100k x 100 = 10M), width {args.width} "
             f"(paper: 128), 4 attention heads, Adam with peak learning rate {args.learning_rate:g} (chosen by a "
             "CNP-only pilot on validation tasks at the earlier 4,000-step budget, then frozen for every model and "
             f"reused here without a new pilot), linear warm-up over {max(1, args.steps // 20)} steps, cosine decay "
             "to 0, gradient-norm clip 1; 50 points per task, context U{3..46}, x ~ U[-2, 2]. MPNP / MPANP: K = 4 "
             f"pseudo-context sets in training, K = 50 at test; NP: 50 latent samples at test. Evaluation: "
             f"{args.eval_batches} x {args.eval_batch_size} fixed tasks per setting (the same for every model, "
             "seed and budget), per-point log-likelihood (bnp convention); mean +- standard error over training "
             "seeds (n = number of seeds). One thread per run, one run at a time, on a 2-core CPU shared with "
             f"other developers; {_cpu_minutes(records):.0f} CPU-minutes for the runs at this budget.", "",
             "Columns: rbf / matern52 / periodic = trained and evaluated on that kernel; rbf_t_noise = trained on "
             "RBF, evaluated on RBF + Student-t(2.1) noise (scale U(0, 0.15)).", ""]
    pilot_path = RESULTS / "neural_process_pilot.json"
    if pilot_path.exists():
        pilot_record = json.loads(pilot_path.read_text())
        lines += [f"## Learning-rate pilot (CNP, RBF, seed 0, {pilot_record['steps']} steps x "
                  f"{pilot_record['batch_size']}, width {pilot_record['width']}; "
                  f"{pilot_record['validation_tasks']} validation tasks drawn with seed "
                  f"{pilot_record['validation_seed']}, not the evaluation set)", "",
                  "| peak learning rate | validation target LL | validation context LL |", "|---|---|---|"]
        lines += [f"| {row['learning_rate']:g} | {row['target_ll']:.3f} | {row['context_ll']:.3f} |"
                  for row in pilot_record["rows"]]
        lines.append("")
    lines += [f"## Main budget: {args.steps:,} steps x {args.batch_size} tasks", ""]
    if extra:
        lines += ["Rows labelled `[steps x tasks]` were not run at this budget: they are the earlier budget's "
                  "figures, shown for reference only (not a same-budget comparison).", ""]
    lines += _metric_tables(table, columns, models, extra)
    lines += _difference_table(table, columns)
    lines += _per_seed_table(records, columns)
    lines += _cost_table(records)
    for tag, runs in other_budgets.items():
        other = other_tables[tag]
        lines += [f"## Earlier budget: {_budget_label(runs[0])} (`{tag}`)", "",
                  f"Same protocol, evaluation tasks and learning rate; {_cpu_minutes(runs):.0f} CPU-minutes.", ""]
        lines += _metric_tables(other, [c for c in columns if c in other], _models_in(runs))
        lines += _difference_table(other, [c for c in columns if c in other])
        lines += _per_seed_table(runs, [c for c in columns if c in other])
        lines += _cost_table(runs)
    report = RESULTS / "neural_process.md"
    old = report.read_text() if report.exists() else ""
    reading = old[old.index(READING_HEADING):] if READING_HEADING in old else ""
    report.write_text("\n".join(lines) + "\n" + reading)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 steps, tiny evaluation, no cache")
    parser.add_argument("--steps", type=int, default=16000)
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
    def cached(folder: Path) -> list[dict]:
        return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]

    other_budgets = {folder.name: cached(folder) for folder in sorted(RUNS.iterdir())
                     if folder.is_dir() and folder.name != settings_tag(args) and cached(folder)}
    write_report(cached(RUNS / settings_tag(args)), args, other_budgets)


if __name__ == "__main__":
    main()
