"""Lyapunov spectra (QR method, docs/theory.md section 7): invariants and known systems."""

import numpy as np
import pytest

import simulate
from dmft import Ensemble, Layer, Phase
from simulate._network import from_weights


def _linear(n=10, gain=0.9, seed=0):
    return simulate.sample(Ensemble(flow=(Layer(gain, "identity"),)), n, seed=seed)


def _conv_tol(A, T):
    """QR estimates of a linear flow converge like log(cond(eigenvectors)) / T (+ the
    tangent-frame alignment term of the same size); a factor 3 margin."""
    _, V = np.linalg.eig(A)
    return 3 * (np.log(np.linalg.cond(V)) + 1.0) / T


def test_linear_system_real_parts_of_eigenvalues():
    net = _linear()
    A = net.weights.flow_weights[0] - np.eye(10)
    mu = np.linalg.eigvals(A)
    T = 400.0
    res = simulate.lyapunov_spectrum(net, t_max=T, dt=0.05, t_transient=0.0,
                                     t_transient_tangent=50.0)
    np.testing.assert_allclose(res.exponents, np.sort(mu.real)[::-1], atol=_conv_tol(A, T))
    # the Euler map h -> (I + dt A) h has exponents log|1 + dt mu| / dt
    dt = 0.2
    eu = simulate.lyapunov_spectrum(net, t_max=T, dt=dt, method="euler", t_transient=0.0,
                                    t_transient_tangent=50.0)
    np.testing.assert_allclose(eu.exponents, np.sort(np.log(np.abs(1 + dt * mu)) / dt)[::-1],
                               atol=_conv_tol(A, T))


def test_sum_equals_time_averaged_trace_and_scs_mean():
    ens = Ensemble.elman(2.0)
    net = simulate.sample(ens, 60, seed=1)
    res = simulate.lyapunov_spectrum(net, t_max=40.0, dt=0.05, t_transient=20.0)
    # Liouville: sum_j lambda_j = <tr J>_t exactly in continuous time; RK4 with dt=0.05 changes
    # log det of the step by O(dt^5) per step: relative 1e-6 is far above that and round-off
    assert res.sum == pytest.approx(res.mean_trace, rel=1e-6)
    # without self-couplings tr J = -N / tau identically (SCS form): mean exponent -1/tau
    w = net.weights
    W0 = w.flow_weights[0].copy()
    np.fill_diagonal(W0, 0.0)
    net0 = from_weights(ens, type(w)((W0,), w.flow_biases))
    res0 = simulate.lyapunov_spectrum(net0, t_max=40.0, dt=0.05, t_transient=20.0)
    assert res0.mean_trace == pytest.approx(-60.0, rel=1e-12)
    assert res0.sum / 60 == pytest.approx(-1.0, rel=1e-6)
    assert res0.entropy_rate == pytest.approx(res0.exponents[res0.exponents > 0].sum())


def test_chaotic_flow_has_a_zero_exponent():
    # N = 100, g = 3, seed 3 is chaotic (small networks can settle on fixed points / cycles)
    net = simulate.sample(Ensemble.elman(3.0), 100, seed=3)
    res = simulate.lyapunov_spectrum(net, 6, t_max=1500.0, dt=0.1, t_transient=50.0)
    assert res.exponents[0] > 10 * res.stderr[0]  # chaotic
    j = int(np.argmin(np.abs(res.exponents)))
    # the exponent along the flow (tangent f(h)) is 0; its estimate fluctuates with the block
    # standard error (measured, ~0.006 at T = 1500): 3 sigma
    assert abs(res.exponents[j]) < 3 * res.stderr[j]
    assert res.history.shape[1] == 6 and res.history_t[-1] == pytest.approx(1500.0)
    assert res.entropy_rate == pytest.approx(res.exponents[res.exponents > 0].sum())


def test_below_critical_spectrum_is_fixed_point_real_parts():
    ens = Ensemble.elman(0.6, bias_std=0.4)
    net = simulate.sample(ens, 30, seed=3)
    fp = simulate.find_fixed_point(net, np.zeros(30))
    A = net.jacobian(fp.h)
    T = 300.0
    res = simulate.lyapunov_spectrum(net, t_max=T, dt=0.05, t_transient=50.0, h0=fp.h + 0.01)
    np.testing.assert_allclose(res.exponents, np.sort(fp.eigenvalues.real)[::-1],
                               atol=_conv_tol(A, T))
    assert res.kaplan_yorke == 0.0 and res.entropy_rate == 0.0


def test_constant_gate_rescales_time_exactly():
    """G = sigmoid(mu) = gamma constant: h_gated(t) = h(gamma t), so lambda_gated = gamma lambda."""
    g_ens = Ensemble.mgru(2.5, gate_gain=0.0, gate_bias_mean=0.0)  # gamma = 1/2
    ens = Ensemble.elman(2.5)
    n = 40
    gated, plain = simulate.sample(g_ens, n, seed=5), simulate.sample(ens, n, seed=5)
    np.testing.assert_array_equal(gated.flow_w[0], plain.flow_w[0])
    h0 = np.random.default_rng(0).standard_normal(n)
    a = simulate.lyapunov_spectrum(gated, 5, t_max=40.0, dt=0.1, t_ons=1.0, t_transient=20.0,
                                   t_transient_tangent=10.0, h0=h0, seed=1)
    b = simulate.lyapunov_spectrum(plain, 5, t_max=20.0, dt=0.05, t_ons=0.5, t_transient=10.0,
                                   t_transient_tangent=5.0, h0=h0, seed=1)
    # identical arithmetic up to the factor 1/2 in the step: round-off only
    np.testing.assert_allclose(a.exponents, 0.5 * b.exponents, rtol=1e-8, atol=1e-10)


def test_fast_path_equals_generic_path_for_a_gated_deep_network():
    ens = Ensemble.gnode((1.5, 1.5), "tanh", "tanh", gate_gain=1.0, gate_bias_mean=0.2,
                         widths=(1.5,))
    net = simulate.sample(ens, 12, seed=0)
    h0 = np.random.default_rng(0).standard_normal(12)
    kw = dict(t_max=20.0, dt=0.05, t_transient=5.0, t_transient_tangent=5.0, seed=3)
    for method in ("rk4", "euler"):
        a = simulate.lyapunov_spectrum(net, 6, h0=h0, method=method, **kw)
        b = simulate.lyapunov_spectrum_ode(net.rhs, net.jacobian, h0, 6, method=method, **kw)
        np.testing.assert_allclose(a.exponents, b.exponents, rtol=1e-9, atol=1e-11)
        assert a.sum == pytest.approx(b.sum, rel=1e-9)


def test_lorenz_published_exponents():
    """Lorenz (sigma, rho, beta) = (10, 28, 8/3): (0.906, 0, -14.572), D_KY = 2.062
    (J. C. Sprott, "Lyapunov exponents for the Lorenz attractor",
    https://sprott.physics.wisc.edu/chaos/lorenzle.htm, RK4 dt=0.001 over t > 1e6)."""
    s, r, b = 10.0, 28.0, 8.0 / 3.0

    def rhs(x):
        return np.array([s * (x[1] - x[0]), x[0] * (r - x[2]) - x[1], x[0] * x[1] - b * x[2]])

    def jac(x):
        return np.array([[-s, s, 0.0], [r - x[2], -1.0, -x[0]], [x[1], x[0], -b]])

    res = simulate.lyapunov_spectrum_ode(rhs, jac, np.array([1.0, 1.0, 20.0]), t_max=400.0,
                                         dt=0.01, t_ons=0.1, t_transient=20.0, progress=True)
    # tr J = -(sigma + 1 + beta) exactly; RK4 changes log det of a step by ~ (dt mu)^5 / 120,
    # with mu ~ -14.6 and dt = 0.01: ~6e-7 per step = 6e-5 per unit time; 3e-4 allows 5x
    assert res.sum == pytest.approx(-(s + 1 + b), abs=3e-4)
    # finite-time fluctuations: 4 block standard errors (measured, ~0.01 at T = 400), plus
    # 0.01 for the 1/T bias of the zero exponent and Sprott's quoted 3 digits
    tol = 4 * res.stderr + 0.01
    np.testing.assert_array_less(np.abs(res.exponents - [0.906, 0.0, -14.572]), tol)
    assert res.kaplan_yorke == pytest.approx(2.062, abs=0.01)


def test_two_trajectory_estimate_agrees_with_qr():
    net = simulate.sample(Ensemble.elman(3.0), 80, seed=4)
    res = simulate.lyapunov_spectrum(net, 1, t_max=300.0, dt=0.1, t_transient=50.0,
                                     two_trajectory=True)
    # both converge to lambda_max; finite-time error of each ~ block stderr (measured): 5 sigma
    assert res.lambda_max_two_trajectory == pytest.approx(res.lambda_max,
                                                          abs=5 * res.stderr[0] + 0.01)


def test_kaplan_yorke_definition():
    assert simulate.kaplan_yorke([0.5, 0.0, -1.0])[0] == pytest.approx(2.5)
    assert simulate.kaplan_yorke([0.5, 0.1, -0.2, -1.0]) == (pytest.approx(3.4), False)
    assert simulate.kaplan_yorke([-0.1, -1.0]) == (0.0, False)
    assert simulate.kaplan_yorke([0.3, 0.1]) == (2.0, True)


def test_bad_arguments_and_divergence():
    net = _linear(n=5)
    with pytest.raises(ValueError, match="k must"):
        simulate.lyapunov_spectrum(net, 6)
    with pytest.raises(ValueError, match="t_ons"):
        simulate.lyapunov_spectrum(net, t_ons=0.15, dt=0.1)
    with pytest.raises(ValueError, match="method"):
        simulate.lyapunov_spectrum(net, method="rk45")
    boom = simulate.sample(Ensemble.node((3.0,), "relu", "identity", leak=False), 30, seed=0)
    res = simulate.lyapunov_spectrum(boom, 2, t_max=100.0, t_transient=500.0, bound=1e3)
    # divergence policy: flagged, not raised; the time is that of the state alone, which the
    # state transient integrates exactly like simulate.integrate (same RK4 step, same h0)
    assert res.diverged and not res.converged and res.phase is Phase.EXPLOSIVE
    assert "diverged" in res.reason and "the state transient" in res.reason
    h0 = np.random.default_rng(0).standard_normal(30)
    ref = simulate.integrate(boom, h0, 600.0, 0.1, bound=1e3, record=False)
    assert ref.diverged and res.diverged_at == ref.diverged_at < 500.0
    assert np.all(res.exponents == np.inf) and res.history.shape == (0, 2)   # nothing observed


def test_divergence_during_observation_keeps_the_observed_exponents():
    """dx/dt = x^2 from x0 = 2/3 blows up at t* = 1/x0 = 1.5.  The generic path checks the
    state once per interval (t_ons = 1): the divergence is detected at t = 2, and the exponent
    of the one observed interval [0, 1] is exact, (1/1) int_0^1 2 x dt = -2 log(1 - x0) = 2 log 3
    (RK4 at dt = 0.01: error ~ 1e-9)."""
    with np.errstate(over="ignore", invalid="ignore"):
        res = simulate.lyapunov_spectrum_ode(lambda x: x * x, lambda x: np.array([[2 * x[0]]]),
                                             np.array([2 / 3]), t_max=10.0, dt=0.01,
                                             t_transient=0.0, t_transient_tangent=0.0)
    assert res.diverged and not res.converged and res.phase is Phase.EXPLOSIVE
    assert res.diverged_at == 2.0 and "non-finite" in res.reason and "observation" in res.reason
    assert res.t_max == 1.0 and res.exponents[0] == pytest.approx(2 * np.log(3), abs=1e-7)
    assert "DIVERGED" in res.message


def test_two_trajectory_divergence_is_flagged():
    boom = simulate.sample(Ensemble.node((3.0,), "relu", "identity", leak=False), 30, seed=0)
    r = simulate.lyapunov_max_two(boom, t_max=100.0, t_transient=500.0, bound=1e3)
    assert r.diverged and not r.converged and r.lambda_max == np.inf and float(r) == np.inf
    # checked at the end of each t_ons = 1 interval: within one interval after the state left
    # the bound (the state alone, as in simulate.integrate)
    h0 = np.random.default_rng(0).standard_normal(30)
    ref = simulate.integrate(boom, h0, 600.0, 0.1, bound=1e3, record=False)
    assert ref.diverged_at <= r.diverged_at <= ref.diverged_at + 1.0
