"""Observables of finite-N simulations: population autocorrelation, variance, Jacobian spectra,
fixed points.

Population autocorrelation (docs/theory.md section 4, the finite-N estimator of Delta(s))::

    Delta(s) = < (1/N) sum_i h_i(t) h_i(t + s) >_t

averaged over the recorded window (all t with t + s inside it), computed by FFT along time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from dmft.results import short_repr

from ._network import Network

__all__ = ["autocorrelation", "population_variance", "jacobian", "jacobian_eigenvalues",
           "find_fixed_point", "FixedPointSearch"]


def autocorrelation(h: np.ndarray, max_lag: int | None = None, *, dt: float = 1.0,
                    centered: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Population autocorrelation Delta(s) of a recorded trajectory.

    Parameters
    ----------
    h : ndarray, shape (T, N) or (R, T, N)
        Recorded states (rows equally spaced by ``dt``); a leading realization axis is averaged.
    max_lag : int, optional
        Largest lag in samples (default T // 2).
    dt : float
        Sample spacing, used for the returned lags.
    centered : bool
        Subtract each unit's time mean first (the connected correlation; the theory's Delta
        is *not* centered: its static part Delta_inf is part of it).

    Returns
    -------
    lags : ndarray, shape (max_lag + 1,)
    delta : ndarray, shape (max_lag + 1,)
        Delta(s) = mean over i and over the T - s available pairs of h_i(t) h_i(t + s).
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim == 2:
        h = h[None]
    if h.ndim != 3:
        raise ValueError(f"h must have shape (T, N) or (R, T, N), got {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("h must be finite (a diverged run has no autocorrelation)")
    T = h.shape[1]
    if max_lag is None:
        max_lag = T // 2
    if not 0 <= int(max_lag) < T:
        raise ValueError(f"max_lag must be in [0, {T - 1}], got {max_lag}")
    max_lag = int(max_lag)
    if centered:
        h = h - h.mean(axis=1, keepdims=True)
    nfft = 1 << int(np.ceil(np.log2(2 * T)))
    acc = np.zeros(max_lag + 1)
    for r in range(h.shape[0]):
        spec = np.fft.rfft(h[r], n=nfft, axis=0)
        c = np.fft.irfft((spec * spec.conj()), n=nfft, axis=0)[: max_lag + 1]
        acc += c.mean(axis=1)
    acc /= h.shape[0] * (T - np.arange(max_lag + 1))
    return np.arange(max_lag + 1) * dt, acc


def population_variance(h: np.ndarray) -> float:
    """Delta_0 = < (1/N) sum_i h_i(t)^2 >_t over a recorded trajectory (T, N) or (R, T, N)."""
    h = np.asarray(h, dtype=np.float64)
    if h.ndim not in (2, 3) or not np.all(np.isfinite(h)):
        raise ValueError("h must be a finite array of shape (T, N) or (R, T, N)")
    return float(np.mean(h * h))


def jacobian(net: Network, h: np.ndarray) -> np.ndarray:
    """J(h) = (1/tau)[diag(G)(-lam I + J_F) + diag(G(1-G) r) W_z], shape (N, N)."""
    return net.jacobian(h)


def jacobian_eigenvalues(net: Network, h: np.ndarray) -> np.ndarray:
    """Eigenvalues of J(h), sorted by decreasing real part."""
    ev = np.linalg.eigvals(net.jacobian(h))
    return ev[np.argsort(-ev.real, kind="stable")]


@dataclass(frozen=True, kw_only=True)
class FixedPointSearch:
    """Result of :func:`find_fixed_point`.

    Attributes
    ----------
    h : ndarray, shape (N,)
    speed : float
        q(h) = |f(h)|^2 / 2 at the end.
    eigenvalues : ndarray
        Eigenvalues of J(h), by decreasing real part.
    stable : bool
        All real parts < 0.
    converged : bool
    residual : float
        rms |f(h)|.
    n_iter : int
    message : str
    """

    h: np.ndarray
    speed: float
    eigenvalues: np.ndarray
    stable: bool
    converged: bool
    residual: float
    n_iter: int
    message: str

    __repr__ = short_repr


def find_fixed_point(net: Network, h0: np.ndarray, *, tol: float = 1e-10,
                     max_iter: int = 200) -> FixedPointSearch:
    """Minimize q(h) = |f(h)|^2 / 2 from h0 (Sussillo & Barak 2013) with the exact Jacobian.

    Uses a trust-region least-squares solve of f(h) = 0 (scipy ``least_squares``, Jacobian
    :meth:`Network.jacobian`). ``converged`` is rms|f| <= tol; otherwise the slow point found is
    returned with ``converged=False`` (a slow point is a result, not an error).
    """
    h0 = np.asarray(h0, dtype=np.float64)
    if h0.shape != (net.n,) or not np.all(np.isfinite(h0)):
        raise ValueError(f"h0 must be a finite array of shape ({net.n},)")
    sol = optimize.least_squares(net.rhs, h0, jac=net.jacobian, method="trf", xtol=1e-15,
                                 ftol=1e-15, gtol=1e-15, max_nfev=max_iter)
    f = net.rhs(sol.x)
    rms = float(np.sqrt(np.mean(f * f)))
    ev = jacobian_eigenvalues(net, sol.x)
    ok = rms <= tol
    msg = ("fixed point found" if ok else
           f"stopped at a slow point, rms|f| = {rms:.3g} > tol = {tol:g}; "
           "try another h0 or more iterations")
    return FixedPointSearch(h=sol.x, speed=0.5 * float(f @ f), eigenvalues=ev,
                            stable=bool(np.all(ev.real < 0)), converged=ok, residual=rms,
                            n_iter=int(sol.nfev), message=msg)
