"""Numbers pinned across the architecture refactor (issue 12, items 3-4).

The sampled DMFT was split into modules and the two Lyapunov paths of ``simulate`` put under one
QR driver; the refactor is behaviour-preserving, so for a fixed seed every number must stay what
the code before the split computed.  The expected values below were printed to full precision by
that code (commit 5dd31ea) for the same calls: they are a regression check of the refactor, not
an independent validation (the physics is checked in test_sampled.py and test_lyapunov.py).

Tolerance rel = 1e-9: same arithmetic in the same order, so on the machine that produced them the
values agree exactly; another BLAS / FFT build may round the dot products and transforms
differently (relative 1e-16 per operation), and the at most ~10^3 steps and ~10 iterations of
these short runs amplify that far less than to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

import simulate
from dmft import Ensemble, Gate, sampled, sampled_two_time

PIN = dict(rel=1e-9)


def test_sampled_numbers_unchanged_by_the_split():
    ens = Ensemble.mgru(1.8, gate_gain=1.0, gate_bias_mean=0.0)
    r = sampled(ens, seed=11, n_paths=200, lyapunov_iter=4, workers=1)
    assert r.delta0 == pytest.approx(0.42969845336125373, **PIN)
    assert r.delta_inf == pytest.approx(0.05565850752851981, **PIN)
    assert r.lyapunov_max == pytest.approx(0.049232887434466244, **PIN)
    assert r.lyapunov_err == pytest.approx(0.010547300728115704, **PIN)
    assert r.gate_mean == pytest.approx(0.5112057464761027, **PIN)
    noisy = sampled(Ensemble.elman(1.5, noise_std=0.5), seed=4, n_paths=200, lyapunov_iter=4)
    assert noisy.delta0 == pytest.approx(0.3986723676002333, **PIN)
    assert noisy.lyapunov_max == pytest.approx(-0.08157839310397069, **PIN)


def test_sampled_two_time_numbers_unchanged_by_the_split():
    ens = Ensemble.mgru(2.0, gate_gain=1.0, gate_bias_mean=0.0)
    r = sampled_two_time(ens, 3.0, dt=0.1, n_paths=400, n_replicas=4, seed=1)
    assert r.correlation[-1, -1] == pytest.approx(0.38138034119229225, **PIN)
    assert r.correlation[10, 5] == pytest.approx(0.5765483324776463, **PIN)
    assert r.distance[-1] == pytest.approx(0.5198949212253211, **PIN)
    assert r.lyapunov_max == pytest.approx(-0.0012567514084757588, **PIN)


def test_lyapunov_numbers_unchanged_by_the_driver():
    net = simulate.sample(Ensemble.elman(2.5), 60, seed=1)
    r = simulate.lyapunov_spectrum(net, 6, t_max=30.0, t_transient=10.0, seed=2, n_history=7)
    np.testing.assert_allclose(r.exponents, [
        0.004310290384258699, -0.09669007549439866, -0.15339780634950945,
        -0.29314185404700394, -0.2956805843176492, -0.299809943413437], rtol=1e-9, atol=1e-12)
    assert r.mean_trace == pytest.approx(-61.230407532267584, **PIN)
    deep = simulate.sample(Ensemble.node((1.5, 1.8), hidden="relu", output="tanh")
                           .replace(gate=Gate(1.0, 0.0, 0.2)), 40, seed=5)
    d = simulate.lyapunov_spectrum(deep, 4, t_max=20.0, t_transient=5.0, seed=6)
    np.testing.assert_allclose(d.exponents, [
        -0.08601970309048565, -0.11642867844073604, -0.12929694969758748,
        -0.19073303491812146], rtol=1e-9)
    assert d.mean_trace == pytest.approx(-20.941252138534622, **PIN)


def test_lyapunov_ode_numbers_unchanged_by_the_driver():
    s, rr, b = 10.0, 28.0, 8 / 3

    def rhs(x):
        return np.array([s * (x[1] - x[0]), x[0] * (rr - x[2]) - x[1], x[0] * x[1] - b * x[2]])

    def jac(x):
        return np.array([[-s, s, 0], [rr - x[2], -1, -x[0]], [x[1], x[0], -b]])

    r = simulate.lyapunov_spectrum_ode(rhs, jac, np.array([1.0, 1.0, 1.0]), t_max=20.0,
                                       dt=0.01, t_transient=2.0, seed=1, n_history=9)
    np.testing.assert_allclose(r.exponents, [
        0.6198118628220671, 0.043671421719832515, -14.330066312376738], rtol=1e-9)
    assert r.mean_trace == pytest.approx(-13.666666666666146, **PIN)
