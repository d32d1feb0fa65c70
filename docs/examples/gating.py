"""Gating slows the dynamics: adaptive time constants tau / G.

A gate G = sigmoid(W_z h + b_z) multiplies the whole velocity (docs/theory.md section 1).  For a
constant gate (g_z = sigma_z = 0) G = gamma = sigmoid(mu_z) rescales time exactly:
Delta_gamma(s) = Delta_1(gamma s), lambda_max(gamma) = gamma lambda_max(1) (section 6), so the
theory curve is ``dmft.stationary`` of the ungated flow with its lags divided by gamma.  With a
fluctuating gate (g_z > 0) the sampled DMFT ``dmft.sampled`` applies; both are compared with
finite-N simulations of the mGRU tau dh/dt = G (-h + tanh(W h)) (``simulate``).

Run: python docs/examples/gating.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("gating", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

import dmft  # noqa: E402
import simulate  # noqa: E402

g = 3.0
n = 200 if args.fast else 1000
reals = 2 if args.fast else 4
mus = (1.5, -1.5) if args.fast else (3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0)
gate_gains = (0.0, 2.0)
n_paths = 300 if args.fast else 2000


def half_time(lags: np.ndarray, ac: np.ndarray) -> float:
    """First lag where ac(s)/ac(0) falls to 1/2 (linear interpolation)."""
    r = ac / ac[0]
    k = int(np.argmax(r < 0.5))
    if r[k] >= 0.5:
        return float("inf")
    return float(lags[k - 1] + (r[k - 1] - 0.5) / (r[k - 1] - r[k]) * (lags[k] - lags[k - 1]))


def simulated(ens: dmft.Ensemble, t_half: float, seed: int):
    """Population autocorrelation over ``reals`` realizations, windows scaled by t_half."""
    dt = 0.1
    acs = []
    for r in range(reals):
        net = simulate.sample(ens, n, seed=seed + r)
        tr = simulate.integrate(net, simulate.random_state(n, seed=seed + 100 + r),
                                40.0 * t_half, dt, record_every=2, t_transient=5.0 * t_half)
        lags, ac = simulate.autocorrelation(tr.h, int(3 * t_half / (2 * dt)), dt=2 * dt)
        acs.append(ac)
    return lags, np.mean(acs, axis=0)


base = dmft.stationary(dmft.Ensemble.elman(g))
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
numbers = {"n": n, "gain": g, "ungated_half_time": base.half_decay_time, "constant_gate": {},
           "fluctuating_gate": {}}
for j, gz in enumerate(gate_gains):
    th_t, sim_t = [], []
    for i, mu in enumerate(mus):
        gamma = 1.0 / (1.0 + np.exp(-mu))
        ens = dmft.Ensemble.mgru(g, gz, mu)
        if gz == 0.0:
            t_th = base.half_decay_time / gamma
        else:
            s = dmft.sampled(ens, n_paths=n_paths, lyapunov=False, seed=args.seed + i)
            t_th = half_time(s.lags, s.autocorrelation) * 1.0
        lags, ac = simulated(ens, t_th, 500 + 10 * i)
        t_sim = half_time(lags, ac)
        if gz == 0.0 and i in (0, len(mus) - 1):
            c = "C2" if i == 0 else "C3"
            ax0.plot(base.lags / gamma, base.autocorrelation / base.delta0, color=c,
                     label=f"gamma = {gamma:.2f} theory")
            ax0.plot(lags, ac / ac[0], "o", ms=2.5, color=c, label=f"N = {n}")
        th_t.append(t_th)
        sim_t.append(t_sim)
        key = "constant_gate" if gz == 0.0 else "fluctuating_gate"
        numbers[key][str(mu)] = {"gamma": gamma, "theory": t_th, "simulation": t_sim}
    ax1.semilogy(mus, th_t, "-", color=f"C{j}", label=f"g_z = {gz} theory")
    ax1.semilogy(mus, sim_t, "o", color=f"C{j}", label=f"g_z = {gz}, N = {n}")
ax0.set(xlim=(0, 3 * base.half_decay_time / gamma), xlabel="lag s / tau",
        ylabel="Delta(s) / Delta(0)", title=f"constant gate G = gamma, g = {g}")
ax0.legend(fontsize=7)
ax1.set(xlabel="gate bias mean mu_z", ylabel="half-decay time of Delta(s) / tau",
        title="gating slows the dynamics")
ax1.legend(fontsize=7)
finish(fig, args, numbers)
