"""One activation table, three implementations: numpy, numba (simulate) and torch (gnode) agree.

Every registered activation is checked: the built-ins and two registered by this module (at
import, so that the parametrization sees them), one with a torch form and one without. Where an
activation has no numba (or torch) form, the check is that simulate (or gnode) refuses it with
a ValueError saying what is missing.

Tolerances, |a - b| <= rtol |b| + atol, with eps = 2^-52:
- values: rtol = 4 eps. numpy's tanh / expit / erf / log are libm or cephes routines within
  1 ulp, the vectorized tanh and sigmoid of dmft._vecmath within 3 ulp of 50-digit mpmath
  (tests/test_vecmath.py). atol = 1e-300: _vecmath clamps |x| at 698 (sigmoid), where the
  value is below 1e-303 (its docstring).
- derivatives: rtol = 16 eps, _vecmath's derivatives being within 12 ulp (tests/test_vecmath.py);
  atol = 4 eps because numpy's and torch's 1 - tanh^2 and s (1 - s) cancel where tanh and s
  round to 1 (absolute error <= 2 eps + rounding, relative error unbounded there).
- torch's softplus returns x (and derivative 1) for x > 20: there it differs from
  log(1 + e^x) (and sigmoid(x)) by log1p(e^-x) < e^-x <= e^-20, the atol used for x > 20 only.
Measured (this grid): at most 1.8 eps relative / 3.3e-16 absolute apart, away from that softplus
threshold. NaN is not in the grid: relu's numba form maps NaN to 0 (``u > 0`` is false).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import simulate
from dmft import Ensemble, Layer, fixed_point, kernels
from dmft import activations as acts
from simulate._network import _act_vec

EPS = np.finfo(float).eps
USER_TORCH = "test_activations_user_atan"
USER_NUMPY_ONLY = "test_activations_user_gauss"


def _torch_atan(t):
    import torch
    return torch.atan(t)


kernels.register_activation(USER_TORCH, np.arctan, lambda x: 1.0 / (1.0 + np.square(x)),
                            bounded=True, odd=True, torch=_torch_atan, overwrite=True)
kernels.register_activation(USER_NUMPY_ONLY, lambda x: np.exp(-np.square(x)),
                            lambda x: -2.0 * x * np.exp(-np.square(x)), bounded=True,
                            overwrite=True)


def _grid() -> np.ndarray:
    big = np.geomspace(1e-300, 1e300, 601)
    special = [0.0, 19.999, 20.0, 20.001, 698.0, 700.0, 709.78, 710.0, np.inf]
    x = np.concatenate([np.linspace(-40.0, 40.0, 8001), big, special])
    return np.concatenate([x, -x])  # -0.0 included


X = _grid()


def _numpy(name: str) -> tuple[np.ndarray, np.ndarray]:
    act = acts.get_activation(name)
    with np.errstate(over="ignore"):  # exp(-x^2), 1 / (1 + x^2) at |x| = 1e300: exactly 0
        f, d = act.fn(X), act.deriv(X)
        fv, dv = act.values(X)
    np.testing.assert_array_equal(fv, f)  # the joint form is the same function
    np.testing.assert_array_equal(dv, d)
    return np.asarray(f, dtype=float), np.asarray(d, dtype=float)


def _assert_close(got, ref, *, rtol, atol, what):
    got = np.asarray(got, dtype=float)
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity
        ok = (got == ref) | (np.abs(got - ref) <= rtol * np.abs(ref) + atol)
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, (f"{what}: {bad.size} points disagree, first x = {X[bad[0]]!r}: "
                           f"{got[bad[0]]!r} vs {ref[bad[0]]!r}")


def _assert_agree(f, d, ref_f, ref_d, what, *, atol_extra=None):
    atol_f = np.full(X.shape, 1e-300)
    atol_d = np.full(X.shape, 4 * EPS)
    if atol_extra is not None:
        atol_f = np.maximum(atol_f, atol_extra)
        atol_d = np.maximum(atol_d, atol_extra)
    _assert_close(f, ref_f, rtol=4 * EPS, atol=atol_f, what=f"{what} value")
    _assert_close(d, ref_d, rtol=16 * EPS, atol=atol_d, what=f"{what} derivative")


@pytest.mark.parametrize("name", acts.activations())
def test_numba_forms_agree_with_numpy_or_are_refused(name):
    act = acts.get_activation(name)
    ens = Ensemble(flow=(Layer(1.0, name),))
    if act.numba_code is None:
        with pytest.raises(ValueError, match=rf"flow\[0\]\.activation '{name}' has no numba form"):
            simulate.sample(ens, 4, seed=0)
        return
    f, d = _numpy(name)
    # the scalar element operation (simulate's _trace_jacobian) ...
    sd = np.array([acts.numba_values(act.numba_code, float(v)) for v in X])
    _assert_agree(sd[:, 0], sd[:, 1], f, d, f"{name}: numba_values")
    # ... and the vectorized pass of simulate's kernels over a block's rows (bias 0)
    u, s, dv = np.empty(X.size), np.empty(X.size), np.empty(X.size)
    _act_vec(act.numba_code, np.ascontiguousarray(X[:, None]), np.zeros(X.size), u, s, dv)
    _assert_agree(s, dv, f, d, f"{name}: simulate._network._act_vec")
    simulate.sample(ens, 4, seed=0)  # accepted


@pytest.mark.parametrize("name", acts.activations())
def test_torch_forms_agree_with_numpy_or_are_refused(name):
    torch = pytest.importorskip("torch")
    from gnode import GNODE
    from gnode._activations import torch_activation

    if acts.get_activation(name).torch is None:
        with pytest.raises(ValueError, match=f"activation '{name}' has no torch form; register"):
            GNODE(3, 0, 1, output_activation=name)
        with pytest.raises(ValueError, match=f"activation '{name}' has no torch form"):
            GNODE(3, 0, 1, flow_hidden=(4,), activation=name)
        return
    f, d = _numpy(name)
    t = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    y = torch_activation(name)(t)
    y.sum().backward()  # elementwise: the gradient of the sum is phi'(x)
    extra = np.where(X > 20.0, np.exp(-20.0), 0.0) if name == "softplus" else None
    _assert_agree(y.detach().numpy(), t.grad.numpy(), f, d, f"{name}: torch", atol_extra=extra)
    GNODE(3, 0, 1, flow_hidden=(4,), activation=name, output_activation=name)  # accepted


def test_gate_is_the_sigmoid_record():
    assert acts.SIGMOID == acts.get_activation("sigmoid").numba_code
    codes = [acts.get_activation(a).numba_code for a in acts.activations()]
    known = [c for c in codes if c is not None]
    assert sorted(known) == list(range(len(known)))  # distinct, no gap
    assert acts.numba_values(len(known), 0.5) != acts.numba_values(len(known), 0.5)  # NaN


def test_user_activation_runs_in_theory_and_in_gnode():
    """With a torch form: theory by quadrature, a gnode model, the critical init of it."""
    pytest.importorskip("torch")
    from gnode import GNODE, critical_, ensemble_of

    fp = fixed_point(Ensemble(flow=(Layer(1.5, USER_TORCH, 0.3),)))
    assert fp.converged and np.isfinite(fp.q) and fp.q > 0
    model = GNODE(6, 0, 1, output_activation=USER_TORCH)
    assert ensemble_of(model).flow[-1].activation == USER_TORCH
    critical_(model, seed=0)


def test_register_activation_checks_the_torch_form():
    with pytest.raises(TypeError, match="torch must be"):
        kernels.register_activation("test_activations_bad", np.tanh, np.tanh, bounded=True,
                                    torch="tanh")


def test_dmft_and_simulate_do_not_import_torch():
    code = ("import sys, dmft, dmft.activations, simulate; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
