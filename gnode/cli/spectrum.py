"""``gnode spectrum``: the Lyapunov spectrum F(s) from the mean-field theory (docs/theory.md 9).

Prints D_KY/N, h_KS/N, the unstable fraction 1 - F(0) and lambda_max with their numerical
errors; ``--simulate N`` adds a finite-N network's spectrum (QR method) with the same
definitions, ``--plot`` draws F(s) of both.
"""

from __future__ import annotations

import argparse

from . import _common
from ._common import add_flow_arguments, ensemble_from_args, print_json

_KEYS = ("lyapunov_max", "dimension_fraction", "entropy_rate", "unstable_fraction")
_LABELS = {"lyapunov_max": "lambda_max", "dimension_fraction": "D_KY/N",
           "entropy_rate": "h_KS/N", "unstable_fraction": "1 - F(0)"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "spectrum", help="Lyapunov spectrum F(s), D_KY/N, h_KS/N from the single-site theory",
        description="Distribution of the Lyapunov exponents of a leaky nODE, or of a gated "
                    "one (--gate-gain ...), at large N (docs/theory.md sections 9-10): "
                    "continuous time, or the Euler map with --dt; optionally against a "
                    "simulated network (--simulate N).")
    add_flow_arguments(p)
    p.add_argument("--dt", type=float, default=None,
                   help="Euler step dt of the map h <- h + (dt/tau) G (-h + F) (default: "
                        "continuous time)")
    p.add_argument("--paths", type=int, default=256, help="gain paths per replica (256)")
    p.add_argument("--replicas", type=int, default=2,
                   help="independent replicas; their spread is the Monte Carlo error (2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--simulate", type=int, default=0, metavar="N",
                   help="also simulate one network of N units (k = N/4 exponents, T = 300)")
    p.add_argument("--plot", default=None, help="write F(s) to this image file")
    p.set_defaults(func=_run)


def _simulate(ens, args):
    import simulate

    net = simulate.sample(ens, args.simulate, seed=args.seed)
    method = "rk4" if args.dt is None else "euler"
    res = simulate.lyapunov_spectrum(net, max(1, args.simulate // 4), t_max=300.0,
                                     dt=0.1 if args.dt is None else args.dt, method=method,
                                     seed=args.seed, progress=not args.json)
    return res, simulate.spectrum_summary(res)


def _plot(path, r, sim, args):
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: the backend is never touched

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    ax.errorbar(r.s, r.cdf, yerr=r.cdf_err, fmt="-o", ms=3, label="theory (N -> inf)")
    if sim is not None:
        lam = np.sort(sim.exponents)
        grid = np.linspace(max(lam[0], r.s[0]), r.lyapunov_max * 1.05, 200)
        import simulate
        ax.plot(grid, simulate.spectrum_cdf(sim, grid), "-", lw=1.2,
                label=f"simulation N = {args.simulate}")
    ax.axvline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("s (per unit time)")
    ax.set_ylabel("F(s): fraction of exponents below s")
    ax.set_title(r.ensemble.describe() + ("" if args.dt is None else f", dt = {args.dt:g}"),
                 fontsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _common.save_figure(fig, path, dpi=150)


def _run(args: argparse.Namespace) -> int:
    from dmft import spectrum

    _common.output_file(args.plot, "--plot")   # checked before the work
    ens = ensemble_from_args(args)
    _common.compile_notice("spectrum")
    r = spectrum(ens, dt=args.dt, n_paths=args.paths, n_replicas=args.replicas,
                 seed=args.seed, progress=not args.json)
    out = r.as_dict()
    sim = None
    if args.simulate:
        sim, summ = _simulate(ens, args)
        out["simulation"] = {"n": args.simulate, "k": sim.k, **summ.as_dict()}
    if args.plot:
        _plot(args.plot, r, sim, args)
        out["plot"] = args.plot
    if args.json:
        out["s"], out["cdf"], out["cdf_err"] = r.s, r.cdf, r.cdf_err
        print_json(out)
        return 0
    print(f"{ens.describe()}" + ("" if args.dt is None else f"; Euler map, dt = {args.dt:g}"))
    for k in _KEYS:
        err = None if k == "lyapunov_max" else _total(r.errors[k])
        line = f"{_LABELS[k]:>12}  {getattr(r, k):.5g}"
        if err is not None:
            line += f" +- {err:.2g}"
        if sim is not None:
            line += f"    simulation N={args.simulate}: {out['simulation'][k]:.5g}"
        print(line)
    print(f"{'':>12}  {r.message}; {r.elapsed:.0f} s")
    return 0


def _total(errs: dict) -> float:
    return sum(v * v for v in errs.values() if v is not None) ** 0.5
