"""dmft.static: critical values, finite-N spectral radii, critical line, non-leaky, phases."""

import math

import numpy as np
import pytest
from _finite_n import fixed_point as fp_numeric
from _finite_n import flow_jacobian

from dmft import (
    ConvergenceError,
    Ensemble,
    Gate,
    Layer,
    critical,
    critical_gain,
    critical_line,
    fixed_point,
)
from dmft import symbolic as S
from dmft.kernels import get_activation

# ---------------------------------------------------------------- zero-bias critical values


@pytest.mark.parametrize("acts", [["tanh"], ["erf"], ["relu", "identity"],
                                  ["relu", "relu", "identity"], ["tanh", "tanh"],
                                  ["relu", "tanh"]])
def test_zero_bias_critical_gain_products(acts):
    """prod_l g_l at rho = 1 equals the sympy-derived value; published anchors: tanh 1 (SCS
    1988), erf sqrt(pi)/2, relu+identity 2^((L-1)/2) (docs/theory.md section 3)."""
    ens = Ensemble(flow=tuple(Layer(1.0, a) for a in acts))
    c = critical_gain(ens)
    expected = float(S.critical_gain_product(acts))
    assert c ** len(acts) == pytest.approx(expected, rel=1e-12)
    assert fixed_point(critical(ens)).rho == pytest.approx(1.0, rel=1e-12)


def test_named_critical_values():
    assert critical_gain(Ensemble.elman(1.0)) == pytest.approx(1.0, rel=1e-14)
    assert critical_gain(Ensemble.node(1.0, output="erf")) == pytest.approx(
        math.sqrt(math.pi) / 2, rel=1e-14)
    assert math.prod(critical(Ensemble.node((1.0, 1.0))).gains) == pytest.approx(math.sqrt(2))
    assert math.prod(critical(Ensemble.node((1.0, 1.0, 1.0))).gains) == pytest.approx(2.0)
    # uneven gains keep their ratio: only the common factor is solved for
    crit = critical(Ensemble.node((2.0, 0.5)))
    assert crit.gains[0] / crit.gains[1] == pytest.approx(4.0)


def test_critical_gain_targets_any_rho_and_gate_does_not_move_it():
    ens = Ensemble.elman(1.0, bias_std=0.4)
    gated = ens.replace(gate=Gate(2.0, -1.0, 0.5))
    for rho in (0.5, 1.0, 1.5):
        c = critical_gain(ens, rho=rho)
        assert fixed_point(ens.scaled(c)).rho == pytest.approx(rho, rel=1e-10)
        assert critical_gain(gated, rho=rho) == pytest.approx(c, rel=1e-12)


# ---------------------------------------------------------------- finite N
N = 1000
R = 2   # realizations per case (the tolerances below scale with 1/sqrt(R))


def _finite_radii(ens, seeds, n=N):
    """(max|eig J_F|, sqrt(tr J_F J_F^T / N), max over layers of cv(phi'^2)) per realization."""
    th = fixed_point(ens)
    homogeneous_at_zero = th.q == 0.0 and all(
        get_activation(la.activation).homogeneous for la in ens.flow)
    out = []
    for s in seeds:
        w = ens.sample(n, s)
        if homogeneous_at_zero:
            # A homogeneous flow has no linearization at h* = 0; its Jacobian along any ray is
            # the same, so take a random direction (the disk radius does not depend on it).
            h = np.random.default_rng(10_000 + s).standard_normal(n)
        else:
            h = fp_numeric(ens, w)
        J = flow_jacobian(ens, w, h)
        x, cvs = h, []
        for W, b, la in zip(w.flow_weights, w.flow_biases, ens.flow, strict=True):
            u = W @ x + b
            d2 = get_activation(la.activation).deriv(u) ** 2
            cvs.append(d2.std() / d2.mean() if d2.mean() > 0 else 0.0)
            x = get_activation(la.activation).fn(u)
        out.append((np.abs(np.linalg.eigvals(J)).max(), math.sqrt(np.sum(J * J) / n), max(cvs)))
    return th, np.asarray(out)


def _check_radius(ens, data, rho):
    """Outer radius (Frobenius form) within its O(1/sqrt N) sampling error; edge within the
    O(1/sqrt N) finite-size shift of the largest eigenvalue (docs/theory.md section 8).

    Frobenius form: rho_N^2 = (1/N) sum_i D_ii^2 |row_i|^2 averages N_l values of phi'^2 per
    layer, so its relative error is ~ cv / (2 sqrt N_l), cv the coefficient of variation of
    phi'^2 measured on the realization; the mean over R realizations gets 1/sqrt(R); we allow
    4 such standard errors (doubled for the delta-method and the fixed point's own O(1/sqrt N)
    fluctuation) plus 3/N for the O(1/N) bias of q* and the weights' row norms.
    Edge: max|eig| exceeds the disk radius by O(1/sqrt N) (Ginibre: sqrt(log N / 4N) ~ 0.03 at
    N = 1000, Rider 2003; larger for products through narrow layers); we allow 3/sqrt(N_min)
    relative on the mean over realizations, N_min the narrowest layer."""
    n_min = min(ens.widths(N))
    cv = data[:, 2].max()
    tol_frob = 8 * cv / (2 * math.sqrt(n_min * len(data))) + 3 / N
    assert data[:, 1].mean() == pytest.approx(rho, rel=tol_frob)
    assert data[:, 0].mean() == pytest.approx(rho, rel=3 / math.sqrt(n_min))


CASES = {
    "tanh": Ensemble.elman(0.8),
    "tanh+bias": Ensemble.elman(1.3, bias_std=0.5),
    "tanh,tanh w0.5 +bias": Ensemble.node((1.0, 0.9), hidden="tanh", output="tanh",
                                          bias_std=0.3, widths=(0.5,)),
    "tanh,identity w2": Ensemble.node((1.1, 0.7), hidden="tanh", widths=(2.0,)),
    "relu,identity w2 +bias": Ensemble.node((0.9, 0.8), bias_std=0.2, widths=(2.0,)),
    "relu,relu,identity w(0.5,2)": Ensemble.node((1.0, 1.2, 0.9), widths=(0.5, 2.0)),
    "relu,tanh w0.5 +bias": Ensemble.node((1.2, 1.0), output="tanh", bias_std=0.3,
                                          widths=(0.5,)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_spectral_radius_matches_finite_n_eigenvalues(name):
    ens = CASES[name]
    th, data = _finite_radii(ens, range(R))
    _check_radius(ens, data, th.rho)


def test_critical_line_of_biased_tanh_against_finite_n():
    base = Ensemble.elman(1.0)
    line = critical_line(base, [0.2, 0.5, 1.0])
    assert np.all(np.diff(line.factor) > 0)   # biases push the transition to larger gains
    for s, c in zip(line.bias_std, line.factor, strict=True):
        ens = base.with_bias_std(float(s)).scaled(float(c))
        th, data = _finite_radii(ens, range(R))
        assert th.rho == pytest.approx(1.0, rel=1e-10)
        _check_radius(ens, data, 1.0)


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("gated", [False, True])
def test_non_leaky_half_of_the_spectrum_is_unstable(gain, gated):
    """J = diag(G*) J_F at h* = 0: W -> -W maps the spectrum to its negative and leaves the
    ensemble invariant, so E[fraction with Re > 0] = 1/2 exactly.  Eigenvalues of Ginibre-like
    matrices are a determinantal process whose count in a half-disk has variance O(sqrt N)
    (perimeter law), so the fraction's sd is ~ N^{-3/4} = 0.006 at N = 1000: 5 sd = 0.03."""
    ens = Ensemble.elman(gain, leak=False,
                         gate=Gate(1.0, 0.5, 1.0) if gated else None)
    th = fixed_point(ens)
    assert not th.stable and th.phase == "unstable" and th.unstable_fraction == 0.5
    w = ens.sample(N, 5)
    J = flow_jacobian(ens, w, np.zeros(N))
    if gated:
        J = (1 / (1 + np.exp(-w.gate_bias)))[:, None] * J   # G* at h* = 0
    frac = np.mean(np.linalg.eigvals(J).real > 0)
    assert frac == pytest.approx(0.5, abs=0.03)


def test_phases_and_explosive_flows():
    assert fixed_point(Ensemble.elman(0.5)).phase == "fixed point"
    assert fixed_point(Ensemble.elman(2.0)).phase == "chaotic"
    assert fixed_point(Ensemble.elman(1.0)).phase == "critical"
    # relu + identity with biases: q* = (g1^2 s0^2 / 2 + s1^2) / (1 - rho^2) for rho < 1
    ens = Ensemble.node((1.0, 1.0), bias_std=0.3)
    fp = fixed_point(ens)
    assert fp.q == pytest.approx((0.09 / 2 + 0.09) / (1 - 0.5), rel=1e-12)
    above = fixed_point(ens.scaled(1.3))
    assert above.phase == "explosive" and math.isinf(above.q) and not above.stable
    zero_bias = fixed_point(Ensemble.node((1.6, 1.0)))
    assert zero_bias.phase == "explosive" and zero_bias.q == 0.0   # h* = 0 exists, unstable
    # a bounded output makes the same flow chaotic instead
    assert fixed_point(Ensemble.node((1.6, 1.4), output="tanh")).phase == "chaotic"
    for r in (fp, above, zero_bias):   # never NaN
        assert not math.isnan(r.q) and not math.isnan(r.rho)


def test_gate_time_scales_match_finite_n():
    """Mean gate at h* = 0 against the realized units: 5 standard errors of the mean."""
    ens = Ensemble.mgru(0.8, gate_gain=1.0, gate_bias_mean=-1.0, gate_bias_std=0.7)
    th = fixed_point(ens)
    g = 1 / (1 + np.exp(-ens.sample(4000, 2).gate_bias))
    assert th.gate_mean == pytest.approx(g.mean(), abs=5 * g.std() / math.sqrt(g.size))
    q10, q50, q90 = th.timescales
    assert q50 == pytest.approx(1 + math.exp(1.0), rel=1e-12)  # tau / sigmoid(mu_z)
    assert q10 < q50 < q90


def test_gated_boundary_is_the_ungated_one_at_finite_n():
    """det J = det diag(G*) det(-I + J_F): the sign of the leading real part is unchanged.
    At N = 400 the edge of the disk sits within ~0.05 of rho (Ginibre: sqrt(log N / 4N));
    rho = 0.8 and 1.2 are 4 such widths away from 1."""
    base = Ensemble.elman(1.0, bias_std=0.5)
    n = 400
    for rho, sign in ((0.8, -1), (1.2, +1)):
        ens_flow = base.scaled(critical_gain(base, rho=rho))
        w = ens_flow.sample(n, 3)
        h = fp_numeric(ens_flow, w)
        for gate in (None, Gate(1.5, -1.0, 0.5)):
            J = -np.eye(n) + flow_jacobian(ens_flow, w, h)
            if gate is not None:
                wg = ens_flow.replace(gate=gate).sample(n, 3)   # same flow weights, plus a gate
                np.testing.assert_array_equal(wg.flow_weights[0], w.flow_weights[0])
                J = (1 / (1 + np.exp(-(wg.gate_weight @ h + wg.gate_bias))))[:, None] * J
            assert sign * np.linalg.eigvals(J).real.max() > 0


def test_bad_calls():
    with pytest.raises(ValueError, match="rho"):
        critical_gain(Ensemble.elman(1.0), rho=0.0)
    with pytest.raises(ValueError, match="rho"):
        critical_gain(Ensemble.elman(1.0), rho=math.nan)
    with pytest.raises(ValueError, match="gain"):
        critical_gain(Ensemble.node((0.0, 1.0)))
    with pytest.raises(TypeError, match="ens"):
        fixed_point("tanh")
    with pytest.raises(ValueError, match="bias_stds"):
        critical_line(Ensemble.elman(1.0), [])
    with pytest.raises(ValueError, match="bias_stds"):
        critical_line(Ensemble.elman(1.0), [0.1, -0.2])
    assert issubclass(ConvergenceError, RuntimeError)
