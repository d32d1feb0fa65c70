"""The activation table: each activation defined once, every package takes its forms from here.

As in neural-tangents (a layer defined once gives both its finite- and its infinite-width form),
one :class:`Activation` record per name holds everything the three packages need:

=============  ============================================================================
numpy          ``fn``, ``deriv`` and the joint ``values(x) = (phi(x), phi'(x))``: the
               theory's quadrature (:mod:`dmft.kernels`), reference computations
theory         ``bounded``, ``odd``, ``homogeneous``; the closed-form kernels K, dK/dc and
               second moments E[phi^2], E[phi'^2] where they exist (else quadrature)
numba          ``numba_code``, the compile-time integer code dispatched by
               :func:`numba_values` / :func:`numba_values_into`, the element operations of
               :mod:`simulate`'s kernels (tanh and sigmoid: the vectorizable loops of
               :mod:`dmft._vecmath`)
torch          ``torch``: the torch function as a dotted path (``"torch.tanh"``) or a callable
               on tensors, resolved by :mod:`gnode` (dmft never imports torch)
=============  ============================================================================

The built-in table (closed forms as in :mod:`dmft.kernels`'s docstring; codes
:data:`IDENTITY` ... :data:`SOFTPLUS`)::

    name      phi(x)             phi'(x)            closed forms       numba  torch
    identity  x                  1                  K, dK, E[phi^2]    0      x
    relu      max(x, 0)          [x > 0]            arc-cosine         1      torch.relu
    erf       erf(x)             2/sqrt(pi) e^-x^2  Williams 1997      2      torch.erf
    tanh      tanh(x)            1 - tanh^2         quadrature         3      torch.tanh
    sigmoid   1 / (1 + e^-x)     s (1 - s)          quadrature         4      torch.sigmoid
    softplus  log(1 + e^x)       sigmoid(x)         quadrature         5      F.softplus

The gate G = sigmoid(...) is the ``sigmoid`` record in every package. torch's softplus returns x
itself above x = 20 (where it differs from log(1 + e^x) by less than e^-20).

A user-registered activation (:func:`register_activation`) needs numpy ``fn`` and ``deriv``; its
kernels come by quadrature, and with ``torch=`` it runs in :mod:`gnode`. It has no numba form:
the simulation kernels are compiled and cached with a fixed dispatch over the built-in codes, so
:mod:`simulate` refuses it with a ValueError naming the built-ins (:func:`numba_code`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy import special

from ._vecmath import sigmoid_sd, sigmoid_sd_into, tanh_sd, tanh_sd_into

__all__ = [
    "Activation", "register_activation", "get_activation", "activations", "numba_code",
    "IDENTITY", "RELU", "ERF", "TANH", "SIGMOID", "SOFTPLUS",
    "numba_values", "numba_values_into",
    "tanh_sd", "sigmoid_sd", "tanh_sd_into", "sigmoid_sd_into",
]

#: numba codes of the built-in activations (compile-time constants in the kernels)
IDENTITY, RELU, ERF, TANH, SIGMOID, SOFTPLUS = range(6)


@dataclass(frozen=True)
class Activation:
    """A registered activation phi with what the theory, simulate and gnode take from it.

    Attributes
    ----------
    name : str
    fn, deriv : callable
        Vectorized numpy functions phi(x) and phi'(x).
    bounded : bool
        |phi| is bounded (a flow containing a bounded layer cannot explode).
    odd : bool
        phi(-x) = -phi(x) (then phi(0) = 0 and h = 0 is a fixed point without biases).
    homogeneous : bool
        phi(a x) = a phi(x) for a > 0 (identity, relu).
    kernel_closed, dkernel_closed : callable or None
        Closed forms (q, q2, c) -> K and -> dK/dc, when known.
    second_moment_closed, dsecond_moment_closed : callable or None
        Closed forms q -> E[phi(u)^2] and q -> E[phi'(u)^2], u ~ N(0, q).
    fn_and_deriv : callable or None
        x -> (phi(x), phi'(x)) sharing work (tanh: phi' = 1 - phi^2), used by :meth:`values`.
    numba_code : int or None
        The code of the element operation in :func:`numba_values` (built-ins only).
    torch : str, callable or None
        The torch form: a dotted path ``"module.attr"`` or a callable on tensors.
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    deriv: Callable[[np.ndarray], np.ndarray]
    bounded: bool
    odd: bool = False
    homogeneous: bool = False
    kernel_closed: Callable | None = None
    dkernel_closed: Callable | None = None
    second_moment_closed: Callable | None = None
    dsecond_moment_closed: Callable | None = None
    fn_and_deriv: Callable | None = None
    numba_code: int | None = None
    torch: str | Callable | None = None

    def values(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(phi(x), phi'(x)), in one evaluation when the activation provides one."""
        if self.fn_and_deriv is not None:
            return self.fn_and_deriv(x)
        return self.fn(x), self.deriv(x)

    @property
    def has_closed_form(self) -> bool:
        return self.kernel_closed is not None and self.dkernel_closed is not None

    @property
    def zero_is_fixed(self) -> bool:
        """phi(0) == 0."""
        return abs(float(self.fn(np.zeros(1))[0])) < 1e-15


_REGISTRY: dict[str, Activation] = {}


def register_activation(name: str, fn: Callable, deriv: Callable, *, bounded: bool,
                        odd: bool = False, homogeneous: bool = False,
                        kernel: Callable | None = None, dkernel: Callable | None = None,
                        torch: str | Callable | None = None,
                        overwrite: bool = False) -> Activation:
    """Register an activation (vectorized numpy ``fn`` and ``deriv``) under ``name``.

    Kernels of an activation registered without closed forms are computed by quadrature.
    ``torch`` (a callable on tensors, or a dotted path such as ``"torch.nn.functional.gelu"``)
    makes it usable in :mod:`gnode` models; without it gnode refuses the name. Simulation
    (:mod:`simulate`) supports the built-in activations only (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> act = register_activation("doc_cubic_tanh", lambda x: np.tanh(x) ** 3,
    ...                           lambda x: 3 * np.tanh(x) ** 2 * (1 - np.tanh(x) ** 2),
    ...                           bounded=True, odd=True, overwrite=True)
    >>> act.has_closed_form, act.numba_code, act.torch
    (False, None, None)
    """
    if not isinstance(name, str) or not name:
        raise TypeError("name must be a non-empty str")
    if not callable(fn) or not callable(deriv):
        raise TypeError("fn and deriv must be callables mapping ndarray -> ndarray")
    if torch is not None and not (callable(torch) or (isinstance(torch, str) and "." in torch)):
        raise TypeError("torch must be a callable on tensors or a dotted path 'module.attr', "
                        f"got {torch!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"activation {name!r} is already registered (pass overwrite=True)")
    act = Activation(name, fn, deriv, bool(bounded), bool(odd), bool(homogeneous), kernel, dkernel,
                     torch=torch)
    _REGISTRY[name] = act
    return act


def get_activation(name: str | Activation) -> Activation:
    """The registered :class:`Activation` called ``name``.

    Examples
    --------
    >>> get_activation("tanh").values(np.array([0.0]))
    (array([0.]), array([1.]))
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        from ._validate import ParameterTypeError
        raise ParameterTypeError(f"activation must be a name (str) or a dmft.kernels.Activation, "
                                 f"got {name!r} ({type(name).__name__})")
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation must be one of {sorted(_REGISTRY)} (or registered with "
            f"dmft.kernels.register_activation), got {name!r}") from None


def activations() -> tuple[str, ...]:
    """Names of the registered activations."""
    return tuple(sorted(_REGISTRY))


def numba_code(name: str | Activation, argname: str = "activation") -> int:
    """The numba code of ``name`` for the simulation kernels.

    Raises
    ------
    ValueError
        The activation has no numba form (user-registered), naming ``argname`` and the
        activations that have one.
    """
    act = get_activation(name)
    if act.numba_code is None:
        have = sorted(a.name for a in _REGISTRY.values() if a.numba_code is not None)
        raise ValueError(
            f"{argname} {act.name!r} has no numba form, so it cannot be simulated: the "
            f"simulation kernels are compiled for the built-in activations {have} only (a "
            "user-registered activation runs in the theory by quadrature, and in gnode when "
            "registered with torch=...)")
    return act.numba_code


# ---------------------------------------------------------------------------- closed forms
def _relu_angle(q1, q2, c):
    s = np.sqrt(q1 * q2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.where(s > 0, c / np.where(s > 0, s, 1.0), 1.0)
    return np.arccos(np.clip(cos_t, -1.0, 1.0)), s


def _relu_kernel(q1, q2, c):
    t, s = _relu_angle(q1, q2, c)
    return s / (2 * np.pi) * (np.sin(t) + (np.pi - t) * np.cos(t))


def _relu_dkernel(q1, q2, c):
    t, _ = _relu_angle(q1, q2, c)
    return (np.pi - t) / (2 * np.pi)


def _erf_kernel(q1, q2, c):
    return (2 / np.pi) * np.arcsin(np.clip(2 * c / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)), -1, 1))


def _erf_dkernel(q1, q2, c):
    return (4 / np.pi) / np.sqrt(np.maximum((1 + 2 * q1) * (1 + 2 * q2) - 4 * c * c, 1e-300))


def _id_kernel(q1, q2, c):
    return np.asarray(c, dtype=float) + 0.0 * q1 * q2


def _id_dkernel(q1, q2, c):
    return np.ones(np.broadcast(q1, q2, c).shape)


# ---------------------------------------------------------------------------- numpy forms
def _tanh_both(x):
    t = np.tanh(x)
    return t, 1.0 - t * t


def _sigmoid_both(x):
    s = special.expit(x)
    return s, s * (1.0 - s)


def _sigmoid(x):
    return special.expit(x)


def _dsigmoid(x):
    s = special.expit(x)
    return s * (1 - s)


def _identity(x):
    """The torch form of ``identity`` (any array type, torch tensors included)."""
    return x


# ---------------------------------------------------------------------------- numba forms
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@njit(inline="always", cache=True)
def _relu_sd(u):
    if u > 0.0:
        return u, 1.0
    return 0.0, 0.0


@njit(inline="always", cache=True)
def _erf_sd(u):
    return math.erf(u), _TWO_OVER_SQRT_PI * math.exp(-u * u)


@njit(inline="always", cache=True)
def _softplus_sd(u):
    """log(1 + e^u) and sigmoid(u) without overflow (the exponent is <= 0)."""
    if u > 0.0:
        e = math.exp(-u)
        return u + math.log1p(e), 1.0 / (1.0 + e)
    e = math.exp(u)
    return math.log1p(e), e / (1.0 + e)


@njit(cache=True)
def numba_values(code, u):
    """(phi(u), phi'(u)) for one float64, phi the built-in activation with numba code ``code``.

    tanh and sigmoid are the element operations of :mod:`dmft._vecmath` (the same as the
    vectorized loops of :func:`numba_values_into`); an unknown code gives (NaN, NaN).
    """
    if code == TANH:
        return tanh_sd(u)
    if code == IDENTITY:
        return u, 1.0
    if code == RELU:
        return _relu_sd(u)
    if code == ERF:
        return _erf_sd(u)
    if code == SIGMOID:
        return sigmoid_sd(u)
    if code == SOFTPLUS:
        return _softplus_sd(u)
    return np.nan, np.nan


@njit(cache=True)
def numba_values_into(code, x, s, d):
    """s[i], d[i] = phi(x[i]), phi'(x[i]) over a contiguous row (``s`` may be ``x``).

    tanh and sigmoid through the vectorizable loops of :mod:`dmft._vecmath` (no libm call;
    see that module and benchmarks/README.md), the others element by element.
    """
    if code == TANH:
        tanh_sd_into(x, s, d)
    elif code == SIGMOID:
        sigmoid_sd_into(x, s, d)
    else:
        for i in range(x.shape[0]):
            s[i], d[i] = numba_values(code, x[i])


# ---------------------------------------------------------------------------- the table
def _builtin(name, fn, deriv, *, bounded, odd=False, homogeneous=False, kernel=None,
             dkernel=None, m2=None, dm2=None, both=None, code, torch):
    _REGISTRY[name] = Activation(name, fn, deriv, bounded, odd, homogeneous, kernel, dkernel,
                                 m2, dm2, both, code, torch)


_builtin("identity", lambda x: np.asarray(x, dtype=float), lambda x: np.ones_like(x, dtype=float),
         bounded=False, odd=True, homogeneous=True, kernel=_id_kernel, dkernel=_id_dkernel,
         m2=lambda q: np.asarray(q, dtype=float), dm2=lambda q: np.ones_like(q, dtype=float),
         code=IDENTITY, torch=_identity)
_builtin("relu", lambda x: np.maximum(x, 0.0), lambda x: (np.asarray(x) > 0).astype(float),
         bounded=False, homogeneous=True, kernel=_relu_kernel, dkernel=_relu_dkernel,
         m2=lambda q: 0.5 * np.asarray(q, dtype=float),
         dm2=lambda q: np.full(np.shape(q), 0.5), code=RELU, torch="torch.relu")
_builtin("erf", special.erf, lambda x: (2 / np.sqrt(np.pi)) * np.exp(-np.square(x)),
         bounded=True, odd=True, kernel=_erf_kernel, dkernel=_erf_dkernel,
         m2=lambda q: (2 / np.pi) * np.arcsin(2 * np.asarray(q) / (1 + 2 * np.asarray(q))),
         dm2=lambda q: (4 / np.pi) / np.sqrt(1 + 4 * np.asarray(q, dtype=float)),
         code=ERF, torch="torch.erf")
_builtin("tanh", np.tanh, lambda x: 1.0 - np.square(np.tanh(x)), bounded=True, odd=True,
         both=_tanh_both, code=TANH, torch="torch.tanh")
_builtin("sigmoid", _sigmoid, _dsigmoid, bounded=True, both=_sigmoid_both, code=SIGMOID,
         torch="torch.sigmoid")
_builtin("softplus", lambda x: np.logaddexp(0.0, x), _sigmoid, bounded=False, code=SOFTPLUS,
         torch="torch.nn.functional.softplus")
