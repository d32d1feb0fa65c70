"""dmft.phase_diagram: parameter paths, closed vs sampled routes, phase boundary, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmft import Ensemble, phase_diagram
from dmft._phase import set_parameter
from dmft.static import critical_gain, fixed_point


def test_parameter_paths():
    e = Ensemble.gnode(gains=(1.0, 2.0), gate_gain=1.0)
    assert set_parameter(e, "gain", 1.5).gains == (1.5, 3.0)
    assert set_parameter(e, "flow[1].gain", 0.7).gains == (1.0, 0.7)
    assert set_parameter(e, "flow[0].bias_std", 0.3).flow[0].bias_std == 0.3
    assert all(la.bias_std == 0.2 for la in set_parameter(e, "bias_std", 0.2).flow)
    assert set_parameter(e, "gate.bias_mean", -2.0).gate.bias_mean == -2.0
    assert set_parameter(e, "gate.gain", 3.0).gate.gain == 3.0
    assert set_parameter(e, "noise_std", 0.1).noise_std == 0.1


def test_fixed_point_side_is_closed_form():
    # leaky, non-gated, rho < 1: lambda_max = rho - 1 (disk edge, docs/theory.md section 3)
    ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [0.3, 0.9]))
    np.testing.assert_allclose(ds.lyapunov_max.values, [-0.7, -0.1], atol=1e-12)
    assert list(ds.phase.values) == ["fixed point", "fixed point"]


def test_closed_theory_for_chaotic_nongated_uses_stationary():
    pytest.importorskip("dmft._stationary")
    from dmft import stationary
    ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [2.0]), y=("bias_std", [0.0]))
    st = stationary(Ensemble.elman(2.0))
    assert ds.method.item() == "stationary"
    assert ds.lyapunov_max.item() == pytest.approx(st.lyapunov_max, rel=1e-12)


def test_gated_boundary_stays_where_static_puts_it():
    # the gate does not move the fixed point's stability boundary (docs/theory.md section 3):
    # for every gate bias, the phase flips between the two gains bracketing critical_gain,
    # and lambda_max has the matching sign (sampled theory)
    ens = Ensemble.mgru(1.0, gate_gain=1.0, gate_bias_mean=0.0)
    gc = critical_gain(ens)
    ds = phase_diagram(ens, x=("gain", [0.6 * gc, 2.0 * gc]), y=("gate.bias_mean", [-1.0, 1.5]),
                       sampled_kwargs=dict(n_paths=300, lyapunov_iter=8), seed=1)
    assert (ds.method == "sampled").all()
    for mu in (-1.0, 1.5):
        row = ds.sel(gate_bias_mean=mu)
        assert row.phase.values.tolist() == ["fixed point", "chaotic"]
        assert row.lyapunov_max.values[0] < 0 < row.lyapunov_max.values[1]
        np.testing.assert_allclose(row.rho.values, [0.6, 2.0], rtol=1e-9)
    # the mean gate at the fixed point h* = 0 is E[sigmoid(mu_z)] exactly
    fp = fixed_point(set_parameter(set_parameter(ens, "gain", 0.6 * gc), "gate.bias_mean", 1.5))
    assert ds.gate_mean.sel(gain=0.6 * gc, gate_bias_mean=1.5).item() == pytest.approx(
        fp.gate_mean, abs=1e-9)


def test_explosive_region_is_labelled():
    ds = phase_diagram(Ensemble.node(1.0, output="identity"), x=("gain", [0.5, 1.5]))
    assert ds.phase.values.tolist() == ["fixed point", "explosive"]
    assert ds.lyapunov_max.values[1] == math.inf


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(x=("nonsense", [1.0])), ValueError, "unknown parameter"),
    (dict(x=("gain", [])), ValueError, "non-empty"),
    (dict(x=("gain", [1.0, math.inf])), ValueError, "finite"),
    (dict(x=("gain", [1.0]), y=("gain", [1.0])), ValueError, "different"),
    (dict(x=("gate.bias_mean", [1.0])), ValueError, "gate"),
    (dict(x=("flow[3].gain", [1.0])), ValueError, "layer index"),
    (dict(x=("gain", [1.0]), quantities=("magic",)), ValueError, "quantities"),
    (dict(x="gain"), TypeError, "pair"),
])
def test_bad_input(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        phase_diagram(Ensemble.elman(1.0), **kw)
