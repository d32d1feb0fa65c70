"""Benchmarks of simulate's Lyapunov spectra and integration (issue 4), as ratios against
baselines measured in the same run.

Run:  python benchmarks/lyapunov.py [--quick]

1. k = N = 500 (Euler map, t_ons = 1): achieved FLOP rate of the tangent propagation
   (2 N^2 (N + 1) per step) / numpy matmul rate (N x N x N); and speed vs a straightforward numpy
   loop (dense Jacobian, J @ Q, QR every t_ons).
2. k = 1 at N = 1000 and k = 10 at N = 100 (Euler map): speed vs the same numpy loop.
3. Time to 1 % accuracy for g = 3 tanh (N = 100, k = 10): RK4 at dt = 0.1 vs Euler steps
   small enough for the same accuracy, both against a dt -> 0 reference (RK4 dt = 0.025).
4. Integration steps/s at N = 100 (vs a numpy RK4 loop) and N = 2000; realizations on 2 cores.
5. Peak memory of a spectrum (tracemalloc of Python-side allocations).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import dmft
import simulate


def best(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def numpy_qr_loop(W, h, k, steps, dt, t_ons_steps):
    """The demonstration code of the field: per-step Python loop, dense J, J @ Q, QR."""
    n = W.shape[0]
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((n, k)))[0]
    ls = np.zeros(k)
    eye = np.eye(n)
    for s in range(steps):
        u = W @ h
        D = 1 - np.tanh(u) ** 2
        J = -eye + D[:, None] * W
        h = h + dt * (-h + np.tanh(u))
        Q = Q + dt * (J @ Q)
        if (s + 1) % t_ons_steps == 0:
            Q, R = np.linalg.qr(Q)
            ls += np.log(np.abs(np.diag(R)))
    return ls / (steps * dt)


def main(quick=False):
    rng = np.random.default_rng(0)
    ens = dmft.Ensemble.elman(3.0)
    print("# simulate Lyapunov benchmarks (ratios against baselines measured in this run)")

    # ---- 1. k = N = 500
    n = 500
    A = rng.standard_normal((n, n))
    B = rng.standard_normal((n, n))
    t_mm = best(lambda: A @ B, 5)
    rate_np = 2 * n**3 / t_mm
    net = simulate.sample(ens, n, seed=1)
    steps = 20 if quick else 50
    simulate.lyapunov_spectrum(net, t_max=2.0, dt=0.1, method="euler", t_transient=0.0,
                               t_transient_tangent=0.0, trace="none")  # compile
    t_fast = best(lambda: simulate.lyapunov_spectrum(
        net, t_max=steps * 0.1, dt=0.1, t_ons=1.0, method="euler", t_transient=0.0,
        t_transient_tangent=0.0, trace="none"), 2)
    # exclude the QR (every 10 steps) to get the propagation rate: time QR separately
    Qb = np.ascontiguousarray(rng.standard_normal((n, n)))
    t_qr = best(lambda: np.linalg.qr(Qb), 3)
    t_prop = t_fast - (steps / 10) * t_qr
    rate_prop = steps * 2 * n * n * (n + 1) / t_prop
    W = net.weights.flow_weights[0]
    h = rng.standard_normal(n)
    t_np = best(lambda: numpy_qr_loop(W, h, n, steps, 0.1, 10), 2)
    print(f"[k=N=500, Euler map] numpy matmul {rate_np / 1e9:.1f} GFLOP/s; tangent propagation "
          f"{rate_prop / 1e9:.1f} GFLOP/s; ratio {rate_prop / rate_np:.2f} (target >= 0.8)")
    print(f"[k=N=500, Euler map] speedup vs numpy loop: {t_np / t_fast:.2f}x (target >= 1)")

    # ---- 2. k = 1 at N = 1000, k = 10 at N = 100
    for n, k, steps in ((1000, 1, 200 if quick else 1000), (100, 10, 2000 if quick else 10000)):
        net = simulate.sample(ens, n, seed=2)
        W = net.weights.flow_weights[0]
        h = rng.standard_normal(n)
        simulate.lyapunov_spectrum(net, k, t_max=2.0, dt=0.1, method="euler", t_transient=0.0,
                                   t_transient_tangent=0.0)
        t_fast = best(lambda net=net, k=k, steps=steps: simulate.lyapunov_spectrum(
            net, k, t_max=steps * 0.1, dt=0.1, method="euler", t_transient=0.0,
            t_transient_tangent=0.0), 3)
        t_np = best(lambda W=W, h=h, k=k, steps=steps: numpy_qr_loop(W, h, k, steps, 0.1, 10), 2)
        print(f"[k={k}, N={n}, Euler map] {steps / t_fast:.0f} steps/s vs numpy "
              f"{steps / t_np:.0f} steps/s: speedup {t_np / t_fast:.1f}x (target >= 10)")

    # ---- 3. time to 1 % accuracy (continuous-time exponents), N = 100, k = 10
    net = simulate.sample(ens, 100, seed=3)
    T = 100.0 if quick else 200.0
    kw = dict(t_max=T, t_ons=1.0, t_transient=50.0, t_transient_tangent=20.0, seed=0)
    ref = simulate.lyapunov_spectrum(net, 10, dt=0.025, **kw).exponents
    scale = np.max(np.abs(ref))

    def err(res):
        return np.max(np.abs(res.exponents - ref)) / scale

    r4 = simulate.lyapunov_spectrum(net, 10, dt=0.1, **kw)
    t_rk4 = r4.elapsed
    t_eu = None
    for dt in (0.05, 0.02, 0.01, 0.005, 0.0025, 0.001):
        re = simulate.lyapunov_spectrum(net, 10, dt=dt, method="euler", **kw)
        if err(re) < 0.01:
            t_eu = re.elapsed
            break
    print(f"[accuracy 1 %, N=100 k=10 g=3] rk4 dt=0.1 error {err(r4):.2%} in {t_rk4:.2f} s; "
          + (f"euler needs dt={dt} ({err(re):.2%}) in {t_eu:.2f} s: rk4 is "
             f"{t_eu / t_rk4:.1f}x faster (target >= 3)" if t_eu else
             "euler did not reach 1 % down to dt=0.001"))

    # ---- 4. integration steps/s
    for n, steps in ((100, 20000), (2000, 200 if quick else 1000)):
        net = simulate.sample(ens, n, seed=4)
        h0 = rng.standard_normal(n)
        simulate.integrate(net, h0, 1.0, 0.1, record=False)
        t_fast = best(lambda net=net, h0=h0, steps=steps: simulate.integrate(
            net, h0, steps * 0.1, 0.1, record=False), 3)
        W = net.weights.flow_weights[0]

        def np_loop(h=h0, W=W, steps=steps):
            f = lambda x: -x + np.tanh(W @ x)  # noqa: E731
            for _ in range(steps):
                a = f(h)
                b = f(h + 0.05 * a)
                c = f(h + 0.05 * b)
                d = f(h + 0.1 * c)
                h = h + 0.1 / 6 * (a + 2 * b + 2 * c + d)
            return h

        t_np = best(np_loop, 2)
        print(f"[integrate rk4 N={n}] {steps / t_fast:.0f} steps/s vs numpy loop "
              f"{steps / t_np:.0f} steps/s: {t_np / t_fast:.1f}x (target >= 10 at N=100)")
    n, R, steps = 300, 4, 2000
    nets = [simulate.sample(ens, n, seed=s) for s in range(R)]
    h0 = rng.standard_normal((R, n))
    simulate.integrate_batch(nets, h0, 1.0, 0.1, record=False)
    t_ser = best(lambda: simulate.integrate_batch(nets, h0, steps * 0.1, 0.1, record=False,
                                                  parallel=False), 2)
    t_par = best(lambda: simulate.integrate_batch(nets, h0, steps * 0.1, 0.1, record=False,
                                                  parallel=True), 2)
    print(f"[batch R={R} N={n}] parallel speedup {t_ser / t_par:.2f}x on the available cores")

    # ---- 5. memory
    net = simulate.sample(ens, 500, seed=5)
    tracemalloc.start()
    simulate.lyapunov_spectrum(net, t_max=20.0, dt=0.1, t_transient=0.0,
                               t_transient_tangent=0.0, trace="none")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"[memory N=k=500, T=20] Python-side peak {peak / 2**20:.1f} MiB (block N x (k+1) = "
          f"{500 * 501 * 8 / 2**20:.1f} MiB; no trajectory stored)")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    main(p.parse_args().quick)
