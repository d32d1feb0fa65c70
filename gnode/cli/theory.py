"""``gnode theory``: the mean-field theory of one ensemble (docs/theory.md sections 4-6).

The solver follows the ensemble (``--method auto``): the closed stationary theory
(``dmft.stationary``, section 4) for leaky non-gated flows, the sampled stationary theory
(``dmft.sampled``, section 6) for gated ones, and the sampled two-time theory from
h(0) ~ N(0, q0) for non-leaky flows, which have no stationary state (``dmft.sampled_two_time``,
sections 5-6, gated or not; the closed ``dmft.two_time`` evaluates a quadrature kernel at every
pair of times, minutes for tanh over the default window, and stays a Python call).
"""

from __future__ import annotations

import argparse
import math

from ._common import (
    add_flow_arguments,
    check_output_file,
    ensemble_from_args,
    int_at_least,
    positive_float,
    print_json,
    save_figure,
)

_METHODS = ("auto", "stationary", "sampled", "two-time")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "theory", help="Delta_0, lambda_max, autocorrelation and phase (closed, sampled or "
                       "two-time DMFT)",
        description="Mean-field theory of the ensemble: variance Delta_0, autocorrelation "
                    "Delta(s), maximal Lyapunov exponent and phase.  --method auto: closed "
                    "stationary theory (leaky, no gate), sampled theory (leaky, gated), "
                    "two-time theory from h(0) ~ N(0, q0) over --t-max (non-leaky, gated or "
                    "not).  Numbers are printed with their numerical or Monte Carlo errors.")
    add_flow_arguments(p)
    s = p.add_argument_group("solver")
    s.add_argument("--method", choices=_METHODS, default="auto",
                   help="stationary: dmft.stationary; sampled: dmft.sampled; two-time: "
                        "dmft.sampled_two_time (default auto)")
    s.add_argument("--n-paths", type=int_at_least(8), default=1000,
                   help="sampled paths (sampled and two-time theory; default 1000)")
    s.add_argument("--t-max", type=positive_float, default=10.0,
                   help="window of the two-time theory (default 10)")
    s.add_argument("--dt", type=positive_float, default=None,
                   help="time step (default: 0.05 sampled, 0.1 two-time)")
    s.add_argument("--q0", type=positive_float, default=1.0,
                   help="initial variance of the two-time theory (default 1)")
    s.add_argument("--seed", type=int_at_least(0), default=0, help="sampling seed (default 0)")
    p.add_argument("--plot", default=None, help="write Delta(s) (or C(t, t)) to this image")
    p.set_defaults(func=_run)


def _method(ens, requested: str) -> str:
    if requested == "auto":
        if not ens.leak:
            return "two-time"
        return "sampled" if ens.gated or ens.input_dim else "stationary"
    if requested in ("stationary", "sampled") and not ens.leak:
        raise ValueError(f"--method {requested} needs a leaky flow (a non-leaky flow has no "
                         "stationary state): use --method two-time")
    if requested == "stationary" and ens.gated:
        raise ValueError("--method stationary has no gate: use --method sampled")
    return requested


def _run(args: argparse.Namespace) -> int:
    check_output_file(args.plot, "--plot")
    ens = ensemble_from_args(args)
    method = _method(ens, args.method)
    out = {"ensemble": ens.describe(), "method": method}
    if method == "stationary":
        from dmft import stationary
        r = stationary(ens)
        out.update(r.as_dict())
        curve = (r.lags, r.autocorrelation, "lag s", r"$\Delta(s)$")
    elif method == "sampled":
        out.update(_sampled(ens, args))
        curve = out.pop("_curve")
    else:
        out.update(_two_time(ens, args))
        curve = out.pop("_curve")
    out["ensemble"], out["method"] = ens.describe(), method
    if args.plot:
        _plot(args.plot, ens, out, curve)
        out["plot"] = args.plot
    if args.json:
        print_json(out)
    else:
        _print(out)
    return 0


def _sampled(ens, args) -> dict:
    from dmft import sampled
    kw = {} if args.dt is None else {"dt": args.dt}
    r = sampled(ens, n_paths=args.n_paths, seed=args.seed, **kw)
    return {"phase": r.phase, "delta0": r.delta0, "delta0_err": r.delta0_err,
            "delta_inf": r.delta_inf, "delta_inf_err": r.delta_inf_err,
            "lyapunov_max": r.lyapunov_max, "lyapunov_err": r.lyapunov_err,
            "gate_mean": r.gate_mean, "gate_mean_err": r.gate_mean_err,
            "timescale_quantiles": r.timescale_quantiles, "n_paths": r.n_paths,
            "converged": r.converged, "message": r.message, "lags": r.lags,
            "autocorrelation": r.autocorrelation,
            "_curve": (r.lags, r.autocorrelation, "lag s", r"$\Delta(s)$")}


def _two_time(ens, args) -> dict:
    from dmft import sampled_two_time

    dt = 0.1 if args.dt is None else args.dt
    r = sampled_two_time(ens, args.t_max, dt=dt, q0=args.q0, n_paths=args.n_paths,
                         seed=args.seed)
    diag = r.correlation.diagonal()
    return {"t_max": float(r.times[-1]), "dt": dt, "q0": args.q0,
            "variance_final": float(diag[-1]),
            "variance_final_err": float(r.correlation_err[-1, -1]),
            "lyapunov_max": r.lyapunov_max, "lyapunov_err": r.lyapunov_err, "phase": r.phase,
            "gate_mean_final": float(r.gate_mean[-1]), "converged": r.converged,
            "message": r.message, "times": r.times, "variance": diag,
            "_curve": (r.times, diag, "time t", r"$C(t, t)$")}


def _fmt(out: dict, key: str, digits: int = 8) -> str:
    v = out.get(key)
    if v is None:
        return "-"
    text = f"{v:.{digits}g}"
    err = out.get(f"{key}_err", out.get("lyapunov_err") if key == "lyapunov_max" else None)
    if err is not None and math.isfinite(v):
        text += f" +- {err:.2g}"
    return text


def _print(out: dict) -> None:
    print(out["ensemble"])
    print(f"method           {out['method']}")
    if "phase" in out:
        print(f"phase            {out['phase']}")
    if out["method"] == "two-time":
        print(f"window           t = 0 .. {out['t_max']:g} (dt {out['dt']:g}), h(0) ~ "
              f"N(0, {out['q0']:g}): no stationary state")
        print(f"C(t_max, t_max)  {_fmt(out, 'variance_final')}")
        print(f"lambda_max       {_fmt(out, 'lyapunov_max')} (over the window)")
        print(f"mean gate        {out['gate_mean_final']:.5g} (at t_max)")
    else:
        print(f"Delta_0          {_fmt(out, 'delta0')}")
        print(f"Delta_inf        {_fmt(out, 'delta_inf')}")
        print(f"lambda_max       {_fmt(out, 'lyapunov_max')}")
        if "half_decay_time" in out:
            print(f"half-decay time  {out['half_decay_time']:.6g}")
        if "gate_mean" in out:
            print(f"mean gate        {_fmt(out, 'gate_mean', 5)}")
    print(f"message          {out['message']}")


def _plot(path, ens, out, curve) -> None:
    from matplotlib.figure import Figure  # no pyplot: the backend is never touched

    x, y, xlabel, ylabel = curve
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    if len(x) > 1:
        ax.plot(x, y)
    else:
        ax.axhline(float(y[0]) if len(y) else out.get("delta0", 0.0))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    lam = out.get("lyapunov_max")
    ax.set_title(f"{ens.describe()}\n{out.get('phase', out['method'])}, lambda_max = "
                 f"{lam:.4g}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
