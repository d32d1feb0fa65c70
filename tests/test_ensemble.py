"""dmft.ensemble: validation of every parameter, named constructors, the sampling convention."""

import math

import numpy as np
import pytest

from dmft import Ensemble, Gate, Layer

BAD = [
    # (callable building the object, exception type, text the message must contain)
    (lambda: Layer(-1.0, "tanh"), ValueError, "gain"),
    (lambda: Layer(math.inf, "tanh"), ValueError, "gain"),
    (lambda: Layer(math.nan, "tanh"), ValueError, "gain"),
    (lambda: Layer("1", "tanh"), TypeError, "gain"),
    (lambda: Layer(True, "tanh"), TypeError, "gain"),
    (lambda: Layer(1.0, "tanh", bias_std=-0.1), ValueError, "bias_std"),
    (lambda: Layer(1.0, "tanh", bias_std=math.inf), ValueError, "bias_std"),
    (lambda: Layer(1.0, "swish"), ValueError, "activation"),
    (lambda: Layer(1.0, np.tanh), TypeError, "activation"),
    (lambda: Layer(1.0, "tanh", width=0.0), ValueError, "width"),
    (lambda: Ensemble(flow=()), ValueError, "flow"),
    (lambda: Ensemble(flow=[1.0]), TypeError, "flow[0]"),
    (lambda: Ensemble(flow="tanh"), TypeError, "flow"),
    (lambda: Ensemble(flow=(Layer(1.0, "tanh", width=0.5),)), ValueError, "width"),
    (lambda: Ensemble.elman(1.0, tau=0.0), ValueError, "tau"),
    (lambda: Ensemble.elman(1.0, tau=-1.0), ValueError, "tau"),
    (lambda: Ensemble.elman(1.0, tau=math.nan), ValueError, "tau"),
    (lambda: Ensemble.elman(1.0, noise_std=-1.0), ValueError, "noise_std"),
    (lambda: Ensemble.elman(1.0, leak=1), TypeError, "leak"),
    (lambda: Ensemble.elman(1.0, input_dim=-1), ValueError, "input_dim"),
    (lambda: Ensemble.elman(1.0, input_dim=1.5), TypeError, "input_dim"),
    (lambda: Ensemble.elman(1.0, gate=0.5), TypeError, "gate"),
    (lambda: Gate(math.nan), ValueError, "gate.gain"),
    (lambda: Gate(1.0, bias_mean=math.nan), ValueError, "gate.bias_mean"),
    (lambda: Gate(1.0, bias_mean=-math.inf), ValueError, "gate.bias_mean"),
    (lambda: Gate(1.0, bias_std=math.inf), ValueError, "gate.bias_std"),
    (lambda: Gate(1.0, bias_std=-1), ValueError, "gate.bias_std"),
    (lambda: Ensemble.node((1.0, 1.0), bias_std=(0.1,)), ValueError, "bias_std"),
    (lambda: Ensemble.node(()), ValueError, "gains"),
    (lambda: Ensemble.node((1.0, 1.0), widths=(1.0, 2.0)), ValueError, "widths"),
    (lambda: Ensemble.elman(1.0).sample(0, 1), ValueError, "n"),
    (lambda: Ensemble.elman(1.0).sample(10, None), TypeError, "rng"),
    (lambda: Ensemble.elman(1.0).sample(10, "seed"), TypeError, "rng"),
    (lambda: Ensemble.elman(1.0).scaled((1.0, 2.0)), ValueError, "factor"),
    (lambda: Ensemble.elman(1.0).with_bias_std((0.1, 0.2)), ValueError, "bias_std"),
]


@pytest.mark.parametrize("build, exc, text", BAD)
def test_bad_input_raises_naming_the_parameter(build, exc, text):
    with pytest.raises(exc, match=text.replace("[", r"\[").replace("]", r"\]")):
        build()


def test_zero_gain_is_allowed():
    ens = Ensemble.elman(0.0)
    assert ens.gains == (0.0,)
    assert Gate(0.0).is_constant


def test_named_constructors():
    e = Ensemble.elman(1.5, bias_std=0.2)
    assert e.depth == 1 and e.flow[0].activation == "tanh" and e.gate is None and e.leak
    n = Ensemble.node((1.0, 2.0, 3.0), widths=(0.5, 2.0), leak=False)
    assert [la.activation for la in n.flow] == ["relu", "relu", "identity"]
    assert n.widths(100) == (100, 50, 200, 100) and not n.leak
    g = Ensemble.gnode((1.0, 1.0), gate_gain=2.0, gate_bias_mean=-1.0)
    assert g.gate == Gate(2.0, -1.0, 0.0) and g.gated
    m = Ensemble.mgru(1.2, gate_bias_mean=3.0)
    assert m.flow[0].activation == "tanh" and m.gate.bias_mean == 3.0
    assert not Ensemble.mgru(1.0, gate_gain=0.0, gate_bias_mean=math.inf).gated
    assert Ensemble.scs(1.5) == Ensemble.elman(1.5)


def test_ensembles_are_frozen_and_hashable():
    e = Ensemble.node((1.0, 1.0))
    with pytest.raises(AttributeError):
        e.tau = 2.0
    assert hash(e) == hash(Ensemble.node((1.0, 1.0)))
    assert e.scaled(2.0).gains == (2.0, 2.0)
    assert e.with_bias_std(0.3).flow[1].bias_std == 0.3


def test_sampling_convention_and_determinism():
    ens = Ensemble.gnode((1.5, 0.7), bias_std=(0.3, 0.1), gate_gain=2.0, gate_bias_mean=-1.0,
                         gate_bias_std=0.5, widths=(2.0,), input_dim=3, input_gain=0.5)
    a, b = ens.sample(400, 7), ens.sample(400, np.random.default_rng(7))
    for x, y in zip(a.flow_weights + a.flow_biases, b.flow_weights + b.flow_biases, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.gate_weight, b.gate_weight)
    assert a.flow_weights[0].shape == (800, 400) and a.flow_weights[1].shape == (400, 800)
    assert a.input_weight.shape == (800, 3) and a.gate_input_weight.shape == (400, 3)
    assert a.n == 400
    # Empirical variances vs g^2/fan_in: relative sd of a sample variance of m entries is
    # sqrt(2/m) (< 0.2 % here for m = 320000); 5 sd -> 1 %.
    for w, g, fan_in in ((a.flow_weights[0], 1.5, 400), (a.flow_weights[1], 0.7, 800)):
        assert w.var() * fan_in / g ** 2 == pytest.approx(1.0, rel=5 * math.sqrt(2 / w.size))
    assert a.gate_bias.mean() == pytest.approx(-1.0, abs=5 * 0.5 / math.sqrt(400))
    # The random stream does not depend on the spreads: zero-bias realization has the same W.
    c = ens.with_bias_std(0.0).sample(400, 7)
    np.testing.assert_array_equal(c.flow_weights[1], a.flow_weights[1])
    assert not np.any(c.flow_biases[0])
