"""simulate.disorder_mean: the standard error over disorder realizations is the error bar that
matches the seed-to-seed spread; the within-trajectory error does not."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from dmft import Ensemble
from simulate import SimulationTask, disorder_mean

_GROUPS, _PER_GROUP = 8, 4     # 32 realizations: 8 disjoint sets of 4 seeds


@pytest.fixture(scope="module")
def realizations():
    # relu -> tanh above onset (g = 1.5 per layer), small N: disorder dominates the error
    ens = Ensemble.node((1.5, 1.5), hidden="relu", output="tanh")
    task = SimulationTask(ens, n=80, t_max=60.0, t_transient=20.0, dt=0.1)
    runs = [task({}, s) for s in range(_GROUPS * _PER_GROUP)]
    keys = ("lyapunov_max", "lyapunov_err", "delta0", "gate_mean", "diverged")
    shape = (_GROUPS, _PER_GROUP)
    data = {k: (("group", "seed"), np.array([r[k] for r in runs]).reshape(shape))
            for k in keys}
    data["status"] = (("group", "seed"), np.full(shape, "ok"))
    return xr.Dataset(data, coords={"group": np.arange(_GROUPS), "seed": np.arange(_PER_GROUP)})


def test_the_standard_error_is_the_sample_formula(realizations):
    m = disorder_mean(realizations)
    lam = realizations.lyapunov_max.values
    np.testing.assert_allclose(m.lyapunov_max.values, lam.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(m.lyapunov_sem.values,
                               lam.std(axis=1, ddof=1) / np.sqrt(_PER_GROUP), rtol=1e-12)
    err = realizations.lyapunov_err.values
    np.testing.assert_allclose(m.lyapunov_err.values,
                               np.sqrt((err ** 2).sum(axis=1)) / _PER_GROUP, rtol=1e-12)
    assert (m.n_seeds.values == _PER_GROUP).all() and (m.status.values == "ok").all()


def test_disorder_error_matches_the_seed_to_seed_spread(realizations):
    # each group's mean is an independent measurement with its reported error: the scatter of
    # the 8 means about their grand mean against the reported errors is F-distributed,
    # F = [sum (m_k - M)^2 / (K - 1)] / mean(sem_k^2) ~ F(K - 1, K (R - 1)); it must lie inside
    # the central 99.8 % of that law
    m = disorder_mean(realizations)
    for v, sem in (("lyapunov_max", "lyapunov_sem"), ("delta0", "delta0_sem")):
        means, sems = m[v].values, m[sem].values
        f = np.sum((means - means.mean()) ** 2) / (_GROUPS - 1) / np.mean(sems ** 2)
        lo, hi = stats.f.ppf([0.001, 0.999], _GROUPS - 1, _GROUPS * (_PER_GROUP - 1))
        assert lo < f < hi, (v, f, lo, hi)
    # the within-trajectory error is far too small for that scatter (chi^2 with K - 1 dof far
    # beyond its 99.9 % point): it is not the error bar of an N-unit estimate
    within = m.lyapunov_err.values
    lam = m.lyapunov_max.values
    chi2 = np.sum((lam - lam.mean()) ** 2 / within ** 2)
    assert chi2 > stats.chi2.ppf(0.999, _GROUPS - 1), chi2


def test_one_realization_and_divergence_are_flagged():
    ds = xr.Dataset({"lyapunov_max": (("g", "seed"), [[0.1, 0.2], [0.1, np.inf]]),
                     "delta0": (("g", "seed"), [[0.5, 0.6], [0.5, np.inf]]),
                     "diverged": (("g", "seed"), [[0.0, 0.0], [0.0, 1.0]]),
                     "status": (("g", "seed"), [["ok", "ValueError: x"], ["ok", "ok"]])},
                    coords={"g": [1.0, 2.0], "seed": [0, 1]})
    m = disorder_mean(ds)
    assert m.n_seeds.values.tolist() == [1, 2]
    assert "one realization" in str(m.status.values[0])
    assert np.isnan(m.lyapunov_sem.values[0])
    assert m.lyapunov_max.values[1] == np.inf and m.diverged.values[1] == 0.5
    with pytest.raises(ValueError, match="dim"):
        disorder_mean(ds, dim="nope")
    with pytest.raises(TypeError, match="Dataset"):
        disorder_mean(ds.lyapunov_max)
