"""Result conventions shared by dmft and simulate: the Phase vocabulary, keyword-only frozen
results with short reprs, SampledOptions mirroring sampled()'s keywords."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math

import numpy as np
import pytest

import dmft
import simulate
from dmft import Ensemble, Phase
from dmft.results import PHASE_CODES

RESULT_CLASSES = [dmft.FixedPoint, dmft.CriticalLine, dmft.StationaryResult, dmft.TwoTimeResult,
                  dmft.TwoReplicaResult, dmft.SampledResult, dmft.SampledTwoTimeResult,
                  simulate.Trajectory, simulate.LyapunovResult, simulate.TwoTrajectoryResult,
                  simulate.FixedPointSearch]


def test_phase_is_a_string_with_one_code_each():
    assert Phase.CHAOTIC == "chaotic" and str(Phase.CHAOTIC) == "chaotic"
    assert f"{Phase.DRIVEN_STABLE}" == "stable (driven)" and repr(Phase.CHAOTIC) == "'chaotic'"
    assert json.dumps({"phase": Phase.EXPLOSIVE}) == '{"phase": "explosive"}'
    assert np.array([Phase.FIXED_POINT], dtype=object).astype(str).tolist() == ["fixed point"]
    codes = [p.code for p in Phase]
    assert len(set(codes)) == len(codes)                       # one code per member
    assert PHASE_CODES == {p.value: p.code for p in Phase}
    assert Phase.FAILED.code == -1 and Phase.from_code(-1) is Phase.FAILED
    # the codes the phase diagram wrote before the enum are kept
    assert {k: PHASE_CODES[k] for k in ("fixed point", "critical", "chaotic", "explosive",
                                        "stable (driven)", "unstable", "marginal", "failed")} \
        == {"fixed point": 0, "critical": 1, "chaotic": 2, "explosive": 3,
            "stable (driven)": 4, "unstable": 5, "marginal": 6, "failed": -1}
    with pytest.raises(ValueError, match="code"):
        Phase.from_code(99)


def test_every_phase_is_documented_in_the_table():
    doc = Phase.__doc__
    for p in Phase:
        assert f"``{p.name}``" in doc and f'("{p.value}")' in doc, p


@pytest.mark.parametrize("lam, err, noise, want", [
    (0.3, 0.1, False, Phase.CHAOTIC), (-0.3, 0.1, False, Phase.FIXED_POINT),
    (-0.3, 0.1, True, Phase.DRIVEN_STABLE), (0.1, 0.1, False, Phase.NEAR_CRITICAL),
    (0.0, math.inf, False, Phase.NEAR_CRITICAL)])
def test_two_error_rule(lam, err, noise, want):
    assert Phase.from_lyapunov(lam, err, noise=noise) is want


def test_critical_means_rho_one_and_driven_is_its_own_phase():
    # rho = g exactly for a bias-free tanh flow (q* = 0, phi'(0) = 1; docs/theory.md section 3)
    assert dmft.fixed_point(Ensemble.elman(1.0)).phase is Phase.CRITICAL
    assert dmft.stationary(Ensemble.elman(1.0)).phase is Phase.CRITICAL
    # Schuecker et al. 2018: strong noise suppresses chaos at g = 1.5 (lambda_max <= 0);
    # the state still fluctuates, so this is not a fixed point
    r = dmft.stationary(Ensemble.elman(1.5, noise_std=2.0))
    assert r.lyapunov_max <= 0 and r.phase is Phase.DRIVEN_STABLE
    assert dmft.fixed_point(Ensemble.elman(1.0, leak=False)).phase is Phase.UNSTABLE


def test_phase_diagram_codes_come_from_the_enum():
    ds = dmft.phase_diagram(Ensemble.node(1.0, output="identity"), x=("gain", [0.5, 2.0]))
    assert ds.phase.values.tolist() == ["fixed point", "explosive"]
    assert ds.phase_code.values.tolist() == [Phase.FIXED_POINT.code, Phase.EXPLOSIVE.code]


@pytest.mark.parametrize("cls", RESULT_CLASSES, ids=lambda c: c.__name__)
def test_results_are_keyword_only_frozen_with_converged_and_message(cls):
    fields = dataclasses.fields(cls)
    assert all(f.kw_only for f in fields)
    assert cls.__dataclass_params__.frozen
    names = {f.name for f in fields}
    assert {"converged", "message"} <= names
    with pytest.raises(TypeError):
        cls(*range(len(fields)))                    # positional construction is refused


def test_reprs_are_short():
    ens = Ensemble.mgru(2.0, gate_gain=1.0, gate_bias_mean=0.0)
    net = simulate.sample(Ensemble.elman(2.0), 50, seed=0)
    results = [dmft.fixed_point(ens), dmft.stationary(Ensemble.elman(2.0)),
               dmft.two_time(Ensemble.elman(2.0), 5.0, 0.1, 1.0),
               simulate.lyapunov_spectrum(net, 10, t_max=5.0, t_transient=0.0),
               simulate.integrate(net, np.ones(50), 5.0, 0.1)]
    for r in results:
        text = repr(r)
        assert "array([" not in text and len(text) < 1200, text   # arrays by shape only
        assert text.startswith(type(r).__name__ + "(")


def test_sampled_options_mirror_sampled_keywords():
    sig = inspect.signature(dmft.sampled)
    opts = {f.name: f.default for f in dataclasses.fields(dmft.SampledOptions)}
    kw = {n: p.default for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY}
    assert kw == opts                 # one set of defaults: the signature and the options agree
    o = dmft.SampledOptions(lyapunov_iter=6, n_replicas=4, workers=1)
    assert o.lyapunov_burn == 3 and o.paths_per_replica == 250
    with pytest.raises(ValueError, match="n_average"):
        dmft.SampledOptions(n_average=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.dt = 0.1
