"""Dense scans through onset: a finite lambda_max or a labelled phase at every point, and
continuity across g_c (issue: theory that never leaves a hole in a phase diagram).

Continuity: between neighbouring gains the change of lambda_max is bounded by the slope of the
fixed-point side, d lambda / dg = L / g_c at onset for rho = (g / g_c)^L (L weight layers,
docs/theory.md section 3; the chaotic side rises more slowly, lambda ~ (g - g_c)^2), times 1.5
for the curvature over the scan, plus 5 combined numerical errors (the sampled theory's Monte
Carlo errors are Gaussian: 5 sigma keeps a 200-pair scan from failing by chance, p ~ 1e-4).
"""

from __future__ import annotations

import numpy as np
import pytest

from dmft import Ensemble, Layer, critical_gain, phase_diagram

_CASES = {
    "tanh": Ensemble.elman(1.0),
    "erf": Ensemble(flow=(Layer(1.0, "erf"),)),
    "relu->tanh": Ensemble(flow=(Layer(1.0, "relu"), Layer(1.0, "tanh"))),
    "mgru mu=-2": Ensemble.mgru(1.0, gate_bias_mean=-2.0),
    "mgru mu=0": Ensemble.mgru(1.0, gate_bias_mean=0.0),
    "mgru mu=2": Ensemble.mgru(1.0, gate_bias_mean=2.0),
}
_SAMPLED = dict(n_paths=100, lag_window=20.0, burn_in=10.0, measure=40.0, dt=0.1,
                lyapunov_iter=10)


def _factors(n: int) -> np.ndarray:
    """n gain factors through onset, with points 1e-7, 1e-5, 1e-3 either side of g_c."""
    near = 1 + np.array([-1e-3, -1e-5, -1e-7, 1e-7, 1e-5, 1e-3])
    return np.sort(np.concatenate([1 + np.linspace(-0.1, 0.2, n - near.size), near]))


def _check_scan(ens: Ensemble, n: int):
    gc = critical_gain(ens)
    g = gc * _factors(n)
    ds = phase_diagram(ens, x=("gain", g), sampled_kwargs=_SAMPLED, seed=0)
    lam, err, phase = ds.lyapunov_max.values, ds.lyapunov_err.values, ds.phase.values
    assert (phase != "failed").all(), [s for s in ds.status.values if s != "ok"][:3]
    assert np.isfinite(lam).all() and np.isfinite(err).all()
    assert set(phase) <= {"fixed point", "critical", "near critical", "chaotic"}
    slope = 1.5 * ens.depth / gc   # a gate multiplies it by E[G] <= 1
    bound = slope * np.diff(g) + 5 * np.hypot(err[1:], err[:-1]) + 1e-12
    jumps = np.abs(np.diff(lam))
    assert (jumps <= bound).all(), (g[1:][jumps > bound], jumps[jumps > bound])
    # below onset the fixed point's exponent is gamma (rho - 1) / tau (eq. 3.8), rho = f^L
    below = _factors(n) < 1
    gamma = 1.0 if ens.gate is None else float(ds.gate_mean.values[below][0])
    want = gamma * (_factors(n)[below] ** ens.depth - 1.0)
    np.testing.assert_allclose(lam[below], want, atol=5 * err[below].max() + 1e-12)
    return ds


@pytest.mark.parametrize("name", ["tanh", "relu->tanh"])
def test_scan_through_onset_fast(name):
    _check_scan(_CASES[name], 40)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_CASES))
def test_dense_scan_through_onset(name):
    # 201 gains (the issue asks for at least 200): 5-60 s for the closed theory, about
    # 10-20 minutes per mGRU bias for the sampled theory on a loaded 2-core machine
    _check_scan(_CASES[name], 201)
