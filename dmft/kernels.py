"""Gaussian kernels of the registered activations (docs/theory.md section 2).

The activations themselves (numpy, closed-form, numba and torch forms) are the table of
:mod:`dmft.activations`; its registry functions are re-exported here.

For a zero-mean Gaussian pair (u, u') with variances q, q' and covariance c::

    K_phi(q, q', c)  = E[phi(u) phi(u')]
    dK_phi/dc        = E[phi'(u) phi'(u')]          (Price's theorem)

Closed forms (derived and checked in :mod:`dmft.symbolic` and the tests):

- identity: K = c, dK/dc = 1.
- relu (arc-cosine kernel of degree 1, Cho & Saul 2009):
  K = sqrt(q q') / (2 pi) * (sin t + (pi - t) cos t),  t = arccos(c / sqrt(q q')),
  dK/dc = (pi - t) / (2 pi).
- erf (Williams 1997): K = (2/pi) arcsin(2c / sqrt((1 + 2q)(1 + 2q'))),
  dK/dc = (4/pi) / sqrt((1 + 2q)(1 + 2q') - 4c^2).

Everything else (tanh, sigmoid, softplus, user-registered callables) uses quadrature: a
trapezoid rule in the standard-normal variables on |z| <= 8.5. For integrands analytic in a strip
of half-width d around the real axis its error is O(P exp(-2 pi d / h)), P a polynomial prefactor
growing with the pole order; tanh(sqrt(q) z) has d = pi / (2 sqrt q).  By default the spacing is
chosen from the largest variance in the call, h = min(h0, 0.33 / sqrt(q_max)), so that
2 pi d / h >= 30 (error ~ 1e-13 P); the Gaussian weight alone errs by exp(-2 pi^2 / h^2), nil
for h <= 0.25.  h0 = 0.0425 in 1-D (401 nodes at least, at most 4001) and 0.25 in 2-D
(69 x 69 nodes at least, at most 601 per axis, reached at q ~ 1200).  Kinks (user
activations) give O(h^2).

Composition through a flow (:func:`flow_kernel`): a layer maps the second moments of its input
(q, q', c) to those of its preactivation, (g^2 q + sigma^2, g^2 q' + sigma^2, g^2 c + sigma^2), then
through the activation kernel; the derivative with respect to the input covariance is the product
of g_l^2 E[phi_l'(u) phi_l'(u')] over layers (chain rule with Price's theorem).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import _validate as _v
from .activations import Activation, activations, get_activation, register_activation

if TYPE_CHECKING:  # pragma: no cover
    from .ensemble import Ensemble, Layer

__all__ = [
    "Activation", "register_activation", "get_activation", "activations",
    "kernel", "dkernel", "kernel_pair", "second_moment", "dsecond_moment", "gaussian_mean",
    "flow_kernel", "FlowKernel", "flow_variances",
]

ArrayLike = float | np.ndarray


# ---------------------------------------------------------------------------- quadrature
_Z_MAX = 8.5
_N1 = 401   # 1-D trapezoid nodes on [-8.5, 8.5] at least: h = 0.0425
_N2 = 69    # 2-D tensor trapezoid nodes per axis at least: h = 0.25


def _trapezoid_normal(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w with sum_k w_k f(z_k) ~ E[f(Z)], Z ~ N(0, 1)."""
    z = np.linspace(-_Z_MAX, _Z_MAX, n)
    w = np.exp(-0.5 * z * z) * (z[1] - z[0]) / math.sqrt(2 * math.pi)
    w[0] *= 0.5
    w[-1] *= 0.5
    return z, w / w.sum()   # renormalize: removes the O(1e-17) truncated tail mass


_RULES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


#: the most trapezoid nodes per axis accepted for ``n_quad`` (a 2-D rule of this size is 8e8
#: nodes per kernel value)
_N_QUAD_MAX = 20001


def _rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _RULES:
        _RULES[_v.integer("n_quad", n, low=3, high=_N_QUAD_MAX)] = _trapezoid_normal(int(n))
    return _RULES[n]


def _auto_n(n: int | None, q_max: float, n_min: int, n_max: int) -> int:
    """Nodes for spacing h = min(17 / (n_min - 1), 0.33 / sqrt(q_max)) (module docstring)."""
    if n is not None:
        return n
    if not np.isfinite(q_max) or q_max <= 0:
        return n_min
    need = int(math.ceil(2 * _Z_MAX * math.sqrt(q_max) / 0.33)) + 1
    return int(min(max(n_min, need | 1), n_max))


def _quad_1d(f: Callable, q: np.ndarray, n: int | None, mean: ArrayLike = 0.0) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    z, w = _rule(_auto_n(n, float(np.max(q, initial=0.0)), _N1, 4001))
    u = np.asarray(mean, dtype=float)[..., None] + np.sqrt(np.maximum(q, 0.0))[..., None] * z
    return f(u) @ w


def _grid_2d(q1, q2, c, n: int | None):
    """Nodes u = sqrt(q1) z1 (..., n), u' = a z1 + b z2 (..., n, n) and weights (n,) of the
    tensor trapezoid rule for a zero-mean Gaussian pair with moments (q1, q2, c)."""
    q1, q2, c = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (q1, q2, c)))
    z, w = _rule(_auto_n(n, float(max(np.max(q1, initial=0.0), np.max(q2, initial=0.0))),
                         _N2, 601))
    _v.check_memory(8.0 * 3 * q1.size * z.size * z.size,
                    f"a 2-D Gaussian quadrature of {q1.size} kernel values on {z.size}^2 nodes")
    s1 = np.sqrt(np.maximum(q1, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(s1 > 0, c / np.where(s1 > 0, s1, 1.0), 0.0)
    b = np.sqrt(np.maximum(q2 - a * a, 0.0))
    u1 = s1[..., None] * z
    u2 = a[..., None, None] * z[:, None] + b[..., None, None] * z[None, :]
    return u1, u2, w


def _quad_2d(f: Callable, q1, q2, c, n: int | None) -> np.ndarray:
    """E[f(u) f(u')] for a zero-mean Gaussian pair (u, u') with moments (q1, q2, c)."""
    u1, u2, w = _grid_2d(q1, q2, c, n)
    return ((f(u2) @ w) * f(u1)) @ w


# ---------------------------------------------------------------------------- domain
#: relative slack of the Cauchy-Schwarz bound |c| <= sqrt(q1 q2) (rounding of composed moments)
_CS_SLACK = 1e-9


def _moments(q1, q2, c, names=("q1", "q2", "c")):
    """Validated float arrays (q1, q2, c): finite, q1, q2 >= 0, |c| <= sqrt(q1 q2) (a Gaussian
    pair with these second moments exists), broadcast to a common shape."""
    a = _v.real_array(names[0], q1, low=0.0)
    b = _v.real_array(names[1], q2, low=0.0)
    x = _v.real_array(names[2], c)
    try:
        a, b, x = np.broadcast_arrays(a, b, x)
    except ValueError:
        raise ValueError(f"{', '.join(names)} must broadcast to a common shape, got shapes "
                         f"{np.shape(q1)}, {np.shape(q2)}, {np.shape(c)}") from None
    with np.errstate(over="ignore"):
        bound = np.sqrt(a * b)
    bad = np.abs(x) > bound * (1.0 + _CS_SLACK) + 1e-300
    if bad.any():
        i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise ValueError(
            f"{names[2]} must satisfy |{names[2]}| <= sqrt({names[0]} {names[1]}) (the "
            f"covariance of a Gaussian pair), got {names[2]} = {float(x[i])!r} with "
            f"{names[0]} = {float(a[i])!r}, {names[1]} = {float(b[i])!r}")
    return a, b, x


def _variance(q, name="q"):
    return _v.real_array(name, q, low=0.0)


# ---------------------------------------------------------------------------- public kernels
def _check_method(method: str, act: Activation) -> bool:
    """True to use the closed form."""
    _v.choice("method", method, ("auto", "closed", "quadrature"))
    if method == "closed" and not act.has_closed_form:
        raise ValueError(f"activation {act.name!r} has no closed-form kernel; use "
                         "method='quadrature' or 'auto'")
    return method != "quadrature" and act.has_closed_form


def kernel(activation: str | Activation, q1: ArrayLike, q2: ArrayLike, c: ArrayLike, *,
           method: str = "auto", n_quad: int | None = None) -> np.ndarray:
    """K_phi(q1, q2, c) = E[phi(u) phi(u')] for a zero-mean Gaussian pair (vectorized).

    Parameters
    ----------
    activation : str or Activation
    q1, q2 : array_like
        Variances of u and u' (>= 0).
    c : array_like
        Covariance, |c| <= sqrt(q1 q2).
    method : {'auto', 'closed', 'quadrature'}
    n_quad : int, optional
        Trapezoid nodes per axis for the quadrature route (default: chosen from the largest
        variance, see the module docstring).

    Examples
    --------
    On the diagonal the relu kernel is E[relu(u)^2] = q / 2; for the smooth erf the closed
    form (Williams 1997) and the quadrature route agree to the quadrature's accuracy:

    >>> float(kernel("relu", 2.0, 2.0, 2.0))
    1.0
    >>> abs(float(kernel("erf", 1.0, 2.0, 0.5, method="quadrature")
    ...           - kernel("erf", 1.0, 2.0, 0.5))) < 1e-12
    True
    """
    act = get_activation(activation)
    q1, q2, c = _moments(q1, q2, c)
    return _kernel(act, q1, q2, c, method, n_quad)


def _kernel(act: Activation, q1, q2, c, method, n_quad) -> np.ndarray:
    if _check_method(method, act):
        return np.asarray(act.kernel_closed(q1, q2, c), dtype=float)
    return _quad_2d(act.fn, q1, q2, c, n_quad)


def dkernel(activation: str | Activation, q1: ArrayLike, q2: ArrayLike, c: ArrayLike, *,
            method: str = "auto", n_quad: int | None = None) -> np.ndarray:
    """dK_phi/dc = E[phi'(u) phi'(u')] (Price's theorem), vectorized; domain as :func:`kernel`."""
    act = get_activation(activation)
    q1, q2, c = _moments(q1, q2, c)
    if _check_method(method, act):
        return np.asarray(act.dkernel_closed(q1, q2, c), dtype=float)
    return _quad_2d(act.deriv, q1, q2, c, n_quad)


def kernel_pair(activation: str | Activation, q1: ArrayLike, q2: ArrayLike, c: ArrayLike, *,
                method: str = "auto", n_quad: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(K_phi, dK_phi/dc) in one pass: the quadrature route shares its nodes between both."""
    act = get_activation(activation)
    q1, q2, c = _moments(q1, q2, c)
    return _kernel_pair(act, q1, q2, c, method, n_quad)


def _kernel_pair(act: Activation, q1, q2, c, method, n_quad):
    if _check_method(method, act):
        return (np.asarray(act.kernel_closed(q1, q2, c), dtype=float),
                np.asarray(act.dkernel_closed(q1, q2, c), dtype=float))
    u1, u2, w = _grid_2d(q1, q2, c, n_quad)
    (f1, d1), (f2, d2) = act.values(u1), act.values(u2)
    return ((f2 @ w) * f1) @ w, ((d2 @ w) * d1) @ w


def second_moment(activation: str | Activation, q: ArrayLike, *, method: str = "auto",
                  n_quad: int | None = None) -> np.ndarray:
    """E[phi(u)^2], u ~ N(0, q): the kernel on the diagonal, K_phi(q, q, q) (1-D); q >= 0."""
    return _second_moment(get_activation(activation), _variance(q), method, n_quad)


def _second_moment(act: Activation, q, method, n_quad) -> np.ndarray:
    if _check_method(method, act) and act.second_moment_closed is not None:
        return np.asarray(act.second_moment_closed(np.asarray(q, dtype=float)), dtype=float)
    return _quad_1d(lambda x: np.square(act.fn(x)), q, n_quad)


def dsecond_moment(activation: str | Activation, q: ArrayLike, *, method: str = "auto",
                   n_quad: int | None = None) -> np.ndarray:
    """E[phi'(u)^2], u ~ N(0, q): dK_phi/dc on the diagonal (1-D); q >= 0."""
    return _dsecond_moment(get_activation(activation), _variance(q), method, n_quad)


def _dsecond_moment(act: Activation, q, method, n_quad) -> np.ndarray:
    if _check_method(method, act) and act.dsecond_moment_closed is not None:
        return np.asarray(act.dsecond_moment_closed(np.asarray(q, dtype=float)), dtype=float)
    return _quad_1d(lambda x: np.square(act.deriv(x)), q, n_quad)


def gaussian_mean(f: Callable | str | Activation, mean: ArrayLike, var: ArrayLike, *,
                  n_quad: int | None = None) -> np.ndarray:
    """E[f(u)] for u ~ N(mean, var) (1-D quadrature); ``f`` a callable or an activation name."""
    if not callable(f) or isinstance(f, Activation):
        f = get_activation(f).fn
    mean = _v.real_array("mean", mean)
    var = _variance(var, "var")
    try:
        np.broadcast_shapes(mean.shape, var.shape)
    except ValueError:
        raise ValueError(f"mean and var must broadcast, got shapes {mean.shape}, "
                         f"{var.shape}") from None
    return _quad_1d(f, var, n_quad, mean)


# ---------------------------------------------------------------------------- composition
@dataclass(frozen=True)
class FlowKernel:
    """Second moments propagated through a flow (all arrays broadcast to a common shape).

    Attributes
    ----------
    k : ndarray
        K_F = E[F_i(h) F_i(h')] (the output covariance).
    k1, k2 : ndarray
        E[F_i(h)^2], E[F_i(h')^2].
    dk : ndarray or None
        dK_F/dc_in, c_in the input covariance (product of g_l^2 E[phi_l' phi_l'] over layers).
    pre : tuple of (q1, q2, c)
        Preactivation moments of u^1 ... u^L.
    """

    k: np.ndarray
    k1: np.ndarray
    k2: np.ndarray
    dk: np.ndarray | None
    pre: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]


def _layers(flow) -> tuple[Layer, ...]:
    from .ensemble import Ensemble, Layer
    if isinstance(flow, Ensemble):
        return flow.flow
    if isinstance(flow, Layer):
        return (flow,)
    if isinstance(flow, str) or not isinstance(flow, Sequence) or not flow \
            or not all(isinstance(la, Layer) for la in flow):
        raise _v.ParameterTypeError(f"flow must be a dmft.Ensemble or a non-empty sequence of "
                                    f"dmft.Layer, got {_v._shown(flow)}")
    return tuple(flow)


def flow_kernel(flow: Ensemble | Sequence[Layer], q1: ArrayLike, q2: ArrayLike, c: ArrayLike,
                *, derivative: bool = True, method: str = "auto",
                n_quad: int | None = None, n_quad_diag: int | None = None) -> FlowKernel:
    """Output kernel of the flow F for inputs with second moments (q1, q2, c).

    Implements docs/theory.md section 2: for each layer l,
    (q, q', c) -> (g_l^2 q + s_l^2, g_l^2 q' + s_l^2, g_l^2 c + s_l^2) then through phi_l,
    and dK_F/dc = prod_l g_l^2 E[phi_l'(u^l) phi_l'(u'^l)].

    Parameters
    ----------
    flow : Ensemble or sequence of Layer
    q1, q2, c : array_like
        Second moments of the flow's input h: |h|^2/N, |h'|^2/N, h.h'/N (q1, q2 >= 0 and
        |c| <= sqrt(q1 q2), as for :func:`kernel`).
    derivative : bool
        Also return dK_F/dc.
    n_quad, n_quad_diag : int, optional
        Quadrature nodes for the 2-D kernels and for the 1-D diagonal moments (default: chosen
        from the variances, see the module docstring).

    Raises
    ------
    ValueError
        Moments outside their domain, or moments that overflow float64 on the way through the
        layers (gains far beyond the theory's numerical range): never a silent NaN.
    """
    layers = _layers(flow)
    derivative = _v.flag("derivative", derivative)
    a, b, x = _moments(q1, q2, c)
    fk = _flow_kernel(layers, a, b, x, derivative, method, n_quad, n_quad_diag)
    for name, arr in (("K_F", fk.k), ("E[F^2]", fk.k1), ("dK_F/dc", fk.dk)):
        if arr is not None and np.isnan(arr).any():
            raise ValueError(
                f"flow_kernel: {name} is not defined in float64 for these inputs (the moments "
                f"overflow through the layers: gains {[la.gain for la in layers]}, largest "
                f"input variance {float(np.max(np.maximum(a, b), initial=0.0)):g}); the gains "
                "or variances are beyond the theory's numerical range")
    return fk


def _flow_kernel(layers, a, b, x, derivative, method, n_quad, n_quad_diag) -> FlowKernel:
    """:func:`flow_kernel` on validated moments (overflow gives inf or NaN, no check)."""
    dk = np.ones(a.shape) if derivative else None
    pre = []
    diag = np.array_equal(a, b) and np.array_equal(a, x)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in layers:
            g2, s2 = layer.gain * layer.gain, layer.bias_std * layer.bias_std
            a, b, x = g2 * a + s2, g2 * b + s2, g2 * x + s2
            pre.append((a, b, x))
            act = get_activation(layer.activation)
            if diag:
                if derivative:
                    dk = dk * g2 * _dsecond_moment(act, a, method, n_quad_diag)
                a = b = x = _second_moment(act, a, method, n_quad_diag)
                continue
            ka = _second_moment(act, a, method, n_quad_diag)
            kb = ka if np.array_equal(a, b) else _second_moment(act, b, method, n_quad_diag)
            if derivative:
                x, d = _kernel_pair(act, a, b, x, method, n_quad)
                dk = dk * g2 * d
            else:
                x = _kernel(act, a, b, x, method, n_quad)
            a, b = ka, kb
    return FlowKernel(x, a, b, dk, tuple(pre))


def flow_variances(flow: Ensemble | Sequence[Layer], q: ArrayLike, *,
                   method: str = "auto") -> tuple[np.ndarray, ...]:
    """Preactivation variances (q_1, ..., q_L) of u^1..u^L for inputs with |h|^2/N = q."""
    return tuple(p[0] for p in flow_kernel(flow, q, q, q, derivative=False, method=method).pre)
