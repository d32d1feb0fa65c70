"""Plain-numpy finite-N helpers used by the static tests (independent of dmft's theory code):
flow evaluation, its Jacobian, and the fixed point h = F(h) followed from small gains."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from dmft import Ensemble
from dmft.kernels import get_activation


def flow(ens: Ensemble, w, h):
    """F(h) and the list of preactivations."""
    pre, x = [], h
    for W, b, layer in zip(w.flow_weights, w.flow_biases, ens.flow, strict=True):
        u = W @ x + b
        pre.append(u)
        x = get_activation(layer.activation).fn(u)
    return x, pre


def flow_jacobian(ens: Ensemble, w, h):
    """J_F = D_L W^{L-1} ... D_1 W^0 at h."""
    _, pre = flow(ens, w, h)
    J = None
    for W, u, layer in zip(w.flow_weights, pre, ens.flow, strict=True):
        J = W if J is None else W @ J
        J = get_activation(layer.activation).deriv(u)[:, None] * J
    return J


def fixed_point(ens: Ensemble, w, *, tol=1e-10, steps=8):
    """Solve h = F(h) (leaky) on the branch that starts at small gains.

    At gain factor 0.5 the map is a contraction and relaxation converges; the gains of ``w``
    are then restored in ``steps`` stages, each solved by Jacobian-free Newton-Krylov from the
    previous solution (matrix-vector products only: no dense Jacobian per step).  This follows
    the same branch as the mean-field fixed point (the one continued from rho < 1), also above
    the transition where other fixed points appear."""
    h = np.zeros(w.n)
    for k, s in enumerate(np.linspace(0.5, 1.0, steps + 1)):
        ws = type(w)(tuple(s * W for W in w.flow_weights), w.flow_biases)
        if k == 0:
            for _ in range(200):
                h = 0.5 * h + 0.5 * flow(ens, ws, h)[0]

        def residual(x, ws=ws):
            return x - flow(ens, ws, x)[0]

        try:
            h = optimize.newton_krylov(residual, h, f_tol=tol, maxiter=100)
        except optimize.NoConvergence as exc:
            raise RuntimeError(f"finite-N fixed point not found at gain factor {s:.3f}") from exc
    return h
