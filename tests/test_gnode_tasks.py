"""gnode.tasks.flipflop: shapes, determinism, held targets, pulse statistics, amplitudes, errors.

Statistics are compared with closed forms.  The kept pulses of a trial form a Poisson process on
the start bins {0, ..., n_bins - width} with rate/n_bins per bin (Poisson thinning of the
Poisson(rate) count with uniform starts), split uniformly over channels for the "3bit" family.
So bin t of a channel is covered by a pulse with probability

    p_t = 1 - exp(-(rate / (n_bins * m)) * k_t),   k_t = #{valid starts s : s <= t < s + width}

(m = n_bits for one-channel pulses, 1 for joint ones), independently across trials.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from gnode.tasks import FLIPFLOP_VARIANTS, flipflop

N_BITS = {"3bit": 3, "3bit-uniform": 3, "2bit-square": 2, "2bit-ring": 2, "2bit-disk": 2}
Y0 = {"3bit": [1.0, 1.0, 1.0], "3bit-uniform": [0.0, 0.0, 0.0], "2bit-square": [0.0, 0.0],
      "2bit-ring": [2.0, 0.0], "2bit-disk": [1.5, 0.0]}


@pytest.mark.parametrize("variant", FLIPFLOP_VARIANTS)
def test_shapes_and_determinism(variant):
    nb = N_BITS[variant]
    x, y = flipflop(nb, 7, variant=variant, seed=5)
    assert x.shape == y.shape == (7, 100, nb) and x.dtype == y.dtype == np.float64
    x2, y2 = flipflop(nb, 7, variant=variant, seed=5)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = flipflop(nb, 7, variant=variant, seed=6)
    assert not np.array_equal(x, x3)
    ss = np.random.SeedSequence(5)
    np.testing.assert_array_equal(flipflop(nb, 7, variant=variant, seed=ss).inputs, x)


def _held_reference(x, y0):
    """Loop reference: the target follows every nonzero input sample and holds it."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        cur = np.array(y0, dtype=float)
        for t in range(x.shape[1]):
            nz = x[i, t] != 0
            cur[nz] = x[i, t, nz]
            out[i, t] = cur
    return out


@pytest.mark.parametrize("variant", FLIPFLOP_VARIANTS)
def test_targets_hold_last_pulse(variant):
    x, y = flipflop(N_BITS[variant], 50, variant=variant, seed=1)
    np.testing.assert_array_equal(y, _held_reference(x, Y0[variant]))


@pytest.mark.parametrize("variant", ["3bit", "2bit-ring"])
def test_pulse_coverage_matches_poisson_process(variant):
    """Fraction of trials in which bin t is covered, against p_t (module docstring), every t.

    Binomial standard error with 4000 trials (x n_bits independent channels); max deviation over
    the 100 bins below 4.5 standard errors (a correct generator fails with probability ~1e-3).
    """
    n_bits, n_trials, n_bins, width, rate = N_BITS[variant], 4000, 100, 3, 12.0
    x, _ = flipflop(n_bits, n_trials, variant=variant, seed=11)
    if variant == "2bit-ring":
        covered = (x != 0).any(-1)[..., None]           # a pulse sets both channels
        assert np.array_equal((x != 0)[..., 0], (x != 0)[..., 1])
        m = 1
    else:
        covered = x != 0
        m = n_bits
    starts = np.arange(n_bins - width + 1)
    k = np.array([np.sum((starts <= t) & (t < starts + width)) for t in range(n_bins)])
    p = 1.0 - np.exp(-rate / (n_bins * m) * k)
    n = n_trials * covered.shape[-1]
    p_hat = covered.sum(axis=(0, 2)) / n
    se = np.sqrt(p * (1 - p) / n)
    z = (p_hat - p) / se
    assert np.max(np.abs(z)) < 4.5, (np.argmax(np.abs(z)), z.max(), z.min())


def test_pulse_width_and_amplitudes_3bit():
    x, _ = flipflop(3, 300, variant="3bit", seed=2)
    assert set(np.unique(x)) == {-1.0, 0.0, 1.0}
    # a lone pulse (no overlap) covers exactly `width` = 3 consecutive bins
    runs = []
    for row in (x != 0).transpose(0, 2, 1).reshape(-1, 100):
        edges = np.diff(np.concatenate([[0], row.astype(int), [0]]))
        runs.extend(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
    runs = np.array(runs)
    assert runs.min() == 3               # overlapping pulses merge into longer runs, never less
    assert np.bincount(runs).argmax() == 3
    frac_plus = np.mean(x[x != 0] > 0)
    assert abs(frac_plus - 0.5) < 0.03  # ~10^4 covered bins, correlated in triples: SE ~ 0.009


def _onset_values(x):
    """One amplitude per pulse: the distinct nonzero values (continuous amplitudes)."""
    v = x.reshape(-1, x.shape[-1])
    v = v[(v != 0).any(-1)]
    return np.unique(v, axis=0)


@pytest.mark.parametrize("variant", ["3bit-uniform", "2bit-square"])
def test_uniform_amplitudes(variant):
    x, _ = flipflop(N_BITS[variant], 400, variant=variant, seed=3)
    vals = np.unique(x[x != 0])
    assert vals.min() >= -1 and vals.max() <= 1
    # KS against U[-1, 1]; a p-value below 1e-3 would reject a correct sampler once in 1000
    assert stats.kstest(vals, stats.uniform(-1, 2).cdf).pvalue > 1e-3
    assert len(vals) > 3000             # pulses enough for the KS test to have power


def test_ring_amplitudes():
    x, y = flipflop(2, 400, variant="2bit-ring", seed=4)
    v = _onset_values(x)
    np.testing.assert_allclose(np.hypot(v[:, 0], v[:, 1]), 2.0, rtol=1e-14)
    np.testing.assert_allclose(np.hypot(y[..., 0], y[..., 1]), 2.0, rtol=1e-14)
    angle = (np.arctan2(v[:, 1], v[:, 0]) + np.pi) / (2 * np.pi)
    assert stats.kstest(angle, "uniform").pvalue > 1e-3
    r3 = flipflop(2, 3, variant="2bit-ring", seed=4, radius=3.0).targets
    np.testing.assert_allclose(np.hypot(r3[..., 0], r3[..., 1]), 3.0, rtol=1e-14)


def test_disk_amplitudes_uniform_by_area():
    x, _ = flipflop(2, 400, variant="2bit-disk", seed=5)
    v = _onset_values(x)
    r2 = v[:, 0] ** 2 + v[:, 1] ** 2
    assert r2.min() > 1.0 and r2.max() < 4.0
    # uniform by area on 1 < r < 2  <=>  r^2 ~ U[1, 4]; a uniform radius would fail this test
    assert stats.kstest(r2, stats.uniform(1, 3).cdf).pvalue > 1e-3
    angle = (np.arctan2(v[:, 1], v[:, 0]) + np.pi) / (2 * np.pi)
    assert stats.kstest(angle, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("variant", FLIPFLOP_VARIANTS)
def test_initial_target(variant):
    x, y = flipflop(N_BITS[variant], 200, variant=variant, seed=6)
    before_first = ~np.cumsum(x != 0, axis=1).astype(bool)
    for c in range(x.shape[-1]):
        np.testing.assert_array_equal(y[..., c][before_first[..., c]], Y0[variant][c])


def test_no_pulses_and_options():
    x, y = flipflop(3, 4, variant="3bit", seed=0, rate=0.0)
    assert not x.any() and np.all(y == 1.0)
    x, y = flipflop(1, 5, variant="3bit-uniform", seed=0, n_bins=10, width=10, rate=50.0)
    assert x.shape == (5, 10, 1)
    assert np.all((x != 0).all(axis=1) | (x == 0).all(axis=1))   # width = n_bins: one start


def test_bad_input():
    with pytest.raises(ValueError, match="variant"):
        flipflop(2, 3, variant="ring", seed=0)
    with pytest.raises(ValueError, match="n_bits == 2"):
        flipflop(3, 3, variant="2bit-ring", seed=0)
    with pytest.raises(ValueError, match="n_trials"):
        flipflop(3, 0, seed=0)
    with pytest.raises(TypeError, match="n_bits"):
        flipflop(2.0, 3, seed=0)
    with pytest.raises(ValueError, match="width"):
        flipflop(3, 3, seed=0, n_bins=5, width=6)
    with pytest.raises(ValueError, match="rate"):
        flipflop(3, 3, seed=0, rate=-1.0)
    with pytest.raises(ValueError, match="rate"):
        flipflop(3, 3, seed=0, rate=float("nan"))
    with pytest.raises(ValueError, match="seed"):
        flipflop(3, 3, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        flipflop(3, 3, seed=1.5)
    with pytest.raises(ValueError, match="annulus"):
        flipflop(2, 3, variant="2bit-disk", seed=0, annulus=(2.0, 1.0))
    with pytest.raises(TypeError):
        flipflop(3, 3)                                    # the seed is required
