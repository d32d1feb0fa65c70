"""Spectrum summaries of finite-N Lyapunov spectra and the finite-size extrapolation.

The definitions are the theory's (docs/theory.md eq. 9.12): F(s), D_KY / N, h_KS / N and
1 - F(0) are computed by :func:`dmft.summarize_exponents` / :func:`dmft.empirical_cdf`, the
same routine that reads them off the theory's F(s), so theory and simulation are compared on
one definition.  Finite-N corrections are O(1/N) (docs/theory.md section 8):
:func:`finite_size_extrapolation` fits value(N) = a + b / N over realizations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import dmft
from dmft import _validate as _v

from ._lyapunov import LyapunovResult

__all__ = ["spectrum_summary", "spectrum_cdf", "FiniteSizeFit", "finite_size_extrapolation"]


def _exponents(result, n):
    if isinstance(result, LyapunovResult):
        exps = result.exponents
        n = int(result.final_state.shape[0]) if n is None else n
        if not np.all(np.isfinite(exps)):
            raise ValueError(f"the spectrum has non-finite exponents ({result.message}); it has "
                             "no summary")
    else:
        exps = _v.real_array("result (the exponents)", result, ndim=1, nonempty=True)
    return exps, n


def spectrum_summary(result: LyapunovResult | Sequence[float], n: int | None = None
                     ) -> dmft.SpectrumSummary:
    """D_KY / N, h_KS / N, 1 - F(0) and lambda_max of a finite-N spectrum (eq. 9.12).

    Parameters
    ----------
    result : LyapunovResult or array_like
        A spectrum from :func:`simulate.lyapunov_spectrum` (N read from its state) or the k
        largest exponents.
    n : int, optional
        N; required for a bare array of k < N exponents (default: k, the full spectrum).
    """
    exps, n = _exponents(result, n)
    return dmft.summarize_exponents(exps, n)


def spectrum_cdf(result: LyapunovResult | Sequence[float], s, n: int | None = None
                 ) -> np.ndarray:
    """F(s), the fraction of the N exponents below each s (NaN below the k-th exponent)."""
    exps, n = _exponents(result, n)
    return dmft.empirical_cdf(exps, n, s)


@dataclass(frozen=True, kw_only=True)
class FiniteSizeFit:
    """Result of :func:`finite_size_extrapolation`: value(N) = value + slope / N.

    Attributes
    ----------
    value, stderr : float
        The N -> infinity limit a and its standard error.
    slope : float
        b, the O(1/N) coefficient.
    ns : ndarray
        The sizes; ``means`` and ``sems`` their realization means and standard errors.
    chi2 : float
        Weighted sum of squared residuals (len(ns) - 2 degrees of freedom).
    """

    value: float
    stderr: float
    slope: float
    ns: np.ndarray
    means: np.ndarray
    sems: np.ndarray
    chi2: float


def finite_size_extrapolation(ns: Sequence[int], values: Sequence[Sequence[float]]
                              ) -> FiniteSizeFit:
    """Weighted least-squares fit value(N) = a + b / N over realizations at several N.

    Realization-to-realization fluctuations of self-averaging quantities scale as N^-1/2
    (docs/theory.md section 8), so their variance is pooled over all N as s^2 / N (with 2-3
    realizations per N a per-N sample variance can be accidentally tiny and would dominate the
    fit); the error of each N's mean is sqrt(s^2 / (N R_N)).

    Parameters
    ----------
    ns : sequence of int
        At least two distinct sizes.
    values : sequence of sequences
        ``values[i]`` are the per-realization values at ``ns[i]`` (at least two realizations in
        total beyond the number of sizes, for the pooled variance).

    Examples
    --------
    >>> fit = finite_size_extrapolation([100, 200, 400], [[1.1, 1.12], [1.05, 1.06], [1.02, 1.03]])
    >>> round(fit.value, 3)
    0.997
    """
    ns = _v.real_array("ns", ns, ndim=1)
    if ns.size < 2 or np.unique(ns).size < 2 or np.any(ns <= 0):
        raise ValueError("ns must hold at least two distinct sizes > 0")
    if isinstance(values, str) or not hasattr(values, "__len__"):
        raise _v.ParameterTypeError("values must hold one sequence of numbers per size")
    vals = [_v.real_array(f"values[{i}]", v).ravel() for i, v in enumerate(values)]
    if len(vals) != ns.size or any(v.size == 0 for v in vals):
        raise ValueError("values must hold one non-empty sequence per size")
    dof = sum(v.size - 1 for v in vals)
    if dof < 1:
        raise ValueError("at least one size needs two realizations (for the pooled variance)")
    means = np.array([v.mean() for v in vals])
    s2 = sum(n * np.sum((v - v.mean()) ** 2) for n, v in zip(ns, vals, strict=True)) / dof
    sems = np.sqrt(max(s2, 1e-300) / ns / np.array([v.size for v in vals]))
    A = np.column_stack([np.ones_like(ns), 1.0 / ns]) / sems[:, None]
    coef, *_ = np.linalg.lstsq(A, means / sems, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    chi2 = float(np.sum((A @ coef - means / sems) ** 2))
    return FiniteSizeFit(value=float(coef[0]), stderr=float(math.sqrt(cov[0, 0])),
                         slope=float(coef[1]), ns=ns, means=means, sems=sems, chi2=chi2)
