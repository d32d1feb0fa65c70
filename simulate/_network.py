"""Finite-N realizations of an ensemble and the numba kernels of their vector field.

A realization of :class:`dmft.Ensemble` (THEORY.md section 1) with the input set to zero::

    tau dh/dt = f(h) * tau = G(h) * ( -lam h + F(h) ),     G(h) = sigmoid(W_z h + b_z)
    u^1 = W^0 h + b^0,  s^l = phi_l(u^l),  u^{l+1} = W^l s^l + b^l,  F = phi_L(u^L)

and its Jacobian (THEORY.md section 3, at any state, not only at a fixed point)::

    J = (1/tau) [ diag(G) (-lam I + J_F) + diag(G (1 - G) r) W_z ],   r = -lam h + F
    J_F = D_L W^{L-1} ... D_1 W^0,    D_l = diag(phi_l'(u^l))

All kernels work on a *block* ``Z = [h | V]`` of shape (N, 1 + k): column 0 is the state, the
other columns are tangent vectors. :func:`_phi_block` returns ``[f(h) | J(h) V]`` reading each
weight matrix exactly once (one matrix-matrix product per layer, ``W^l @ [s^l | D_l ... V]``), so
the state and k tangent vectors cost one pass over the couplings (k = 1: memory bound, read once
per evaluation) or one BLAS-3 product (k = N). Gated, non-leaky and multi-layer ensembles all run
through this one kernel; a pure state evaluation is the case k = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dmft.ensemble import Ensemble, Weights

__all__ = ["Network", "sample", "ACTIVATION_CODES"]

#: activations the numba kernels know, with their integer codes
ACTIVATION_CODES: dict[str, int] = {
    "identity": 0, "relu": 1, "erf": 2, "tanh": 3, "sigmoid": 4, "softplus": 5,
}

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@dataclass(frozen=True, eq=False)
class Network:
    """One finite-N realization of an :class:`~dmft.Ensemble`, ready for the numba kernels.

    Attributes
    ----------
    ensemble : Ensemble
        The ensemble it was drawn from.
    n : int
        Phase-space dimension N.
    seed : int or None
        The seed given to :func:`sample` (None when built from explicit weights).
    weights : Weights
        The sampled weights (as returned by ``ensemble.sample``).
    widths : ndarray of int64, shape (L + 1,)
        (N_0, ..., N_L), N_0 = N_L = N.
    flow_w : tuple of ndarray, shape (1, N_{l+1}, N_l)
        C-contiguous float64 copies of W^l with a leading realization axis (views of one block).
    flow_b : tuple of ndarray, shape (1, N_{l+1})
    acts : ndarray of int64, shape (L,)
        Activation codes (:data:`ACTIVATION_CODES`).
    gate_w : ndarray, shape (1, N, N) or (1, 0, 0)
    gate_b : ndarray, shape (1, N) or (1, 0)
    gated : bool
        True when a gate is present (G = sigmoid(W_z h + b_z)).
    lam : float
        1.0 (leaky) or 0.0 (non-leaky).
    tau : float
    noise_std : float
    """

    ensemble: Ensemble
    n: int
    seed: int | None
    weights: Weights
    widths: np.ndarray
    flow_w: tuple
    flow_b: tuple
    acts: np.ndarray
    gate_w: np.ndarray
    gate_b: np.ndarray
    gated: bool
    lam: float
    tau: float
    noise_std: float
    _diag: np.ndarray = field(repr=False, default=None)       # diag(W^0) when L = 1 else empty
    _gate_diag: np.ndarray = field(repr=False, default=None)  # diag(W_z) or empty

    @property
    def depth(self) -> int:
        return len(self.flow_w)

    def kernel_args(self) -> tuple:
        """The arrays passed to the numba kernels (realization axis of length 1)."""
        return (self.flow_w, self.flow_b, self.acts, self.gate_w, self.gate_b, self.gated,
                self.lam, 1.0 / self.tau)

    def rhs(self, h: np.ndarray) -> np.ndarray:
        """f(h) = G(h) (-lam h + F(h)) / tau, shape (N,)."""
        h = _as_state(h, self.n, "h")
        out = np.empty((self.n, 1))
        _phi_block(np.ascontiguousarray(h.reshape(self.n, 1)), 0, *self.kernel_args(), out)
        return out[:, 0]

    def jvp(self, h: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Tangent map J(h) v for v of shape (N,) or (N, k)."""
        h = _as_state(h, self.n, "h")
        v = np.asarray(v, dtype=np.float64)
        vec = v.ndim == 1
        v2 = v.reshape(self.n, -1) if vec else v
        if v2.shape[0] != self.n:
            raise ValueError(f"v must have {self.n} rows, got shape {v.shape}")
        z = np.ascontiguousarray(np.column_stack([h, v2]))
        out = np.empty_like(z)
        _phi_block(z, 0, *self.kernel_args(), out)
        return out[:, 1] if vec else out[:, 1:]

    def jacobian(self, h: np.ndarray) -> np.ndarray:
        """Dense Jacobian J(h), shape (N, N) (the tangent map applied to the identity)."""
        return self.jvp(h, np.eye(self.n))


def _as_state(h, n: int, name: str) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError(f"{name} must be finite")
    return h


def sample(ens: Ensemble, n: int, *, seed: int | np.random.Generator) -> Network:
    """Draw a finite-N realization with the ensemble's own sampler, ``ens.sample(n, rng)``.

    Parameters
    ----------
    ens : Ensemble
        The ensemble (THEORY.md section 1). Inputs, if any, are held at x = 0.
    n : int
        Phase-space dimension N >= 1.
    seed : int or numpy.random.Generator
        Passed to ``numpy.random.default_rng``; the same seed gives the same weights as
        ``ens.sample(n, numpy.random.default_rng(seed))``.

    Returns
    -------
    Network
    """
    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.Generator):
        raise TypeError("seed must be an int or a numpy.random.Generator")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(int(seed))
    weights = ens.sample(n, rng)
    return from_weights(ens, weights, seed=None if isinstance(seed, np.random.Generator)
                        else int(seed))


def from_weights(ens: Ensemble, weights: Weights, *, seed: int | None = None) -> Network:
    """Wrap explicit :class:`~dmft.Weights` of ``ens`` into a :class:`Network`."""
    codes = []
    for i, layer in enumerate(ens.flow):
        if layer.activation not in ACTIVATION_CODES:
            raise ValueError(f"flow[{i}].activation must be one of {sorted(ACTIVATION_CODES)} "
                             f"for simulation, got {layer.activation!r}")
        codes.append(ACTIVATION_CODES[layer.activation])
    n = weights.n
    widths = np.asarray(ens.widths(n), dtype=np.int64)
    flow_w = tuple(np.ascontiguousarray(w, dtype=np.float64)[None] for w in weights.flow_weights)
    flow_b = tuple(np.ascontiguousarray(b, dtype=np.float64)[None] for b in weights.flow_biases)
    for layer_idx, (w, a, b) in enumerate(zip(flow_w, widths[:-1], widths[1:], strict=True)):
        if w.shape != (1, b, a):
            raise ValueError(f"flow weight {layer_idx} has shape {w.shape[1:]}, expected {(b, a)}")
    if ens.gate is not None:
        gw = np.ascontiguousarray(weights.gate_weight, dtype=np.float64)[None]
        gb = np.ascontiguousarray(weights.gate_bias, dtype=np.float64)[None]
        gated = True
        gdiag = np.ascontiguousarray(np.diagonal(gw[0]))
    else:
        gw = np.zeros((1, 0, 0))
        gb = np.zeros((1, 0))
        gated = False
        gdiag = np.zeros(0)
    diag = (np.ascontiguousarray(np.diagonal(flow_w[0][0])) if len(flow_w) == 1
            else np.zeros(0))
    return Network(ensemble=ens, n=int(n), seed=seed, weights=weights, widths=widths,
                   flow_w=flow_w, flow_b=flow_b, acts=np.asarray(codes, dtype=np.int64),
                   gate_w=gw, gate_b=gb, gated=gated, lam=1.0 if ens.leak else 0.0,
                   tau=float(ens.tau), noise_std=float(ens.noise_std), _diag=diag,
                   _gate_diag=gdiag)


# --------------------------------------------------------------------------- numba kernels
@njit(cache=True)
def _act_sd(code, u):
    """phi(u) and phi'(u) for the activation ``code``."""
    if code == 3:
        t = math.tanh(u)
        return t, 1.0 - t * t
    if code == 0:
        return u, 1.0
    if code == 1:
        if u > 0.0:
            return u, 1.0
        return 0.0, 0.0
    if code == 2:
        return math.erf(u), _TWO_OVER_SQRT_PI * math.exp(-u * u)
    if code == 4:
        if u >= 0.0:
            e = math.exp(-u)
            s = 1.0 / (1.0 + e)
        else:
            e = math.exp(u)
            s = e / (1.0 + e)
        return s, s * (1.0 - s)
    # softplus
    if u > 0.0:
        e = math.exp(-u)
        return u + math.log1p(e), 1.0 / (1.0 + e)
    e = math.exp(u)
    return math.log1p(e), e / (1.0 + e)


@njit(cache=True)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True)
def _phi_block(Z, r, flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau, out):
    """out = [f(h) | J(h) V] for the block Z = [h | V] of realization ``r``.

    One matrix product per weight matrix (``W^l @ X``), elementwise work otherwise.
    Z and out are C-contiguous arrays of shape (N, c), c >= 1.
    """
    n, c = Z.shape
    X = Z
    for layer in range(len(flow_w)):
        W = flow_w[layer][r]
        b = flow_b[layer][r]
        code = acts[layer]
        Y = np.dot(W, X)
        m = Y.shape[0]
        for i in range(m):
            s, d = _act_sd(code, Y[i, 0] + b[i])
            Y[i, 0] = s
            for j in range(1, c):
                Y[i, j] *= d
        X = Y
    if gated:
        Yz = np.dot(gate_w[r], Z)
        bz = gate_b[r]
        for i in range(n):
            g = _sigmoid(Yz[i, 0] + bz[i])
            res = X[i, 0] - lam * Z[i, 0]
            out[i, 0] = g * res * inv_tau
            dg = g * (1.0 - g) * res
            for j in range(1, c):
                out[i, j] = (g * (X[i, j] - lam * Z[i, j]) + dg * Yz[i, j]) * inv_tau
    else:
        for i in range(n):
            for j in range(c):
                out[i, j] = (X[i, j] - lam * Z[i, j]) * inv_tau


@njit(cache=True)
def _trace_jacobian(h, r, flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau,
                    diag0, gate_diag):
    """tr J(h) (THEORY.md section 7).

    One layer: tr J_F = sum_i phi'(u_i) W_ii from the stored diagonal, O(N). Deeper flows: the
    chain D_{L-1} W^{L-2} ... D_1 W^0 is formed (O(N^3) for L >= 3) and the last layer contracted
    row by row.
    """
    n = h.shape[0]
    L = len(flow_w)
    # forward pass with the derivative vectors
    x = h.copy()
    ds = []
    for layer in range(L):
        W = flow_w[layer][r]
        b = flow_b[layer][r]
        u = np.dot(W, x) + b
        d = np.empty_like(u)
        for i in range(u.shape[0]):
            s, dd = _act_sd(acts[layer], u[i])
            u[i] = s
            d[i] = dd
        ds.append(d)
        x = u
    diagF = np.empty(n)
    if L == 1:
        for i in range(n):
            diagF[i] = ds[0][i] * diag0[i]
    else:
        P = flow_w[0][r].copy()
        for layer in range(1, L):
            d = ds[layer - 1]
            for i in range(P.shape[0]):
                P[i, :] *= d[i]
            if layer < L - 1:
                P = np.dot(flow_w[layer][r], P)
        WL = flow_w[L - 1][r]
        dL = ds[L - 1]
        for i in range(n):
            acc = 0.0
            for kk in range(P.shape[0]):
                acc += WL[i, kk] * P[kk, i]
            diagF[i] = dL[i] * acc
    tr = 0.0
    if gated:
        uz = np.dot(gate_w[r], h) + gate_b[r]
        for i in range(n):
            g = _sigmoid(uz[i])
            res = x[i] - lam * h[i]
            tr += g * (diagF[i] - lam) + g * (1.0 - g) * res * gate_diag[i]
    else:
        for i in range(n):
            tr += diagF[i] - lam
    return tr * inv_tau
