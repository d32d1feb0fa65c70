"""One theory point of the Lyapunov spectrum against the finite-N route to the same accuracy.

    python benchmarks/spectrum.py [--quick] [--cpu-time]

The point: the one-layer tanh network at g = 3 in continuous time, D_KY/N to 1 %.

1. Theory: ``dmft.spectrum`` at its defaults (2 replicas of 256 calibrated paths, ring of 65
   times over 32 tau, regulators down to 1e-3 with the eta -> 0 extrapolation, grid error from a
   ring twice as coarse): its time, D_KY/N and the total numerical error it reports.
2. The finite-N route, measured in the same run: the time per step of the QR spectrum
   (k = N/4, RK4 dt = 0.1) at N = 250, 500 and 1000, the realization spread of D_KY/N and the
   finite-size deficit b of D_KY/N = a - b / N (fitted with a free, and with a fixed at the
   theory's value: the two-parameter fit from three sizes is poorly determined), then the N and
   the number of realizations R that reach 1 % (bias b / N <= 0.5 %, standard error <= 0.5 %),
   and the time that costs, extrapolated as N^2 k (the tangent propagation's operation count)
   from the per-step time at the largest N.
3. The cost's growth with the grid resolution: the theory at spacings 0.8, 0.5 and 0.33 (one
   replica, a few thresholds), time and F(0).

The reference implementation of the method (D. G. Clark's rnn-lyapunov, torch) could not be
installed here (its snapshot is not available offline), so it is not timed.
"""

from __future__ import annotations

import argparse
import math
import resource
import time

import numpy as np

import dmft
import simulate
from dmft import Ensemble


def clock(cpu: bool):
    if cpu:
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_utime + \
            resource.getrusage(resource.RUSAGE_SELF).ru_stime
    return time.perf_counter


def theory_point(now):
    t = now()
    r = dmft.spectrum(Ensemble.elman(3.0))
    el = now() - t
    err = math.sqrt(sum(e * e for e in r.errors["dimension_fraction"].values()
                        if e is not None))
    return el, r, err


def finite_n(ns, seeds, now, t_obs):
    out = {}
    for n in ns:
        vals, secs = [], []
        for s in seeds:
            net = simulate.sample(Ensemble.elman(3.0), n, seed=s)
            t = now()
            res = simulate.lyapunov_spectrum(net, n // 4, t_max=t_obs, dt=0.1,
                                             t_transient=50.0, seed=s)
            secs.append(now() - t)
            vals.append(simulate.spectrum_summary(res).dimension_fraction)
        steps = (t_obs + 50.0 + min(t_obs / 10.0, 50.0)) / 0.1
        out[n] = {"values": vals, "seconds_per_step": float(np.median(secs)) / steps,
                  "seconds": float(np.median(secs))}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer realizations, shorter runs")
    p.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall")
    a = p.parse_args()
    now = clock(a.cpu_time)

    el, r, err = theory_point(now)
    print(f"theory  (g = 3): D_KY/N = {r.dimension_fraction:.5f} +- {err:.1e} "
          f"({100 * err / r.dimension_fraction:.2f} %), h_KS/N = {r.entropy_rate:.6f}, "
          f"1 - F(0) = {r.unstable_fraction:.5f}; {el:.1f} s, {r.n_iter} sweeps")

    seeds = (0, 1) if a.quick else (0, 1, 2)
    t_obs = 100.0 if a.quick else 200.0
    fn = finite_n((250, 500) if a.quick else (250, 500, 1000), seeds, now, t_obs)
    for n, d in fn.items():
        v = np.array(d["values"])
        sem = v.std(ddof=1) / math.sqrt(v.size)
        print(f"finite N = {n:4d}: D_KY/N = {v.mean():.4f} +- {sem:.4f}"
              f" ({v.size} realizations), {d['seconds']:.1f} s per spectrum "
              f"({1e3 * d['seconds_per_step']:.2f} ms per step, k = N/4)")
    ns = np.array(sorted(fn))
    vals = [fn[n]["values"] for n in ns]
    fit = simulate.finite_size_extrapolation(ns, vals)
    # the realization spread scales as N^-1/2: s = std * sqrt(N), pooled
    s_pool = math.sqrt(np.mean([np.var(v, ddof=1) * n for n, v in zip(ns, vals, strict=True)]))
    target = 0.01 * r.dimension_fraction
    # one-parameter weighted fit x_N = a_theory + b / N, Var x_N = s^2 / (N R):
    # b = sum R (x - a) / sum (R / N)
    xs = np.array([np.mean(v) for v in vals])
    R = np.array([len(v) for v in vals], dtype=float)
    b_fixed = float(np.sum(R * (xs - r.dimension_fraction)) / np.sum(R / ns))
    print(f"finite-size deficit with a fixed at the theory: b = {b_fixed:.2f}")
    b = abs(b_fixed)
    n_need = max(int(math.ceil(b / (0.5 * target))), int(ns[-1]))
    reals = max(2, int(math.ceil((s_pool / math.sqrt(n_need) / (0.5 * target)) ** 2)))
    per_step = fn[int(ns[-1])]["seconds_per_step"] * (n_need / ns[-1]) ** 3   # N^2 k, k = N/4
    steps = (200.0 + 50.0 + 20.0) / 0.1
    cost = per_step * steps * reals
    print(f"finite-size fit a + b/N: a = {fit.value:.4f} +- {fit.stderr:.4f}, b = {fit.slope:.2f};"
          f" realization spread {s_pool:.3f} / sqrt(N)")
    print(f"finite-N route to 1 %: N >= {n_need} (bias b/N <= 0.5 %), R >= {reals} realizations"
          f" (standard error <= 0.5 %), k = N/4, T = 200: about {cost / 3600:.1f} h "
          f"(extrapolated as N^3 from N = {ns[-1]})")
    print(f"ratio finite-N / theory: {cost / el:.0f}x (target >= 10x); theory {el:.0f} s "
          f"(target < 120 s)")

    for h in (0.8, 0.5, 0.33):
        t = now()
        rr = dmft.spectrum(Ensemble.elman(3.0), s=[-0.2, 0.0], spacing=h, n_replicas=1,
                           grid_error=False)
        m = 2 * max(4, int(round(0.5 * 32.0 / h))) + 1
        print(f"grid spacing {h:4.2f} (m = {m:3d}): F(-0.2) = {rr.cdf[0]:.5f}, "
              f"F(0) = {rr.cdf[1]:.5f}, {now() - t:.1f} s for 2 thresholds")


if __name__ == "__main__":
    main()
