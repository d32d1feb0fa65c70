"""Phase diagram of the Elman / SCS flow over gain and bias spread: lambda_max from the theory.

``dmft.phase_diagram`` (docs/theory.md §§3, 4, 6) evaluates each grid point with the theory that
applies (fixed point: lambda_max = (rho - 1)/tau; chaotic: the stationary DMFT).  The critical
line ``dmft.critical_line`` (rho = 1) bounds the fixed-point region: biases make the transition
happen at larger gain.  ``gnode phase-diagram`` runs the gated version with simulated points.

Run: python docs/examples/phase_diagram.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("phase_diagram", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

import dmft  # noqa: E402

gains = np.linspace(0.5, 3.0, 8 if args.fast else 26)
biases = np.linspace(0.0, 1.0, 4 if args.fast else 21)
ds = dmft.phase_diagram(dmft.Ensemble.elman(1.0), x=("gain", gains), y=("bias_std", biases),
                        quantities=("lyapunov_max", "rho", "phase"))
lam = np.asarray(ds["lyapunov_max"], dtype=float)
line = dmft.critical_line(dmft.Ensemble.elman(1.0), np.linspace(0.0, 1.0, 21))
fig, ax = plt.subplots(figsize=(6, 4.4))
im = ax.pcolormesh(gains, biases, lam, shading="nearest", cmap="RdBu_r",
                   vmin=-np.nanmax(np.abs(lam)), vmax=np.nanmax(np.abs(lam)))
fig.colorbar(im, ax=ax, label="lambda_max * tau")
crit = np.asarray(line.gains)[:, 0]
ax.plot(crit, np.linspace(0.0, 1.0, 21), "k", lw=2, label="critical line rho = 1")
ax.set(xlabel="gain g", ylabel="bias spread sigma_b", title="Elman / SCS phase diagram")
ax.legend(loc="upper left", fontsize=8)
chaotic = np.asarray(ds["phase"]) == "chaotic"
numbers = {"grid": [len(biases), len(gains)],
           "lyapunov_g0.5_b0": float(lam[0, 0]),
           "critical_gain_b0": float(crit[0]), "critical_gain_b1": float(crit[-1]),
           "chaotic_fraction": float(chaotic.mean()),
           "sign_consistent": bool(np.all((lam > 0) == chaotic))}
finish(fig, args, numbers)
