"""The torch backend of simulate (simulate/_torch.py) against the numba path.

Both backends run the same computation (network, initial state and frame, schedule, noise
stream, trace bookkeeping); they differ only in the order of the sums inside the matrix products
and the element functions (MKL / OpenBLAS, torch / the vectorized numba tanh), i.e. by a few ulp
per operation.  Expected numbers therefore come from the numba path, an independent
implementation of the same equations (docs/theory.md section 7), and every tolerance is a
round-off bound (:func:`_roundoff_tol`).
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulate  # noqa: E402
from dmft import Ensemble, Phase  # noqa: E402

EPS = np.finfo(float).eps
ROOT = Path(__file__).resolve().parents[1]

NETWORKS = {
    # chaotic rate network (N = 100, g = 3, seed 3 is chaotic: tests/test_lyapunov.py)
    "elman": (Ensemble.elman(3.0), 100, 3),
    # gated, biased flow and gate: every term of (7.2)
    "gated": (Ensemble.mgru(3.0, gate_gain=1.5, gate_bias_mean=0.5, bias_std=0.3,
                            gate_bias_std=0.2), 60, 1),
    # two-layer gated flow: the chain J_F = D_2 W^1 D_1 W^0 and the O(N^3) trace
    "multilayer": (Ensemble.gnode((2.0, 2.0), "tanh", "tanh", gate_gain=1.0,
                                  gate_bias_mean=0.2), 60, 1),
    # non-leaky (lam = 0), bounded so that it does not explode
    "nonleaky": (Ensemble.node((1.0,), "tanh", "tanh", leak=False), 60, 1),
}


def _roundoff_tol(lambda_max: float, n_steps: int, t_total: float) -> float:
    """Bound on the difference of two float64 runs of the same computation that differ in
    summation order.

    Each step changes every entry by a few ulp of the block's scale (a product of length N
    rounds like sqrt(N) eps in practice; 64 eps covers N <= 4096 with a margin), the errors add
    over the n_steps steps, and a chaotic flow amplifies them at most like e^{lambda_max t}
    on average (windows here keep lambda_max t_total <= 12, far from the ~36 at which round-off
    reaches O(1)). The exponents are time averages of log|R_jj|, whose error is that of the
    block, and the state is compared relative to its size: both get this bound.
    """
    return 64 * EPS * n_steps * math.exp(max(lambda_max, 0.0) * t_total)


def _pair(net, k, **kw):
    return (simulate.lyapunov_spectrum(net, k, **kw),
            simulate.lyapunov_spectrum(net, k, backend="torch", device="cpu", **kw))


def _assert_same_run(a, b, tol):
    assert a.n_iter == b.n_iter and a.diverged == b.diverged and a.phase == b.phase
    np.testing.assert_allclose(b.exponents, a.exponents, rtol=0, atol=tol)
    np.testing.assert_allclose(b.history, a.history, rtol=0, atol=tol)
    np.testing.assert_allclose(b.block_exponents, a.block_exponents, rtol=0,
                               atol=tol * len(a.block_exponents))  # blocks are T / n_blocks long
    scale = np.max(np.abs(a.final_state))
    np.testing.assert_allclose(b.final_state, a.final_state, rtol=0, atol=tol * scale)
    if a.mean_trace is None:
        assert b.mean_trace is None
    else:  # |tr J| <= N (|phi'| <= 1, gains O(1)): the same relative bound
        assert abs(b.mean_trace - a.mean_trace) <= tol * max(1.0, abs(a.mean_trace))


@pytest.mark.parametrize("method", ["rk4", "euler"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_spectrum_agrees_with_numba_to_roundoff(name, method):
    ens, n, seed = NETWORKS[name]
    net = simulate.sample(ens, n, seed=seed)
    dt = 0.1 if method == "rk4" else 0.05
    kw = dict(t_max=20.0, dt=dt, method=method, t_transient=10.0, t_transient_tangent=5.0,
              seed=3, n_history=10)
    a, b = _pair(net, 10, **kw)
    t_total = 35.0
    tol = _roundoff_tol(a.lambda_max, int(round(t_total / dt)), t_total)
    _assert_same_run(a, b, tol)
    # the comparison can fail: a wrong term of (7.2) moves the exponents by far more
    assert tol < 1e-6 and a.exponents[0] - a.exponents[-1] > 1e-2


@pytest.mark.parametrize("trace", ["ons", "none"])
def test_trace_modes_agree(trace):
    ens, n, seed = NETWORKS["multilayer"]
    net = simulate.sample(ens, n, seed=seed)
    kw = dict(t_max=10.0, dt=0.1, t_transient=5.0, t_transient_tangent=2.0, trace=trace)
    a, b = _pair(net, 4, **kw)
    _assert_same_run(a, b, _roundoff_tol(a.lambda_max, 170, 17.0))


def test_non_chaotic_exponents_agree_over_a_long_window():
    # below the transition (g = 0.6, biased): a stable fixed point, tests/test_lyapunov.py; the
    # round-off does not grow (lambda_max < 0), so the bound is the sum of the per-step errors
    net = simulate.sample(Ensemble.elman(0.6, bias_std=0.4), 30, seed=3)
    kw = dict(t_max=150.0, dt=0.1, t_transient=20.0, t_transient_tangent=10.0)
    a, b = _pair(net, None, **kw)
    assert a.lambda_max < 0 and a.phase == Phase.FIXED_POINT
    tol = _roundoff_tol(a.lambda_max, 1800, 180.0)
    _assert_same_run(a, b, tol)
    assert tol < 1e-9  # the exponents are O(0.1)-O(1): a 1e-9 agreement is not loose


def test_noise_stream_is_the_numba_paths():
    # the torch backend draws the numba kernels' normals (numpy's legacy Mersenne Twister,
    # seeded per chunk like np.random.seed in the kernels): the same noisy run to round-off
    ens = Ensemble.mgru(3.0, gate_gain=1.5, noise_std=0.3)
    net = simulate.sample(ens, 50, seed=1)
    a, b = _pair(net, 5, t_max=10.0, t_transient=5.0, seed=4)
    _assert_same_run(a, b, _roundoff_tol(a.lambda_max, 170, 17.0))
    h0 = simulate.random_state(50, seed=2)
    x = simulate.integrate(net, h0, 10.0, 0.1, seed=5)
    y = simulate.integrate(net, h0, 10.0, 0.1, seed=5, backend="torch")
    tol = _roundoff_tol(a.lambda_max, 100, 10.0) * np.max(np.abs(x.h))
    np.testing.assert_allclose(y.h, x.h, rtol=0, atol=tol)
    z = simulate.integrate(net, h0, 10.0, 0.1, seed=6, backend="torch")
    assert np.max(np.abs(z.final - x.final)) > 1e-2  # another seed: other noise


@pytest.mark.parametrize("method", ["rk4", "euler"])
@pytest.mark.parametrize("name", ["gated", "multilayer", "nonleaky"])
def test_integrate_agrees_with_numba(name, method):
    ens, n, seed = NETWORKS[name]
    net = simulate.sample(ens, n, seed=seed)
    h0 = simulate.random_state(n, seed=2)
    kw = dict(method=method, record_every=3, t_transient=2.0)
    a = simulate.integrate(net, h0, 10.0, 0.1, **kw)
    b = simulate.integrate(net, h0, 10.0, 0.1, backend="torch", **kw)
    scale = np.max(np.abs(a.h))
    tol = _roundoff_tol(0.2, 120, 12.0) * scale  # lambda_max < 0.2 for these (measured 0.14)
    np.testing.assert_array_equal(b.t, a.t)
    np.testing.assert_allclose(b.h, a.h, rtol=0, atol=tol)
    np.testing.assert_allclose(b.final, a.final, rtol=0, atol=tol)
    assert (b.n_steps, b.n_iter, b.converged) == (a.n_steps, a.n_iter, True)
    assert b.residual == pytest.approx(a.residual, rel=1e-9)  # rms|f|: O(1), same bound
    c = simulate.integrate(net, h0, 10.0, 0.1, backend="torch", record=False, **kw)
    assert c.h is None and np.array_equal(c.final, b.final)


def test_divergence_policy_is_the_numba_paths():
    # a non-leaky relu flow at g = 3 explodes (tests/test_lyapunov.py): both backends stop at
    # the same step, with the same reason, final state and exponents
    boom = simulate.sample(Ensemble.node((3.0,), "relu", "identity", leak=False), 30, seed=0)
    h0 = simulate.random_state(30, seed=0)
    keep = h0.copy()
    a = simulate.integrate(boom, h0, 100.0, 0.1)
    b = simulate.integrate(boom, h0, 100.0, 0.1, backend="torch")
    assert np.array_equal(h0, keep)  # the caller's state is not written
    assert b.diverged and not b.converged
    assert (b.diverged_at, b.n_steps, b.reason) == (a.diverged_at, a.n_steps, a.reason)
    # the state grows like e^{2 t} up to rms 1e6: relative round-off, amplified by the growth
    tol = _roundoff_tol(2.0, a.n_steps, a.diverged_at)
    np.testing.assert_allclose(b.final, a.final, rtol=tol)
    np.testing.assert_allclose(b.h, a.h, rtol=0, atol=tol * np.max(np.abs(a.h)))
    for t_tr, t_trt in ((100.0, None), (0.0, None), (0.0, 0.0)):  # each stage diverges once
        a, b = _pair(boom, 4, t_max=100.0, t_transient=t_tr, t_transient_tangent=t_trt)
        assert b.diverged and b.phase == Phase.EXPLOSIVE and not b.converged
        assert (b.diverged_at, b.n_iter, b.reason) == (a.diverged_at, a.n_iter, a.reason)
        np.testing.assert_allclose(b.exponents, a.exponents, rtol=tol)  # +inf, or finite
        np.testing.assert_allclose(b.final_state, a.final_state, rtol=tol)


def test_backend_and_device_are_validated():
    net = simulate.sample(Ensemble.elman(2.0), 10, seed=0)
    h0 = np.zeros(10)
    for kw in (dict(backend="jax"), dict(backend=1), dict(backend="numba", device="cpu"),
               dict(backend="torch", device="no-such-device")):
        with pytest.raises(ValueError, match="backend|device"):
            simulate.lyapunov_spectrum(net, 2, t_max=2.0, **kw)
        with pytest.raises(ValueError, match="backend|device"):
            simulate.integrate(net, h0, 1.0, 0.1, **kw)
    with pytest.raises(TypeError, match="device"):
        simulate.integrate(net, h0, 1.0, 0.1, backend="torch", device=3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            simulate.integrate(net, h0, 1.0, 0.1, backend="torch", device="cuda")
    default = simulate.integrate(net, h0, 1.0, 0.1, backend="torch")
    assert ("cuda" if torch.cuda.is_available() else "cpu") in default.message


def _extra_memory(n, k):
    """Peak resident memory of a 2-step RK4 spectrum (gated, one layer, torch on the CPU) beyond
    the state before it, in a fresh process: benchmarks/lyapunov.py's ``memory_child``."""
    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux /proc/self/clear_refs to reset the peak RSS")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                  "")]))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lyapunov.py"),
                          "--memory-child", str(n), str(k), "torch", "gated"], env=env,
                         capture_output=True, text=True, check=True, timeout=600)
    return int(out.stdout.split()[-1])


def test_memory_is_order_n_k():
    # N = 2048, k = 16: a block [h | Q] is 0.28 MiB, an N x N matrix 32 MiB. The run holds the
    # block, three RK4 buffers, the layer's and the gate's outputs, the QR's Q and the initial
    # frame (about 10 blocks, measured 6); 12 blocks plus 4 MiB (allocator granularity, torch's
    # small vectors) stay far below one N x N array or a stored trajectory
    n, k = 2048, 16
    block = n * (k + 1) * 8
    assert _extra_memory(n, k) <= 12 * block + 4 * 2**20 < n * n * 8


@pytest.mark.slow
def test_memory_at_n4096_k1024():
    # the size: measured 9.3 blocks of 32 MiB (gated); 12 blocks is O(N k) with the
    # count of buffers above, and no trajectory (T / dt states would be another N x 2 per step)
    n, k = 4096, 1024
    assert _extra_memory(n, k) <= 12 * n * (k + 1) * 8


# --------------------------------------------------------------------------- GPU (when present)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@cuda
@pytest.mark.parametrize("name", ["elman", "gated", "multilayer"])
def test_cuda_agrees_with_cpu(name):
    # a short window (lambda_max t_total < 4): CPU and GPU differ in summation order only, so
    # the round-off bound is ~1e-11; the 1e-10 is above it
    ens, n, seed = NETWORKS[name]
    net = simulate.sample(ens, n, seed=seed)
    kw = dict(t_max=10.0, dt=0.1, t_transient=5.0, t_transient_tangent=2.0, seed=1,
              backend="torch")
    a = simulate.lyapunov_spectrum(net, 10, device="cpu", **kw)
    b = simulate.lyapunov_spectrum(net, 10, device="cuda", **kw)
    assert _roundoff_tol(a.lambda_max, 170, 17.0) < 1e-10
    _assert_same_run(a, b, 1e-10)
    h0 = simulate.random_state(n, seed=2)
    x = simulate.integrate(net, h0, 10.0, 0.1, backend="torch", device="cpu")
    y = simulate.integrate(net, h0, 10.0, 0.1, backend="torch", device="cuda")
    np.testing.assert_allclose(y.h, x.h, rtol=0, atol=1e-10 * np.max(np.abs(x.h)))


@cuda
def test_cuda_memory_is_order_n_k():
    # device memory beyond the weights (W, W_z: 2 N^2): the block, the RK4 and layer buffers,
    # the QR's Q and workspace (cuSOLVER), about 10 blocks; 12 blocks bound it
    n, k = 4096, 1024
    net = simulate.sample(Ensemble.mgru(3.0, gate_gain=1.0), n, seed=1)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    simulate.lyapunov_spectrum(net, k, t_max=0.2, dt=0.1, t_ons=0.1, t_transient=0.0,
                               t_transient_tangent=0.0, backend="torch", device="cuda")
    peak = torch.cuda.max_memory_allocated() - base - 2 * n * n * 8
    assert peak <= 12 * n * (k + 1) * 8
