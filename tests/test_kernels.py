"""dmft.kernels: closed forms vs quadrature vs Monte Carlo, Price's theorem, sympy, composition."""

import math

import numpy as np
import pytest
import sympy as sp

from dmft import Ensemble, Layer, kernels
from dmft import symbolic as S

# Points (q1, q2, rho) with c = rho sqrt(q1 q2): small/large variances, both signs, near |rho| = 1.
POINTS = [(0.05, 0.05, 0.3), (0.5, 2.0, -0.7), (1.0, 1.0, 0.999), (2.0, 0.3, 0.0),
          (4.0, 4.0, 1.0), (8.0, 3.0, 0.6), (1e-6, 1.0, 0.5)]
ALL = ["identity", "relu", "erf", "tanh", "sigmoid", "softplus"]


def _qqc(p):
    q1, q2, r = p
    return q1, q2, r * math.sqrt(q1 * q2)


@pytest.mark.parametrize("name", ["identity", "relu", "erf"])
@pytest.mark.parametrize("p", POINTS)
def test_closed_form_matches_quadrature(name, p):
    q1, q2, c = _qqc(p)
    # Smooth integrands (identity, erf): the trapezoid rule is spectrally accurate for q <= 10
    # (error bound in kernels' docstring), so 1e-9.  relu has a kink: error O(h^2 f'') with
    # h = 17/(n-1); with n = 801, h^2 = 4.5e-4 -> relative 2e-3 of the scale q.
    n, tol = (121, 1e-9) if name != "relu" else (801, 2e-3)
    scale = max(q1, q2, 1e-3)
    k_c = kernels.kernel(name, q1, q2, c, method="closed")
    k_q = kernels.kernel(name, q1, q2, c, method="quadrature", n_quad=n)
    assert abs(k_c - k_q) <= tol * scale
    if name != "relu" or abs(p[2]) < 0.99:   # relu' is a step: dK/dc jumps at |rho| = 1
        d_c = kernels.dkernel(name, q1, q2, c, method="closed")
        d_q = kernels.dkernel(name, q1, q2, c, method="quadrature", n_quad=n)
        assert abs(d_c - d_q) <= (tol if name != "relu" else 5e-3)


@pytest.mark.parametrize("name", ALL)
def test_kernel_matches_monte_carlo(name):
    """E[phi(u)phi(u')] and E[phi'phi'] against 10^6 samples; tolerance 5 standard errors."""
    rng = np.random.default_rng(0)
    m = 1_000_000
    act = kernels.get_activation(name)
    for q1, q2, c in (_qqc(p) for p in POINTS[:4]):
        z1, z2 = rng.standard_normal((2, m))
        u = math.sqrt(q1) * z1
        a = c / math.sqrt(q1)
        up = a * z1 + math.sqrt(max(q2 - a * a, 0.0)) * z2
        for f, k in ((act.fn, kernels.kernel), (act.deriv, kernels.dkernel)):
            x = f(u) * f(up)
            se = x.std() / math.sqrt(m)
            assert abs(k(name, q1, q2, c) - x.mean()) <= 5 * se + 1e-12


@pytest.mark.parametrize("name", ALL)
def test_price_theorem(name):
    """dK/dc from central differences equals dkernel (Price's theorem).  Central-difference
    error eps^2 K'''/6 ~ 1e-9 for eps = 1e-4; rounding 1e-16/eps = 1e-12.  The quadrature route
    shares its nodes between K(c+eps) and K(c-eps), so its rule error cancels to first order."""
    eps = 1e-4
    for q1, q2, r in [(0.5, 2.0, -0.7), (1.0, 1.5, 0.3), (3.0, 3.0, 0.8)]:
        c = r * math.sqrt(q1 * q2)
        fd = (kernels.kernel(name, q1, q2, c + eps) - kernels.kernel(name, q1, q2, c - eps)) / (
            2 * eps)
        assert fd == pytest.approx(kernels.dkernel(name, q1, q2, c), abs=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_second_moments_are_the_diagonal_kernel(name):
    q = np.array([1e-4, 0.3, 1.0, 5.0, 20.0])
    # Both rules pick h with 2 pi d / h >= 30 for poles at distance d = pi / (2 sqrt q) (tanh):
    # error ~ P e^-30 = 1e-13 P, P <~ 1e4 for the 4th-order poles of phi'^2: 1e-9.
    np.testing.assert_allclose(kernels.second_moment(name, q), kernels.kernel(name, q, q, q),
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(kernels.dsecond_moment(name, q), kernels.dkernel(name, q, q, q),
                               rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", ["relu", "erf", "identity"])
def test_sympy_derivations_agree_with_numeric_closed_forms(name):
    q, q2, c = S.symbols()
    assert S.price_residual(name) == 0   # Price's theorem holds exactly for the closed forms
    K = sp.lambdify((q, q2, c), S.closed_kernel(name), "numpy")
    D = sp.lambdify((q, q2, c), S.closed_dkernel(name), "numpy")
    for q1v, q2v, cv in (_qqc(p) for p in POINTS[:4]):
        assert kernels.kernel(name, q1v, q2v, cv) == pytest.approx(K(q1v, q2v, cv), rel=1e-12,
                                                                   abs=1e-15)
        assert kernels.dkernel(name, q1v, q2v, cv) == pytest.approx(D(q1v, q2v, cv), rel=1e-12)
    if name != "erf":   # sympy integrates these Gaussian moments in closed form
        m2 = sp.lambdify(q, S.second_moment(name))
        for qv in (0.1, 1.0, 7.0):
            assert kernels.second_moment(name, qv) == pytest.approx(m2(qv), rel=1e-12)
    dm2 = sp.lambdify(q, S.derivative_moment(name))
    for qv in (0.1, 1.0, 7.0):
        assert kernels.dsecond_moment(name, qv) == pytest.approx(dm2(qv), rel=1e-12)


def test_kernel_boundary_values():
    # c = 0: K = E[phi]^2 (independent inputs);  relu: E[relu(u)] = sqrt(q / (2 pi)).
    assert kernels.kernel("relu", 2.0, 3.0, 0.0) == pytest.approx(math.sqrt(6) / (2 * math.pi))
    assert kernels.kernel("tanh", 2.0, 3.0, 0.0) == pytest.approx(0.0, abs=1e-15)
    sig_mean = kernels.gaussian_mean("sigmoid", 0.0, 2.0)
    assert sig_mean == pytest.approx(0.5, abs=1e-14)   # symmetry sigmoid(-x) = 1 - sigmoid(x)
    assert kernels.kernel("sigmoid", 2.0, 2.0, 0.0) == pytest.approx(0.25, abs=1e-12)


def test_flow_kernel_matches_a_wide_random_network():
    """Output kernel of a 3-layer flow with biases and unequal widths vs finite networks.

    For fixed inputs, (1/N) sum_i F_i(h) F_i(h') fluctuates by O(1/sqrt N) between
    realizations and has an O(1/N) bias; we average R = 6 realizations at N = 3000 and allow
    5 standard errors of that average plus 2/N for the bias."""
    flow = (Layer(1.3, "tanh", 0.4, width=2.0), Layer(1.1, "relu", 0.2, width=0.5),
            Layer(0.9, "erf", 0.3))
    ens = Ensemble(flow=flow)
    n, reps = 3000, 6
    rng = np.random.default_rng(1)
    q1, q2, c = 1.5, 0.8, 0.6
    est = []
    for _ in range(reps):
        w = ens.sample(n, rng)
        z1, z2 = rng.standard_normal((2, n))
        h = math.sqrt(q1) * z1
        a = c / math.sqrt(q1)
        hp = a * z1 + math.sqrt(q2 - a * a) * z2
        outs = []
        for x in (h, hp):
            for W, b, layer in zip(w.flow_weights, w.flow_biases, flow, strict=True):
                x = kernels.get_activation(layer.activation).fn(W @ x + b)
            outs.append(x)
        # normalize by the realized input moments' target: exact inputs moments are (q1, q2, c)
        # only on average; their O(1/sqrt N) error is part of the realization spread.
        est.append(np.mean(outs[0] * outs[1]))
    est = np.asarray(est)
    k = float(kernels.flow_kernel(ens, q1, q2, c).k)
    assert abs(est.mean() - k) <= 5 * est.std(ddof=1) / math.sqrt(reps) + 2 / n


def test_flow_kernel_derivative_is_chain_rule():
    ens = Ensemble(flow=(Layer(1.2, "tanh", 0.3, 0.5), Layer(0.8, "softplus", 0.1),))
    eps = 1e-4
    fk = kernels.flow_kernel(ens, 1.0, 1.0, 0.4)
    fd = (kernels.flow_kernel(ens, 1.0, 1.0, 0.4 + eps).k
          - kernels.flow_kernel(ens, 1.0, 1.0, 0.4 - eps).k) / (2 * eps)
    assert float(fk.dk) == pytest.approx(float(fd), abs=1e-7)


def test_registry_accepts_user_activations_and_rejects_bad_names():
    name = "test_cube_root_tanh"
    if name not in kernels.activations():
        kernels.register_activation(name, lambda x: np.tanh(x) ** 3,
                                    lambda x: 3 * np.tanh(x) ** 2 / np.cosh(x) ** 2,
                                    bounded=True, odd=True)
    k = kernels.kernel(name, 1.0, 1.0, 0.5)
    rng = np.random.default_rng(3)
    z = rng.standard_normal((2, 400_000))
    u, up = z[0], 0.5 * z[0] + math.sqrt(0.75) * z[1]
    x = np.tanh(u) ** 3 * np.tanh(up) ** 3
    assert abs(k - x.mean()) < 5 * x.std() / math.sqrt(x.size)
    with pytest.raises(ValueError, match="already registered"):
        kernels.register_activation(name, np.tanh, np.tanh, bounded=True)
    with pytest.raises(ValueError, match="activation must be one of"):
        kernels.kernel("nope", 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="no closed-form"):
        kernels.kernel("tanh", 1.0, 1.0, 0.5, method="closed")
    with pytest.raises(ValueError, match="method"):
        kernels.kernel("relu", 1.0, 1.0, 0.5, method="exact")
