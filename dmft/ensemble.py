"""The random-network ensemble of gated neural ODEs: the single source of truth.

A gated neural ODE (gnODE) with phase-space dimension N (docs/theory.md section 1)::

    tau dh/dt = G(h, x) * ( -lam h + F(h, x) ) + noise_std * sqrt(tau) * xi(t)

with lam = 1 (``leak=True``) or 0, ``xi`` standard white noise (<xi_i(t) xi_j(s)> =
delta_ij delta(t - s), present only when ``noise_std > 0``).

The flow F is an MLP with L weight layers::

    u^1 = W^0 h + U x + b^0,   s^l = phi_l(u^l),   u^{l+1} = W^l s^l + b^l,   F = phi_L(u^L)

so ``Layer`` number l (0-based) holds the weight matrix W^l, the bias b^l and the activation
applied to its output u^{l+1}; the last layer's activation is the output activation phi_out.
The gate is G = sigmoid(W_z h + U_z x + b_z) (``Gate``), or absent (G = 1).

Sampling convention (written here once; ``simulate`` and ``gnode`` use :meth:`Ensemble.sample`)::

    W^l_ij ~ N(0, g_l^2 / fan_in_l)     fan_in_0 = N, fan_in_l = N_l (width of u^l)
    b^l_i  ~ N(0, sigma_l^2)
    W_z,ij ~ N(0, g_z^2 / N),   b_z,i ~ N(mu_z, sigma_z^2)
    U_ij   ~ N(0, g_x^2 / D),   U_z,ij ~ N(0, g_xz^2 / D)

drawn in this order from one ``numpy.random.Generator``: W^0, b^0, W^1, b^1, ..., W_z, b_z, U, U_z
(each matrix as a standard-normal array of shape (fan_out, fan_in), row-major, times its scale).
Biases are drawn even when their spread is zero (then they are exactly zero), so that the stream
of random numbers, and hence the weights for a given seed, does not depend on the spreads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from numbers import Real

import numpy as np

from . import _validate as _v
from .activations import get_activation

__all__ = ["Layer", "Gate", "Ensemble", "Weights", "set_parameter", "PARAMETERS"]


#: the largest gain, bias spread, noise amplitude or time constant accepted: their squares times
#: the moments of the theory (q up to 1e10 in the fixed-point scan) stay far from overflow
MAX_PARAMETER = 1e100


def _check_real(name: str, value, *, low: float | None = 0.0, low_open: bool = False,
                allow_inf: bool = False) -> float:
    """A real parameter in [low, MAX_PARAMETER] as a float (see :mod:`dmft._validate`)."""
    v = _v.real(name, value, low=low, low_open=low_open, allow_inf=allow_inf,
                high=None if allow_inf else MAX_PARAMETER)
    if allow_inf and math.isfinite(v) and abs(v) > MAX_PARAMETER:
        raise ValueError(f"{name} must be +inf or a finite real number with |{name}| <= "
                         f"{MAX_PARAMETER:g}, got {value!r}")
    return v


@dataclass(frozen=True)
class Layer:
    """One weight layer of the flow MLP: u_out = W s_in + b, followed by ``activation``.

    Parameters
    ----------
    gain : float
        g_l >= 0; W_ij ~ N(0, g_l^2 / fan_in).  Zero is allowed (decoupled limit).
    activation : str
        Name in the activation registry (:mod:`dmft.kernels`) applied to this layer's output.
    bias_std : float
        sigma_l >= 0; b_i ~ N(0, sigma_l^2).
    width : float
        Output width as a multiple of N (hidden layers only; the last layer must have 1).
    """

    gain: float
    activation: str = "tanh"
    bias_std: float = 0.0
    width: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", _check_real("gain", self.gain))
        object.__setattr__(self, "bias_std", _check_real("bias_std", self.bias_std))
        object.__setattr__(self, "width", _check_real("width", self.width, low_open=True))
        if not isinstance(self.activation, str):
            raise TypeError(
                f"activation must be a registered activation name (str), got "
                f"{type(self.activation).__name__}"
            )
        get_activation(self.activation)  # raises ValueError naming the known activations


@dataclass(frozen=True)
class Gate:
    """The sigmoid gate G = sigmoid(W_z h + U_z x + b_z).

    Parameters
    ----------
    gain : float
        g_z >= 0; W_z,ij ~ N(0, g_z^2 / N).
    bias_mean : float
        mu_z (any real; +inf is allowed and means G = 1, the non-gated limit).
    bias_std : float
        sigma_z >= 0; b_z,i ~ N(mu_z, sigma_z^2).
    input_gain : float
        g_xz >= 0, the gate's input weights U_z,ij ~ N(0, g_xz^2 / D).
    """

    gain: float = 0.0
    bias_mean: float = 0.0
    bias_std: float = 0.0
    input_gain: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain", _check_real("gate.gain", self.gain))
        mu = _check_real("gate.bias_mean", self.bias_mean, low=None, allow_inf=True)
        if mu == -math.inf:
            raise ValueError("gate.bias_mean must be > -inf (a gate fixed at 0 freezes the state)")
        object.__setattr__(self, "bias_mean", mu)
        object.__setattr__(self, "bias_std", _check_real("gate.bias_std", self.bias_std))
        object.__setattr__(self, "input_gain", _check_real("gate.input_gain", self.input_gain))

    @property
    def is_constant(self) -> bool:
        """True when G is the same constant for every unit and time (g_z = sigma_z = g_xz = 0)."""
        return self.gain == 0.0 and self.bias_std == 0.0 and self.input_gain == 0.0

    @property
    def constant_value(self) -> float:
        """sigmoid(mu_z), the gate value when :attr:`is_constant`."""
        if self.bias_mean == math.inf:
            return 1.0
        return 1.0 / (1.0 + math.exp(-self.bias_mean))


@dataclass(frozen=True)
class Weights:
    """A finite-N realization of an :class:`Ensemble` (float64 numpy arrays).

    Attributes
    ----------
    flow_weights : tuple of ndarray
        W^l with shape (N_{l+1}, N_l); N_0 = N_L = n.
    flow_biases : tuple of ndarray
        b^l with shape (N_{l+1},).
    gate_weight, gate_bias : ndarray or None
        W_z, shape (n, n), and b_z, shape (n,), or None without a gate.
    input_weight, gate_input_weight : ndarray or None
        U, shape (N_1, D), and U_z, shape (n, D), or None when D = 0.
    """

    flow_weights: tuple[np.ndarray, ...]
    flow_biases: tuple[np.ndarray, ...]
    gate_weight: np.ndarray | None = None
    gate_bias: np.ndarray | None = None
    input_weight: np.ndarray | None = None
    gate_input_weight: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Phase-space dimension N."""
        return int(self.flow_weights[0].shape[1])


@dataclass(frozen=True)
class Ensemble:
    """A random gated-nODE ensemble (docs/theory.md section 1).

    Parameters
    ----------
    flow : tuple of Layer
        The flow MLP's weight layers, first to last; ``flow[-1].activation`` is phi_out.
    gate : Gate or None
        The sigmoid gate, or None for a non-gated nODE (G = 1).
    leak : bool
        True for the leaky form ``-h + F`` (lam = 1), False for ``F`` alone (lam = 0).
    tau : float
        Time constant tau > 0.
    noise_std : float
        Amplitude of additive white noise, see the module docstring.
    input_dim : int
        Input dimension D >= 0.
    input_gain : float
        g_x >= 0; U_ij ~ N(0, g_x^2 / D).

    Notes
    -----
    Instances are immutable and hashable; use :meth:`replace`, :meth:`scaled` or the named
    constructors :meth:`elman`, :meth:`scs`, :meth:`node`, :meth:`gnode`, :meth:`mgru`.
    """

    flow: tuple[Layer, ...]
    gate: Gate | None = None
    leak: bool = True
    tau: float = 1.0
    noise_std: float = 0.0
    input_dim: int = 0
    input_gain: float = 0.0

    def __post_init__(self) -> None:
        flow = self.flow
        if isinstance(flow, Layer):
            flow = (flow,)
        if not isinstance(flow, Sequence) or isinstance(flow, str):
            raise TypeError(f"flow must be a sequence of Layer, got {type(flow).__name__}")
        flow = tuple(flow)
        if len(flow) == 0:
            raise ValueError("flow must contain at least one Layer (got an empty flow)")
        for i, layer in enumerate(flow):
            if not isinstance(layer, Layer):
                raise TypeError(f"flow[{i}] must be a Layer, got {type(layer).__name__}")
        if flow[-1].width != 1.0:
            raise ValueError(
                "flow[-1].width must be 1 (the flow's output has dimension N), got "
                f"{flow[-1].width}"
            )
        object.__setattr__(self, "flow", flow)
        if self.gate is not None and not isinstance(self.gate, Gate):
            raise TypeError(f"gate must be a Gate or None, got {type(self.gate).__name__}")
        object.__setattr__(self, "leak", _v.flag("leak", self.leak))
        object.__setattr__(self, "tau", _check_real("tau", self.tau, low_open=True))
        object.__setattr__(self, "noise_std", _check_real("noise_std", self.noise_std))
        object.__setattr__(self, "input_dim", _v.integer("input_dim", self.input_dim, low=0))
        object.__setattr__(self, "input_gain", _check_real("input_gain", self.input_gain))

    # ------------------------------------------------------------------ named special cases
    @classmethod
    def elman(cls, gain: float, bias_std: float = 0.0, **kwargs) -> Ensemble:
        """Elman / random rate network ``tau dh/dt = -h + tanh(W h + b)`` (one tanh layer).

        Seen through u = W h + b this is the Sompolinsky-Crisanti-Sommers (1988) current form
        ``tau du/dt = -u + W tanh(u) + b``.
        """
        return cls(flow=(Layer(gain, "tanh", bias_std),), **kwargs)

    scs = elman

    @classmethod
    def node(cls, gains: float | Sequence[float], hidden: str = "relu",
             output: str = "identity", bias_std: float | Sequence[float] = 0.0,
             leak: bool = True, widths: Sequence[float] | None = None, **kwargs) -> Ensemble:
        """A non-gated neural ODE with an MLP flow (``leak=False``: the non-leaky nODE).

        ``gains`` has one entry per weight layer (a scalar means one layer); hidden layers use
        ``hidden``, the last one ``output``. ``widths`` gives the hidden widths / N.
        """
        flow = _mlp(gains, hidden, output, bias_std, widths)
        return cls(flow=flow, leak=leak, **kwargs)

    @classmethod
    def gnode(cls, gains: float | Sequence[float] = (1.0, 1.0), hidden: str = "relu",
              output: str = "identity", bias_std: float | Sequence[float] = 0.0,
              gate_gain: float = 1.0, gate_bias_mean: float = 0.0, gate_bias_std: float = 0.0,
              leak: bool = True, widths: Sequence[float] | None = None, **kwargs) -> Ensemble:
        """A gated neural ODE (Kim, Can, Krishnamurthy, ICML 2023): MLP flow, one-layer gate."""
        flow = _mlp(gains, hidden, output, bias_std, widths)
        gate = Gate(gate_gain, gate_bias_mean, gate_bias_std)
        return cls(flow=flow, gate=gate, leak=leak, **kwargs)

    @classmethod
    def mgru(cls, gain: float, gate_gain: float = 1.0, gate_bias_mean: float = 0.0,
             bias_std: float = 0.0, gate_bias_std: float = 0.0, **kwargs) -> Ensemble:
        """Minimal gated RNN in continuous time: ``tau dh/dt = G (-h + tanh(W h + b))``."""
        return cls(flow=(Layer(gain, "tanh", bias_std),),
                   gate=Gate(gate_gain, gate_bias_mean, gate_bias_std), **kwargs)

    # ------------------------------------------------------------------ derived views
    @property
    def depth(self) -> int:
        """Number of weight layers L of the flow."""
        return len(self.flow)

    @property
    def gains(self) -> tuple[float, ...]:
        return tuple(layer.gain for layer in self.flow)

    @property
    def gated(self) -> bool:
        """True when a gate is present and is not the constant G = 1."""
        return self.gate is not None and not (self.gate.is_constant
                                              and self.gate.bias_mean == math.inf)

    def widths(self, n: int) -> tuple[int, ...]:
        """Integer widths (N_0, N_1, ..., N_L) at phase-space dimension ``n`` (N_0 = N_L = n)."""
        n = _v.integer("n", n, low=1)
        out = [n]
        for layer in self.flow[:-1]:
            out.append(max(1, int(round(layer.width * n))))
        out.append(int(n))
        return tuple(out)

    def replace(self, **changes) -> Ensemble:
        """A copy with fields replaced (validated again)."""
        return replace(self, **changes)

    def scaled(self, factor: float | Sequence[float]) -> Ensemble:
        """The ensemble with every flow gain multiplied by ``factor`` (scalar or one per layer)."""
        f = _v.real_array("factor", factor, ndim=(0, 1), low=0.0)
        if f.ndim == 1 and f.size != self.depth:
            raise ValueError(f"factor must be a scalar or have {self.depth} entries (one per "
                             f"flow layer), got shape {f.shape}")
        f = np.broadcast_to(f, (self.depth,))
        return self.replace(flow=tuple(replace(layer, gain=layer.gain * float(fi))
                                       for layer, fi in zip(self.flow, f, strict=True)))

    def with_bias_std(self, bias_std: float | Sequence[float]) -> Ensemble:
        """The ensemble with the flow bias spreads replaced (scalar: the same for every layer)."""
        s = _v.real_array("bias_std", bias_std, ndim=(0, 1), low=0.0)
        if s.ndim == 1 and s.size != self.depth:
            raise ValueError(f"bias_std must be a scalar or have {self.depth} entries, "
                             f"got shape {s.shape}")
        s = np.broadcast_to(s, (self.depth,))
        return self.replace(flow=tuple(replace(layer, bias_std=float(si))
                                       for layer, si in zip(self.flow, s, strict=True)))

    def without_gate(self) -> Ensemble:
        return self.replace(gate=None)

    def describe(self) -> str:
        """One-line human-readable description."""
        layers = ", ".join(
            f"{la.activation}(g={la.gain:g}" + (f", sb={la.bias_std:g}" if la.bias_std else "")
            + (f", w={la.width:g}N" if la is not self.flow[-1] and la.width != 1 else "") + ")"
            for la in self.flow)
        gate = "" if self.gate is None else (
            f"; gate(g={self.gate.gain:g}, mu={self.gate.bias_mean:g}, s={self.gate.bias_std:g})")
        return (f"{'leaky' if self.leak else 'non-leaky'} flow [{layers}]{gate}; tau={self.tau:g}"
                + (f"; noise={self.noise_std:g}" if self.noise_std else ""))

    # ------------------------------------------------------------------ sampling
    def n_weights(self, n: int) -> int:
        """Number of float64 entries of one realization at phase-space dimension ``n``."""
        w = self.widths(n)
        total = sum(a * b + b for a, b in zip(w[:-1], w[1:], strict=True))
        if self.gate is not None:
            total += w[0] * w[0] + w[0]
        if self.input_dim > 0:
            total += self.input_dim * (w[1] + (w[0] if self.gate is not None else 0))
        return total

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> Weights:
        """Draw one finite-N realization of the weights (the sampling convention above).

        Parameters
        ----------
        n : int
            Phase-space dimension N >= 1.
        rng : numpy.random.Generator or int
            Source of randomness; an int is a seed for ``numpy.random.default_rng``.

        Returns
        -------
        Weights
            float64 arrays; the same ``rng`` state gives the same arrays.
        """
        widths = self.widths(n)
        rng = _v.rng("rng", rng)
        _v.check_memory(8.0 * self.n_weights(n), f"the weights of {self.describe()} at n = {n}")
        ws, bs = [], []
        for layer, fan_in, fan_out in zip(self.flow, widths[:-1], widths[1:], strict=True):
            ws.append(rng.standard_normal((fan_out, fan_in)) * (layer.gain / math.sqrt(fan_in)))
            bs.append(rng.standard_normal(fan_out) * layer.bias_std)
        wz = bz = u = uz = None
        if self.gate is not None:
            g = self.gate
            wz = rng.standard_normal((n, n)) * (g.gain / math.sqrt(n))
            bz = rng.standard_normal(n) * g.bias_std + g.bias_mean
        if self.input_dim > 0:
            d = self.input_dim
            u = rng.standard_normal((widths[1], d)) * (self.input_gain / math.sqrt(d))
            if self.gate is not None:
                uz = rng.standard_normal((n, d)) * (self.gate.input_gain / math.sqrt(d))
        return Weights(tuple(ws), tuple(bs), wz, bz, u, uz)


#: the parameter paths of :func:`set_parameter` ("flow[i]" with any layer index i)
PARAMETERS = ("gain", "flow[i].gain", "flow[i].bias_std", "bias_std", "gate.gain",
              "gate.bias_mean", "gate.bias_std", "gate.input_gain", "noise_std", "tau")
_FLOW_RE = re.compile(r"^flow\[(-?\d+)\]\.(gain|bias_std)$")
_GATE_FIELDS = ("gain", "bias_mean", "bias_std", "input_gain")


def set_parameter(ens: Ensemble, path: str, value: float) -> Ensemble:
    """The ensemble with the parameter named by ``path`` set to ``value``.

    Paths (:data:`PARAMETERS`): "gain" (a factor multiplying every flow gain), "flow[i].gain",
    "flow[i].bias_std", "bias_std" (every layer), "gate.gain", "gate.bias_mean",
    "gate.bias_std", "gate.input_gain", "noise_std", "tau". Used by phase diagrams and sweeps to
    name the axes they change.

    Raises
    ------
    TypeError
        ``path`` not a str, or ``value`` not a real number.
    ValueError
        Unknown path, a gate path on an ensemble without a gate, or a non-finite value.

    Examples
    --------
    >>> e = Ensemble.gnode((1.0, 2.0))
    >>> set_parameter(e, "gain", 1.5).gains, set_parameter(e, "gate.bias_mean", -2.0).gate.bias_mean
    ((1.5, 3.0), -2.0)
    """
    if not isinstance(path, str):
        raise TypeError(f"parameter path must be a str, got {type(path).__name__}")
    value = _v.real(f"value for {path!r}", value)
    if path == "gain":
        return ens.scaled(value)
    if path == "bias_std":
        return ens.with_bias_std(value)
    if path in ("noise_std", "tau"):
        return ens.replace(**{path: value})
    m = _FLOW_RE.match(path)
    if m:
        i = int(m.group(1))
        if not -ens.depth <= i < ens.depth:
            raise ValueError(f"{path!r}: layer index must be in [0, {ens.depth}), got {i}")
        flow = list(ens.flow)
        flow[i] = replace(flow[i], **{m.group(2): value})
        return ens.replace(flow=tuple(flow))
    if path.startswith("gate.") and path[5:] in _GATE_FIELDS:
        if ens.gate is None:
            raise ValueError(f"{path!r} needs an ensemble with a gate (ens.gate is None)")
        return ens.replace(gate=replace(ens.gate, **{path[5:]: value}))
    raise ValueError(f"unknown parameter {path!r}; known: {', '.join(PARAMETERS)}")

def _mlp(gains, hidden: str, output: str, bias_std, widths) -> tuple[Layer, ...]:
    """Layers of an MLP flow: ``hidden`` activations then ``output`` on the last layer."""
    if isinstance(gains, Real):
        gains = (gains,)
    gains = tuple(gains)
    if len(gains) == 0:
        raise ValueError("gains must have at least one entry (one per weight layer)")
    L = len(gains)
    if isinstance(bias_std, Real):
        bias_std = (bias_std,) * L
    bias_std = tuple(bias_std)
    if len(bias_std) != L:
        raise ValueError(f"bias_std must be a scalar or have {L} entries, got {len(bias_std)}")
    if widths is None:
        widths = (1.0,) * (L - 1)
    widths = tuple(widths)
    if len(widths) != L - 1:
        raise ValueError(f"widths must have {L - 1} entries (hidden layers), got {len(widths)}")
    return tuple(Layer(g, hidden if i < L - 1 else output, s, widths[i] if i < L - 1 else 1.0)
                 for i, (g, s) in enumerate(zip(gains, bias_std, strict=True)))
