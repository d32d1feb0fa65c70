"""gnode.tasks.expressivity: targets, the isotonic bound, the envelope rule, a learning check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from gnode.tasks.expressivity import (
    expressivity,
    expressivity_model,
    fit_error,
    largest_fitted,
    monotone_error_bound,
    random_trajectories,
)


def test_targets_shapes_cues_and_determinism():
    t = random_trajectories(3, 2, n_steps=20, output_dim=2, seed=5)
    assert t.inputs.shape == (3, 20, 3) and t.targets.shape == (3, 20, 2)
    assert np.array_equal(t.inputs[:, 0], np.eye(3)) and not t.inputs[:, 1:].any()
    assert np.array_equal(t.targets, random_trajectories(3, 2, n_steps=20, output_dim=2,
                                                         seed=5).targets)
    with pytest.raises(ValueError, match="n_steps"):
        random_trajectories(1, 5, n_steps=10)
    with pytest.raises(ValueError, match="complexity"):
        random_trajectories(1, 0)


@pytest.mark.parametrize("m", [1, 3, 7])
def test_targets_are_band_limited_with_unit_variance(m):
    t = random_trajectories(2000, m, n_steps=32, seed=1)
    y = t.targets[:, :, 0]
    # the grid t_j = (j+1)/T covers one period: the DFT has power only in bins 1..M, T-M..T-1
    power = np.abs(np.fft.fft(y, axis=1)) ** 2
    outside = np.r_[0, np.arange(m + 1, 32 - m)]
    assert power[:, outside].max() < 1e-20 * power.max()
    # E y^2 = 1 exactly; mean of 2000 x 32 correlated N(0,1)^2: s.e. <~ sqrt(2/2000) = 0.03
    assert np.mean(y ** 2) == pytest.approx(1.0, abs=0.1)


def test_monotone_bound_matches_constrained_least_squares():
    # independent route: yhat = A z with A lower-triangular ones, z_0 free, z_i >= 0
    rng = np.random.default_rng(0)
    n = 9
    a = np.tril(np.ones((n, n)))
    lb = np.r_[-np.inf, np.zeros(n - 1)]
    for _ in range(5):
        y = rng.standard_normal(n)
        best = min(lsq_linear(a, s * y, bounds=(lb, np.inf), tol=1e-12).cost * 2
                   for s in (1, -1)) / np.sum(y * y)
        assert monotone_error_bound(y) == pytest.approx(best, rel=1e-6, abs=1e-10)
    assert monotone_error_bound(np.arange(5.0) + 1) == 0.0


def test_largest_fitted_envelope():
    assert largest_fitted([1, 2, 3, 4], [0.01, 0.04, 0.2, 0.01], 0.05) == 2
    assert largest_fitted([1, 2], [0.5], 0.05) == 0
    assert largest_fitted([2, 5], [0.0, 0.05], 0.05) == 5
    assert largest_fitted([1, 2], [0.01, np.nan], 0.05) == 1


def test_one_dimensional_model_cannot_beat_monotone_bound():
    # N = 1 autonomous dynamics (after the cue) give monotone outputs: error >= isotonic bound
    task = random_trajectories(1, 1, n_steps=24, seed=3)
    bound = monotone_error_bound(task.targets[0, :, 0])
    assert bound > 0.05  # a full-period sinusoid is far from monotone
    e, _ = fit_error(expressivity_model("gnode", 1, 1, flow_width=16, seed=0), task, steps=60)
    assert e >= bound - 1e-9


def test_learning_and_measure_ordering():
    r8 = expressivity(lambda k, s: expressivity_model("gnode", 8, k, flow_width=16, seed=s),
                      [1], n_trajectories=2, n_steps=24, steps=150)
    r1 = expressivity(lambda k, s: expressivity_model("elman", 1, k, seed=s), [1],
                      n_trajectories=2, n_steps=24, steps=20)
    assert r8.expressivity == 1 and r8.errors[0, 0] <= 0.05 and r8.converged
    assert r1.expressivity == 0
    with pytest.raises(ValueError, match="increasing"):
        expressivity(lambda k, s: None, [2, 1])
