"""Tests of dmft.stationary (docs/theory.md section 4): the generalized SCS theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from dmft import ConvergenceError, Ensemble, Gate, Layer, kernels, stationary

SQ2PI = math.sqrt(2 * math.pi)


def _gauss_mean(f, var):
    """E[f(u)], u ~ N(0, var), by adaptive quadrature (independent of dmft's rules)."""
    s = math.sqrt(var)
    val, _ = integrate.quad(lambda z: f(s * z) * math.exp(-0.5 * z * z) / SQ2PI, -12, 12,
                            epsabs=1e-13, epsrel=1e-12, limit=200)
    return val


def _logcosh(x):
    return abs(x) + math.log1p(math.exp(-2 * abs(x))) - math.log(2)


@pytest.mark.parametrize("g", [1.5, 2.0, 3.0])
def test_scs_energy_condition_tanh(g):
    # SCS 1988 (PRL 61, 259) closed-form energy condition for phi = tanh, written for the
    # h-variable (Delta = g^-2 x the current variance): Delta_0^2 / 2 =
    # g^-2 (E[Phi(u)^2] - E[Phi(u)]^2), Phi = log cosh, u ~ N(0, g^2 Delta_0).  The right side
    # is evaluated here by 1-D adaptive quadrature (no kernel, no Chebyshev table).
    r = stationary(Ensemble.elman(g))
    q = g * g * r.delta0
    rhs = (_gauss_mean(lambda u: _logcosh(u) ** 2, q) - _gauss_mean(_logcosh, q) ** 2) / g ** 2
    # Delta_0 is solved to rtol 1e-11; the kernel quadrature error is ~1e-8 (module docstring).
    assert r.delta0 ** 2 / 2 == pytest.approx(rhs, rel=1e-6)
    assert r.delta_inf == 0.0 and r.phase == "chaotic"
    assert r.delta0_preactivation == pytest.approx(g * g * r.delta0, rel=1e-14)


# Published values of the SCS theory (continuous time, phi = tanh, dx/dt = -x + J tanh x,
# J_ij ~ N(0, g^2/N)): D. G. Clark, "Lyapunov spectrum of random neural networks",
# arXiv:2610.12426 (2026), the data of its Fig. 4c and of its participation-ratio theory,
# released with the paper in github.com/davidclark1/rnn-lyapunov
# (commit 41ba73822a99ea6d52aa4321c09b08fa41a8eaa4):
#   lambda_max: data/max_exponent_operator.json, "c" -> "0" (delta = 0, continuous time),
#               field "s_star" = sqrt(1 - E_0) - 1 of H = -d^2/dt^2 + 1 - g^2 C_phi'(tau);
#   Var(x):     data/participation_theory/pr_theory_delta0.json, rows[].q.
# Their x is the SCS current, our first-layer preactivation u = W h (x = u, h = x/g in
# distribution), so q = delta0_preactivation = g^2 delta0.
# Tolerances come from the reference's own discretization error, which the same files report:
# halving their lag step (0.025 -> 0.0125) moves lambda_max by 1.4e-8 (g = 1.5) and 2.4e-7
# (g = 3); for an O(dt^2) rule the error of the published value is 4/3 of that, <= 3.2e-7 for
# g <= 3, so |ours - published| <= 1e-6 (ours is converged to 1.5e-8, benchmarks/stationary.py).
# Their q at g = 3 differs from the closed-form SCS energy condition (adaptive quadrature) by
# 9.5e-7 relative (their dz = 0.02 trapezoid and lag grid), hence rel 3e-6 on q.
CLARK_2026 = {  # g: (lambda_max, Var(x) = q)
    1.25: (0.01696295204996323, 0.3155937508674999),
    1.5: (0.046746201425903466, 0.7476863146392821),
    2.0: (0.11245801235116826, 1.9248047803485846),
    3.0: (0.23546064103314768, 5.446320890038265),
}


@pytest.mark.parametrize("g", sorted(CLARK_2026))
def test_published_scs_values(g):
    lam_pub, q_pub = CLARK_2026[g]
    r = stationary(Ensemble.elman(g))
    assert abs(r.lyapunov_max - lam_pub) <= 1e-6
    assert r.delta0_preactivation == pytest.approx(q_pub, rel=3e-6)
    assert r.delta0 == pytest.approx(q_pub / g ** 2, rel=3e-6)


@pytest.mark.parametrize("g", [1.5, 2.0, 3.0])
def test_zero_mode_and_spectrum(g):
    # Delta'(s) is an exact E = 0 eigenfunction of H (odd, one node): E_1 = 0, E_0 < 0.
    # Richardson-extrapolated finite differences: error O(h^4) ~ 1e-8 at the default grid.
    r = stationary(Ensemble.elman(g))
    assert abs(r.zero_mode_energy) < 1e-6
    assert abs(r.first_excited_energy) < 1e-6
    assert r.ground_energy < 0 and r.lyapunov_max > 0
    assert r.lyapunov_max == pytest.approx(math.sqrt(1 - r.ground_energy) - 1, rel=1e-12)


def test_autocorrelation_solves_the_particle_equation():
    # Delta'' = Delta - K(Delta; Delta_0) checked by finite differences on the returned curve,
    # with K from the reference kernel dmft.kernels.flow_kernel (independent of the Chebyshev
    # table).  Second differences on step h: error O(h^2 Delta'''') ~ 1e-4.
    ens = Ensemble.elman(2.0)
    r = stationary(ens)
    s, d = r.lags, r.autocorrelation
    h = s[1] - s[0]
    idx = np.arange(5, 200, 17)
    dd = (d[idx + 1] - 2 * d[idx] + d[idx - 1]) / h ** 2
    k = kernels.flow_kernel(ens, r.delta0, r.delta0, d[idx], derivative=False).k
    np.testing.assert_allclose(dd, d[idx] - k, atol=2e-4)
    assert d[0] == pytest.approx(r.delta0, rel=1e-12)
    assert abs(d[-1]) < 1e-8 * r.delta0


def test_near_onset_scaling():
    # SCS 1988: near g = 1, Delta_0 ~ (g - 1) and lambda_max ~ (g - 1)^2.  Fitted log-log slopes
    # over g - 1 in [0.01, 0.04]; the next-order corrections are O(g - 1) ~ 4 %.
    eps = np.array([0.01, 0.02, 0.04])
    res = [stationary(Ensemble.elman(1 + e)) for e in eps]
    sd = np.polyfit(np.log(eps), np.log([r.delta0 for r in res]), 1)[0]
    sl = np.polyfit(np.log(eps), np.log([r.lyapunov_max for r in res]), 1)[0]
    assert sd == pytest.approx(1.0, abs=0.06)
    assert sl == pytest.approx(2.0, abs=0.12)


def test_closed_form_and_quadrature_kernels_agree():
    # The same flow with erf (closed-form Williams kernel) and with a copy of erf registered
    # without closed forms (trapezoid quadrature, error < 1e-8): identical answers to 1e-6.
    from scipy import special
    kernels.register_activation("erf_quadrature_test", special.erf,
                                lambda x: (2 / math.sqrt(math.pi)) * np.exp(-np.square(x)),
                                bounded=True, odd=True, overwrite=True)
    a = stationary(Ensemble(flow=(Layer(1.4, "relu", 0.3), Layer(1.6, "erf", 0.2))))
    b = stationary(Ensemble(flow=(Layer(1.4, "relu", 0.3), Layer(1.6, "erf_quadrature_test", 0.2))))
    assert b.delta0 == pytest.approx(a.delta0, rel=1e-6)
    assert b.delta_inf == pytest.approx(a.delta_inf, rel=1e-6)
    assert b.lyapunov_max == pytest.approx(a.lyapunov_max, rel=1e-5)


def test_static_part_of_a_non_odd_flow():
    # ReLU hidden layer + biases: Delta_inf > 0 is the unstable equilibrium of the particle:
    # Delta_inf = K(Delta_inf; Delta_0) with K'(Delta_inf) < 1 (reference kernel), and the
    # energy V(Delta_0) = V(Delta_inf) with V integrated here by adaptive quadrature.
    ens = Ensemble.node((2.0, 2.0), hidden="relu", output="tanh", bias_std=(0.2, 0.1))
    r = stationary(ens)
    assert r.phase == "chaotic" and r.delta_inf > 0.01 * r.delta0
    fk = kernels.flow_kernel(ens, r.delta0, r.delta0, r.delta_inf, n_quad=241)
    assert float(fk.k) == pytest.approx(r.delta_inf, rel=1e-6)
    assert float(fk.dk) < 1.0

    def kern(x):
        return float(kernels.flow_kernel(ens, r.delta0, r.delta0, x, derivative=False,
                                         n_quad=241).k)
    integral, _ = integrate.quad(kern, r.delta_inf, r.delta0, epsabs=1e-12, epsrel=1e-10)
    energy = -(r.delta0 ** 2 - r.delta_inf ** 2) / 2 + integral
    assert abs(energy) < 1e-6 * r.delta0 ** 2       # quadrature-kernel error ~1e-8
    assert r.autocorrelation[-1] == pytest.approx(r.delta_inf, rel=1e-6)
    assert abs(r.zero_mode_energy) < 1e-6


def test_below_critical_fixed_point_and_time_unit():
    r = stationary(Ensemble.elman(0.7, tau=2.0))
    assert r.phase == "fixed point"
    assert r.lyapunov_max == pytest.approx((0.7 - 1) / 2.0, rel=1e-12)   # right edge of disk
    a = stationary(Ensemble.elman(2.0))
    b = stationary(Ensemble.elman(2.0, tau=3.0))
    assert b.lyapunov_max == pytest.approx(a.lyapunov_max / 3, rel=1e-10)
    assert b.half_decay_time == pytest.approx(3 * a.half_decay_time, rel=1e-10)


def test_constant_gate_rescales_time():
    # docs/theory.md section 6: a constant gate gamma = sigmoid(mu) gives lambda = gamma lambda(1).
    a = stationary(Ensemble.elman(2.0))
    gate = Gate(gain=0.0, bias_mean=0.4)
    gamma = 1 / (1 + math.exp(-0.4))
    b = stationary(Ensemble.elman(2.0, gate=gate))
    assert b.lyapunov_max == pytest.approx(gamma * a.lyapunov_max, rel=1e-10)
    assert b.delta0 == pytest.approx(a.delta0, rel=1e-10)


def test_unbounded_flow_explodes():
    r = stationary(Ensemble.node((2.0, 2.0), hidden="relu", output="identity"))  # rho = 2 sqrt 2
    assert r.phase == "explosive" and math.isinf(r.delta0)


def test_noise_suppresses_chaos():
    # Schuecker, Goedeke, Helias, PRX 8, 041029 (2018), Fig. 2-3: noise lowers lambda_max and
    # moves the transition to larger gain than the local criterion g^2 <phi'^2> = 1
    # (here: K'(Delta_0; Delta_0) = 1 with the noise-driven Delta_0).
    g = 2.0
    lam = [stationary(Ensemble.elman(g, noise_std=s)).lyapunov_max for s in (0.0, 0.3, 0.6)]
    assert lam[0] > lam[1] > lam[2]
    sigma = 0.8
    gains = np.linspace(1.0, 3.0, 21)
    res = [stationary(Ensemble.elman(gg, noise_std=sigma)) for gg in gains]
    lam = np.array([r.lyapunov_max for r in res])
    local = np.array([gg ** 2 * float(kernels.dsecond_moment("tanh", gg * gg * r.delta0))
                      for gg, r in zip(gains, res, strict=True)])
    g_chaos = np.interp(0.0, lam, gains)
    g_local = np.interp(1.0, local, gains)
    assert g_chaos > g_local + 0.05
    # OU limit: g -> 0 gives Delta_0 = sigma^2 / 2 exactly
    assert stationary(Ensemble.elman(1e-6, noise_std=sigma)).delta0 == pytest.approx(
        sigma ** 2 / 2, rel=1e-9)


def test_errors():
    with pytest.raises(ValueError, match="dmft.sampled"):
        stationary(Ensemble.mgru(2.0))
    with pytest.raises(ValueError, match="two_time"):
        stationary(Ensemble.node(2.0, output="tanh", leak=False))
    with pytest.raises(TypeError):
        stationary("tanh")
    with pytest.raises(ValueError, match="n_kernel"):
        stationary(Ensemble.elman(2.0), n_kernel=3)



def test_failed_zero_mode_check_raises(monkeypatch):
    # A broken Schrodinger step (zero-mode energy 0.1) must raise, not return silently.
    import dmft._stationary as mod
    real = mod._schrodinger

    def broken(*args, **kwargs):
        e0, e1, zm, err, lags, delta = real(*args, **kwargs)
        return e0, e1, 0.1, err, lags, delta
    monkeypatch.setattr(mod, "_schrodinger", broken)
    with pytest.raises(ConvergenceError, match="zero mode"):
        stationary(Ensemble.elman(2.0))


def _ou_variance_finite_n(g, sigma, n, rng):
    """tr(Sigma)/N for dh = (-h + g W h) dt + sigma dW at finite N (independent of the DMFT).

    Sigma = int_0^inf e^{A t} sigma^2 e^{A^T t} dt, A = -I + g W = V diag(l) V^-1: in the
    eigenbasis Sigma' = V^-1 Sigma V^-H has entries sigma^2 (V^-1 V^-H)_ij / (-(l_i + conj l_j)).
    """
    a = -np.eye(n) + g * rng.standard_normal((n, n)) / math.sqrt(n)
    lam, v = np.linalg.eig(a)
    vi = np.linalg.inv(v)
    m = sigma ** 2 * (vi @ vi.conj().T) / -(lam[:, None] + lam[None, :].conj())
    return float(np.real(np.trace(v @ m @ v.conj().T))) / n


def test_noise_boundary_condition_linear_flow():
    # Noise convention tau dh = (-h + F) dt + sigma sqrt(tau) dW.  For the linear flow F = g W h
    # the stationary autocorrelation is exact (Fourier: C(w) = sigma^2 / (1 + w^2 - g^2)):
    # Delta(s) = sigma^2 / (2 kappa) exp(-kappa |s|), kappa = sqrt(1 - g^2), so the kink at s = 0
    # is Delta'(0+) = -sigma^2 / 2 (eq. 4.1) and lambda_max = g - 1 (edge of the circular law).
    g, sigma = 0.6, 0.5
    kappa = math.sqrt(1 - g * g)
    r = stationary(Ensemble.node(g, output="identity", noise_std=sigma))
    exact = sigma ** 2 / (2 * kappa) * np.exp(-kappa * r.lags)
    assert r.delta0 == pytest.approx(sigma ** 2 / (2 * kappa), rel=1e-9)   # solver rtol 1e-11
    np.testing.assert_allclose(r.autocorrelation, exact, rtol=0, atol=1e-9 * r.delta0)
    h = r.lags[1] - r.lags[0]
    d = r.autocorrelation
    slope = (-3 * d[0] + 4 * d[1] - d[2]) / (2 * h)          # one-sided, error O(h^2) ~ 1e-4
    assert slope == pytest.approx(-sigma ** 2 / 2, rel=1e-3)
    # flat potential: E_0 is the continuum edge 1 - g^2 plus the box term (pi / 2S)^2 ~ 0.4 %
    assert r.lyapunov_max == pytest.approx(g - 1, rel=1e-2)
    # independent route: the finite-N Lyapunov equation, 4 realizations at N = 300.  O(1/N)
    # finite-size bias ~0.3 % and realization spread ~0.5 % -> 2 % tolerance; a factor-2 error in
    # the noise convention (sigma^2 vs sigma^2/2) would be off by 100 %.
    rng = np.random.default_rng(7)
    finite = np.mean([_ou_variance_finite_n(g, sigma, 300, rng) for _ in range(4)])
    assert finite == pytest.approx(r.delta0, rel=0.02)
