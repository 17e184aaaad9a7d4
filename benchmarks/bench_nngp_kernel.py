# ruff: noqa: B023  (timed lambdas run inside the loop iteration that defines them)
"""Kernel speed: a 3000 x 3000 depth-3 ReLU NNGP matrix (d = 10) in float32 and float64, probnn's
NNGPKernel vs BoTorch's InfiniteWidthBNNKernel (same hyperparameters), timed in one run.

Also times probnn's erf NNGP, the ReLU NTK and (on a 100 x 100 matrix, because quadrature
costs 96^2 evaluations per entry) the quadrature path for tanh. Reports the median of ``--repeats``
runs after one warm-up. Usage: ``python benchmarks/bench_nngp_kernel.py [--quick]``.
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


def _time(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from botorch.models.kernels import InfiniteWidthBNNKernel

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
            t_ours = _time(lambda: ours(x).to_dense(), repeats)
            t_theirs = _time(lambda: theirs(x).to_dense(), repeats)
            t_erf = _time(lambda: NNGPKernel(depth, "erf", weight_std, bias_std).to(dtype)(x).to_dense(), repeats)
            t_ntk = _time(lambda: NTKKernel(depth, "relu", weight_std, bias_std).to(dtype)(x).to_dense(), repeats)
            small = x[:100] if not args.quick else x[:50]
            t_tanh = _time(lambda: NNGPKernel(depth, "tanh", weight_std, bias_std).to(dtype)(small).to_dense(), 1)
        rows.append({"dtype": str(dtype).replace("torch.", ""), "n": n, "d": d, "depth": depth,
                     "probnn_relu_nngp_s": t_ours, "botorch_relu_nngp_s": t_theirs,
                     "speed_ratio_botorch_over_probnn": t_theirs / t_ours, "max_relative_difference": agreement,
                     "probnn_erf_nngp_s": t_erf, "probnn_relu_ntk_s": t_ntk,
                     "probnn_tanh_quadrature_s": t_tanh, "tanh_n": small.shape[0]})
        print(rows[-1], flush=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "repeats": repeats, "quick": args.quick,
            "note": "CPU shared by several developers: absolute times are noisy, the ratio (same run) is the figure"}
    name = "nngp_kernel_quick" if args.quick else "nngp_kernel"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# NNGP kernel speed ({'quick' if args.quick else 'full'})", "",
             f"{n} x {n} depth-{depth} ReLU NNGP, d = {d}; median of {repeats} after a warm-up; "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads (shared 2-core machine).", "",
             "| dtype | probnn ReLU (s) | BoTorch ReLU (s) | BoTorch / probnn | max rel. diff | probnn erf (s) "
             "| probnn ReLU NTK (s) | probnn tanh quadrature (s, n) |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['dtype']} | {row['probnn_relu_nngp_s']:.3f} | {row['botorch_relu_nngp_s']:.3f} | "
                     f"{row['speed_ratio_botorch_over_probnn']:.2f} | {row['max_relative_difference']:.1e} | "
                     f"{row['probnn_erf_nngp_s']:.3f} | {row['probnn_relu_ntk_s']:.3f} | "
                     f"{row['probnn_tanh_quadrature_s']:.2f} ({row['tanh_n']}) |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
