"""``gnode critical``: critical initialization of an architecture (docs/theory.md section 3)."""

from __future__ import annotations

import argparse
import math

from ._common import add_flow_arguments, ensemble_from_args, positive_float, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "critical", help="critical gains (rho = 1) of a flow, with q* and the phase",
        description="Gain per layer that puts the spectral radius rho of the flow Jacobian at "
                    "the fixed point at the target (1 = edge of stability/chaos); the flow's "
                    "gains set the direction (their ratios), the factor scales them all. "
                    "Example: gnode critical --layers relu,identity --bias-std 0.1")
    add_flow_arguments(p)
    p.add_argument("--rho", type=positive_float, default=1.0,
                   help="target spectral radius (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dmft import critical_gain, fixed_point

    ens = ensemble_from_args(args)
    factor = critical_gain(ens, rho=args.rho)
    crit = ens.scaled(factor)
    fp = fixed_point(crit)
    gains = list(crit.gains)
    out = {
        "ensemble": ens.describe(),
        "target_rho": args.rho,
        "factor": factor,
        "critical_gains": gains,
        "gain_product": math.prod(gains),
        "rho": fp.rho,
        "q_star": fp.q,
        "preactivation_variances": list(fp.preactivation_variances),
        "phase": fp.phase,
        "stable_possible": ens.leak,
    }
    if not math.isfinite(fp.q):
        out["q_star_note"] = _Q_INF
    if fp.gate_mean is not None:
        out["gate_mean"] = fp.gate_mean
        out["timescales_q10_q50_q90"] = list(fp.timescales)
    if args.json:
        print_json(out)
        return 0
    print(f"ensemble         {out['ensemble']}")
    print(f"critical factor  {factor:.6g}  (multiplies every flow gain)")
    print("critical gains   " + ", ".join(f"{g:.6g}" for g in gains)
          + f"   (product {out['gain_product']:.6g})")
    print(f"rho              {fp.rho:.6g}")
    print(f"q*               {fp.q:.6g}")
    if not math.isfinite(fp.q):
        print(f"                 ({_Q_INF})")
    print(f"phase            {fp.phase}")
    if fp.gate_mean is not None:
        lo, mid, hi = fp.timescales
        print(f"gate             mean G* = {fp.gate_mean:.4g}; time constants tau/G*: "
              f"{lo:.4g} (10%), {mid:.4g} (50%), {hi:.4g} (90%)")
    if not ens.leak:
        print("note             non-leaky: J = diag(G*) J_F is a disk centred at 0, so half of "
              "the eigenvalues have Re > 0 at any nonzero gain; no initialization is stable")
    return 0


_Q_INF = ("q* = inf: at rho = 1 an unbounded flow (relu, identity) with biases has no finite "
          "fixed point - the linear part is marginal and the biases drive a variance that grows "
          "without bound; below the critical gains q* is finite (the preactivation variances "
          "shown are those at the largest q* reached)")
