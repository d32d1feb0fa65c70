"""The single-site problem of the tangent dynamics on a periodic time grid (docs/theory.md 9).

Contract
--------
Input: a :class:`Ring` (m times on a window of T tau, continuous time or the Euler map), and a
chain of :class:`SiteType` s, one per kind of unit the tangent dynamics couples (the state, then
each hidden layer of the flow), each with sampled gain paths d_p(t) and weights w_p.  For a
threshold s and a regulator eta > 0, :func:`solve_chain` finds the self-consistent stationary
kernels (eqs. 9.6-9.8): per site type j, the symbols of

    S_j = gamma_j < D U D >_{j+1}          (self-energy of the v block, stationary)
    V_j = < R^vv >_j                       (feeds the u block of site type j + 1)

with, for each path p of site type j (eq. 9.6, an m x m symmetric positive definite inverse),

    U_{j,p} = [ eta + g2_j D_p V_{j-1} D_p + K0_j (eta + S_j)^-1 K0_j^T ]^-1

and reads out F_eta(s) from the state site (eq. 9.9).  Guarantees: every returned symbol is
positive; the trace identity sum_j n_j (tr V_j - tr <U>_j) = 0 holds to rounding (imposed by the
gauge fixing of eq. 9.10 after each sweep); ``converged`` is True only when the largest change
of the logarithms of the symbols in the last sweep is below ``tol``, otherwise
:class:`dmft.ConvergenceError` is raised.

Numerics: the per-path inverses and the weighted sums over paths run in one numba kernel
(:func:`_accumulate`, ``prange`` over blocks of paths); V_j is obtained from
proj <(eta + g2 D V D) U> / (eta + S_j) (eq. 9.8), which has no cancellation, instead of the
algebraically equal (eta + S)^-1 - |k|^2 <U> / (eta + S)^2, which loses all digits at small
eta.  Paths that are constant in time (a fixed point) make every matrix circulant, and
the sweep reduces to per-frequency scalars (:func:`_accumulate_static`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from .errors import ConvergenceError

__all__ = ["Ring", "SiteType", "ChainSolution", "solve_chain", "readout"]


@dataclass(frozen=True)
class Ring:
    """A periodic time grid of m points on a window of T (units of tau).

    ``delta=None`` is continuous time (operators are matrices of kernel x spacing; d/dt has the
    symbol iW); ``delta > 0`` the Euler map with step delta = dt / tau (then T = m delta).
    """

    m: int
    T: float
    delta: float | None = None

    @property
    def spacing(self) -> float:
        return self.T / self.m

    @property
    def frequencies(self) -> np.ndarray:
        """W_k (continuous, per tau) or w_k (map, radians per step), FFT ordering."""
        if self.delta is None:
            return 2.0 * np.pi * np.fft.fftfreq(self.m, d=self.spacing)
        return 2.0 * np.pi * np.fft.fftfreq(self.m)

    def state_symbol(self, s: float, leak: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(|k0|^2, Re k0) of the state's bare operator at threshold s (eq. 9.4).

        Continuous: k0 = (leak + s) + iW.  Map: k0 = 1 - alpha e^{-iw},
        alpha = (1 - leak delta) e^{-s delta}.
        """
        w = self.frequencies
        if self.delta is None:
            a = leak + s
            return a * a + w * w, np.full(self.m, a)
        alpha = (1.0 - leak * self.delta) * math.exp(-s * self.delta)
        return 1.0 + alpha * alpha - 2.0 * alpha * np.cos(w), 1.0 - alpha * np.cos(w)

    def coupling(self, s: float) -> float:
        """Factor on the variance of the weights that feed the state: 1, or (delta e^{-s delta})^2
        for the map (eq. 9.5)."""
        if self.delta is None:
            return 1.0
        return (self.delta * math.exp(-s * self.delta)) ** 2


@dataclass(frozen=True)
class SiteType:
    """One kind of unit of the chain (docs/theory.md eq. 9.6).

    Attributes
    ----------
    d : ndarray, shape (P, m)
        Row-scale gain paths D_p(t) of the random matrix whose output this site is.
    w : ndarray, shape (P,)
        Path weights (sum 1; calibrated weights may be negative, eq. 9.11).
    k2, re_k : ndarray, shape (m,)
        |k0|^2 and Re k0 of the bare operator (state: eq. 9.4; hidden: 1 and 1).
    g2_in : float
        Variance factor of the matrix feeding this site: Sigma^uu = g2_in D V_{j-1} D.
    gamma_out : float
        Factor of the matrix leaving this site: S_j = gamma_out <D U D>_{j+1}.
    n : float
        Width ratio N_j / N (weights of the trace identity).
    """

    d: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    k2: np.ndarray = field(repr=False)
    re_k: np.ndarray = field(repr=False)
    g2_in: float
    gamma_out: float
    n: float = 1.0

    @property
    def static(self) -> bool:
        """Paths constant in time (a fixed point): every matrix of the sweep is circulant."""
        return bool(np.all(self.d == self.d[:, :1]))


@dataclass(frozen=True, kw_only=True)
class ChainSolution:
    """Self-consistent symbols of :func:`solve_chain` (one array per site type)."""

    S: tuple[np.ndarray, ...] = field(repr=False)
    V: tuple[np.ndarray, ...] = field(repr=False)
    U0: np.ndarray = field(repr=False)          # proj <U> of the state site (for the readout)
    eta: float
    n_iter: int
    residual: float
    converged: bool
    message: str


# ----------------------------------------------------------------------------- kernels
def _circulant(symbol: np.ndarray) -> np.ndarray:
    """Dense m x m circulant C[i, j] = c[(i - j) mod m], c = ifft(symbol) (real, even symbol)."""
    m = symbol.size
    c = np.fft.ifft(symbol).real
    i = np.arange(m)
    return np.ascontiguousarray(c[(i[:, None] - i[None, :]) % m])


def _project(M: np.ndarray) -> np.ndarray:
    """Symbol of the stationary projection: c(tau) = mean_n M[n + tau, n], then its FFT."""
    m = M.shape[-1]
    i = np.arange(m)
    c = M[(i[None, :] + i[:, None]) % m, i[None, :]].mean(axis=1)
    return np.fft.fft(c).real


@numba.njit(cache=True, parallel=True)
def _accumulate(base, vm, d, w, n_blocks):  # pragma: no cover - compiled
    """sum_p w_p (U_p, D_p U_p D_p, D_p vm D_p U_p) with U_p = (base + D_p vm D_p)^-1.

    ``base`` and ``vm`` are dense symmetric m x m matrices (eta I + K0 S^-1 K0^T and
    g2 V); paths are split into ``n_blocks`` interleaved blocks, one accumulator each.
    """
    P, m = d.shape
    acc = np.zeros((n_blocks, 3, m, m))
    for b in numba.prange(n_blocks):
        M = np.empty((m, m))
        Y = np.empty((m, m))
        for p in range(b, P, n_blocks):
            dp = d[p]
            for i in range(m):
                for j in range(m):
                    M[i, j] = base[i, j] + dp[i] * vm[i, j] * dp[j]
            U = np.linalg.inv(M)
            for i in range(m):
                for j in range(m):
                    Y[i, j] = dp[i] * U[i, j]
            Z = np.dot(vm, Y)
            wp = w[p]
            for i in range(m):
                for j in range(m):
                    acc[b, 0, i, j] += wp * U[i, j]
                    acc[b, 1, i, j] += wp * Y[i, j] * dp[j]
                    acc[b, 2, i, j] += wp * dp[i] * Z[i, j]
    return acc.sum(axis=0)


def _accumulate_static(base_sym, v_sym, d0, w):
    """The sweep for time-constant paths: per path and frequency, u = 1 / (base + d^2 g2 V)
    (paths with equal gains merged, their weights summed)."""
    d0, inv = np.unique(d0, return_inverse=True)
    w = np.bincount(inv.ravel(), weights=w, minlength=d0.size)
    d2 = (d0 * d0)[:, None]
    u = 1.0 / (base_sym[None, :] + d2 * v_sym[None, :])
    return w @ u, w @ (d2 * u), w @ (d2 * v_sym[None, :] * u)


def _n_blocks() -> int:
    return max(1, min(64, 4 * numba.get_num_threads()))


def _sweep_site(site: SiteType, S: np.ndarray, v_in: np.ndarray, eta: float):
    """(proj<U>, proj<DUD>, proj<(eta + g2 D V D) U>) of one site type (eq. 9.6-9.8)."""
    sc = eta + S
    base_sym = site.k2 / sc + eta
    vg = site.g2_in * v_in
    if site.static:
        u, dud, eu = _accumulate_static(base_sym, vg, site.d[:, 0], site.w)
        return u, dud, eta * u + eu
    acc = _accumulate(_circulant(base_sym), _circulant(vg), site.d, site.w, _n_blocks())
    u = _project(acc[0])
    return u, _project(acc[1]), eta * u + _project(acc[2])


# ----------------------------------------------------------------------------- solver
def _initial(sites, eta):
    """The uncoupled solution (g = 0): U = V = eta / (eta^2 + |k|^2), S from one sweep of D^2."""
    L = len(sites)
    u0 = [eta / (eta * eta + s.k2) for s in sites]
    d2 = [float(s.w @ np.mean(s.d ** 2, axis=1)) for s in sites]
    S = [sites[j].gamma_out * d2[(j + 1) % L] * u0[(j + 1) % L] for j in range(L)]
    return S, [u.copy() for u in u0]


def _anderson_step(xs, fs, fx):
    """Anderson mixing (type II, full step) over the stored history."""
    if len(xs) < 2:
        return fx
    dX = np.stack([xs[i + 1] - xs[i] for i in range(len(xs) - 1)], 1)
    dF = np.stack([fs[i + 1] - fs[i] for i in range(len(fs) - 1)], 1)
    coef = np.linalg.lstsq(dF, fx, rcond=None)[0]
    return fx - (dX + dF) @ coef


def _map_once(sites, S, V, eta):
    """One sweep of the whole chain, gauge-fixed (eq. 9.10): (S_new, V_new, <U>_0)."""
    L = len(sites)
    out = [_sweep_site(sites[j], S[j], V[(j - 1) % L], eta) for j in range(L)]
    S_new = [sites[j].gamma_out * out[(j + 1) % L][1] for j in range(L)]
    V_new = [out[j][2] / (eta + S[j]) for j in range(L)]
    num = sum(s.n * float(v.sum()) for s, v in zip(sites, V_new, strict=True))
    den = sum(s.n * float(o[0].sum()) for s, o in zip(sites, out, strict=True))
    if not (num > 0 and den > 0):
        raise ConvergenceError("single-site chain: a trace of the kernels is not positive "
                               "(too few gain paths for the calibrated weights?)",
                               trace_v=num, trace_u=den, eta=eta)
    c = math.sqrt(num / den)
    return [x * c for x in S_new], [x / c for x in V_new], out[0][0]


def solve_chain(sites: list[SiteType], eta: float, init: ChainSolution | None = None, *,
                tol: float = 1e-7, max_iter: int = 200, anderson: int = 6) -> ChainSolution:
    """Self-consistent kernels of the single-site chain at regulator ``eta`` (eqs. 9.6-9.10).

    Fixed-point iteration on x = log(S_0..S_{L-1}, V_0..V_{L-1}) with Anderson acceleration of
    depth ``anderson`` and steps clipped to |dx| <= 2; ``init`` warm-starts (continuation in
    eta or in the threshold s).

    Raises
    ------
    ConvergenceError
        When the largest change of x stays above ``tol`` after ``max_iter`` sweeps.
    """
    L = len(sites)
    m = sites[0].k2.size
    S, V = (_initial(sites, eta) if init is None
            else ([x.copy() for x in init.S], [x.copy() for x in init.V]))
    xs: list[np.ndarray] = []
    fs: list[np.ndarray] = []
    res, u0 = math.inf, None
    for it in range(1, max_iter + 1):
        Sn, Vn, u0 = _map_once(sites, S, V, eta)
        x = np.log(np.concatenate(S + V))
        xn = np.concatenate(Sn + Vn)
        if not np.all(xn > 0):
            raise ConvergenceError("single-site chain: a kernel symbol is not positive",
                                   eta=eta, n_iter=it)
        fx = np.log(xn) - x
        res = float(np.abs(fx).max())
        if res < tol:
            S, V = Sn, Vn
            return ChainSolution(S=tuple(S), V=tuple(V), U0=u0, eta=eta, n_iter=it,
                                 residual=res, converged=True,
                                 message=f"converged in {it} sweeps (max |d log| {res:.1e})")
        xs = (xs + [x])[-(anderson + 1):]
        fs = (fs + [fx])[-(anderson + 1):]
        step = _anderson_step(xs, fs, fx) if anderson > 0 else fx
        new = np.exp(x + np.clip(step, -2.0, 2.0))
        S = [new[j * m:(j + 1) * m] for j in range(L)]
        V = [new[(L + j) * m:(L + j + 1) * m] for j in range(L)]
    raise ConvergenceError("single-site chain did not converge; raise max_iter or the "
                           "regulator, or use more gain paths", residual=res, eta=eta,
                           n_iter=max_iter)


def readout(ring: Ring, state: SiteType, sol: ChainSolution, a: float) -> float:
    """F_eta(s) from the state site (eq. 9.9).

    Map: F = (1/m) sum_k Re(conj k0) <U>_k / (eta + S_k), the equal-time response.
    Continuous: F = 1/2 + (1/T) sum_k [a <U>_k / (eta + S_k) - a / (a^2 + W_k^2)]
    + (1/2) coth(a T / 2): the midpoint of the response's jump, with the slowly decaying
    uncoupled tail summed exactly over all frequencies (a = leak + s).
    """
    val = state.re_k * sol.U0 / (sol.eta + sol.S[0])
    if ring.delta is not None:
        return float(val.mean())
    tail = 0.5 / math.tanh(0.5 * a * ring.T) if a != 0.0 else 0.0
    return float(0.5 + (val - a / state.k2).sum() / ring.T + tail)
