"""Gain paths for the single-site theory of the Lyapunov spectrum (docs/theory.md 9.3, 9.11).

Contract
--------
:func:`layer_gains` takes a non-gated ensemble and the stationary autocorrelation of its state,
Delta(tau), and returns, for every layer l = 1..L of the flow, the variance q_l and covariance
c_l(tau) of the preactivation u^l (the layer maps of docs/theory.md section 2 applied to
Delta).  :func:`ring_paths` samples P stationary Gaussian paths of a covariance on the periodic
grid (circulant embedding on the ring itself: exact for the ring's covariance, which equals the
target at lags <= T/2), and :func:`calibration_weights` returns positive weights w (sum 1) that
make the weighted gain paths d = phi'(u) reproduce the exact E[d] and E[d(t) d(t + tau)] at
every lag (eq. 9.11).  :func:`stationary_map` gives Delta(k) of the Euler-discretized flow.
"""

from __future__ import annotations

import math

import numpy as np

from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import dkernel, flow_kernel, gaussian_mean, get_activation

__all__ = ["ring_lags", "layer_gains", "ring_paths", "calibration_weights", "stationary_map"]


def ring_lags(m: int, spacing: float) -> np.ndarray:
    """Lags min(n, m - n) x spacing of the ring's points from point 0."""
    n = np.arange(m)
    return np.minimum(n, m - n) * float(spacing)


def layer_gains(ens: Ensemble, delta0: float, delta_of_lag: np.ndarray
                ) -> list[tuple[float, np.ndarray]]:
    """[(q_l, c_l(lags))] of the preactivations u^1..u^L for Delta(0) = delta0 and Delta(lags).

    Layer l maps (q, c) -> (g_l^2 K_{l-1}(q) + sigma_l^2, g_l^2 K_{l-1}(c) + sigma_l^2) with
    K_0 the identity (docs/theory.md eq. 2.3); the biases are quenched, so sigma_l^2 is a
    static part of c_l.
    """
    c = np.asarray(delta_of_lag, dtype=float)
    pre = flow_kernel(ens, delta0, delta0, c, derivative=False).pre
    return [(float(np.ravel(q1)[0]), np.broadcast_to(cc, c.shape).astype(float))
            for q1, _, cc in pre]


def ring_paths(cov: np.ndarray, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """P paths of the stationary Gaussian process on the ring with covariance ``cov`` (m,).

    ``cov[n]`` is the covariance at ring distance n (symmetric: cov[n] = cov[m - n]).  The
    eigenvalues are the FFT of cov (negative ones, from a covariance that has not decayed by
    T/2, clipped to 0); the real and imaginary parts of FFT(sqrt(lambda / m) xi), xi complex
    standard normal, are two independent paths.
    """
    m = cov.size
    lam = np.clip(np.fft.fft(cov).real, 0.0, None)
    nc = (n_paths + 1) // 2
    xi = rng.standard_normal((nc, 2 * m)).view(np.complex128)
    z = np.fft.fft(xi * np.sqrt(lam / m), axis=1)
    return np.concatenate([z.real, z.imag])[:n_paths]


def _acf(d: np.ndarray) -> np.ndarray:
    """Per-path ring autocorrelation (1/m) sum_n d(n) d(n + tau), shape (P, m)."""
    f = np.fft.rfft(d, axis=1)
    return np.fft.irfft(f * f.conj(), n=d.shape[1], axis=1) / d.shape[1]


def calibration_weights(d: np.ndarray, mean: float, acf: np.ndarray, *more,
                        sv_floor: float = 1e-3) -> np.ndarray:
    """Positive weights w (sum 1) with which the paths reproduce their exact statistics, eq. 9.11.

    The statistics are the path means of d and the ring autocorrelation at lags 0..m/2 (the
    others repeat by symmetry); ``more`` adds further (paths, mean, acf) triples.  Standardized
    per statistic, their per-path deviations from the exact values are reduced to the r leading
    principal components (singular values above ``sv_floor`` times the largest: the rest carry
    no variance, only round-off), and w is the minimum relative entropy to 1/P under those r
    constraints, w_p ~ exp(lambda . y_p), lambda from a damped Newton solve of the convex dual.
    Where r constraints cannot be met with positive weights (the exact point outside the
    paths' convex hull) or only at an effective sample size below P/4, the largest r that can
    is taken (bisection; r = 0 leaves w = 1/P).
    """
    P, m = d.shape
    nl = m // 2 + 1
    rows, vals = [], []
    for x, mu, c in ((d, mean, acf), *(more[i:i + 3] for i in range(0, len(more), 3))):
        rows += [_acf(x)[:, :nl].T, x.mean(axis=1)[None]]
        vals += [np.asarray(c, dtype=float)[:nl], [mu]]
    dev = np.vstack(rows) - np.concatenate(vals)[:, None]
    spread = dev.std(axis=1)
    dev = dev[spread > 0] / spread[spread > 0, None]
    u, sv, _ = np.linalg.svd(dev - dev.mean(axis=1, keepdims=True), full_matrices=False)
    hi = int(np.sum(sv > sv_floor * sv[0])) if sv.size and sv[0] > 0 else 0
    best, lo = np.full(P, 1.0 / P), 0

    def solve(r):   # None where infeasible or the effective sample size 1/sum w^2 < P/4
        w = _min_entropy_weights(u[:, :r].T @ dev)
        return w if w is not None and 1.0 / float(w @ w) >= P / 4 else None

    # the constraint sets are nested, so feasibility is monotone in r: bisect for the largest
    w = solve(hi) if hi else None
    if w is not None:
        return w
    while hi - lo > 1:
        mid = (lo + hi) // 2
        w = solve(mid)
        if w is None:
            hi = mid
        else:
            best, lo = w, mid
    return best


def _min_entropy_weights(y: np.ndarray, tol: float = 1e-10, max_iter: int = 60):
    """argmin_w sum_p w_p log(P w_p) subject to sum_p w_p y_p = 0, sum_p w_p = 1 (y: r x P), or
    None if the damped Newton iteration on the dual log sum_p exp(lambda . y_p) stalls."""
    lam = np.zeros(y.shape[0])

    def dual(x):
        z = x @ y
        return z.max() + math.log(np.exp(z - z.max()).sum())

    for _ in range(max_iter):
        z = lam @ y
        w = np.exp(z - z.max())
        f0, t = z.max() + math.log(w.sum()), 1.0     # dual(lam), from the same exponentials
        w /= w.sum()
        grad = y @ w
        if np.linalg.norm(grad) < tol:
            return w
        hess = (y * w) @ y.T - np.outer(grad, grad)
        step = -np.linalg.lstsq(hess, grad, rcond=1e-12)[0]
        while dual(lam + t * step) > f0 + 1e-4 * t * float(grad @ step):
            t *= 0.5
            if t < 1e-8:
                return None
        lam = lam + t * step
    return None


def shifted_statistics(f, mean: float, q: float, c: np.ndarray, n: int = 120
                       ) -> tuple[float, np.ndarray]:
    """E[f(z)] and E[f(z) f(z')] for z, z' ~ N(mean, q) with cov(z, z') = c (Gauss-Hermite,
    ``n`` nodes per axis; the gate's statistics, whose mean is not 0)."""
    x, wx = np.polynomial.hermite_e.hermegauss(n)
    wx = wx / wx.sum()
    sq = math.sqrt(max(q, 0.0))
    c = np.asarray(c, dtype=float)
    rho = np.clip(c / q, -1.0, 1.0) if q > 0 else np.zeros_like(c)
    f1 = f(mean + sq * x)                                          # (n,)
    z2 = mean + sq * (rho[..., None, None] * x[:, None]
                      + np.sqrt(1 - rho * rho)[..., None, None] * x[None, :])
    second = np.einsum("i,j,...ij->...", wx * f1, wx, f(z2))
    return float(wx @ f1), second


def gain_statistics(activation: str, q: float, c: np.ndarray) -> tuple[float, np.ndarray]:
    """E[phi'(u)] and E[phi'(u) phi'(u')] for u ~ N(0, q), cov(u, u') = c (Price's theorem)."""
    act = get_activation(activation)
    mean = float(gaussian_mean(act.deriv, 0.0, q))
    return mean, np.asarray(dkernel(act, q, q, c), dtype=float)


def _kernel_table(ens: Ensemble, q: float, lo: float, n: int = 40):
    """K_F(q, q, c) on [lo, q] as a Chebyshev interpolant in w, c = q - (q - lo) w^2.

    The substitution makes the endpoint terms (q - c)^(k + 1/2) of piecewise-smooth
    activations (the arc-cosine kernel) polynomial in w, as in section 4's kernel tables;
    arguments are clipped to the table's range (covariances never exceed the variance).
    """
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    w = 0.5 * (x + 1.0)
    c = q - (q - lo) * w * w
    k = np.broadcast_to(flow_kernel(ens, q, q, c, derivative=False).k, c.shape)
    coef = np.polynomial.chebyshev.chebfit(x, k, n - 1)

    def table(cc):
        ww = np.sqrt(np.clip((q - np.asarray(cc)) / (q - lo), 0.0, 1.0))
        return np.polynomial.chebyshev.chebval(2.0 * ww - 1.0, coef)
    return table


def _start(ens: Ensemble):
    """Initial Delta(lag) for the map and its half-decay time: the flow's stationary Delta
    (the map's delta -> 0 limit), or a decaying exponential where the closed theory has no
    chaotic solution."""
    from ._stationary import stationary
    try:
        st = stationary(ens)
        if st.phase == "chaotic" and st.lags.size > 1:
            return (lambda lags: np.interp(lags, st.lags, st.autocorrelation)), \
                float(st.half_decay_time)
    except (ValueError, ConvergenceError):
        pass
    return (lambda lags: np.exp(-lags)), 1.0


def stationary_map(ens: Ensemble, delta: float, *, n_lag: int | None = None, tol: float = 1e-11,
                   max_iter: int = 2000, anderson: int = 5) -> np.ndarray:
    """Stationary autocorrelation Delta(k) = <h(n) h(n + k)> of the Euler map (eq. 10.1).

    h(n + 1) = (1 - delta) h(n) + delta F(h(n)) with F Gaussian of covariance
    K_F(Delta(0), Delta(0), Delta(k)); in frequency, Delta(w) = delta^2 K(w) / |1 - a e^{-iw}|^2,
    a = 1 - delta.  The plain iteration Delta <- filter(K(Delta)) is the self-consistency's own
    relaxation (it keeps Delta a covariance: K of a positive-definite Toeplitz matrix is one,
    Schur's product theorem) and selects the stable solution; it runs until the change is
    below 0.1, then Anderson mixing (rejected whenever it leaves the positive spectrum)
    polishes to ``tol``.  Periodic lag window of n_lag steps (default: a power of two
    >= 64 / delta and >= 40 half-decay times of the flow's Delta, so that Delta has decayed),
    K from a 40-node table per iteration.

    Raises
    ------
    ConvergenceError
        When the relative change stays above ``tol`` after ``max_iter`` iterations.
    """
    start, t_half = _start(ens)
    if n_lag is None:   # the window holds >= 40 half-decay times of Delta (longer near onset)
        n_lag = int(2 ** math.ceil(math.log2(max(256.0, 64.0 / delta, 40.0 * t_half / delta))))
    a = 1.0 - delta
    w = 2.0 * np.pi * np.fft.fftfreq(n_lag)
    filt = delta * delta / np.abs(1.0 - a * np.exp(-1j * w)) ** 2
    lag = np.minimum(np.arange(n_lag), n_lag - np.arange(n_lag)).astype(float)
    C = start(lag * delta)
    xs, fs = [], []
    change = math.inf
    for _ in range(max_iter):
        lo = min(float(C.min()), 0.0) - 1e-3 * C[0]
        spec = filt * np.fft.fft(_kernel_table(ens, float(C[0]), lo)(C))
        fx = np.fft.ifft(spec).real - C
        change = float(np.max(np.abs(fx))) / max(float(abs(C[0])), 1e-300)
        if change < tol:
            return C + fx
        new = C + fx                                   # the plain (physical) iteration
        if change < 0.1:
            xs, fs = (xs + [C])[-(anderson + 1):], (fs + [fx])[-(anderson + 1):]
            if len(xs) > 1:
                dX = np.stack([xs[i + 1] - xs[i] for i in range(len(xs) - 1)], 1)
                dF = np.stack([fs[i + 1] - fs[i] for i in range(len(fs) - 1)], 1)
                coef = np.linalg.lstsq(dF, fx, rcond=None)[0]
                cand = C + fx - (dX + dF) @ coef
                if np.all(np.isfinite(cand)) and float(np.fft.fft(cand).real.min()) \
                        >= -1e-9 * float(np.abs(cand).sum()):
                    new = cand
                else:
                    xs, fs = [], []
        if not np.all(np.isfinite(new)) or new[0] <= 0:
            break
        C = new
    raise ConvergenceError("stationary_map: the iteration for Delta(k) of the Euler map did not "
                           "settle", n_iter=max_iter, change=change, delta=delta)


def periodic_relaxation(rate: np.ndarray, target: np.ndarray, step: float, *,
                        euler: bool = False) -> np.ndarray:
    """The periodic solution h of dh/dt = rate(t) (target(t) - h) on a ring (eq. 9.16).

    ``rate`` and ``target`` are (P, M) paths on the ring's M points, spacing ``step``.
    Continuous time: each step is solved exactly with the midpoint coefficients,
    h(n+1) = e^{-r dt} h(n) + (1 - e^{-r dt}) x  (second order in dt).  ``euler=True``: the
    Euler map h(n+1) = h(n) + dt rate(n) (target(n) - h(n)) itself.  The periodic start
    h(0) = c / (1 - A) follows from one pass from h(0) = 0 (c = h(M), A = the product of the
    step factors).
    """
    if euler:
        a = 1.0 - step * rate
        b = step * rate * target
    else:
        r = 0.5 * (rate + np.roll(rate, -1, axis=1))
        x = 0.5 * (target + np.roll(target, -1, axis=1))
        a = np.exp(-r * step)
        b = (1.0 - a) * x
    P, M = rate.shape
    h = np.empty((P, M))
    cur = np.zeros(P)
    for n in range(M):
        h[:, n] = cur
        cur = a[:, n] * cur + b[:, n]
    total = np.prod(a, axis=1)
    h0 = cur / (1.0 - total)
    # h(n) = (prod_{k<n} a_k) h0 + h_zero(n)
    return h + np.cumprod(np.concatenate([np.ones((P, 1)), a[:, :-1]], axis=1), axis=1) \
        * h0[:, None]
