"""Critical initialization: the gain that puts the flow Jacobian's spectral radius at rho = 1.

Theory (docs/theory.md section 3): rho^2 = prod_l g_l^2 E[phi_l'(u^l)^2] at the fixed point;
``dmft.critical_gain`` solves rho = 1.  Simulation: PyTorch models redrawn with
``gnode.critical_`` and their finite-N spectral radius ``gnode.spectral_radius`` (Newton fixed
point, exact Jacobian eigenvalues); the eigenvalues fill the unit disk.

Run: python docs/examples/critical_init.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("critical_init", __doc__)

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import dmft  # noqa: E402
import gnode  # noqa: E402

n = 120 if args.fast else 400
factors = np.linspace(0.5, 1.5, 11 if args.fast else 41)
archs = {
    "Elman (tanh)": (dmft.Ensemble.elman(1.0),
                     lambda: gnode.Elman(n, 0, 1, bias=False)),
    "nODE (ReLU, linear out, sigma_b=0.1)": (
        dmft.Ensemble.node((1.0, 1.0), hidden="relu", output="identity", bias_std=0.1),
        lambda: gnode.NODE(n, 0, 1)),
    "gnODE (tanh flow, tanh out, gate)": (
        dmft.Ensemble.gnode((1.0, 1.0), hidden="tanh", output="tanh"),
        lambda: gnode.GNODE(n, 0, 1, activation="tanh", output_activation="tanh",
                            bias=False)),
}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
numbers = {"n": n, "critical_gain": {}, "rho_finite_n": {}}
eig_plot = None
for i, (label, (ens, build)) in enumerate(archs.items()):
    c = dmft.critical_gain(ens)
    rho = [dmft.fixed_point(ens.scaled(c * f)).rho for f in factors]
    ax0.plot(factors, rho, label=label, color=f"C{i}")
    torch.manual_seed(args.seed)
    model = build()
    bias = 0.1 if "sigma_b" in label else None
    kw = {"gains": 1.0} if bias is None else {"gains": 1.0, "bias_std": bias}
    gnode.critical_(model, 1.0, seed=args.seed + i, **kw)
    r_n = gnode.spectral_radius(model)
    ax0.plot([1.0], [r_n], "o", color=f"C{i}")
    numbers["critical_gain"][label] = c
    numbers["rho_finite_n"][label] = r_n
    if eig_plot is None:
        fp = gnode.fixed_point(model)
        jac = gnode.jacobian(model, fp.h).detach().numpy()
        eig_plot = np.linalg.eigvals(jac)
ax0.axhline(1.0, color="k", lw=0.6)
ax0.set(xlabel="gain / critical gain", ylabel="spectral radius rho",
        title=f"theory (lines) vs N = {n} (dots)")
ax0.legend(fontsize=7)
th = np.linspace(0, 2 * np.pi, 200)
ax1.plot(eig_plot.real, eig_plot.imag, ".", ms=3)
ax1.plot(np.cos(th), np.sin(th), "k", lw=0.8)
ax1.set(aspect="equal", xlabel="Re", ylabel="Im",
        title="eig dF/dh at h*, critical Elman")
numbers["elman_max_abs_eig"] = float(np.abs(eig_plot).max())
finish(fig, args, numbers)
