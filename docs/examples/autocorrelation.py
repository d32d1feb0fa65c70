"""Autocorrelation Delta(s) and lambda_max against the gain: DMFT against finite-N simulation.

Theory: ``dmft.stationary`` (generalized Sompolinsky-Crisanti-Sommers, docs/theory.md section 4):
Delta(s) from the particle in the potential V, lambda_max = sqrt(1 - E_0) - 1 from the
Schroedinger ground state.  Simulation: ``simulate.sample`` realizations of the Elman/SCS
network tau dh/dt = -h + tanh(W h), N units, RK4, Delta(s) by ``simulate.autocorrelation`` and
lambda_max by ``simulate.lyapunov_spectrum`` (QR method, k = 1).  Finite-N corrections are
O(1/N) (docs/theory.md section 8).

Run: python docs/examples/autocorrelation.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("autocorrelation", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

import dmft  # noqa: E402
import simulate  # noqa: E402

n = 300 if args.fast else 1000
reals = 2 if args.fast else 4
t_obs = 150.0 if args.fast else 400.0
gains_ac = (2.0, 3.0)
gains_th = np.linspace(0.6, 4.0, 35)
gains_sim = (2.0, 3.0) if args.fast else (1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
dt = 0.1

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
numbers = {"n": n, "realizations": reals, "delta0": {}, "lyapunov": {}}
for i, g in enumerate(gains_ac):
    ens = dmft.Ensemble.elman(g)
    th = dmft.stationary(ens)
    ax0.plot(th.lags, th.autocorrelation, color=f"C{i}", label=f"g = {g} theory")
    acs, d0s = [], []
    for r in range(reals):
        net = simulate.sample(ens, n, seed=1000 * i + r)
        h0 = simulate.random_state(n, seed=r + 7)
        tr = simulate.integrate(net, h0, t_obs, dt, record_every=2, t_transient=50.0)
        lags, ac = simulate.autocorrelation(tr.h, int(20 / (2 * dt)), dt=2 * dt)
        acs.append(ac)
        d0s.append(simulate.population_variance(tr.h))
    ax0.plot(lags, np.mean(acs, axis=0), "o", ms=3, color=f"C{i}", label=f"g = {g}, N = {n}")
    numbers["delta0"][str(g)] = {"theory": th.delta0, "simulation": float(np.mean(d0s)),
                                 "sem": float(np.std(d0s) / np.sqrt(reals))}
ax0.set(xlim=(0, 20), xlabel="lag s / tau", ylabel="Delta(s)", title="autocorrelation")
ax0.legend(fontsize=7)

lam_th = [dmft.stationary(dmft.Ensemble.elman(g)).lyapunov_max for g in gains_th]
ax1.plot(gains_th, lam_th, "k", label="DMFT")
for g in gains_sim:
    ens = dmft.Ensemble.elman(g)
    lam = [simulate.lyapunov_spectrum(simulate.sample(ens, n, seed=50 + r), 1, t_max=t_obs,
                                      dt=dt, t_transient=50.0, seed=r).lambda_max
           for r in range(reals)]
    ax1.errorbar([g], [np.mean(lam)], yerr=[np.std(lam) / np.sqrt(reals)], fmt="o", color="C3")
    numbers["lyapunov"][str(g)] = {"theory": dmft.stationary(ens).lyapunov_max,
                                   "simulation": float(np.mean(lam)),
                                   "sem": float(np.std(lam) / np.sqrt(reals))}
ax1.plot([], [], "o", color="C3", label=f"N = {n} (QR, k = 1)")
ax1.axhline(0, color="k", lw=0.5)
ax1.set(xlabel="gain g", ylabel="lambda_max * tau", title="maximal Lyapunov exponent")
ax1.legend(fontsize=8)
finish(fig, args, numbers)
