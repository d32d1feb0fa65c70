"""dmft.stationary (THEORY.md section 4) against finite-N simulations (section 8).

Delta_0, the autocorrelation Delta(s) and lambda_max are measured on R realizations at several N;
the agreement is judged on the N -> infinity extrapolation a + b / N (corrections are O(1/N),
THEORY.md section 8) with the tolerance set by the measured spread over realizations. No guard:
these tests fail loudly if ``dmft.stationary`` is missing.
"""

import numpy as np
import pytest

import dmft
import simulate

DT = 0.1


def measure(ens, n, seeds, *, t_obs=200.0, t_transient=100.0, lags=(0.0, 1.0, 2.0, 4.0),
            lyap=True):
    """Per-realization Delta_0, Delta(lags) and lambda_max (k = 1, QR method)."""
    nets = [simulate.sample(ens, n, seed=int(s)) for s in seeds]
    h0 = np.stack([simulate.random_state(n, seed=1000 + int(s)) for s in seeds])
    run = simulate.integrate_batch(nets, h0, t_obs, DT, record_every=1, t_transient=t_transient)
    assert run.converged, run.message
    idx = np.round(np.asarray(lags) / DT).astype(int)
    deltas = np.array([simulate.autocorrelation(run.h[r], int(idx.max()))[1][idx]
                       for r in range(len(seeds))])
    lam = None
    if lyap:
        lam = np.array([simulate.lyapunov_spectrum(net, 1, t_max=t_obs, dt=DT,
                                                   t_transient=t_transient,
                                                   seed=int(s)).lambda_max
                        for net, s in zip(nets, seeds, strict=True)])
    return deltas, lam


def extrapolate(ns, values):
    """Weighted fit value(N) = a + b / N over realizations; returns (a, stderr of a).

    The per-N error is the measured standard error over realizations (spread / sqrt(R)).
    """
    ns = np.asarray(ns, dtype=float)
    means = np.array([np.mean(v) for v in values])
    sems = np.array([np.std(v, ddof=1) / np.sqrt(len(v)) for v in values])
    A = np.column_stack([np.ones_like(ns), 1 / ns]) / sems[:, None]
    coef, *_ = np.linalg.lstsq(A, means / sems, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    return coef[0], float(np.sqrt(cov[0, 0]))


def theory_at(st, lags):
    return np.interp(lags, st.lags, st.autocorrelation)


def test_smoke_tanh_g2_small_n():
    """Fast check at one N: N = 500, R = 3 realizations, T = 200 (tau = 1), RK4 dt = 0.1.

    Tolerance: 4 standard errors over realizations plus an O(1/N) finite-size allowance of
    2/N for Delta and 10/N for lambda_max (the slow test measures corrections well below this).
    """
    ens = dmft.Ensemble.elman(2.0)
    st = dmft.stationary(ens)
    n, seeds = 500, [0, 1, 2]
    lags = (0.0, 1.0, 2.0, 4.0)
    deltas, lam = measure(ens, n, seeds, lags=lags, t_obs=150.0)
    sem = deltas.std(axis=0, ddof=1) / np.sqrt(len(seeds))
    expected = theory_at(st, lags)
    assert expected[0] == pytest.approx(st.delta0, rel=1e-6)
    np.testing.assert_array_less(np.abs(deltas.mean(axis=0) - expected), 4 * sem + 2 / n)
    lam_sem = lam.std(ddof=1) / np.sqrt(len(seeds))
    assert abs(lam.mean() - st.lyapunov_max) < 4 * lam_sem + 10 / n


CASES = {
    "tanh_g1.5": dmft.Ensemble.elman(1.5),
    "tanh_g2": dmft.Ensemble.elman(2.0),
    "tanh_g3": dmft.Ensemble.elman(3.0),
    "relu_tanh_2layer": dmft.Ensemble.node((2.0, 2.0), "relu", "tanh"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_extrapolated_agreement(name):
    """N in (250, 500, 1000, 2000), R = 4 realizations each, T = 300 after a transient of 100.

    The simulated Delta_0, Delta(s) at s = 1, 2, 4 and lambda_max are extrapolated with a + b/N;
    |a - theory| must be below 4 standard errors of a (from the spread over realizations) plus
    1e-3 for the theory's own quadrature / interpolation error.
    """
    ens = CASES[name]
    st = dmft.stationary(ens)
    assert st.phase == "chaotic"
    lags = (0.0, 1.0, 2.0, 4.0)
    ns = (250, 500, 1000, 2000)
    per_n = [measure(ens, n, range(10 * i, 10 * i + 4), lags=lags, t_obs=300.0)
             for i, n in enumerate(ns)]
    expected = theory_at(st, lags)
    for j, lag in enumerate(lags):
        a, se = extrapolate(ns, [d[:, j] for d, _ in per_n])
        assert abs(a - expected[j]) < 4 * se + 1e-3, (lag, a, se, expected[j])
    a, se = extrapolate(ns, [lam for _, lam in per_n])
    assert abs(a - st.lyapunov_max) < 4 * se + 1e-3, (a, se, st.lyapunov_max)
