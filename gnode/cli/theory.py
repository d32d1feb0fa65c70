"""``gnode theory``: stationary mean-field theory of a non-gated nODE (docs/theory.md section 4)."""

from __future__ import annotations

import argparse

from ._common import add_flow_arguments, ensemble_from_args, output_file, print_json, save_figure


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "theory", help="Delta_0, lambda_max, decorrelation time and phase (generalized SCS)",
        description="Stationary DMFT of a leaky non-gated nODE: variance Delta_0, "
                    "autocorrelation Delta(s), maximal Lyapunov exponent and phase.")
    add_flow_arguments(p, default_layers="tanh", default_gain="2")
    p.add_argument("--plot", default=None, help="write Delta(s) to this image file")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dmft import stationary

    plot = output_file(args.plot, "--plot")   # checked before the work
    ens = ensemble_from_args(args)
    r = stationary(ens)
    if args.plot:
        from matplotlib.figure import Figure  # no pyplot: the backend is never touched

        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        if r.lags.size > 1:
            ax.plot(r.lags, r.autocorrelation)
        else:
            ax.axhline(r.delta0)
        ax.set_xlabel("lag s")
        ax.set_ylabel(r"$\Delta(s)$")
        ax.set_title(f"{ens.describe()}\n{r.phase}, lambda_max = {r.lyapunov_max:.4g}", fontsize=8)
        fig.tight_layout()
        save_figure(fig, plot, dpi=120)
    if args.json:
        print_json(r.as_dict())
    else:
        print(ens.describe())
        print(f"phase            {r.phase}")
        print(f"Delta_0          {r.delta0:.8g}")
        print(f"Delta_inf        {r.delta_inf:.8g}")
        print(f"lambda_max       {r.lyapunov_max:.8g}")
        print(f"half-decay time  {r.half_decay_time:.6g}")
    return 0
