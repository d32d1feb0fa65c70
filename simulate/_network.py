"""Finite-N realizations of an ensemble and the numba kernels of their vector field.

A realization of :class:`dmft.Ensemble` (docs/theory.md section 1) with the input set to zero::

    tau dh/dt = f(h) * tau = G(h) * ( -lam h + F(h) ),     G(h) = sigmoid(W_z h + b_z)
    u^1 = W^0 h + b^0,  s^l = phi_l(u^l),  u^{l+1} = W^l s^l + b^l,  F = phi_L(u^L)

and its Jacobian (docs/theory.md section 3, at any state, not only at a fixed point)::

    J = (1/tau) [ diag(G) (-lam I + J_F) + diag(G (1 - G) r) W_z ],   r = -lam h + F
    J_F = D_L W^{L-1} ... D_1 W^0,    D_l = diag(phi_l'(u^l))

All kernels work on a *block* ``Z = [h | V]`` of shape (N, 1 + k): column 0 is the state, the
other columns are tangent vectors. :func:`_phi_block` returns ``[f(h) | J(h) V]`` reading each
weight matrix exactly once (one product per layer, ``W^l @ [s^l | D_l ... V]``), so the state
and k tangent vectors cost one pass over the couplings (k <= 1: :func:`_matvec2`, single-threaded
and memory bound, W read once per evaluation) or one BLAS-3 product (k >= 2, ``np.dot`` into a
preallocated output). The last layer's activation, the gate, the leak and (one layer) tr J are
fused into one pass. Kernels allocate nothing: work buffers come from :func:`_alloc_work`.
Gated, non-leaky and multi-layer ensembles all run through this one kernel; a pure state
evaluation is the case k = 0. The realization index ``r`` selects one network of a batch
(arrays with a leading realization axis).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dmft import _validate as _v
from dmft.activations import (
    SIGMOID,
    get_activation,
    numba_code,
    numba_values,
    numba_values_into,
    sigmoid_sd,
)
from dmft.ensemble import Ensemble, Weights

__all__ = ["Network", "sample", "from_weights"]

_GATE = get_activation("sigmoid")  # the gate's activation G = sigmoid(W_z h + b_z)


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
        (``kernel_args()`` also carries diag(W^0) and diag(W_z), shape (1, N) or (1, 0), for the
        trace.)
    acts : ndarray of int64, shape (L,)
        Numba codes of the flow's activations (``dmft.activations.Activation.numba_code``).
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
    _diag: np.ndarray = field(repr=False, default=None)       # (1, N) diag(W^0) if L = 1, (1, 0)
    _gate_diag: np.ndarray = field(repr=False, default=None)  # (1, N) diag(W_z) or (1, 0)

    @property
    def depth(self) -> int:
        return len(self.flow_w)

    def kernel_args(self) -> tuple:
        """The arrays passed to the numba kernels (realization axis of length 1)."""
        return (self.flow_w, self.flow_b, self.acts, self.gate_w, self.gate_b, self.gated,
                self.lam, 1.0 / self.tau, self._diag, self._gate_diag)

    def rhs(self, h: np.ndarray) -> np.ndarray:
        """f(h) = G(h) (-lam h + F(h)) / tau, shape (N,)."""
        h = _as_state(h, self.n, "h")
        out = np.empty((self.n, 1))
        p = self.kernel_args()
        _phi_block(np.ascontiguousarray(h.reshape(self.n, 1)), 0, p, out, *_alloc_work(p, 1))
        return out[:, 0]

    def gate_values(self, h: np.ndarray) -> np.ndarray:
        """G = sigmoid(W_z h + b_z) for states h of shape (N,) or (T, N); ones without a gate."""
        h = np.asarray(h, dtype=np.float64)
        if h.shape[-1] != self.n:
            raise ValueError(f"h must have N = {self.n} columns, got shape {h.shape}")
        if not self.gated:
            return np.ones_like(h)
        return _GATE.fn(h @ self.gate_w[0].T + self.gate_b[0])

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
        p = self.kernel_args()
        _phi_block(z, 0, p, out, *_alloc_work(p, z.shape[1]))
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
        The ensemble (docs/theory.md section 1). Inputs, if any, are held at x = 0.
    n : int
        Phase-space dimension N >= 1.
    seed : int or numpy.random.Generator
        Passed to ``numpy.random.default_rng``; the same seed gives the same weights as
        ``ens.sample(n, numpy.random.default_rng(seed))``.

    Returns
    -------
    Network
    """
    _v.instance("ens", ens, Ensemble)
    rng = _v.rng("seed", seed)
    for i, layer in enumerate(ens.flow):      # before drawing: a clear error, no wasted work
        numba_code(layer.activation, f"flow[{i}].activation")
    weights = ens.sample(n, rng)
    return from_weights(ens, weights, seed=None if isinstance(seed, np.random.Generator)
                        else int(seed))


def from_weights(ens: Ensemble, weights: Weights, *, seed: int | None = None) -> Network:
    """Wrap explicit :class:`~dmft.Weights` of ``ens`` into a :class:`Network`."""
    _v.instance("ens", ens, Ensemble)
    if not isinstance(weights, Weights):
        raise _v.ParameterTypeError(f"weights must be a dmft.Weights, got "
                                    f"{type(weights).__name__}")
    if len(weights.flow_weights) != ens.depth or len(weights.flow_biases) != ens.depth:
        raise ValueError(f"weights must have {ens.depth} flow layers (the ensemble's depth), got "
                         f"{len(weights.flow_weights)}")
    if (ens.gate is None) != (weights.gate_weight is None):
        raise ValueError("weights must have a gate exactly when the ensemble has one")
    for name, arr in (("flow_weights", weights.flow_weights), ("flow_biases", weights.flow_biases)):
        for i, a in enumerate(arr):
            _v.real_array(f"weights.{name}[{i}]", a)
    codes = [numba_code(layer.activation, f"flow[{i}].activation")
             for i, layer in enumerate(ens.flow)]
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
        gdiag = np.ascontiguousarray(np.diagonal(gw[0]))[None]
    else:
        gw = np.zeros((1, 0, 0))
        gb = np.zeros((1, 0))
        gated = False
        gdiag = np.zeros((1, 0))
    diag = (np.ascontiguousarray(np.diagonal(flow_w[0][0]))[None] if len(flow_w) == 1
            else np.zeros((1, 0)))
    return Network(ensemble=ens, n=int(n), seed=seed, weights=weights, widths=widths,
                   flow_w=flow_w, flow_b=flow_b, acts=np.asarray(codes, dtype=np.int64),
                   gate_w=gw, gate_b=gb, gated=gated, lam=1.0 if ens.leak else 0.0,
                   tau=float(ens.tau), noise_std=float(ens.noise_std), _diag=diag,
                   _gate_diag=gdiag)


# --------------------------------------------------------------------------- numba kernels
@njit(cache=True)
def _act_vec(code, Y, b, u, s, d):
    """s = phi(Y[:, 0] + b), d = phi'(Y[:, 0] + b) over the m = len(b) rows of Y.

    ``u, s, d`` are contiguous scratch rows of length m; ``code`` is the activation's numba code,
    whose element operation is :func:`dmft.activations.numba_values_into` (tanh and sigmoid
    vectorized, see benchmarks/README.md).
    """
    m = b.shape[0]
    for i in range(m):
        u[i] = Y[i, 0] + b[i]
    numba_values_into(code, u, s, d)


#: blocks with at most this many columns go through :func:`_matvec2` (single-threaded, one pass
#: over W for all columns); wider blocks through one BLAS gemm. OpenBLAS's gemm is slow for 1-2
#: columns (packing), and a multi-threaded BLAS-2 call per step spins badly on loaded cores.
_GEMV_MAX_COLS = 2
#: a single column times a matrix of at least this many entries (2 MiB, the order of a core's L2
#: cache; the machine behind the choice: benchmarks/README.md) goes through BLAS dgemv: the
#: product is then bound by memory bandwidth, and BLAS's threads draw on more than one core's
#: share of it
_BLAS_GEMV_MIN_SIZE = 1 << 18


@njit(cache=True, fastmath={"reassoc", "contract"})
def _matvec2(W, xt, c, Y):
    """Y[:, q] = W @ xt[q] for q < c <= 2, reading each row of W once for both columns.

    Only the summation order is relaxed (``reassoc``: the row sums vectorize, as in any BLAS);
    no other fast-math assumption (NaN/inf semantics kept).
    """
    n, m = W.shape
    x0 = xt[0]
    i = 0
    if c == 1:  # four rows at a time: four independent accumulation chains share each x0[j]
        while i + 4 <= n:
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for j in range(m):
                x = x0[j]
                a0 += W[i, j] * x
                a1 += W[i + 1, j] * x
                a2 += W[i + 2, j] * x
                a3 += W[i + 3, j] * x
            Y[i, 0] = a0
            Y[i + 1, 0] = a1
            Y[i + 2, 0] = a2
            Y[i + 3, 0] = a3
            i += 4
        while i < n:
            a0 = 0.0
            for j in range(m):
                a0 += W[i, j] * x0[j]
            Y[i, 0] = a0
            i += 1
        return
    x1 = xt[1]
    while i + 2 <= n:  # two rows x two columns: four chains
        a0 = 0.0
        a1 = 0.0
        b0 = 0.0
        b1 = 0.0
        for j in range(m):
            u = x0[j]
            v = x1[j]
            w = W[i, j]
            z = W[i + 1, j]
            a0 += w * u
            a1 += w * v
            b0 += z * u
            b1 += z * v
        Y[i, 0] = a0
        Y[i, 1] = a1
        Y[i + 1, 0] = b0
        Y[i + 1, 1] = b1
        i += 2
    while i < n:
        a0 = 0.0
        a1 = 0.0
        for j in range(m):
            w = W[i, j]
            a0 += w * x0[j]
            a1 += w * x1[j]
        Y[i, 0] = a0
        Y[i, 1] = a1
        i += 1


@njit(cache=True)
def _matmul(W, X, Y, xt):
    """Y = W @ X into the preallocated Y (no allocation).

    ``X.shape[1] <= _GEMV_MAX_COLS``: the columns are copied to the contiguous rows of ``xt``
    (O(N)) and multiplied in one pass over W (:func:`_matvec2`, memory bound: W read once),
    except a single column against a W of at least ``_BLAS_GEMV_MIN_SIZE`` entries (BLAS
    dgemv, multi-threaded); wider blocks: one BLAS gemm ``np.dot(W, X, Y)`` (BLAS-3).
    """
    m = W.shape[1]
    c = X.shape[1]
    if c > _GEMV_MAX_COLS:
        np.dot(W, X, Y)
        return
    if c == 1 and W.size >= _BLAS_GEMV_MIN_SIZE:
        np.dot(W, X.reshape(m), Y.reshape(W.shape[0]))
        return
    for q in range(c):
        xq = xt[q]
        for j in range(m):
            xq[j] = X[j, q]
    _matvec2(W, xt, c, Y)


@njit(cache=True)
def _alloc_work(p, c):
    """Work buffers of :func:`_phi_block` for blocks of c columns: (work, xt, yt).

    ``work`` stacks the gate preactivations (N rows, gated only) and every layer's output
    (N_{l+1} rows); ``xt`` holds up to ``_GEMV_MAX_COLS`` transposed columns of the largest
    width (narrow products); ``yt`` holds five contiguous rows of that width for the
    vectorized activations (preactivation, phi, phi', gate, gate').
    """
    flow_w = p[0]
    gated = p[5]
    n = flow_w[len(flow_w) - 1].shape[1]
    rows = n if gated else 0
    mx = n
    for layer in range(len(flow_w)):
        rows += flow_w[layer].shape[1]
        mx = max(mx, flow_w[layer].shape[1], flow_w[layer].shape[2])
    return np.empty((rows, c)), np.empty((_GEMV_MAX_COLS, mx)), np.empty((5, mx))


@njit(cache=True)
def _phi_block(Z, r, p, out, work, xt, yt, want_tr=True, h_step=0.0):
    """out = [f(h) | J(h) V] for the block Z = [h | V] of realization ``r``; returns tr J(h).

    ``p`` is :meth:`Network.kernel_args`. One matrix product per weight matrix (``W^l @ X``,
    :func:`_matmul`), the last layer's activation, the gate and the leak fused into one pass
    that writes ``out``; no allocation (``work, xt, yt`` from :func:`_alloc_work`). Z and out
    are C-contiguous arrays of shape (N, c), c >= 1.

    With ``h_step != 0`` the pass writes the Euler update ``out = Z + h_step [f | J V]`` instead
    (``out`` may be ``Z`` itself: each element is read before it is written), which saves the
    Euler step a second pass over the (N, c) block.

    With ``want_tr`` and a one-layer flow the trace (docs/theory.md §7) comes from the same pass,
    tr J = (1/tau) sum_i [G_i (phi'(u_i) W_ii - lam) + G_i (1 - G_i) r_i (W_z)_ii]
    (G = 1, no gate term without a gate); deeper flows, and calls without ``want_tr``, return
    NaN (deeper flows: see :func:`_trace_jacobian`).
    """
    flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau, diag0, gate_diag = p
    n, c = Z.shape
    L = len(flow_w)
    off = 0
    Yz = work[0:0]
    if gated:
        Yz = work[0:n]
        _matmul(gate_w[r], Z, Yz, xt)
        off = n
    X = Z
    for layer in range(L - 1):
        W = flow_w[layer][r]
        b = flow_b[layer][r]
        m = W.shape[0]
        Y = work[off:off + m]
        off += m
        _matmul(W, X, Y, xt)
        sv = yt[1][:m]
        dv = yt[2][:m]
        _act_vec(acts[layer], Y, b, yt[0][:m], sv, dv)
        for i in range(m):
            Y[i, 0] = sv[i]
            di = dv[i]
            for j in range(1, c):
                Y[i, j] *= di
        X = Y
    Y = work[off:off + n]
    _matmul(flow_w[L - 1][r], X, Y, xt)
    sv = yt[1][:n]
    dv = yt[2][:n]
    _act_vec(acts[L - 1], Y, flow_b[L - 1][r], yt[0][:n], sv, dv)
    with_trace = want_tr and L == 1 and diag0.shape[1] == n
    dg0 = diag0[r]
    tr = 0.0
    # out = zb Z + hs (tau f): (0, 1/tau) gives f, (1, h_step/tau) the Euler update (a
    # non-finite Z gives a non-finite block either way: 0 * inf is NaN where f was -inf)
    zb = 0.0 if h_step == 0.0 else 1.0
    hs = inv_tau if h_step == 0.0 else h_step * inv_tau
    if gated:
        gv = yt[3][:n]
        gdv = yt[4][:n]
        _act_vec(SIGMOID, Yz, gate_b[r], yt[0][:n], gv, gdv)
        gd = gate_diag[r]
        for i in range(n):
            d = dv[i]
            res = sv[i] - lam * Z[i, 0]
            g = gv[i]
            dg = gdv[i] * res  # G (1 - G) r, without cancellation
            out[i, 0] = zb * Z[i, 0] + hs * (g * res)
            for j in range(1, c):
                out[i, j] = zb * Z[i, j] + hs * (g * (d * Y[i, j] - lam * Z[i, j]) + dg * Yz[i, j])
            if with_trace:
                tr += g * (d * dg0[i] - lam) + dg * gd[i]
    elif c == 1 and not with_trace:  # a state evaluation: one vectorizable pass
        for i in range(n):
            out[i, 0] = zb * Z[i, 0] + hs * (sv[i] - lam * Z[i, 0])
    else:
        for i in range(n):
            d = dv[i]
            out[i, 0] = zb * Z[i, 0] + hs * (sv[i] - lam * Z[i, 0])
            for j in range(1, c):
                out[i, j] = zb * Z[i, j] + hs * (d * Y[i, j] - lam * Z[i, j])
            if with_trace:
                tr += d * dg0[i] - lam
    return tr * inv_tau if with_trace else np.nan


@njit(cache=True)
def _trace_jacobian(h, r, p):
    """tr J(h) (docs/theory.md section 7).

    One layer: tr J_F = sum_i phi'(u_i) W_ii from the stored diagonal, O(N). Deeper flows: the
    chain D_{L-1} W^{L-2} ... D_1 W^0 is formed (O(N^3) for L >= 3) and the last layer contracted
    row by row.
    """
    flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau, diag0, gate_diag = p
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
            s, dd = numba_values(acts[layer], u[i])
            u[i] = s
            d[i] = dd
        ds.append(d)
        x = u
    diagF = np.empty(n)
    if L == 1:
        for i in range(n):
            diagF[i] = ds[0][i] * diag0[r][i]
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
            g, dgz = sigmoid_sd(uz[i])
            res = x[i] - lam * h[i]
            tr += g * (diagF[i] - lam) + dgz * res * gate_diag[r][i]
    else:
        for i in range(n):
            tr += diagF[i] - lam
    return tr * inv_tau
