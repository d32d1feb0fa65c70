"""Gaussian-process path sampling for the sampled DMFT (docs/theory.md section 6).

Contract
--------
Takes a covariance and a :class:`numpy.random.Generator`; returns sample paths, nothing else
(no state is kept between calls, no global random state is touched).

- :func:`sample_stationary_gp`: ``n_paths`` paths of ``n_steps`` grid points of a zero-mean
  *stationary* process given its covariance at lags 0, 1, ... (circulant embedding).  Same
  generator state -> the same paths, bit for bit.
- :class:`CausalGP`: paths of a zero-mean process whose covariance is only known up to the
  current grid time (the two-time solver learns it from the paths); rows are added one time at a
  time, and a row can be recomputed with the same random numbers (corrector passes).

Neither raises on a covariance that is not positive definite: negative circulant eigenvalues
(from truncation) are clipped to 0, and Cholesky pivots are floored at 1e-300 after the nugget.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft
from scipy.linalg import solve_triangular

__all__ = ["sample_stationary_gp", "CausalGP", "NUGGET"]

#: relative white-noise variance added to the causal covariance (conditions the Cholesky rows)
NUGGET = 1e-8


def sample_stationary_gp(cov: np.ndarray, n_steps: int, n_paths: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Paths of a zero-mean stationary Gaussian process with covariance ``cov`` at lags 0, 1, ...

    Circulant embedding (Dietrich & Newsam 1997): the covariance is split into a static part
    c_inf (the mean of the last tenth of the lags, one N(0, c_inf) offset per path) and a decaying
    part, tapered to 0 over the last tenth, embedded in a circulant of period
    M >= n_steps + n_lag whose eigenvalues are the FFT of its first row (negative ones, from
    truncation, clipped to 0); the real and imaginary parts of FFT(sqrt(lambda / M) xi), xi
    complex standard normal, are two independent paths.

    Parameters
    ----------
    cov : ndarray, shape (n_lag,)
    n_steps, n_paths : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_paths, n_steps)
    """
    cov = np.asarray(cov, dtype=float)
    n_lag = cov.size
    tail = max(1, n_lag // 10)
    c_inf = float(np.clip(cov[-tail:].mean(), 0.0, max(cov[0], 0.0)))
    dec = cov - c_inf
    if n_lag > 2:
        taper = np.ones(n_lag)
        taper[-tail:] = 0.5 * (1 + np.cos(np.linspace(0, np.pi, tail)))
        dec = dec * taper
    # a period m >= n_steps + n_lag suffices: the tapered decaying part vanishes beyond n_lag,
    # so the circulant's wrapped-around lags m - s > n_lag add nothing within a path
    m = sfft.next_fast_len(max(n_steps + n_lag, 2 * n_lag), real=False)
    row = np.zeros(m)
    k = min(n_lag, m // 2)
    row[:k] = dec[:k]
    row[m - k + 1:] = dec[1:k][::-1]
    lam = np.clip(sfft.fft(row).real, 0.0, None)
    n_c = (n_paths + 1) // 2
    # complex standard normals drawn as (re, im) pairs in place: no complex temporaries
    xi = rng.standard_normal((n_c, 2 * m)).view(np.complex128)
    xi *= np.sqrt(lam / m)
    y = sfft.fft(xi, axis=1, overwrite_x=True)
    paths = np.empty((n_paths, n_steps))
    paths[:n_c] = y.real[:, :n_steps]                  # rows: real parts, then imaginary parts
    paths[n_c:] = y.imag[:n_paths - n_c, :n_steps]
    if c_inf > 0:
        paths += math.sqrt(c_inf) * rng.standard_normal((n_paths, 1))
    return paths


class CausalGP:
    """Paths of a zero-mean Gaussian process built one grid time at a time.

    The covariance is only known up to the current time (it depends on the paths), so the
    Cholesky factor L of Sigma(t_0..t_k) is extended row by row: for a new time, l solves
    L l = Sigma(t_0..t_k, t_{k+1}) and the pivot is sqrt(Sigma_{k+1,k+1} - l.l); the value of
    each path is l . xi_{0..k} + pivot xi_{k+1} with the path's own standard normals xi, so a
    row can be recomputed (corrector passes) with the same random numbers.  The factor is that
    of Sigma + diag(NUGGET Sigma_kk): the Gram matrices of smooth paths are nearly singular at
    small dt, and a consistent nugget (white noise of relative variance 1e-8 added to the field)
    bounds the condition number where flooring the pivots would make the triangular solves
    amplify rounding errors without bound.

    Parameters
    ----------
    n : int
        Grid times.
    xi : ndarray, shape (n, P)
        The standard normals of the P paths (drawn by the caller, so the draw order is its own).
    """

    def __init__(self, n: int, xi: np.ndarray):
        self.L = np.zeros((n, n))
        self.xi = xi

    def row(self, k: int, cov_row: np.ndarray) -> np.ndarray:
        """Set row k from Sigma(t_k, t_0..t_k) (length k + 1); return the values, shape (P,)."""
        var = float(cov_row[k])
        if k > 0:
            lr = solve_triangular(self.L[:k, :k], cov_row[:k], lower=True, check_finite=False)
        else:
            lr = np.zeros(0)
        piv = math.sqrt(max(var * (1.0 + NUGGET) - float(lr @ lr), 1e-300))
        self.L[k, :k] = lr
        self.L[k, k] = piv
        return self.L[k, :k + 1] @ self.xi[:k + 1]
