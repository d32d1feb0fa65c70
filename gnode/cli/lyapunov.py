"""``gnode lyapunov``: the Lyapunov spectrum of one finite-N network (simulate, QR method)."""

from __future__ import annotations

import argparse
import sys

from ._common import (
    add_flow_arguments,
    compile_notice,
    ensemble_from_args,
    output_file,
    print_json,
    save_figure,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lyapunov", help="Lyapunov spectrum of a sampled network (QR method, numba)",
        description="Sample one network of the ensemble and compute its k largest Lyapunov "
                    "exponents (docs/theory.md section 7). A network whose state diverges "
                    "(explosive, or dt too large) prints one line on stderr and exits with "
                    "status 1.")
    add_flow_arguments(p, default_layers="tanh", default_gain="3")
    p.add_argument("--n", type=int, default=500, help="phase-space dimension N (default 500)")
    p.add_argument("--k", type=int, default=None, help="number of exponents (default N)")
    p.add_argument("--t", type=float, default=200.0, help="observation time (default 200)")
    p.add_argument("--dt", type=float, default=0.1, help="step (default 0.1)")
    p.add_argument("--method", choices=("rk4", "euler"), default="rk4")
    p.add_argument("--t-ons", type=float, default=None, help="re-orthonormalization interval")
    p.add_argument("--transient", type=float, default=100.0, help="state transient")
    p.add_argument("--seed", type=int, default=0, help="weights / initial-state seed")
    p.add_argument("--plot", default=None, help="save the spectrum to this image file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import simulate

    plot = output_file(args.plot, "--plot")   # checked before the work
    ens = ensemble_from_args(args)
    net = simulate.sample(ens, args.n, seed=args.seed)
    compile_notice("lyapunov")
    res = simulate.lyapunov_spectrum(net, args.k, t_max=args.t, dt=args.dt, method=args.method,
                                     t_ons=args.t_ons, t_transient=args.transient,
                                     seed=args.seed, progress=not args.no_progress)
    if res.diverged:   # an explosive network: one line, exit status 1 (no traceback)
        print(f"gnode lyapunov: error: {res.reason}", file=sys.stderr)
        return 1
    summary = {
        "ensemble": ens.describe(), "n": args.n, "k": res.k, "method": res.method,
        "t_max": res.t_max, "dt": res.dt, "t_ons": res.t_ons,
        "lambda_max": res.lambda_max, "kaplan_yorke": res.kaplan_yorke,
        "kaplan_yorke_lower_bound": res.kaplan_yorke_lower_bound,
        "entropy_rate": res.entropy_rate, "sum": res.sum, "mean_trace": res.mean_trace,
        "elapsed_s": res.elapsed, "converged": res.converged, "message": res.message,
    }
    if args.plot:
        import numpy as np
        from matplotlib.figure import Figure  # no pyplot: the backend is never touched

        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        ax.plot((1 + np.arange(res.k)) / args.n, res.exponents, ".", ms=3)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("i / N")
        ax.set_ylabel(r"$\lambda_i$")
        ax.set_title(ens.describe(), fontsize=7)
        fig.tight_layout()
        save_figure(fig, plot, dpi=150)
        summary["plot"] = args.plot
    if args.json:
        summary["exponents"] = res.exponents
        print_json(summary)
    else:
        for key, val in summary.items():
            print(f"{key:>26}: {val}")
    return 0
