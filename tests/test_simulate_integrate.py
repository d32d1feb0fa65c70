"""simulate.integrate: convergence order, batches, noise, divergence, observables."""

import numpy as np
import pytest
from scipy.linalg import expm

import simulate
from dmft import Ensemble, Layer


def linear_net(n=8, gain=0.9, seed=0, tau=1.0):
    """tau dh/dt = -h + W h (identity activation): h(t) = expm((W - I) t / tau) h0."""
    return simulate.sample(Ensemble(flow=(Layer(gain, "identity"),), tau=tau), n, seed=seed)


@pytest.mark.parametrize("method, order", [("euler", 1), ("rk4", 4)])
def test_integration_order(method, order):
    net = linear_net(tau=1.5)
    W = net.weights.flow_weights[0]
    h0 = np.random.default_rng(1).standard_normal(8)
    t = 2.0
    exact = expm((W - np.eye(8)) * t / 1.5) @ h0
    dts = np.array([0.2, 0.1, 0.05, 0.025])
    errs = [np.linalg.norm(simulate.integrate(net, h0, t, dt, method=method,
                                              record=False).final - exact) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    # asymptotic regime: the fitted slope is within 0.2 of the order (higher terms at dt=0.2)
    assert abs(slope - order) < 0.2, (slope, errs)


def test_records_and_batch_match_single_runs():
    ens = Ensemble.mgru(2.0, gate_gain=1.0, gate_bias_mean=0.3)
    nets = [simulate.sample(ens, 20, seed=s) for s in range(3)]
    h0 = np.random.default_rng(0).standard_normal((3, 20))
    batch = simulate.integrate_batch(nets, h0, 5.0, 0.05, record_every=10, t_transient=1.0)
    serial = simulate.integrate_batch(nets, h0, 5.0, 0.05, record_every=10, t_transient=1.0,
                                      parallel=False)
    np.testing.assert_array_equal(batch.h, serial.h)
    for r in range(3):
        one = simulate.integrate(nets[r], h0[r], 5.0, 0.05, record_every=10, t_transient=1.0)
        np.testing.assert_array_equal(one.h, batch.h[r])
        assert one.converged
    assert batch.h.shape == (3, 11, 20)
    np.testing.assert_allclose(batch.t, np.arange(11) * 0.5)
    # record[m] is the state at step m*record_every after the transient
    full = simulate.integrate(nets[0], h0[0], 6.0, 0.05, record_every=1)
    np.testing.assert_allclose(batch.h[0, 3], full.h[20 + 30], rtol=0, atol=1e-14)


def test_divergence_is_reported_not_nan():
    ens = Ensemble.node((3.0,), "relu", "identity", leak=False)
    net = simulate.sample(ens, 50, seed=0)
    h0 = np.random.default_rng(0).standard_normal(50)
    res = simulate.integrate(net, h0, 500.0, 0.1, bound=1e3)
    assert res.diverged and not res.converged
    assert np.all(np.isfinite(res.h)) and np.all(np.isfinite(res.final))
    assert "diverged" in res.message
    assert len(res.h) < 5001
    # divergence policy: the time and the reason travel with the result
    assert res.diverged_at == res.n_steps * 0.1 and "t = " in res.reason
    assert np.sqrt(np.mean(res.h[-1] ** 2)) <= 1e3 < np.inf


def test_divergence_time_matches_the_exact_linear_flow():
    """A linear non-leaky flow dh/dt = J h (identity activation) has h(t) = expm(J t) h0: the
    first grid time where rms(h) > bound is computed exactly, independent of the integrator.
    RK4 at dt = 0.05 errs by ~(|lambda| dt)^5 / 120 ~ 1e-5 relatively per step, which moves
    the crossing by far less than a step; the exact crossing may sit next to a grid point, so
    one step is allowed."""
    from scipy.linalg import expm
    ens = Ensemble.node((2.0,), "relu", "identity", leak=False)
    net = simulate.sample(ens, 20, seed=3)
    h0 = np.random.default_rng(1).standard_normal(20)
    dt, bound = 0.05, 1e4
    res = simulate.integrate(net, h0, 100.0, dt, bound=bound, t_transient=1.0)
    J = net.jacobian(h0)
    t = dt * np.arange(1, 2001)
    rms = [np.sqrt(np.mean((expm(J * ti) @ h0) ** 2)) for ti in t]
    t_exact = t[int(np.argmax(np.array(rms) > bound))]
    assert res.diverged and abs(res.diverged_at - t_exact) <= dt + 1e-12
    # a batch flags per realization; one that stays at h = 0 (linear, no bias) never diverges
    batch = simulate.integrate_batch([net, net], np.stack([h0, np.zeros(20)]), 100.0, dt,
                                     bound=bound, t_transient=1.0)
    assert batch.diverged.tolist() == [True, False] and not batch.converged
    assert batch.diverged_at[0] == res.diverged_at and batch.diverged_at[1] == np.inf
    assert "1 of 2 runs diverged" in batch.reason


def test_euler_maruyama_ou_variance():
    """F = 0 (gain 0): tau dh = -h dt + s sqrt(tau) dW, an Ornstein-Uhlenbeck process.

    The Euler-Maruyama chain h' = a h + s sqrt(dt/tau) xi, a = 1 - dt/tau, has the exact
    stationary variance s^2 (dt/tau) / (1 - a^2) (-> s^2 / 2 as dt -> 0).
    """
    s, tau, dt = 0.7, 2.0, 0.05
    ens = Ensemble(flow=(Layer(0.0, "tanh"),), tau=tau, noise_std=s)
    net = simulate.sample(ens, 2000, seed=0)
    res = simulate.integrate(net, np.zeros(2000), 20.0, dt, method="euler", record=False,
                             t_transient=40.0, seed=7)
    a = 1 - dt / tau
    expected = s**2 * (dt / tau) / (1 - a * a)
    # 2000 independent units: the sample variance has relative std sqrt(2/2000) = 3.2 %;
    # 4 sigma. The transient (40 = 20 tau) leaves exp(-40) of the initial condition.
    assert np.mean(res.final**2) == pytest.approx(expected, rel=0.13)
    with pytest.raises(TypeError, match="seed"):
        simulate.integrate(net, np.zeros(2000), 1.0, dt)


def test_gated_noise_runs_reproducibly():
    ens = Ensemble.mgru(2.0, gate_gain=1.0, noise_std=0.1)
    net = simulate.sample(ens, 30, seed=1)
    a = simulate.integrate(net, np.zeros(30), 2.0, 0.1, seed=3)
    b = simulate.integrate(net, np.zeros(30), 2.0, 0.1, seed=3)
    c = simulate.integrate(net, np.zeros(30), 2.0, 0.1, seed=4)
    np.testing.assert_array_equal(a.h, b.h)
    assert not np.array_equal(a.h, c.h)


def test_autocorrelation_matches_direct_sum():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 50, 7)).cumsum(axis=1)
    lags, d = simulate.autocorrelation(h, 10, dt=0.5)
    direct = [np.mean([np.mean(h[r, : 50 - s] * h[r, s:]) for r in range(3)])
              for s in range(11)]
    np.testing.assert_allclose(d, direct, rtol=1e-12)
    np.testing.assert_allclose(lags, 0.5 * np.arange(11))
    assert simulate.population_variance(h) == pytest.approx(d[0], rel=1e-12)
    _, dc = simulate.autocorrelation(h[0], 5, centered=True)
    hc = h[0] - h[0].mean(axis=0)
    assert dc[3] == pytest.approx(np.mean(hc[:47] * hc[3:]), rel=1e-12)


def test_fixed_point_search_and_linear_stability():
    ens = Ensemble.elman(0.6, bias_std=0.5)
    net = simulate.sample(ens, 40, seed=2)
    fp = simulate.find_fixed_point(net, np.zeros(40))
    assert fp.converged and fp.stable
    assert fp.residual < 1e-10
    W, b = net.weights.flow_weights[0], net.weights.flow_biases[0]
    # the fixed point of -h + tanh(W h + b): check the defining equation independently
    np.testing.assert_allclose(fp.h, np.tanh(W @ fp.h + b), atol=1e-10)
    # trajectories converge to it
    run = simulate.integrate(net, np.ones(40), 60.0, 0.1, record=False)
    np.testing.assert_allclose(run.final, fp.h, atol=1e-8)
    ev = simulate.jacobian_eigenvalues(net, fp.h)
    assert ev[0].real == pytest.approx(fp.eigenvalues[0].real)
