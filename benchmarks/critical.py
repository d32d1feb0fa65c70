"""Time per ``dmft.critical_gain`` call, per activation, against a naive route measured in the
same run.

Naive route: the same root finds, but every Gaussian expectation is a plain 2-D quadrature
(``dmft.kernels.kernel`` / ``dkernel`` with ``method="quadrature"`` at c = q) -- no closed forms,
no 1-D reduction on the diagonal.  Both routes solve q* = K_F(q*) and rho(c) = 1 to the same
tolerances; the printed |diff| shows they agree.

Targets (issue 2): < 5 ms per call for closed-form activations, < 50 ms for quadrature ones.

    python benchmarks/critical.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import math

from _timing import best_of
from scipy import optimize

from dmft import Ensemble, Layer, critical_gain
from dmft import kernels as K


def naive_critical_gain(ens: Ensemble) -> float:
    def flow_diag(e, q):
        for la in e.flow:
            q = la.gain ** 2 * q + la.bias_std ** 2
            pre = q
            q = float(K.kernel(la.activation, q, q, q, method="quadrature", n_quad=121))
            yield pre

    def q_star(e):
        def f(q):
            x = q
            for la in e.flow:
                x = la.gain ** 2 * x + la.bias_std ** 2
                x = float(K.kernel(la.activation, x, x, x, method="quadrature", n_quad=121))
            return x - q
        if f(0.0) <= 0:
            return 0.0
        hi = 1.0
        while f(hi) > 0:
            hi *= 4
            if hi > 1e10:   # no finite fixed point (explosive): rho evaluated at q = 1e10
                return hi
        return optimize.brentq(f, 0.0, hi, xtol=1e-13)

    def log_rho(logc):
        e = ens.scaled(math.exp(logc))
        q = q_star(e)
        r2 = 1.0
        for la, pre in zip(e.flow, flow_diag(e, q), strict=True):
            r2 *= la.gain ** 2 * float(K.dkernel(la.activation, pre, pre, pre,
                                                 method="quadrature", n_quad=121))
        return 0.5 * math.log(r2)

    return math.exp(optimize.brentq(log_rho, -3.0, 3.0, xtol=1e-12))


CASES = {
    "identity (closed)": Ensemble(flow=(Layer(1.0, "identity", 0.1),)),
    "relu,identity (closed)": Ensemble.node((1.0, 1.0), bias_std=0.1),
    "erf (closed)": Ensemble.node(1.0, output="erf", bias_std=0.3),
    "tanh (quadrature)": Ensemble.elman(1.0, bias_std=0.3),
    "sigmoid,tanh (quadrature)": Ensemble.node((1.0, 1.0), hidden="sigmoid", output="tanh",
                                               bias_std=0.3),
    "softplus,tanh (quadrature)": Ensemble.node((1.0, 1.0), hidden="softplus", output="tanh",
                                                bias_std=0.3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    print(f"{'flow (all biases > 0)':30s} {'critical_gain':>14s} {'naive 2-D':>12s} "
          f"{'speed-up':>9s} {'|diff|':>9s}")
    for name, ens in CASES.items():
        t_fast, c_fast = best_of(lambda e=ens: critical_gain(e), args.repeat)
        t_naive, c_naive = best_of(lambda e=ens: naive_critical_gain(e), max(1, args.repeat // 5))
        print(f"{name:30s} {t_fast * 1e3:11.2f} ms {t_naive * 1e3:9.1f} ms "
              f"{t_naive / t_fast:8.1f}x {abs(c_fast - c_naive):9.1e}")


if __name__ == "__main__":
    main()
