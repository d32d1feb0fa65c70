"""Benchmark of the sampled DMFT and of theory phase diagrams (issue 5, Performance).

1. One gated point (mGRU, g = 2, g_z = 1, mu_z = 0) with :func:`dmft.sampled`, whose error
   comes from the spread of independent replicas, at 4000 paths; the 4 replicas run on the
   2 cores (threads; the result does not depend on it, and the single-thread time is printed
   too).  The Monte Carlo error is measured directly as the seed-to-seed spread of 8 runs (the
   error one run reports, from 4 replicas, scatters by about +-40 % around it).  Baseline
   measured in the same run: a finite-N
   simulation (N = 1000, QR method, k = 1), whose time to the same relative error is
   extrapolated from one window with error ~ T^-1/2 (its O(1/N) bias is not included, which
   favours the baseline).
2. A 40 x 40 theory phase diagram of a non-gated tanh flow over (gain, bias spread) with
   :func:`dmft.phase_diagram`.  Baseline: the straightforward way to map lambda_max, one
   finite-N simulation per grid point (N = 500, T = 200, k = 1), timed on 4 chaotic points and
   extrapolated to 1600 points.
Peak memory is measured in separate, untimed runs (tracemalloc slows numpy-heavy code).

Run: ``python benchmarks/sampled.py``.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

import simulate
from dmft import Ensemble, phase_diagram, sampled


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def peak_mib(f) -> float:
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return peak


def main() -> None:
    ens = Ensemble.mgru(2.0, gate_gain=1.0, gate_bias_mean=0.0)
    for w in (1, 2):   # numba compilation of the parallel and the serial kernels, not timed
        sampled(ens, n_paths=64, lyapunov_iter=2, workers=w)
    n_paths = 4000
    r, t_s = timed(lambda: sampled(ens, seed=0, n_paths=n_paths, workers=2))
    rel = r.lyapunov_err / r.lyapunov_max
    print(f"sampled gated point, {n_paths} paths: lambda_max = {r.lyapunov_max:.4f} +- "
          f"{r.lyapunov_err:.4f} (reported {100 * rel:.1f} %), {t_s:.1f} s on 2 threads",
          flush=True)
    # the Monte Carlo error itself: the seed-to-seed spread of independent runs (its own
    # relative uncertainty is 1 / sqrt(2 (S - 1)), 27 % for S = 8)
    S = 8
    runs = [r] + [sampled(ens, seed=s, n_paths=n_paths, workers=2) for s in range(1, S)]
    lam = np.array([x.lyapunov_max for x in runs])
    spread = lam.std(ddof=1) / lam.mean()
    rep = np.sqrt(np.mean([(x.lyapunov_err / x.lyapunov_max) ** 2 for x in runs]))
    print(f"  Monte Carlo error over {S} seeds: {100 * spread:.1f} +- "
          f"{100 * spread / np.sqrt(2 * (S - 1)):.1f} % (target 2 % in < 10 s); rms reported "
          f"error {100 * rep:.1f} %", flush=True)
    _, t_1 = timed(lambda: sampled(ens, seed=0, n_paths=n_paths, workers=1))
    print(f"  same point on 1 thread: {t_1:.1f} s (threads {t_1 / t_s:.2f}x)", flush=True)
    print(f"  peak memory {peak_mib(lambda: sampled(ens, seed=0, n_paths=n_paths)):.0f} MiB",
          flush=True)
    net = simulate.sample(ens, 1000, seed=0)
    simulate.lyapunov_spectrum(net, 1, t_max=5, dt=0.1, t_transient=5)   # compile
    ly, t_n = timed(lambda: simulate.lyapunov_spectrum(
        net, 1, t_max=100 * r.tau_eff, dt=0.1, t_transient=20 * r.tau_eff, seed=0))
    rel_n = ly.stderr[0] / abs(ly.exponents[0])
    t_eq = t_n * (rel_n / spread) ** 2
    print(f"simulation N=1000: lambda_max = {ly.exponents[0]:.4f} +- {ly.stderr[0]:.4f} "
          f"({100 * rel_n:.1f} %) in {t_n:.1f} s; to {100 * spread:.1f} %: {t_eq:.1f} s -> "
          f"sampled DMFT is {t_eq / t_s:.1f}x faster (finite-N bias not included)", flush=True)

    base = Ensemble.elman(1.0)
    gains = np.linspace(0.5, 3.0, 40)
    biases = np.linspace(0.0, 1.0, 40)
    ds, t_pd = timed(lambda: phase_diagram(base, x=("gain", gains), y=("bias_std", biases),
                                           n_workers=2))
    methods = dict(zip(*np.unique(ds.method.values, return_counts=True), strict=True))
    print(f"40x40 theory phase diagram (non-gated): {t_pd:.1f} s on 2 processes, "
          f"methods {({str(k): int(v) for k, v in methods.items()})}", flush=True)
    t_sim = []
    for g, s in ((1.5, 0.0), (2.0, 0.3), (2.5, 0.6), (3.0, 1.0)):
        net = simulate.sample(base.scaled(g).with_bias_std(s), 500, seed=1)
        _, t = timed(lambda net=net: simulate.lyapunov_spectrum(net, 1, t_max=200.0, dt=0.1,
                                                                t_transient=50.0, seed=1))
        t_sim.append(t)
    per_point = float(np.mean(t_sim))
    print(f"straightforward route (simulation per point, N=500, T=200): {per_point:.2f} s/point "
          f"-> {1600 * per_point:.0f} s for 1600 points (one core); theory is "
          f"{1600 * per_point / (2 * t_pd):.1f}x faster per core", flush=True)
    print(f"  peak memory of one stationary phase-diagram row: "
          f"{peak_mib(lambda: phase_diagram(base, x=('gain', gains))):.0f} MiB")


if __name__ == "__main__":
    main()
