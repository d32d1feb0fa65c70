"""Vectorizable float64 tanh and sigmoid, with their derivatives, for numba loops.

Without SVML in the numba build, ``math.tanh`` and ``math.exp`` in a loop are scalar libm calls:
at N = 100 the 100 tanh of one evaluation of a network can cost as much as its 100 x 100
matrix-vector product (timings: benchmarks/README.md). The routines below are written so that
LLVM vectorizes the loop (AVX2 / AVX-512): no libm call, no branch, no exception check
(``error_model="numpy"``; every division is by a number >= 2), only FMA contraction relaxed
(``fastmath={"contract"}``, which can only make the polynomial more accurate).

They are the tanh and sigmoid element operations of the activation table
(:mod:`dmft.activations`, which exports them), used by the simulation kernels.

Both functions reduce to E = expm1(2a), a = |x| (tanh) or |x| / 2 (sigmoid), computed as

    2a = k ln2 + r,  |r| <= ln2 / 2        (k = round(2a / ln2), Cody-Waite two-part ln2)
    expm1(2a) = 2^k expm1(r) + (2^k - 1)

with expm1(r) by its Taylor polynomial of degree 13 (truncation |r|^14 / 14! < 1.2e-17 |r|, below
half an ulp) and 2^k built exactly from integer shifts. For k = 0 (a < ln2 / 4) E = expm1(r), so
small arguments keep full relative accuracy. Then, with inv = 1 / (E + 2):

    tanh(a)    = E inv,              tanh'(a)   = 1 - tanh^2 = 4 (E + 1) inv^2
    sigmoid(-2a) = inv,  sigmoid(2a) = (E + 1) inv,   sigmoid' = (E + 1) inv^2

The derivative forms have no cancellation: tanh' keeps its relative accuracy where tanh rounds
to +-1 (unlike 1 - t^2). Arguments are clamped at a = 349 (2^k up to 2^1007); beyond it tanh is
exactly +-1 and the derivatives are below 1e-303 in absolute terms. Measured error against
mpmath (tests/test_vecmath.py): at most 2 ulp on tanh, where libm's is 1 ulp.

NaN in gives NaN out (tanh and its derivative, sigmoid and its derivative); +-inf give +-1 and 0
(derivatives 0 up to the 1e-303 above); tanh(-0.0) = -0.0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["tanh_sd", "sigmoid_sd", "tanh_sd_into", "sigmoid_sd_into"]

_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2^20 (the fdlibm constants)
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_A_MAX = 349.0  # 2 a <= 698 < 1007 ln 2: k fits the exact 2^k construction below
#: Taylor coefficients 1 / j! of expm1 for j = 13, 12, ..., 2 (Horner order)
_EXPM1_TAYLOR = tuple(1.0 / math.factorial(j) for j in range(13, 1, -1))

_OPTS = dict(cache=True, nogil=True, fastmath={"contract"}, error_model="numpy")


@njit(inline="always", **_OPTS)
def _expm1_2a(a):
    """expm1(2 a) for 0 <= a <= _A_MAX (no branch, no libm call)."""
    y = a + a
    kf = math.floor(y * _LOG2E + 0.5)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    p = 0.0
    for c in _EXPM1_TAYLOR:  # a constant tuple: unrolled by the compiler
        p = p * r + c
    em1 = r + (r * r) * p
    # 2^k = (2^(k >> 4))^16 * 2^(k & 15), each factor an exact int -> float conversion and the
    # squarings exact (powers of two): k <= 1007 keeps k >> 4 <= 62
    k = np.int64(kf)
    hi = np.float64(np.int64(1) << (k >> 4))
    hi = hi * hi
    hi = hi * hi
    hi = hi * hi
    hi = hi * hi
    sc = hi * np.float64(np.int64(1) << (k & 15))
    return sc * em1 + (sc - 1.0)


@njit(inline="always", **_OPTS)
def tanh_sd(v):
    """(tanh(v), tanh'(v)) for one float64; the element operation of :func:`tanh_sd_into`."""
    a = abs(v)
    a = a if a < _A_MAX else _A_MAX  # NaN -> _A_MAX; the selects below return the NaN
    e = _expm1_2a(a)
    ep2 = e + 2.0
    t = e / ep2
    inv = 1.0 / ep2
    dv = ((4.0 * inv) * (e + 1.0)) * inv
    return (t if v > 0.0 else (-t if v < 0.0 else v)), (dv if v == v else v)


@njit(inline="always", **_OPTS)
def sigmoid_sd(v):
    """(sigmoid(v), sigmoid'(v)) for one float64; the element operation of
    :func:`sigmoid_sd_into`."""
    a = 0.5 * abs(v)
    a = a if a < _A_MAX else _A_MAX
    e = _expm1_2a(a)
    inv = 1.0 / (e + 2.0)
    up = (e + 1.0) * inv
    sv = up if v >= 0.0 else inv
    dv = up * inv
    return (sv if v == v else v), (dv if v == v else v)


@njit(**_OPTS)
def tanh_sd_into(x, s, d):
    """s[i] = tanh(x[i]), d[i] = tanh'(x[i]) = 4 (E + 1) / (E + 2)^2 (``s`` may be ``x``)."""
    for i in range(x.shape[0]):
        s[i], d[i] = tanh_sd(x[i])


@njit(**_OPTS)
def sigmoid_sd_into(x, s, d):
    """s[i] = 1 / (1 + exp(-x[i])), d[i] = s[i] (1 - s[i]), both without cancellation."""
    for i in range(x.shape[0]):
        s[i], d[i] = sigmoid_sd(x[i])
