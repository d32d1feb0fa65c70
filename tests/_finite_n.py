"""Plain-numpy finite-N helpers used by the static tests (independent of dmft's theory code):
flow evaluation, its Jacobian, and the fixed point h = F(h) followed from small gains."""

from __future__ import annotations

import numpy as np
from scipy import linalg

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


def _newton(ens, w, h, tol, max_iter):
    n = w.n
    r = h - flow(ens, w, h)[0]
    for _ in range(max_iter):
        if np.linalg.norm(r) / np.sqrt(n) < tol:
            return h
        step = linalg.solve(np.eye(n) - flow_jacobian(ens, w, h), r)
        t = 1.0
        while t > 1e-4:   # backtracking on |r|
            hn = h - t * step
            rn = hn - flow(ens, w, hn)[0]
            if np.linalg.norm(rn) < np.linalg.norm(r):
                break
            t *= 0.5
        h, r = hn, rn
    raise RuntimeError(f"finite-N fixed point not found (|r|/sqrt N = "
                       f"{np.linalg.norm(r) / np.sqrt(n):.2e})")


def fixed_point(ens: Ensemble, w, *, tol=1e-10, max_iter=50, steps=8):
    """Solve h = F(h) (leaky) on the branch that starts at small gains.

    At gain factor 0.5 the map is a contraction and relaxation converges; the gains of ``w``
    are then restored in ``steps`` stages, each polished by backtracking Newton from the
    previous solution.  This follows the same branch as the mean-field fixed point (the one
    continued from rho < 1), also above the transition where other fixed points appear."""
    h = np.zeros(w.n)
    scales = np.linspace(0.5, 1.0, steps + 1)
    for k, s in enumerate(scales):
        ws = type(w)(tuple(s * W for W in w.flow_weights), w.flow_biases)
        if k == 0:
            for _ in range(200):
                h = 0.5 * h + 0.5 * flow(ens, ws, h)[0]
        h = _newton(ens, ws, h, tol, max_iter)
    return h
