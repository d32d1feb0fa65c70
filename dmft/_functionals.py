"""Functionals of a Lyapunov spectrum's distribution, shared by the theory and the simulations.

A spectrum of N exponents (or its large-N limit) is described by its quantile function from the
top, lambda(alpha): the exponent below which a fraction 1 - alpha lies, alpha in [0, 1]
(alpha = 1 - F(lambda), F the cumulative distribution of docs/theory.md eq. 9.1).  With

    Phi(alpha) = int_0^alpha lambda(a) da                                          (9.12)

(the sum of the alpha N largest exponents, per N) the three summaries are

    unstable fraction     alpha_0 = 1 - F(0),   lambda(alpha_0) = 0
    entropy rate          h_KS / N = Phi(alpha_0) = int_0^inf (1 - F(s)) ds         (Pesin)
    Kaplan-Yorke          D_KY / N = the alpha > alpha_0 with Phi(alpha) = 0

The finite-N spectrum is the step function lambda(alpha) = lambda_j on ((j-1)/N, j/N], for
which these are exactly the usual sums (D_KY = j + S_j / |lambda_{j+1}|, Kaplan & Yorke 1979);
the theory's F(s), tabulated on thresholds, is interpolated linearly, so lambda(alpha) is
piecewise linear.  One routine (:func:`_summarize_quantiles`) serves both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _validate as _v

__all__ = ["SpectrumSummary", "summarize_cdf", "summarize_exponents", "empirical_cdf"]


@dataclass(frozen=True, kw_only=True)
class SpectrumSummary:
    """Summaries of a Lyapunov spectrum, per unit time and per N (docs/theory.md eq. 9.12).

    Attributes
    ----------
    lyapunov_max : float
        The largest exponent (upper edge of the distribution).
    unstable_fraction : float
        1 - F(0): the fraction of positive exponents.
    entropy_rate : float
        h_KS / N, the sum of the positive exponents per N (Pesin's bound on the KS entropy).
    dimension_fraction : float
        D_KY / N, the Kaplan-Yorke dimension per N.  A lower bound when ``dimension_reached``
        is False (the partial sum of the exponents known never turned negative).
    kaplan_yorke_threshold : float
        s_KY = lambda(D_KY / N), the exponent at which the partial sum vanishes.
    dimension_reached : bool
    """

    lyapunov_max: float
    unstable_fraction: float
    entropy_rate: float
    dimension_fraction: float
    kaplan_yorke_threshold: float
    dimension_reached: bool

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _summarize_quantiles(alpha: np.ndarray, lam: np.ndarray) -> SpectrumSummary:
    """Summaries of the piecewise-linear quantile function through the knots (alpha, lam).

    ``alpha`` is non-decreasing from 0 (repeated values give vertical steps) and ``lam``
    non-increasing; Phi is integrated exactly (piecewise quadratic), and the roots of lambda
    and of Phi are solved exactly on their segments.
    """
    da = np.diff(alpha)
    phi = np.concatenate([[0.0], np.cumsum(0.5 * (lam[1:] + lam[:-1]) * da)])
    # unstable fraction: first segment where lambda reaches 0
    i0 = int(np.argmax(lam <= 0.0)) if np.any(lam <= 0.0) else len(lam)
    if i0 == 0:
        a0, h = 0.0, 0.0
    elif i0 == len(lam):
        a0, h = float(alpha[-1]), float(phi[-1])
    else:
        l1, l2 = lam[i0 - 1], lam[i0]
        t = l1 / (l1 - l2)
        a0 = float(alpha[i0 - 1] + t * da[i0 - 1])
        h = float(phi[i0 - 1] + 0.5 * t * da[i0 - 1] * l1)   # triangle above 0
    # Kaplan-Yorke: first knot with Phi < 0 after the maximum
    neg = np.flatnonzero((phi < 0.0) & (np.arange(len(phi)) >= i0))
    if neg.size == 0:
        return SpectrumSummary(lyapunov_max=float(lam[0]), unstable_fraction=a0,
                               entropy_rate=h, dimension_fraction=float(alpha[-1]),
                               kaplan_yorke_threshold=float(lam[-1]), dimension_reached=False)
    j = int(neg[0])
    # on segment j-1 -> j: lambda(a) = l1 + k (a - a1), Phi(a) = p1 + l1 x + k x^2 / 2
    a1, l1, p1, w = alpha[j - 1], lam[j - 1], phi[j - 1], da[j - 1]
    k = (lam[j] - l1) / w if w > 0 else 0.0
    if w == 0.0:
        x = 0.0
    elif abs(k) * w < 1e-12 * max(abs(l1), 1e-300):
        x = -p1 / l1
    else:
        disc = max(l1 * l1 - 2.0 * k * p1, 0.0)
        x = (-l1 - math.sqrt(disc)) / k          # the root inside the segment (Phi decreasing)
        if not 0.0 <= x <= w * (1 + 1e-12):
            x = (-l1 + math.sqrt(disc)) / k
    x = min(max(x, 0.0), w)
    return SpectrumSummary(lyapunov_max=float(lam[0]), unstable_fraction=a0, entropy_rate=h,
                           dimension_fraction=float(a1 + x),
                           kaplan_yorke_threshold=float(l1 + k * x), dimension_reached=True)


def _check_1d(name: str, x) -> np.ndarray:
    return _v.real_array(name, x, ndim=1, nonempty=True)


def _count_n(n, k: int) -> int:
    if n is None:
        return k
    n = _v.integer("n", n, low=1)
    if n < k:
        raise ValueError(f"n must be an int >= len(exponents) = {k}, got {n!r}")
    return n


def summarize_cdf(s, F, *, edge: float) -> SpectrumSummary:
    """Summaries of a tabulated cumulative distribution F(s) of the exponents (the theory's).

    Parameters
    ----------
    s : array_like, shape (n,)
        Increasing thresholds (per unit time), all below ``edge``.
    F : array_like, shape (n,)
        Non-decreasing fraction of exponents below each threshold, in [0, 1].
    edge : float
        The largest exponent: F(edge) = 1.  Between thresholds F is linear.

    Returns
    -------
    SpectrumSummary
        D_KY / N is a lower bound (``dimension_reached=False``) when the partial sum of the
        exponents above ``s[0]`` is still positive there: extend the thresholds downwards.

    Examples
    --------
    Uniform exponents on [-1, 1]: half unstable, h_KS / N = 1/4, D_KY / N = 1.

    >>> r = summarize_cdf([-1.0, 0.0], [0.0, 0.5], edge=1.0)
    >>> r.unstable_fraction, r.entropy_rate, r.dimension_fraction
    (0.5, 0.25, 1.0)
    """
    s, F = _check_1d("s", s), _check_1d("F", F)
    if s.shape != F.shape:
        raise ValueError(f"s and F must have the same shape, got {s.shape} and {F.shape}")
    if np.any(np.diff(s) <= 0):
        raise ValueError("s must be strictly increasing")
    edge = _v.real("edge", edge)
    if not edge > s[-1]:
        raise ValueError(f"edge must be a finite number > s[-1] = {s[-1]}, got {edge!r}")
    if np.any(F < -1e-12) or np.any(F > 1 + 1e-12):
        raise ValueError("F must lie in [0, 1]")
    # the quantile function from the top: (alpha, lambda) = (1 - F, s), edge first
    alpha = np.concatenate([[0.0], np.maximum.accumulate(1.0 - F[::-1])])
    lam = np.concatenate([[float(edge)], s[::-1]])
    return _summarize_quantiles(alpha, lam)


def summarize_exponents(exponents, n: int | None = None) -> SpectrumSummary:
    """Summaries of the k largest Lyapunov exponents of an N-dimensional system.

    Parameters
    ----------
    exponents : array_like, shape (k,)
        Exponents (any order), the k largest of the system's N.
    n : int, optional
        N (default k: the full spectrum).  Fractions are per N; D_KY / N is a lower bound
        when the partial sum of the k exponents stays non-negative.

    Examples
    --------
    >>> r = summarize_exponents([0.5, -0.25, -1.0], 3)
    >>> r.entropy_rate, r.dimension_fraction       # h = 0.5 / 3; D_KY = 2 + 0.25 / 1 = 2.25
    (0.16666666666666666, 0.75)
    """
    lam = np.sort(_check_1d("exponents", exponents))[::-1]
    k = lam.size
    n = _count_n(n, k)
    edges = np.arange(k + 1) / float(n)
    alpha = np.repeat(edges, 2)[1:-1]          # 0, 1/N, 1/N, 2/N, 2/N, ...
    return _summarize_quantiles(alpha, np.repeat(lam, 2))


def empirical_cdf(exponents, n: int | None, s) -> np.ndarray:
    """F(s): the fraction of the N exponents below each threshold s (finite N).

    Only the k largest exponents are known: F(s) is returned for s >= lambda_k and NaN below
    (where the count of exponents below s is unknown).
    """
    lam = np.sort(_check_1d("exponents", exponents))
    k = lam.size
    n = _count_n(n, k)
    s = _v.real_array("s", s)
    above = k - np.searchsorted(lam, s, side="right")
    out = 1.0 - above / float(n)
    return np.where(s >= lam[0] if k < n else np.ones(s.shape, bool), out, np.nan)
