"""simulate.sample and the numba vector-field kernels against plain numpy references."""

import numpy as np
import pytest

import simulate
from dmft import Ensemble, Gate, Layer
from simulate._network import _alloc_work, _phi_block, _trace_jacobian

ACTS = {"identity": (lambda u: u, lambda u: np.ones_like(u)),
        "relu": (lambda u: np.maximum(u, 0), lambda u: (u > 0).astype(float)),
        "erf": None, "tanh": (np.tanh, lambda u: 1 - np.tanh(u) ** 2),
        "sigmoid": (lambda u: 1 / (1 + np.exp(-u)),
                    lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2),
        "softplus": (lambda u: np.log1p(np.exp(u)), lambda u: 1 / (1 + np.exp(-u)))}


def _act(name):
    if name == "erf":
        from scipy.special import erf
        return erf, lambda u: 2 / np.sqrt(np.pi) * np.exp(-u * u)
    return ACTS[name]


def reference_rhs_jac(ens, w, h):
    """Plain numpy f(h) and J(h) from docs/theory.md §§1 and 3 (independent of the kernels)."""
    x = h
    JF = np.eye(len(h))
    for layer, W, b in zip(ens.flow, w.flow_weights, w.flow_biases, strict=True):
        fn, dfn = _act(layer.activation)
        u = W @ x + b
        JF = dfn(u)[:, None] * (W @ JF)
        x = fn(u)
    lam = 1.0 if ens.leak else 0.0
    r = -lam * h + x
    n = len(h)
    if ens.gate is None:
        return r / ens.tau, (-lam * np.eye(n) + JF) / ens.tau
    G = 1 / (1 + np.exp(-(w.gate_weight @ h + w.gate_bias)))
    J = G[:, None] * (-lam * np.eye(n) + JF) + (G * (1 - G) * r)[:, None] * w.gate_weight
    return G * r / ens.tau, J / ens.tau


CASES = {
    "elman": Ensemble.elman(2.0, bias_std=0.3),
    "mgru": Ensemble.mgru(2.5, gate_gain=1.5, gate_bias_mean=0.5, bias_std=0.2,
                          gate_bias_std=0.4, tau=2.0),
    "relu2_nonleaky": Ensemble.node((1.4, 1.0), "relu", "identity", bias_std=(0.1, 0.2),
                                    leak=False, widths=(1.5,)),
    "gnode3": Ensemble.gnode((1.2, 1.1, 1.3), "erf", "tanh", bias_std=0.1, gate_gain=1.0,
                             gate_bias_mean=-0.5, widths=(0.7, 2.0)),
    "sigmoid_softplus": Ensemble(flow=(Layer(1.5, "softplus", 0.2, width=1.3),
                                       Layer(2.0, "sigmoid", 0.1)),
                                 gate=Gate(0.8, 1.0, 0.3)),
}


@pytest.mark.parametrize("name", CASES)
def test_rhs_and_jacobian_match_numpy_reference(name):
    ens = CASES[name]
    net = simulate.sample(ens, 23, seed=4)
    h = np.random.default_rng(1).standard_normal(23)
    f_ref, J_ref = reference_rhs_jac(ens, net.weights, h)
    # float64 round-off only: both compute the same sums in a different order
    np.testing.assert_allclose(net.rhs(h), f_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(net.jacobian(h), J_ref, rtol=1e-11, atol=1e-13)
    V = np.random.default_rng(2).standard_normal((23, 5))
    np.testing.assert_allclose(net.jvp(h, V), J_ref @ V, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_tangent_map_matches_finite_differences(name):
    ens = CASES[name]
    net = simulate.sample(ens, 17, seed=9)
    rng = np.random.default_rng(3)
    h, v = rng.standard_normal(17), rng.standard_normal(17)
    eps = 1e-5
    fd = (net.rhs(h + eps * v) - net.rhs(h - eps * v)) / (2 * eps)
    # central difference error O(eps^2 |f'''|) ~ 1e-10; relu kinks are not hit at these points
    np.testing.assert_allclose(net.jvp(h, v), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", CASES)
def test_trace_kernel(name):
    net = simulate.sample(CASES[name], 19, seed=5)
    h = np.random.default_rng(0).standard_normal(19)
    p = net.kernel_args()
    expected = np.trace(net.jacobian(h))
    assert _trace_jacobian(h, 0, p) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # one-layer flows: the fused block pass returns the same trace (NaN for deeper flows)
    tr_fused = _phi_block(h.reshape(-1, 1).copy(), 0, p, np.empty((19, 1)), *_alloc_work(p, 1))
    if net.depth == 1:
        assert tr_fused == pytest.approx(expected, rel=1e-12, abs=1e-12)
    else:
        assert np.isnan(tr_fused)


def test_sample_uses_the_ensemble_sampler():
    ens = CASES["mgru"]
    net = simulate.sample(ens, 30, seed=123)
    w = ens.sample(30, np.random.default_rng(123))
    np.testing.assert_array_equal(net.flow_w[0][0], w.flow_weights[0])
    np.testing.assert_array_equal(net.flow_b[0][0], w.flow_biases[0])
    np.testing.assert_array_equal(net.gate_w[0], w.gate_weight)
    np.testing.assert_array_equal(net.gate_b[0], w.gate_bias)
    assert net.flow_w[0].flags.c_contiguous and net.flow_w[0].dtype == np.float64


def test_block_kernel_state_column_is_rhs():
    net = simulate.sample(CASES["gnode3"], 12, seed=1)
    rng = np.random.default_rng(0)
    Z = np.ascontiguousarray(rng.standard_normal((12, 4)))
    p = net.kernel_args()
    for c in (1, 2, 4):  # the column-wise (gemv) and the gemm branch of _matmul
        out = np.empty((12, c))
        _phi_block(np.ascontiguousarray(Z[:, :c]), 0, p, out, *_alloc_work(p, c))
        np.testing.assert_allclose(out[:, 0], net.rhs(Z[:, 0]), rtol=1e-13, atol=1e-14)
        if c > 1:
            np.testing.assert_allclose(out[:, 1:], net.jvp(Z[:, 0], Z[:, 1:c]), rtol=1e-12,
                                       atol=1e-13)


def test_bad_input():
    with pytest.raises(TypeError, match="seed"):
        simulate.sample(Ensemble.elman(1.0), 5, seed=None)
    net = simulate.sample(Ensemble.elman(1.0), 5, seed=0)
    with pytest.raises(ValueError, match="h must have shape"):
        net.rhs(np.zeros(4))


@pytest.mark.parametrize("name", ["elman", "gnode3"])
def test_large_matrices_take_the_blas_gemv_branch(name):
    """N = 520: the gate and (some) flow matrices have >= _BLAS_GEMV_MIN_SIZE entries, so a
    state evaluation multiplies them with BLAS dgemv; results equal the numpy reference."""
    from simulate._network import _BLAS_GEMV_MIN_SIZE
    ens = CASES[name]
    net = simulate.sample(ens, 520, seed=6)
    assert max(w.size for w in net.weights.flow_weights) >= _BLAS_GEMV_MIN_SIZE
    h = np.random.default_rng(7).standard_normal(520)
    f_ref, J_ref = reference_rhs_jac(ens, net.weights, h)
    # float64 round-off of sums of ~10^3 terms in another order
    np.testing.assert_allclose(net.rhs(h), f_ref, rtol=1e-11, atol=1e-12)
    V = np.random.default_rng(8).standard_normal((520, 1))
    np.testing.assert_allclose(net.jvp(h, V), J_ref @ V, rtol=1e-10, atol=1e-11)
