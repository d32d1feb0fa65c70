"""The vectorizable tanh / sigmoid of dmft._vecmath against 50-digit mpmath values.

Error budget (double precision, eps = 2^-52 = 1 ulp at 1): expm1(r) by a degree-13 Taylor
polynomial in Horner form (truncation < 0.02 ulp, about 1 ulp of rounding), 2^k exact, one FMA for
2^k expm1(r) + (2^k - 1) (0.5 ulp), then E / (E + 2) (two roundings, and E's error enters damped
by 2 / (E + 2) <= 1): at most 3 ulp on tanh and on sigmoid. The derivatives
4 (E + 1) inv^2 and (E + 1) inv^2 take E's error once through E + 1 and twice through inv plus
three roundings: at most 12 ulp (relative), with no cancellation at any argument (1 - tanh^2 has
an unbounded relative error where tanh rounds to 1; checked below).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from dmft._vecmath import sigmoid_sd, sigmoid_sd_into, tanh_sd, tanh_sd_into


def _grid():
    rng = np.random.default_rng(0)
    return np.concatenate([
        3.0 * rng.standard_normal(3000),
        np.geomspace(1e-300, 300.0, 1500),
        -np.geomspace(1e-300, 300.0, 1500),
        np.linspace(-0.4, 0.4, 801),  # around the k = 0 / k = 1 switch at |x| = ln2 / 4
    ])


def _exact(f, x):
    """f at each x in 50-digit arithmetic, rounded to float64."""
    with mpmath.workdps(50):
        return np.array([float(f(mpmath.mpf(v))) for v in x])


def _ulp_err(got, exact):
    return np.abs(got - exact) / np.spacing(np.abs(exact))


def test_tanh_against_mpmath():
    x = _grid()
    s = np.empty_like(x)
    d = np.empty_like(x)
    tanh_sd_into(x, s, d)
    t_exact = _exact(mpmath.tanh, x)
    d_exact = _exact(lambda v: mpmath.sech(v) ** 2, x)
    nz = t_exact != 0
    assert _ulp_err(s[nz], t_exact[nz]).max() <= 3.0
    ok = d_exact > 1e-300  # below that the clamp at |x| = 349 gives the 1e-303 floor
    assert (np.abs(d[ok] - d_exact[ok]) / d_exact[ok]).max() <= 12 * np.finfo(float).eps
    assert np.all(d[~ok] < 1e-299)
    # the naive 1 - tanh^2 fails where the derivative is small: this is what the form avoids
    naive = 1.0 - np.tanh(x) ** 2
    big = ok & (np.abs(x) > 10)
    assert (np.abs(naive[big] - d_exact[big]) / d_exact[big]).max() > 1e-3


def test_sigmoid_against_mpmath():
    x = _grid()
    s = np.empty_like(x)
    d = np.empty_like(x)
    sigmoid_sd_into(x, s, d)
    s_exact = _exact(lambda v: 1 / (1 + mpmath.exp(-v)), x)
    d_exact = _exact(lambda v: mpmath.exp(-v) / (1 + mpmath.exp(-v)) ** 2, x)
    ok = s_exact > 1e-300
    assert _ulp_err(s[ok], s_exact[ok]).max() <= 3.0
    ok = d_exact > 1e-300
    assert (np.abs(d[ok] - d_exact[ok]) / d_exact[ok]).max() <= 12 * np.finfo(float).eps


@pytest.mark.parametrize("fn", [tanh_sd, sigmoid_sd])
def test_vector_loop_equals_element_operation(fn):
    """The vectorized loops give bit for bit the scalar element operation (used in scalar code)."""
    x = _grid()
    s = np.empty_like(x)
    d = np.empty_like(x)
    (tanh_sd_into if fn is tanh_sd else sigmoid_sd_into)(x, s, d)
    ref = np.array([fn(v) for v in x])
    assert np.array_equal(s, ref[:, 0]) and np.array_equal(d, ref[:, 1])


def test_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 349.0, 1e300, -1e300])
    s = np.empty_like(x)
    d = np.empty_like(x)
    tanh_sd_into(x, s, d)
    assert np.array_equal(s, [0.0, -0.0, 1.0, -1.0, np.nan, 1.0, 1.0, -1.0], equal_nan=True)
    assert np.signbit(s[1]) and not np.signbit(s[0])
    assert d[0] == d[1] == 1.0 and np.isnan(d[4])
    assert np.all((d[[2, 3, 5, 6, 7]] >= 0) & (d[[2, 3, 5, 6, 7]] < 1e-302))
    sigmoid_sd_into(x, s, d)
    assert s[0] == s[1] == 0.5 and d[0] == d[1] == 0.25
    assert s[2] == 1.0 and 0.0 <= s[3] < 1e-302 and np.isnan(s[4]) and np.isnan(d[4])
    assert s[6] == 1.0 and 0.0 <= s[7] < 1e-302
