# ruff: noqa: B023  (timed lambdas run inside the loop iteration that defines them)
"""Kernel speed: a 3000 x 3000 depth-3 ReLU NNGP matrix (d = 10) in float32 and float64, probnn's
NNGPKernel vs BoTorch's InfiniteWidthBNNKernel (same hyperparameters), timed in one run.

Protocol: both kernels run in the same process with the same torch thread count (``--threads``,
default 2), without gradients (the prediction setting; BoTorch's kernel has no gradient-free path
of its own, so both get ``torch.no_grad()``); after one warm-up of each, ``--repeats`` (default 5)
rounds alternate probnn, BoTorch, BoTorch, probnn (ABBA) so machine load drifts cancel; each
kernel's figure is the median over its ``2 x repeats`` timings and the ratio is
BoTorch / probnn (> 1: probnn faster). Also reported: the ratio within each round (its median and
range), the maximum relative difference of the two matrices, and probnn's erf NNGP, ReLU NTK, the
differentiable (autograd) ReLU path, and, on a 100 x 100 matrix (quadrature costs 96^2
evaluations per entry), the tanh quadrature path.
Usage: ``python benchmarks/bench_nngp_kernel.py [--quick] [--threads T] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from probnn.gp.nngp import NNGPKernel
from probnn.gp.ntk import NTKKernel

RESULTS = Path(__file__).parent / "results"


def _time_once(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _time(function, repeats: int) -> float:
    function()  # warm-up
    return statistics.median(_time_once(function) for _ in range(repeats))


def _interleaved(ours, theirs, repeats: int) -> tuple[list[float], list[float]]:
    """ABBA rounds: ours, theirs, theirs, ours; returns the two lists of 2 x repeats timings."""
    ours(), theirs()  # warm-up
    ours_times, theirs_times = [], []
    for _ in range(repeats):
        first = _time_once(ours)
        theirs_times += [_time_once(theirs), _time_once(theirs)]
        ours_times += [first, _time_once(ours)]
    return ours_times, theirs_times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from botorch.models.kernels import InfiniteWidthBNNKernel

    torch.set_num_threads(args.threads)
    n, d, depth = (500, 10, 3) if args.quick else (3000, 10, 3)
    repeats = 2 if args.quick else args.repeats
    weight_std, bias_std = 1.0, 0.5
    rows = []
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(n, d, generator=torch.Generator().manual_seed(0)).to(dtype)
        ours = NNGPKernel(depth, "relu", weight_std, bias_std).to(dtype)
        theirs = InfiniteWidthBNNKernel(depth=depth).to(dtype)
        # BoTorch: weight_var multiplies x.x' / d at the input and E[relu relu] afterwards, as here.
        theirs.weight_var = weight_std**2
        theirs.bias_var = bias_std**2
        with torch.no_grad():
            ours_matrix = ours(x).to_dense()
            theirs_matrix = theirs(x).to_dense()
            agreement = float(((ours_matrix - theirs_matrix).abs() / theirs_matrix.abs()).max())
            # Reference: probnn's differentiable float64 recursion (the general closed-form path, not the fused
            # one being timed) on the first 300 rows.
            with torch.enable_grad():
                reference = NNGPKernel(depth, "relu", weight_std, bias_std).double()(x[:300].double(), x.double())
                reference = reference.to_dense().detach()
            error_ours = float(((ours_matrix[:300].double() - reference).abs() / reference.abs()).max())
            error_theirs = float(((theirs_matrix[:300].double() - reference).abs() / reference.abs()).max())
            del ours_matrix, theirs_matrix, reference
            ours_times, theirs_times = _interleaved(lambda: ours(x).to_dense(), lambda: theirs(x).to_dense(),
                                                    repeats)
            round_ratios = [sum(theirs_times[2 * i:2 * i + 2]) / sum(ours_times[2 * i:2 * i + 2])
                            for i in range(repeats)]
            t_erf = _time(lambda: NNGPKernel(depth, "erf", weight_std, bias_std).to(dtype)(x).to_dense(), repeats)
            t_ntk = _time(lambda: NTKKernel(depth, "relu", weight_std, bias_std).to(dtype)(x).to_dense(), repeats)
            small = x[:100] if not args.quick else x[:50]
            t_tanh = _time(lambda: NNGPKernel(depth, "tanh", weight_std, bias_std).to(dtype)(small).to_dense(), 1)
        t_autograd = _time(lambda: ours(x).to_dense(), 1)  # hyperparameters require grad: the training path
        t_ours, t_theirs = statistics.median(ours_times), statistics.median(theirs_times)
        rows.append({"dtype": str(dtype).replace("torch.", ""), "n": n, "d": d, "depth": depth,
                     "probnn_relu_nngp_s": t_ours, "botorch_relu_nngp_s": t_theirs,
                     "speed_ratio_botorch_over_probnn": t_theirs / t_ours,
                     "round_ratio_median": statistics.median(round_ratios),
                     "round_ratio_min": min(round_ratios), "round_ratio_max": max(round_ratios),
                     "probnn_times_s": ours_times, "botorch_times_s": theirs_times,
                     "max_relative_difference": agreement,
                     "probnn_max_relative_error_vs_float64": error_ours,
                     "botorch_max_relative_error_vs_float64": error_theirs,
                     "probnn_erf_nngp_s": t_erf, "probnn_relu_ntk_s": t_ntk,
                     "probnn_relu_nngp_autograd_s": t_autograd,
                     "probnn_tanh_quadrature_s": t_tanh, "tanh_n": small.shape[0]})
        print({key: value for key, value in rows[-1].items() if not key.endswith("times_s")}, flush=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "repeats_abba_rounds": repeats, "quick": args.quick, "weight_std": weight_std, "bias_std": bias_std,
            "note": "CPU shared by several developers: absolute times are noisy, the ratio (same run, "
                    "interleaved ABBA) is the figure"}
    name = "nngp_kernel_quick" if args.quick else "nngp_kernel"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# NNGP kernel speed ({'quick' if args.quick else 'full'})", "",
             f"{n} x {n} depth-{depth} ReLU NNGP, d = {d}, W_std = {weight_std}, b_std = {bias_std}, no gradients; "
             f"{repeats} interleaved ABBA rounds after a warm-up (median of {2 * repeats} timings per kernel); "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads for both kernels (shared 2-core machine).",
             "", "| dtype | probnn ReLU (s) | BoTorch ReLU (s) | BoTorch / probnn | per-round ratio median [min, max] "
             "| max rel. diff | rel. error vs float64 autograd path, 300 rows (probnn / BoTorch) "
             "| probnn erf (s) | probnn ReLU NTK (s) "
             "| probnn ReLU with autograd (s) | probnn tanh quadrature (s, n) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['dtype']} | {row['probnn_relu_nngp_s']:.3f} | {row['botorch_relu_nngp_s']:.3f} | "
                     f"{row['speed_ratio_botorch_over_probnn']:.2f} | {row['round_ratio_median']:.2f} "
                     f"[{row['round_ratio_min']:.2f}, {row['round_ratio_max']:.2f}] | "
                     f"{row['max_relative_difference']:.1e} | {row['probnn_max_relative_error_vs_float64']:.1e} / "
                     f"{row['botorch_max_relative_error_vs_float64']:.1e} | "
                     f"{row['probnn_erf_nngp_s']:.3f} | {row['probnn_relu_ntk_s']:.3f} | "
                     f"{row['probnn_relu_nngp_autograd_s']:.3f} | "
                     f"{row['probnn_tanh_quadrature_s']:.2f} ({row['tanh_n']}) |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
