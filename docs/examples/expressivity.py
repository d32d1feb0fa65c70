"""Trajectory expressivity of nODE, gnODE and Elman against phase-space dimension and flow width.

Measure (``gnode.tasks.expressivity``, our precise version of the paper's Section 4 idea): K cued
random band-limited trajectories with M Fourier modes; the expressivity is the largest M whose
target set every smaller M included the model generates with normalized MSE <= 0.05 within a
fixed AdamW budget, averaged over seeds.  A 1-D autonomous ODE only makes monotone trajectories,
so N = 1 scores 0 whatever the flow.

Run: python docs/examples/expressivity.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("expressivity", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

from gnode.tasks.expressivity import expressivity, expressivity_model  # noqa: E402

if args.fast:
    dims, widths_n, complexities, seeds = (1, 8), (4, 32), (1, 2), (0,)
    k, t_n, steps, width = 2, 24, 80, 16
else:
    dims, widths_n, complexities, seeds = (1, 2, 4, 8, 16), (2, 8, 32, 128), \
        (1, 2, 3, 4, 5, 6, 8, 10), (0, 1)
    k, t_n, steps, width = 4, 50, 600, 32
kinds = ("node", "gnode", "elman")
numbers = {"K": k, "T": t_n, "steps": steps, "complexities": list(complexities),
           "vs_dimension": {}, "vs_flow_width": {}}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
for i, kind in enumerate(kinds):
    ex = []
    for n in dims:
        r = expressivity(lambda kk, s, kind=kind, n=n: expressivity_model(
            kind, n, kk, flow_width=width, seed=s), complexities, n_trajectories=k,
            n_steps=t_n, seeds=seeds, steps=steps)
        ex.append(r.expressivity)
    numbers["vs_dimension"][kind] = dict(zip(map(str, dims), ex, strict=True))
    ax0.plot(dims, ex, "o-", color=f"C{i}", label=kind)
ax0.set(xscale="log", xlabel="phase-space dimension N", ylabel="expressivity (modes M)",
        title=f"K = {k} trajectories, flow width {width}")
ax0.legend()
n_low = 2
for i, kind in enumerate(("gnode",) if args.fast else ("node", "gnode")):
    ex = []
    for w in widths_n:
        r = expressivity(lambda kk, s, kind=kind, w=w: expressivity_model(
            kind, n_low, kk, flow_width=w, seed=s), complexities, n_trajectories=k,
            n_steps=t_n, seeds=seeds, steps=steps)
        ex.append(r.expressivity)
    numbers["vs_flow_width"][kind] = dict(zip(map(str, widths_n), ex, strict=True))
    ax1.plot(widths_n, ex, "o-", color=f"C{i}", label=kind)
ax1.set(xscale="log", xlabel="flow hidden width", ylabel="expressivity (modes M)",
        title=f"N = {n_low}: a richer flow at fixed dimension")
ax1.legend()
numbers["max"] = float(np.max([v for d in numbers["vs_dimension"].values()
                               for v in d.values()]))
finish(fig, args, numbers)
