"""Benchmark of the sampled DMFT and the theory phase diagram (issue 5, Performance).

1. One gated point (mGRU, g = 2, g_z = 1, mu_z = 0) to 2 % Monte Carlo error on lambda_max with
   :func:`dmft.sampled`, against the straightforward route: a finite-N simulation (N = 1000,
   QR method, k = 1) over 100 tau_eff, its time extrapolated (error ~ T^-1/2) to the same
   relative error.
2. A 40 x 40 theory phase diagram of a non-gated tanh flow over (gain, bias_std) with
   :func:`dmft.phase_diagram`, against the straightforward route: calling the same per-point
   theory on a 5 x 5 sub-grid and extrapolating to 1600 points.
Peak memory (tracemalloc, numpy allocations) is printed for each.

Run: ``python benchmarks/sampled.py``.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from dmft import Ensemble, phase_diagram, sampled


def timed(f):
    tracemalloc.start()
    t = time.perf_counter()
    out = f()
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return out, dt, peak


def main():
    ens = Ensemble.mgru(2.0, gate_gain=1.0, gate_bias_mean=0.0)
    sampled(ens, n_paths=50, lyapunov_iter=2, max_iter=80)      # numba compile, not timed
    r, t_s, m_s = timed(lambda: sampled(ens, seed=0, n_paths=800, lyapunov_iter=12))
    rel = r.lyapunov_err / r.lyapunov_max
    print(f"sampled gated point: lambda_max = {r.lyapunov_max:.4f} +- {r.lyapunov_err:.4f} "
          f"({100 * rel:.1f} %), {t_s:.1f} s, peak {m_s:.0f} MiB", flush=True)
    import simulate
    net = simulate.sample(ens, 1000, seed=0)
    simulate.lyapunov_spectrum(net, 1, t_max=5, dt=0.1, t_transient=5)   # compile
    # bounded window (the former 1000 tau_eff = 2300 time units at N = 1000 ran for many
    # minutes on a shared 2-core machine, which is why the script seemed to stop printing);
    # the error falls as T^-1/2, so the time for the same relative error is extrapolated
    ly, t_n, m_n = timed(lambda: simulate.lyapunov_spectrum(
        net, 1, t_max=100 * r.tau_eff, dt=0.1, t_transient=20 * r.tau_eff, seed=0))
    rel_n = ly.stderr[0] / ly.exponents[0]
    t_eq = t_n * (rel_n / rel) ** 2
    print(f"simulation N=1000: lambda_max = {ly.exponents[0]:.4f} +- {ly.stderr[0]:.4f} "
          f"({100 * rel_n:.1f} %), {t_n:.1f} s, peak {m_n:.0f} MiB; same error would take "
          f"{t_eq:.1f} s -> ratio {t_eq / t_s:.1f}x (one realization; finite-N bias not "
          "included)", flush=True)

    base = Ensemble.elman(1.0)
    gains = np.linspace(0.5, 3.0, 40)
    biases = np.linspace(0.0, 1.0, 40)
    ds, t_pd, m_pd = timed(lambda: phase_diagram(base, x=("gain", gains),
                                                 y=("bias_std", biases), n_workers=2))
    print(f"40x40 theory phase diagram (non-gated): {t_pd:.1f} s, peak {m_pd:.0f} MiB, "
          f"methods {dict(zip(*np.unique(ds.method.values, return_counts=True), strict=True))}",
          flush=True)
    from dmft._phase import point, set_parameter
    sub_g, sub_b = gains[::8], biases[::8]
    t0 = time.perf_counter()
    for g in sub_g:
        for b in sub_b:
            point(set_parameter(set_parameter(base, "gain", g), "bias_std", b))
    t_pt = (time.perf_counter() - t0) / (len(sub_g) * len(sub_b))
    print(f"straightforward per-point loop: {t_pt * 1e3:.1f} ms/point -> {1600 * t_pt:.1f} s "
          f"for 1600 points; ratio {1600 * t_pt / t_pd:.2f}x")


if __name__ == "__main__":
    main()
