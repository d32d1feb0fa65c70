"""The non-leaky instability: lam = 0 leaves no stable initialization.

Leaky: J = diag(G*)(-I + J_F) at the fixed point is stable iff rho < 1.  Non-leaky: J =
diag(G*) J_F, whose eigenvalues fill a disk centred at 0, so about half of them have positive
real part for ANY nonzero gain (docs/theory.md section 3).  Finite N: the fraction of Jacobian
eigenvalues with Re > 0 at h* = 0 (tanh flow, no biases) from ``simulate``.  Beyond the
linearization, a non-leaky bounded flow drifts: C(t, t) grows ballistically, two-time DMFT
(``dmft.two_time``, section 5) against simulated networks.

Run: python docs/examples/nonleaky.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("nonleaky", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

import dmft  # noqa: E402
import simulate  # noqa: E402

n = 200 if args.fast else 800
reals = 2 if args.fast else 6
gains = (0.25, 0.5, 1.0, 2.0) if args.fast else (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(13, 4))
numbers = {"n": n, "unstable_fraction": {"non-leaky": {}, "leaky": {}}}
h_star = np.zeros(n)
for leak, key in ((False, "non-leaky"), (True, "leaky")):
    fr = []
    for g in gains:
        ens = dmft.Ensemble.elman(g).replace(leak=leak)
        f = np.mean([np.mean(simulate.jacobian_eigenvalues(simulate.sample(ens, n, seed=r),
                                                           h_star).real > 0)
                     for r in range(reals)])
        fr.append(f)
        numbers["unstable_fraction"][key][str(g)] = float(f)
    ax0.plot(gains, fr, "o-", label=key)
ax0.axhline(0.5, color="k", lw=0.5)
ax0.set(xlabel="gain g", ylabel="fraction of eig J with Re > 0", title=f"at h* = 0, N = {n}",
        ylim=(-0.05, 0.75))
ax0.legend()
ev = simulate.jacobian_eigenvalues(simulate.sample(
    dmft.Ensemble.elman(0.5).replace(leak=False), n, seed=1), h_star)
ax1.plot(ev.real, ev.imag, ".", ms=3, label="non-leaky")
ev_l = simulate.jacobian_eigenvalues(simulate.sample(dmft.Ensemble.elman(0.5), n, seed=1), h_star)
ax1.plot(ev_l.real, ev_l.imag, ".", ms=3, label="leaky")
ax1.axvline(0, color="k", lw=0.5)
ax1.set(aspect="equal", xlabel="Re", ylabel="Im", title="eig J, g = 0.5")
ax1.legend(fontsize=8)

g, q0 = 1.5, 1.0
t_max, dt = (8.0, 0.2) if args.fast else (30.0, 0.05)
# The two-time theory costs ~ (t_max / dt_theory)^2 rows x kernel points, each a 2-D quadrature
# whose nodes grow with the variance ~ t^2 (tanh saturates): ~ t_max^4 / dt_theory^2 in all
# (measured 2, 9, 32 s for t_max = 4, 6, 8 at dt = 0.05; at dt = 0.05 the full window had not
# finished after 16 min).  Its Heun grid is second order (C(8, 8) = 39.682, 39.679, 39.665 at
# dt = 0.05, 0.1, 0.2), so dt_theory = 0.1 draws the same curve (to 1e-4) in a quarter of the
# time: the whole full-size example then takes 12 min.
dt_theory = dt if args.fast else 0.1
ens = dmft.Ensemble.elman(g).replace(leak=False)
th = dmft.two_time(ens, t_max, dt_theory, q0)
ax2.plot(th.times, np.diag(th.C), "k", label="two-time DMFT")
sims = []
for r in range(reals):
    net = simulate.sample(ens, n, seed=200 + r)
    tr = simulate.integrate(net, simulate.random_state(n, seed=300 + r, std=np.sqrt(q0)),
                            t_max, dt, record_every=1 if args.fast else 10)
    sims.append(np.mean(tr.h ** 2, axis=1))
sim = np.mean(sims, axis=0)
ax2.plot(tr.t, sim, "o", ms=3, color="C3", label=f"N = {n}")
ax2.set(xlabel="t / tau", ylabel="C(t, t)", title=f"non-leaky tanh, g = {g}: drift")
ax2.legend()
numbers["C_tt_end"] = {"theory": float(np.diag(th.C)[-1]), "simulation": float(sim[-1]),
                       "t": float(tr.t[-1]), "growth_law": th.growth_law}
finish(fig, args, numbers)
