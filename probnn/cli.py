"""The ``probnn`` command line: ``probnn demo``, ``probnn evaluate`` (and subcommands others add).

Adding a subcommand: write ``def register(subparsers) -> None`` that adds a parser with
``parser.set_defaults(handler=function)`` (``function(args) -> int``), and list the module in
:data:`SUBCOMMAND_MODULES` (or call :func:`register_subcommand` with the function). Modules are
imported only when the CLI starts, so heavy imports stay out of ``import probnn``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: Modules whose ``register(subparsers)`` adds a subcommand (e.g. ``"probnn.inference.pretrain_cli"``).
SUBCOMMAND_MODULES: list[str] = ["probnn.inference.pretrain_cli"]
_REGISTRARS: list[Callable[[Any], None]] = []

#: Nominal levels of the calibration curve the demo plots.
CALIBRATION_LEVELS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def register_subcommand(registrar: Callable[[Any], None]) -> Callable[[Any], None]:
    """Add ``registrar(subparsers)`` to the CLI (usable as a decorator)."""
    _REGISTRARS.append(registrar)
    return registrar


# ---------------------------------------------------------------------------- demo
def _format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    header = "| " + " | ".join(title for _, title, _ in columns) + " |"
    lines = [header, "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append(format(value, fmt) if isinstance(value, (int, float)) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


REGRESSION_COLUMNS = [("entry", "model", ""), ("method", "method", ""), ("nll", "test NLL", ".3f"),
                      ("rmse", "RMSE", ".2f"), ("crps", "CRPS", ".2f"), ("coverage_90", "90% coverage", ".3f"),
                      ("calibration_error", "calib. error", ".3f"), ("fit_seconds", "fit time (s)", ".1f")]


def _plot_predictions(runs: list[Any], data: Any, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    paths = []
    y = data.y_test_original
    order = torch.argsort(y)
    positions = torch.arange(len(y))
    figure, axes = plt.subplots(len(runs), 1, figsize=(8, 3.2 * len(runs)), squeeze=False)
    for axis, run in zip(axes[:, 0], runs):
        predictive = run.predictive
        low, high = predictive.interval(0.9)
        axis.fill_between(positions, low[order], high[order], alpha=0.3, label="90% predictive interval")
        axis.plot(positions, predictive.mean[order], lw=1, label="predictive mean")
        axis.scatter(positions, y[order], s=8, c="k", label="test target")
        axis.set_title(f"{run.result.entry} on {data.name}: test points sorted by target")
        axis.set_xlabel("test point (sorted)")
        axis.set_ylabel("target (original units)")
        axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path = out / "predictions.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    paths.append(path)

    from probnn.metrics import calibration

    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    for run in runs:
        curve = calibration(run.predictive, y, CALIBRATION_LEVELS)
        axis.plot(curve["levels"], curve["coverage"], marker="o", label=run.result.entry)
    axis.set_xlabel("nominal central-interval level")
    axis.set_ylabel("empirical coverage (test)")
    axis.set_title(f"Calibration on {data.name}")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = out / "calibration.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    paths.append(path)
    return paths


def run_demo(args: argparse.Namespace) -> int:
    """Fit every regression zoo entry on scikit-learn's diabetes data; print a table; write plots."""
    from probnn.datasets import load_sklearn
    from probnn.evaluation.runner import evaluate_entry
    from probnn.evaluation.zoo import entries, get_entry

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_sklearn("diabetes", test_fraction=0.2, seed=args.seed)
    chosen = [get_entry(name) for name in args.models.split(",")] if args.models else entries("regression")
    runs, rows, failures = [], [], []
    for entry in chosen:
        if not args.quiet:
            print(f"fitting {entry.name} ({entry.description}) ...", file=sys.stderr, flush=True)
        try:
            run = evaluate_entry(entry, data, quick=args.quick, seed=args.seed,
                                 progress=False if args.quiet else None, keep_objects=True)
        except Exception as error:  # one family failing must not hide the others' results
            failures.append({"entry": entry.name, "error": f"{type(error).__name__}: {error}"})
            print(f"  {entry.name} failed: {type(error).__name__}: {error}", file=sys.stderr)
            continue
        runs.append(run)
        rows.append({"entry": entry.name, "method": entry.method, **run.result.metrics,
                     "fit_seconds": run.result.fit_seconds})
    table = _format_table(rows, REGRESSION_COLUMNS)
    print(f"probnn demo: scikit-learn diabetes, {data.num_train} train / {data.num_test} test points, "
          f"metrics in original units{' (quick settings)' if args.quick else ''}")
    print(table)
    for failure in failures:
        print(f"FAILED {failure['entry']}: {failure['error']}")
    plots = _plot_predictions(runs, data, out) if runs else []
    report = {"dataset": "sklearn-diabetes", "quick": args.quick, "seed": args.seed,
              "results": [run.result.to_dict() for run in runs], "failures": failures}
    (out / "demo.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "demo.md").write_text(table + "\n")
    print(f"plots and tables written to {out.resolve()} ({', '.join(p.name for p in plots)})")
    return 0 if runs and not failures else 1


# ---------------------------------------------------------------------------- evaluate
def _load_data(name: str, split: int, seed: int) -> Any:
    from probnn.datasets.sklearn import SKLEARN_DATASETS, load_sklearn
    from probnn.datasets.uci import load_uci

    key = name.removeprefix("sklearn:")
    if name.startswith("sklearn:") or key.replace("-", "_") in SKLEARN_DATASETS:
        return load_sklearn(key, seed=seed + split)
    return load_uci(name, split)


def run_evaluate(args: argparse.Namespace) -> int:
    """Fit one zoo entry on ``--splits`` splits of a dataset; write JSON and a markdown table."""
    from probnn.datasets.uci import num_splits, resolve_uci_path
    from probnn.evaluation.runner import evaluate_entry, summarise
    from probnn.evaluation.zoo import ZooEntry, get_entry

    if not args.report and not args.data:
        from probnn.errors import InputError

        raise InputError("probnn evaluate needs --data (a UCI name or folder, a scikit-learn name, or a comma list)")
    if args.report or args.model == "all" or "," in args.model or "," in str(args.data):
        return _run_evaluate_suite(args)
    entry = get_entry(args.model)
    if args.method and args.method != entry.method:
        entry = ZooEntry(entry.name, entry.task, entry.make_model, args.method, entry.quick_options, entry.options,
                         entry.description)
    options = json.loads(args.options) if args.options else {}
    try:
        available = num_splits(resolve_uci_path(args.data))
    except Exception:
        available = None  # a scikit-learn dataset: random splits
    splits = args.splits if available is None else min(args.splits, available)
    results = []
    for split in range(splits):
        data = _load_data(args.data, split, args.seed)
        if args.max_train:
            data = data.subsample_train(args.max_train, seed=split)
        result = evaluate_entry(entry, data, quick=args.quick, options=options, seed=args.seed,
                                progress=False if args.quiet else None)
        results.append(result)
        if not args.quiet:
            scores = result.metrics
            print(f"split {split}: " + ", ".join(f"{k} {scores[k]:.4f}" for k in ("nll", "rmse", "accuracy")
                                                  if k in scores), file=sys.stderr)
    keys = ("nll", "rmse", "crps", "coverage_90", "calibration_error") if results[0].task == "regression" \
        else ("accuracy", "nll", "ece", "brier")
    summary = summarise(results, keys)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(str(args.data)).name}_{entry.name}"
    (out / f"{stem}.json").write_text(json.dumps({"data": str(args.data), "entry": entry.name,
                                                  "method": entry.method, "summary": summary,
                                                  "results": [r.to_dict() for r in results]}, indent=2, default=str))
    lines = [f"# {entry.name} (method={entry.method}) on {args.data}, {len(results)} split(s)", "",
             "| metric | mean | standard error |", "|---|---|---|"]
    lines += [f"| {key} | {value['mean']:.4f} | {value['standard_error']:.4f} |" for key, value in summary.items()]
    markdown = "\n".join(lines) + "\n"
    (out / f"{stem}.md").write_text(markdown)
    if results[0].task == "regression":
        from probnn.evaluation.report import plot_calibration

        plot_calibration([r.to_dict() for r in results], results[0].dataset, out / f"{stem}_calibration.png")
    print(markdown)
    print(f"written {out.resolve() / (stem + '.json')} and {stem}.md")
    return 0


def _run_evaluate_suite(args: argparse.Namespace) -> int:
    """Every requested model x dataset (``--model all`` or a comma list; ``--data a,b``), or ``--report``."""
    from probnn.evaluation.report import report_from_json, run_suite

    if args.report:
        paths = report_from_json(args.report, args.out if args.out != "evaluation-output" else None)
    else:
        models = None if args.model == "all" else [name for name in args.model.split(",") if name]
        paths = run_suite([name for name in str(args.data).split(",") if name], models, splits=args.splits,
                          quick=args.quick, max_train=args.max_train, seed=args.seed, out=args.out,
                          options=json.loads(args.options) if args.options else None,
                          progress=False if args.quiet else None, verbose=not args.quiet)
    print(paths["markdown"].read_text())
    print("written " + ", ".join(str(path) for path in paths.values()))
    return 0


# ---------------------------------------------------------------------------- parser
def _register_builtin(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="fit every zoo model on scikit-learn's diabetes data; table + plots")
    demo.add_argument("--out", default="demo-output", help="output folder for plots and tables")
    demo.add_argument("--quick", action="store_true", help="quick settings (a smoke run, seconds per model)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    demo.add_argument("--models", default="", help="comma-separated zoo entries (default: all regression)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=run_demo)

    evaluate = subparsers.add_parser("evaluate", help="evaluate one zoo model on a UCI or scikit-learn dataset")
    evaluate.add_argument("--data", default=None,
                          help="UCI dataset name or folder, or a scikit-learn name; a comma list for several")
    evaluate.add_argument("--model", default="gp-exact",
                          help="zoo entry name, a comma list, or 'all' (every model x backend in the zoo)")
    evaluate.add_argument("--report", default=None, help="rebuild the table and calibration plots from an "
                          "evaluation.json instead of fitting")
    evaluate.add_argument("--method", default=None, help="override the entry's inference method")
    evaluate.add_argument("--splits", type=int, default=1, help="number of splits to run (from 0)")
    evaluate.add_argument("--options", default=None, help='backend options as JSON, e.g. \'{"max_iterations": 50}\'')
    evaluate.add_argument("--max-train", type=int, default=None, help="subsample training points to at most this")
    evaluate.add_argument("--quick", action="store_true")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--out", default="evaluation-output")
    evaluate.set_defaults(handler=run_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: built-in subcommands, then registered ones."""
    parser = argparse.ArgumentParser(prog="probnn", description="probnn: Bayesian deep learning, one model API")
    from probnn import __version__

    parser.add_argument("--version", action="version", version=f"probnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_builtin(subparsers)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for registrar in _REGISTRARS:
        registrar(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``probnn`` console script and ``python -m probnn``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    if getattr(args, "quiet", False):
        from probnn.progress import set_quiet

        set_quiet(True)
    from probnn.errors import ProbnnError

    try:
        return int(args.handler(args) or 0)
    except ProbnnError as error:
        print(f"probnn {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
