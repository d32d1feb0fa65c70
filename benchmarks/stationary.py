"""Benchmark: one stationary solve (Delta_0, Delta(s), lambda_max) per activation.

Compares :func:`dmft.stationary` with a straightforward route measured in the same run, for odd
flows without biases (Delta_inf = 0):

* Delta_0 by shooting: integrate Delta'' = Delta - K(Delta; Delta_0), Delta(0) = Delta_0,
  Delta'(0) = 0 with scipy's ``solve_ivp`` (K from ``dmft.kernels.flow_kernel`` at every
  right-hand-side call) and bisect on the fate of the particle in the potential
  V = -Delta^2/2 + int K: if Delta_0 is too SMALL, V(Delta_0) > V(0) and the particle rolls over
  the hill top Delta = 0 (``cross`` event: Delta changes sign); if Delta_0 is too LARGE it turns
  back before reaching 0 (``turn`` event: Delta' changes sign from - to +), or, further above,
  starts moving up (Delta''(0) = Delta_0 - K(Delta_0; Delta_0) >= 0).  Bisection stops
  when the bracket is narrower than ``rtol`` or when a shot reaches ``s_max`` with neither
  event (the particle sits on the hill top to the ODE tolerance).
* lambda_max from a dense eigen-solve (``numpy.linalg.eigvalsh``) of the second-order
  finite-difference Hamiltonian H = -d^2/ds^2 + 1 - K'(Delta(|s|)) on [-S, S] (Dirichlet), with
  Delta(s) the last shot, cut at its event and continued by Delta_inf = 0.

Accuracy of both routes is measured against a high-resolution run of dmft.stationary
(n_kernel=48, n_lags=16000, quadrature spacing h sqrt q = 0.3).  The straightforward route is
tuned to reach ~1e-7 on Delta_0 (bisection to 1e-6, ODE rtol 1e-10) and ~2e-6 on lambda_max
(3001 grid points on [-25, 25]); the fast route is more accurate on both, so the printed ratio
is a lower bound of the speed-up at equal accuracy.  Run: ``python benchmarks/stationary.py``.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _timing import best_of
from scipy import integrate

import dmft._stationary as _st
from dmft import Ensemble, Layer, kernels, stationary


def _reference(ens):
    """High-resolution solve: 48 Chebyshev nodes, 16000 lag steps, and the kernel quadrature at
    spacing h sqrt(q) = 0.3 (error ~ 1e-14) instead of the solver's 0.45 (~ 3e-10)."""
    fine = _st._H_FINE
    _st._H_FINE = 0.3
    try:
        return stationary(ens, n_kernel=48, n_lags=16000)
    finally:
        _st._H_FINE = fine


def _shoot(ens, d0, s_max, rtol_ode):
    """One shot; returns (+1 turned back = too large, -1 crossed = too small, 0 undecided, sol)."""

    def k(d):
        return float(kernels.flow_kernel(ens, d0, d0, d, derivative=False).k)

    def rhs(s, y):
        return [y[1], y[0] - k(y[0])]

    def cross(s, y):
        return y[0]
    cross.terminal = True

    def turn(s, y):
        return y[1]
    turn.terminal = True
    turn.direction = 1

    f0 = d0 - k(d0)                # Delta''(0)
    if f0 >= 0.0:                  # pushed to larger Delta from rest: Delta_0 far too large
        return 1, None
    s0 = 1e-3                      # start off the turning point (Taylor step)
    sol = integrate.solve_ivp(rhs, (s0, s_max), [d0 + 0.5 * f0 * s0 ** 2, f0 * s0],
                              events=(cross, turn), rtol=rtol_ode, atol=1e-13 * d0,
                              dense_output=True)
    if len(sol.t_events[0]):
        return -1, sol
    if len(sol.t_events[1]):
        return 1, sol
    return 0, sol


def straightforward(ens, lo, hi, *, rtol=1e-6, rtol_ode=1e-10, s_max=60.0, half_width=25.0,
                    n_grid=3001):
    """Shooting + bisection for Delta_0, dense eigen-solve for lambda_max (odd flows)."""
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        fate, _ = _shoot(ens, mid, s_max, rtol_ode)
        if fate > 0:
            hi = mid
        elif fate < 0:
            lo = mid
        else:
            lo = hi = mid
            break
    d0 = 0.5 * (lo + hi)
    fate, sol = _shoot(ens, d0, s_max, rtol_ode)
    s_end = sol.t[-1]
    s = np.linspace(-half_width, half_width, n_grid)
    a = np.abs(s)
    inside = (a >= 1e-3) & (a < s_end)
    delta = np.zeros_like(s)
    delta[inside] = sol.sol(a[inside])[0]
    delta[a < 1e-3] = d0
    dk = kernels.flow_kernel(ens, d0, d0, delta).dk
    h = s[1] - s[0]
    off = np.full(n_grid - 1, -1.0 / h ** 2)
    H = np.diag(2.0 / h ** 2 + 1.0 - dk) + np.diag(off, 1) + np.diag(off, -1)
    e0 = np.linalg.eigvalsh(H)[0]
    return d0, math.sqrt(1.0 - e0) - 1.0


def main() -> None:
    cases = {
        "erf (closed form)": Ensemble(flow=(Layer(2.0, "erf"),)),
        "tanh (quadrature)": Ensemble.elman(2.0),
        "relu-tanh 2 layers": Ensemble.node((2.0, 2.0), hidden="relu", output="tanh",
                                            bias_std=(0.2, 0.1)),
    }
    print("accuracy: relative error against stationary(n_kernel=48, n_lags=16000, h sqrt q = 0.3)")
    for name, ens in cases.items():
        ref = _reference(ens)
        t_fast, r = best_of(lambda ens=ens: stationary(ens), warmup=False)
        e_d = abs(r.delta0 / ref.delta0 - 1)
        e_l = abs(r.lyapunov_max / ref.lyapunov_max - 1)
        print(f"{name:20s} stationary  {1e3 * t_fast:8.1f} ms  (dDelta0 {e_d:.1e}, "
              f"dlambda {e_l:.1e})")
        if ref.delta_inf != 0.0:
            print(f"{'':20s} (no shooting baseline: Delta_inf > 0)")
            continue
        t_slow, (d0, lam) = best_of(lambda ens=ens, ref=ref: straightforward(
            ens, 0.5 * ref.delta0, 2 * ref.delta0), repeat=1, warmup=False)
        e_s = abs(d0 / ref.delta0 - 1)
        e_ls = abs(lam / ref.lyapunov_max - 1)
        print(f"{'':20s} shooting    {1e3 * t_slow:8.1f} ms  (dDelta0 {e_s:.1e}, "
              f"dlambda {e_ls:.1e})   ratio {t_slow / t_fast:.0f}x "
              f"({'fast route at least as accurate' if e_d <= e_s and e_l <= e_ls else 'CHECK'})")
    gains = np.linspace(1.05, 4.0, 200)
    t = time.perf_counter()
    lam = [stationary(Ensemble.elman(float(g))).lyapunov_max for g in gains]
    print(f"phase curve, 200 gains in [1.05, 4] (tanh): {time.perf_counter() - t:.2f} s; "
          f"lambda_max(1.5, 2, 3, 4) = "
          + ", ".join(f"{np.interp(x, gains, lam):.4f}" for x in (1.5, 2.0, 3.0, 4.0)))


if __name__ == "__main__":
    main()
