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

from dmft import _validate as _v
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
    try:
        h = _v.real_array("h", h, ndim=(2, 3), nonempty=True)
    except ValueError as exc:
        if "finite" in str(exc):
            raise ValueError("h must be finite (a diverged run has no autocorrelation)") from None
        raise
    if h.ndim == 2:
        h = h[None]
    T = h.shape[1]
    max_lag = T // 2 if max_lag is None else _v.integer("max_lag", max_lag, low=0, high=T - 1)
    _v.real("dt", dt, low=0.0, low_open=True)
    centered = _v.flag("centered", centered)
    nfft = 1 << int(np.ceil(np.log2(2 * T)))
    _v.check_memory(8.0 * 3 * nfft * h.shape[2], f"the autocorrelation FFT of {nfft} x "
                    f"{h.shape[2]} samples")
    if centered:
        h = h - h.mean(axis=1, keepdims=True)
    acc = np.zeros(max_lag + 1)
    for r in range(h.shape[0]):
        spec = np.fft.rfft(h[r], n=nfft, axis=0)
        c = np.fft.irfft((spec * spec.conj()), n=nfft, axis=0)[: max_lag + 1]
        acc += c.mean(axis=1)
    acc /= h.shape[0] * (T - np.arange(max_lag + 1))
    return np.arange(max_lag + 1) * dt, acc


def population_variance(h: np.ndarray) -> float:
    """Delta_0 = < (1/N) sum_i h_i(t)^2 >_t over a recorded trajectory (T, N) or (R, T, N)."""
    h = _v.real_array("h (a finite array of shape (T, N) or (R, T, N))", h, ndim=(2, 3),
                      nonempty=True)
    return float(np.mean(h * h))


def jacobian(net: Network, h: np.ndarray) -> np.ndarray:
    """J(h) = (1/tau)[diag(G)(-lam I + J_F) + diag(G(1-G) r) W_z], shape (N, N)."""
    _check_net(net)
    _v.check_memory(8.0 * 4 * net.n * net.n, f"a dense Jacobian at N = {net.n}")
    return net.jacobian(h)


def _check_net(net) -> None:
    if not isinstance(net, Network):
        raise _v.ParameterTypeError(f"net must be a simulate.Network, got {type(net).__name__}")


def jacobian_eigenvalues(net: Network, h: np.ndarray) -> np.ndarray:
    """Eigenvalues of J(h), sorted by decreasing real part."""
    ev = np.linalg.eigvals(jacobian(net, h))
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
    _check_net(net)
    h0 = _v.real_array("h0", h0, shape=(net.n,))
    tol = _v.real("tol", tol, low=0.0, low_open=True)
    max_iter = _v.integer("max_iter", max_iter, low=1)
    _v.check_memory(8.0 * 6 * net.n * net.n, f"a fixed-point search at N = {net.n}")
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
