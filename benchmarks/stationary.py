"""Benchmark: one stationary solve (Delta_0, Delta(s), lambda_max) per activation.

Compares :func:`dmft.stationary` with a straightforward route measured in the same run:
Delta_0 by shooting (integrate Delta'' = Delta - K(Delta; Delta_0) with scipy's solve_ivp, with
K from dmft.kernels.flow_kernel, and bisect Delta_0 on whether the trajectory overshoots or
falls back) and lambda_max from a dense eigen-solve (numpy.linalg.eigvalsh) of the
finite-difference Hamiltonian.  Accuracy of both is printed against a high-resolution
reference (n_kernel=48, n_lags=8000).  Run: ``python benchmarks/stationary.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy import integrate

from dmft import Ensemble, Layer, kernels, stationary


def _straightforward(ens, lo, hi, n_grid=1500, s_max=40.0, n_bisect=30):
    def k(d, d0):
        return float(kernels.flow_kernel(ens, d0, d0, d, derivative=False).k)

    def overshoot(d0):
        # Delta'' = Delta - K; odd flow: decaying solution ends at 0.  Overshoot (Delta < 0)
        # means Delta_0 too large; turning back up means too small.
        def rhs(s, y):
            return [y[1], y[0] - k(y[0], d0)]

        def cross(s, y):
            return y[0]
        cross.terminal = True

        def turn(s, y):
            return y[1]
        turn.terminal = True
        turn.direction = 1
        s0 = 1e-3                      # start off the turning point (Taylor step)
        f0 = d0 - k(d0, d0)
        sol = integrate.solve_ivp(rhs, (s0, s_max), [d0 + 0.5 * f0 * s0 ** 2, f0 * s0],
                                  events=(cross, turn), rtol=1e-9, atol=1e-12)
        return len(sol.t_events[0]) > 0
    for _ in range(n_bisect):
        mid = 0.5 * (lo + hi)
        if overshoot(mid):
            hi = mid
        else:
            lo = mid
    d0 = 0.5 * (lo + hi)
    sol = integrate.solve_ivp(lambda s, y: [y[1], y[0] - k(y[0], d0)], (0, s_max / 2),
                              [d0, 0.0], dense_output=True, rtol=1e-9, atol=1e-12)
    s = np.linspace(-s_max / 2, s_max / 2, n_grid)
    delta = sol.sol(np.abs(s))[0]
    dk = kernels.flow_kernel(ens, d0, d0, delta).dk
    h = s[1] - s[0]
    H = (np.diag(2 / h ** 2 + 1 - dk) - np.diag(np.full(n_grid - 1, 1 / h ** 2), 1)
         - np.diag(np.full(n_grid - 1, 1 / h ** 2), -1))
    e0 = np.linalg.eigvalsh(H)[0]
    return d0, math.sqrt(1 - e0) - 1


def _time(f, repeat=5):
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    cases = {
        "erf (closed form)": Ensemble(flow=(Layer(2.0, "erf"),)),
        "tanh (quadrature)": Ensemble.elman(2.0),
    }
    for name, ens in cases.items():
        ref = stationary(ens, n_kernel=48, n_lags=8000)
        t_fast, r = _time(lambda ens=ens: stationary(ens))
        t_slow, (d0, lam) = _time(lambda ens=ens, ref=ref: _straightforward(
            ens, 0.5 * ref.delta0, 2 * ref.delta0), repeat=1)
        e_d = abs(r.delta0 / ref.delta0 - 1)
        print(f"{name:20s} stationary {1e3 * t_fast:7.1f} ms  (dDelta0 {e_d:.1e}, "
              f"dlambda {abs(r.lyapunov_max / ref.lyapunov_max - 1):.1e})")
        e_s = abs(d0 / ref.delta0 - 1)
        print(f"{'':20s} shooting   {1e3 * t_slow:7.1f} ms  (dDelta0 {e_s:.1e}, "
              f"dlambda {abs(lam / ref.lyapunov_max - 1):.1e})   ratio {t_slow / t_fast:.0f}x")
    gains = np.linspace(1.05, 4.0, 200)
    t = time.perf_counter()
    lam = [stationary(Ensemble.elman(float(g))).lyapunov_max for g in gains]
    print(f"phase curve, 200 gains (tanh): {time.perf_counter() - t:.2f} s; "
          f"lambda_max(4) = {lam[-1]:.4f}")


if __name__ == "__main__":
    main()
