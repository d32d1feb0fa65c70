"""Critical initialization of gnode models from dmft (docs/theory.md section 3).

Finite-size facts used for the tolerances (N = 512):
- the outer radius of the eigenvalue disk is sqrt(tr(J_F J_F^T) / N) (single-ring theorem);
  its finite-N estimate averages N phi'(u)^2 per layer: relative spread ~ 1/sqrt(N) per layer
  (4.4 % for one ReLU layer: sd(phi'^2) / E(phi'^2) = 1), so a band of +-10 % is >= 2.5 sd.
- the largest |eigenvalue| of an N x N Ginibre matrix exceeds the edge by
  sqrt(gamma_N / 4N) + Gumbel / sqrt(4 N gamma_N), gamma_N = log(N / 2 pi) - 2 log log N
  (Rider, J. Phys. A 36, 3401 (2003)): +0.034 on average, sd 0.033, at N = 512.  Measured over
  10 seeds here: mean 1.04-1.07 rho, sd 0.025-0.06, range [0.97, 1.17] rho (products of ReLU-
  masked layers have the softer edge).  Band for one realization: [0.93, 1.2] rho.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import dmft
import gnode
from dmft import Ensemble
from gnode.init import (
    StabilityWarning,
    critical_,
    ensemble_of,
    from_ensemble_,
    gate_bias_for_timescale,
)
from gnode.models import GNODE, MGRU, NCODE, NODE, Elman


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Dense eigenvalues of 512 x 512 matrices take 10 s with 2 contended BLAS threads and
    0.4 s with one: run this module single-threaded."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


N = 512
FLOWS = {  # name -> (flow_hidden, activation, output_activation)
    "tanh": ((), "tanh", "tanh"),
    "relu-identity": ((N,), "relu", "identity"),
    "relu-relu-tanh": ((N, N), "relu", "tanh"),
}


def _jac_at_fixed_point(model, seed=0):
    fp = gnode.fixed_point(model)
    h = fp.h
    if not bool(h.any()):   # ReLU flows: the Jacobian at 0 along a random direction
        gen = torch.Generator().manual_seed(seed)
        h = 1e-6 * torch.randn(model.state_dim, generator=gen, dtype=torch.float64)
    return fp, gnode.jacobian(model, h)


@pytest.mark.parametrize("flow", sorted(FLOWS))
@pytest.mark.parametrize("bias_std", [0.0, 0.3])
def test_radius_after_critical(flow, bias_std):
    """After critical_, |eig(dF/dh)| at the model's fixed point reaches rho (finite-N band).

    Biased flows are put at rho = 0.8: at N = 512 the disk's edge exceeds rho by ~4 %, and a
    fixed point continued to rho = 1 can be lost in a fold at finite N.  (relu, identity) with
    biases has no finite fixed point at rho = 1 in the theory at all (q* = rho^2 q* + const).
    """
    hidden, act, out = FLOWS[flow]
    rho = 0.8 if bias_std else 1.0
    model = NODE(N, 0, 1, flow_hidden=hidden, activation=act, output_activation=out)
    ens = critical_(model, rho, seed=11, bias_std=bias_std, gains=1.0)
    assert dmft.fixed_point(ens).rho == pytest.approx(rho, rel=1e-9)
    fp, j = _jac_at_fixed_point(model)
    # theory's fixed-point variance q* (THEORY 3.1): relative finite-N error ~ 1/sqrt(N) ~ 5 %
    q_model = float((fp.h ** 2).mean())
    q_theory = dmft.fixed_point(ens).q
    assert q_model == pytest.approx(q_theory, rel=0.25, abs=1e-12)
    outer = math.sqrt(float((j ** 2).sum()) / N)
    assert outer == pytest.approx(rho, rel=0.10)
    radius = float(torch.linalg.eigvals(j).abs().max())
    assert 0.93 * rho < radius < 1.2 * rho, radius
    assert radius == pytest.approx(gnode.spectral_radius(model), rel=1e-9)


def test_gate_does_not_change_the_flow_weights():
    """The gate is drawn after the flow: gated and non-gated models get the same flow from the
    same seed, hence the same J_F and radius (the gate only rescales time, THEORY 3)."""
    a = NODE(64, 0, 1, flow_hidden=(64,), activation="relu", output_activation="tanh")
    b = GNODE(64, 0, 1, flow_hidden=(64,), activation="relu", output_activation="tanh")
    critical_(a, seed=5, bias_std=0.2, gains=1.0)
    ens_b = critical_(b, seed=5, bias_std=0.2, gains=1.0, gate_gain=1.0, gate_bias_std=0.5,
                      timescale=3.0)
    for la, lb in zip(a.field.flow, b.field.flow, strict=True):
        assert torch.equal(la.weight, lb.weight) and torch.equal(la.bias, lb.bias)
    assert ens_b.gate.bias_mean == pytest.approx(-math.log(2.0), rel=1e-12)


# ---------------------------------------------------------------------------- one source
def test_same_ensemble_and_seed_give_identical_weights_in_numpy_and_torch():
    ens = Ensemble.gnode(gains=(1.2, 0.9), bias_std=(0.1, 0.2), gate_gain=0.7,
                         gate_bias_mean=0.5, gate_bias_std=0.3, widths=(2.0,)).replace(
        input_dim=3, input_gain=0.8)
    ens = ens.replace(gate=ens.gate.__class__(0.7, 0.5, 0.3, input_gain=0.4))
    model = GNODE(16, 3, 1, flow_hidden=(32,))
    from_ensemble_(model, ens, 7)
    ref = ens.sample(16, np.random.default_rng(7))
    f = model.field
    for lin, w, b in zip(f.flow, ref.flow_weights, ref.flow_biases, strict=True):
        assert np.array_equal(lin.weight.detach().numpy(), w)
        assert np.array_equal(lin.bias.detach().numpy(), b)
    assert np.array_equal(f.gate[0].weight.detach().numpy(), ref.gate_weight)
    assert np.array_equal(f.gate[0].bias.detach().numpy(), ref.gate_bias)
    assert np.array_equal(f.flow_input.weight.detach().numpy(), ref.input_weight)
    assert np.array_equal(f.gate_input.weight.detach().numpy(), ref.gate_input_weight)


def test_torch_field_equals_simulate_network():
    """Same ensemble + seed through simulate (numba) and gnode (torch): identical weights,
    and the vector field f(h) and its Jacobian agree to round-off (two implementations)."""
    simulate = pytest.importorskip("simulate")
    ens = Ensemble.gnode(gains=(1.4, 0.8), hidden="tanh", output="relu", bias_std=0.3,
                         gate_gain=1.1, gate_bias_mean=0.4, gate_bias_std=0.2, widths=(1.5,),
                         tau=0.7)
    model = GNODE(20, 0, 1, flow_hidden=(30,), activation="tanh", output_activation="relu",
                  tau=0.7)
    from_ensemble_(model, ens, 9)
    net = simulate.sample(ens, 20, seed=9)
    for lin, w in zip(model.field.flow, net.weights.flow_weights, strict=True):
        assert np.array_equal(lin.weight.detach().numpy(), w)
    h = np.random.default_rng(0).standard_normal(20)
    ht = torch.from_numpy(h)
    with torch.no_grad():
        f_torch = model.field(ht).numpy()
    np.testing.assert_allclose(f_torch, net.rhs(h), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gnode.jacobian(model, ht, of="field").numpy(), net.jacobian(h),
                               rtol=1e-10, atol=1e-12)


def test_ensemble_of_recovers_the_ensemble_within_sampling_error():
    """ensemble_of estimates g = rms(W) sqrt(fan_in) etc.; for N x N1 i.i.d. weights the
    relative sd of the gain estimate is 1/sqrt(2 N N1) (0.1 %), of a bias spread 1/sqrt(2 N_l)
    (3 % at 512): tolerances 4 sd."""
    ens = Ensemble.gnode(gains=(1.3, 0.7), hidden="tanh", output="erf", bias_std=(0.4, 0.2),
                         gate_gain=0.9, gate_bias_mean=-1.0, gate_bias_std=0.5, widths=(0.5,))
    model = GNODE(512, 0, 1, flow_hidden=(256,), activation="tanh", output_activation="erf")
    from_ensemble_(model, ens, 3)
    est = ensemble_of(model)
    assert [la.activation for la in est.flow] == ["tanh", "erf"]
    assert [la.width for la in est.flow] == [0.5, 1.0]
    assert est.gains == pytest.approx(ens.gains, rel=4 / math.sqrt(2 * 512 * 256))
    assert est.flow[0].bias_std == pytest.approx(0.4, rel=4 / math.sqrt(2 * 256))
    assert est.flow[1].bias_std == pytest.approx(0.2, rel=4 / math.sqrt(2 * 512))
    assert est.gate.gain == pytest.approx(0.9, rel=4 / math.sqrt(2 * 512 * 512))
    assert est.gate.bias_mean == pytest.approx(-1.0, abs=4 * 0.5 / math.sqrt(512))
    assert est.gate.bias_std == pytest.approx(0.5, rel=4 / math.sqrt(2 * 512))


def test_from_ensemble_rejects_a_different_architecture():
    model = GNODE(8, 0, 1, flow_hidden=(8,), bias=False)
    with pytest.raises(ValueError, match="flow layers"):
        from_ensemble_(model, Ensemble.elman(1.0), 0)
    with pytest.raises(ValueError, match="activations"):
        from_ensemble_(model, Ensemble.node((1.0, 1.0), hidden="tanh"), 0)
    with pytest.raises(ValueError, match="no bias"):
        from_ensemble_(model, Ensemble.node((1.0, 1.0), bias_std=0.1), 0)
    with pytest.raises(ValueError, match="widths"):
        from_ensemble_(model, Ensemble.node((1.0, 1.0), widths=(2.0,)), 0)
    with pytest.raises(ValueError, match="leak"):
        from_ensemble_(model, Ensemble.node((1.0, 1.0), leak=False), 0)
    with pytest.raises(ValueError, match="bias_std"):
        ensemble_of(model, bias_std=0.2)
    with pytest.raises(TypeError, match="model"):
        ensemble_of(torch.nn.Linear(2, 2))


def test_non_leaky_model_warns_with_the_reason():
    model = NODE(16, 0, 1, leak=False, activation="tanh", output_activation="tanh")
    with pytest.warns(StabilityWarning, match="positive real part"):
        critical_(model, seed=0)
    leaky = NODE(16, 0, 1, activation="tanh", output_activation="tanh")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        critical_(leaky, seed=0)


# ---------------------------------------------------------------------------- time scales
def test_gate_bias_sets_the_time_scale():
    """Constant gate G* = sigmoid(mu_z) (g_z = sigma_z = 0) and a negligible flow (rho = 1e-3):
    h(t) = h(0) exp(-G* t / tau) up to the flow's coupling (rho t G*/tau = 2e-3) and RK4 error
    (1e-9): tolerance 1e-2 on the decay ratio."""
    assert gate_bias_for_timescale(4.0, 2.0) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="timescale"):
        gate_bias_for_timescale(0.5, 1.0)
    model = MGRU(64, 0, 1, tau=0.5, dt=0.1, substeps=2, method="rk4")
    critical_(model, 1e-3, seed=1, bias_std=0.0, gate_gain=0.0, gate_bias_std=0.0, timescale=4.0)
    h0 = torch.randn(2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        states = model(torch.zeros(2, 80, 0, dtype=torch.float64), h0=h0).states
    ratio = states[:, -1].norm(dim=1) / h0.norm(dim=1)
    assert ratio.numpy() == pytest.approx(math.exp(-8.0 / 4.0), rel=1e-2)


# ---------------------------------------------------------------------------- paper's route
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_paper_numeric_initialization_lands_at_the_analytic_scale(flow):
    """Kim, Can, Krishnamurthy (ICML 2023) initialize numerically: Kaiming-normal weights
    (std sqrt(2 / fan_in)), eta = max Re eig of the Jacobian of -h + F(h), then every flow
    weight matrix times (1 / (eta + 1))^(1/L).  The theory gives the factor c with
    c^L rho(sqrt 2) = 1 directly.  eta + 1 = max Re eig(J_F) sits at the disk's edge, which
    exceeds rho by 0.04 +- 0.04 at N = 512 (module docstring): the factors agree within
    0.12 / L."""
    hidden, act, out = FLOWS[flow]
    model = NODE(N, 0, 1, flow_hidden=hidden, activation=act, output_activation=out,
                 bias=False)
    L = model.field.depth
    gen = torch.Generator().manual_seed(21)
    with torch.no_grad():
        for lin in model.field.flow:
            torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=gen)
    _, j = _jac_at_fixed_point(model, seed=3)
    eta = float(torch.linalg.eigvals(j - torch.eye(N, dtype=torch.float64)).real.max())
    numeric = (1.0 / (eta + 1.0)) ** (1.0 / L)
    ens = Ensemble(flow=tuple(la.__class__(math.sqrt(2.0), la.activation, 0.0, la.width)
                              for la in ensemble_of(model).flow))
    analytic = dmft.critical_gain(ens)
    assert numeric == pytest.approx(analytic, rel=0.12 / L), (numeric, analytic)
    with torch.no_grad():
        for lin in model.field.flow:
            lin.weight.mul_(numeric)
    _, j = _jac_at_fixed_point(model, seed=3)
    assert float(torch.linalg.eigvals(j).real.max()) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------- trainability
def _growth_rate(field, seed, *, t_total=100.0, t_skip=20.0, dt=0.2):
    """(log|v(T)| - log|v(T0)|) / (T - T0) for a tangent vector v = (dh(t)/dh(0)) v0 carried
    along an Euler trajectory (forward-mode jvp through the solver)."""
    n = field.state_dim
    gen = torch.Generator().manual_seed(seed)
    h0 = torch.randn(1, n, generator=gen, dtype=torch.float64)
    v0 = torch.randn(1, n, generator=gen, dtype=torch.float64)
    k0, k1 = round(t_skip / dt), round(t_total / dt)
    first = field.prepare()

    def run(h):
        out = []
        for k in range(1, k1 + 1):
            h = h + dt * field.rhs(h, None, first)
            if k in (k0, k1):
                out.append(h)
        return tuple(out)

    with torch.no_grad():
        _, (a, b) = torch.func.jvp(run, (h0,), (v0,))
    return (math.log(float(b.norm())) - math.log(float(a.norm()))) / (t_total - t_skip)


def test_growth_rate_is_zero_at_critical_and_signed_off_it():
    """Elman, N = 512, T = 100 tau: stable at 0.5x (rate -(1 - rho)/tau = -0.5, within the
    disk-edge excess 0.5 * 0.04 and a 0.04 window error), ~0 at critical (|rate| < 0.05: edge
    excess 0.04), positive at 2x (chaos)."""
    model = Elman(N, 0, 1, bias=False)
    f = model.field
    critical_(model, 0.5, seed=0)
    assert _growth_rate(f, 0) == pytest.approx(-0.5, abs=0.06)
    critical_(model, 1.0, seed=0)
    assert abs(_growth_rate(f, 0)) < 0.05
    critical_(model, 2.0, seed=0)
    assert _growth_rate(f, 0) > 0.02


def test_constant_gate_scales_the_growth_rate():
    """A constant gate G* rescales time (THEORY 6): rate(G*) = G* rate(1).  Same flow weights,
    G* = 1/2; T and T0 halved for the ungated run so both see the same trajectory; the only
    difference is the Euler step (0.1 vs 0.2 effective): tolerance 3 %."""
    gated = MGRU(256, 0, 1, bias=False)
    critical_(gated, 0.5, seed=4, gate_gain=0.0, gate_bias_std=0.0, timescale=2.0)
    plain = Elman(256, 0, 1, bias=False)
    from_ensemble_(plain, ensemble_of(gated).without_gate(), 4)
    r_gated = _growth_rate(gated.field, 1, t_total=60.0, t_skip=20.0, dt=0.2)
    r_plain = _growth_rate(plain.field, 1, t_total=30.0, t_skip=10.0, dt=0.1)
    assert r_gated == pytest.approx(0.5 * r_plain, rel=0.03)


@pytest.mark.slow
def test_growth_rate_agrees_with_dmft_lambda_max():
    """lambda_max from the Schroedinger problem of dmft.stationary (THEORY 4) vs the tangent
    growth rate of an Elman network at g = 2: N = 1024, 2 realizations, window [50, 300] tau,
    Euler dt = 0.1.  Measured: 0.1035, 0.1133 against 0.1125.  Finite-time sd of one estimate
    ~ 0.006, finite-N bias O(1/N), Euler bias O(dt lambda): tolerance 15 %.
    (Closer to the transition, g = 1.5, lambda = 0.047 is small and the same N and T give
    0.031 +- 0.008: finite-size/finite-time effects grow as lambda -> 0; not tested here.)"""
    stationary = getattr(dmft, "stationary", None)
    if stationary is None:
        pytest.skip("dmft.stationary is not available")
    lam = stationary(Ensemble.elman(2.0)).lyapunov_max
    model = Elman(1024, 0, 1, bias=False)
    rates = []
    for seed in range(2):
        critical_(model, 2.0, seed=seed)
        rates.append(_growth_rate(model.field, seed, t_total=300.0, t_skip=50.0, dt=0.1))
    assert np.mean(rates) == pytest.approx(lam, rel=0.15), (rates, lam)


def test_ncode_base_flow_is_initialized_critically():
    """critical_ on N-CODE sets the static flow W^0 (the controller starts at zero)."""
    model = NCODE(N, 0, 1, flow_hidden=(), activation="tanh", output_activation="tanh")
    critical_(model, seed=2)
    r = gnode.spectral_radius(model)
    assert 0.93 < r < 1.2
