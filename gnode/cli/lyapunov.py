"""``gnode lyapunov``: the Lyapunov spectrum of finite-N networks (simulate, QR method)."""

from __future__ import annotations

import argparse
import math
import sys

from ._common import (
    add_flow_arguments,
    check_output_file,
    ensemble_from_args,
    int_at_least,
    nonneg_float,
    positive_float,
    print_json,
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "lyapunov", help="Lyapunov spectrum of sampled networks (QR method, numba)",
        description="Sample networks of the ensemble and compute their k largest Lyapunov "
                    "exponents (docs/theory.md section 7).  Each network runs a state transient "
                    "(--transient), then --t of observation.  Error bars: with one realization "
                    "the within-trajectory standard error; with --realizations R > 1 the "
                    "standard error over the R weight realizations (the disorder error, the "
                    "one that compares with the theory), the within-trajectory error beside "
                    "it.  A network whose state diverges (explosive, or dt too large) prints "
                    "one line on stderr and exits with status 1.")
    add_flow_arguments(p)
    p.add_argument("--n", type=int_at_least(1), default=500,
                   help="phase-space dimension N (default 500)")
    p.add_argument("--k", type=int_at_least(1), default=None,
                   help="number of exponents (default N)")
    p.add_argument("--t", type=positive_float, default=200.0,
                   help="observation time, after the transient (default 200)")
    p.add_argument("--transient", type=nonneg_float, default=100.0,
                   help="state transient run before the observation time, not counted in "
                        "the exponents (default 100)")
    p.add_argument("--dt", type=positive_float, default=0.1, help="step (default 0.1)")
    p.add_argument("--method", choices=("rk4", "euler"), default="rk4")
    p.add_argument("--t-ons", type=positive_float, default=None,
                   help="re-orthonormalization interval")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="weights / initial-state seed of the first realization (default 0)")
    p.add_argument("--realizations", type=int_at_least(1), default=1,
                   help="weight realizations (seeds --seed, --seed + 1, ...); R > 1 gives the "
                        "disorder error bars (default 1)")
    p.add_argument("--plot", default=None, help="save the spectrum to this image file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_run)


def _one(ens, args, seed):
    import simulate

    net = simulate.sample(ens, args.n, seed=seed)
    return simulate.lyapunov_spectrum(net, args.k, t_max=args.t, dt=args.dt, method=args.method,
                                      t_ons=args.t_ons, t_transient=args.transient, seed=seed,
                                      progress=not args.no_progress)


def _mean_sem(values):
    import numpy as np
    v = np.asarray(values, dtype=float)
    sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None
    return float(v.mean()), sem


def _run(args: argparse.Namespace) -> int:
    check_output_file(args.plot, "--plot")
    ens = ensemble_from_args(args)
    if args.k is not None and args.k > args.n:
        raise ValueError(f"k must be <= N = {args.n}, got --k {args.k}")
    runs = []
    for r in range(args.realizations):
        res = _one(ens, args, args.seed + r)
        if res.diverged:   # an explosive network: one line, exit status 1 (no traceback)
            print(f"gnode lyapunov: error: {res.reason}", file=sys.stderr)
            return 1
        runs.append(res)
    res = runs[0]
    lam, lam_sem = _mean_sem([x.lambda_max for x in runs])
    within = math.sqrt(sum(float(x.stderr[0]) ** 2 for x in runs)) / len(runs)
    summary = {
        "ensemble": ens.describe(), "n": args.n, "k": res.k, "method": res.method,
        "t_transient": args.transient, "t_max": res.t_max, "dt": res.dt, "t_ons": res.t_ons,
        "seeds": [args.seed + r for r in range(args.realizations)],
        "lambda_max": lam, "lambda_max_sem": lam_sem, "lambda_max_err_within": within,
        "kaplan_yorke": _mean_sem([x.kaplan_yorke for x in runs])[0],
        "kaplan_yorke_sem": _mean_sem([x.kaplan_yorke for x in runs])[1],
        "kaplan_yorke_lower_bound": any(x.kaplan_yorke_lower_bound for x in runs),
        "entropy_rate": _mean_sem([x.entropy_rate for x in runs])[0],
        "entropy_rate_sem": _mean_sem([x.entropy_rate for x in runs])[1],
        "sum": _mean_sem([x.sum for x in runs])[0], "mean_trace": res.mean_trace,
        "phase": str(res.phase), "elapsed_s": sum(x.elapsed for x in runs),
        "converged": all(x.converged for x in runs), "message": res.message,
    }
    if args.plot:
        _plot(args, ens, runs)
        summary["plot"] = args.plot
    if args.json:
        summary["exponents"] = res.exponents if len(runs) == 1 else [x.exponents for x in runs]
        summary["exponents_stderr"] = res.stderr if len(runs) == 1 else [x.stderr for x in runs]
        print_json(summary)
    else:
        _print(summary, len(runs))
    return 0


def _print(s: dict, n_runs: int) -> None:
    print(f"{'ensemble':>26}: {s['ensemble']}")
    print(f"{'network':>26}: N = {s['n']}, k = {s['k']}, seeds {s['seeds']}")
    print(f"{'times':>26}: transient {s['t_transient']:g} (not observed), then "
          f"t_max {s['t_max']:g}; dt {s['dt']:g} ({s['method']}), t_ons {s['t_ons']:g}")
    if n_runs == 1:
        print(f"{'lambda_max':>26}: {s['lambda_max']:.5g} +- {s['lambda_max_err_within']:.2g} "
              "(within-trajectory error of one realization; --realizations R for the disorder "
              "error)")
    else:
        print(f"{'lambda_max':>26}: {s['lambda_max']:.5g} +- {s['lambda_max_sem']:.2g} "
              f"(standard error over {n_runs} realizations; within-trajectory "
              f"{s['lambda_max_err_within']:.2g})")
    for key in ("kaplan_yorke", "entropy_rate"):
        sem = s.get(f"{key}_sem")
        text = f"{s[key]:.5g}" + ("" if sem is None else f" +- {sem:.2g}")
        if key == "kaplan_yorke" and s["kaplan_yorke_lower_bound"]:
            text += " (lower bound: the k exponents sum to > 0)"
        print(f"{key:>26}: {text}")
    for key in ("sum", "mean_trace", "phase", "elapsed_s", "converged", "message"):
        print(f"{key:>26}: {s[key]}")
    if "plot" in s:
        print(f"{'plot':>26}: {s['plot']}")


def _plot(args, ens, runs) -> None:
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: the backend is never touched

    from ._common import save_figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for x in runs:
        ax.errorbar((1 + np.arange(x.k)) / args.n, x.exponents, yerr=x.stderr, fmt=".", ms=3,
                    elinewidth=0.5)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("i / N")
    ax.set_ylabel(r"$\lambda_i$")
    ax.set_title(ens.describe(), fontsize=7)
    fig.tight_layout()
    save_figure(fig, args.plot, dpi=150)
