"""Initialization of gnODE models from the mean-field theory (docs/theory.md section 3).

One source of truth: a model's architecture is described as a :class:`dmft.Ensemble`
(:func:`ensemble_of`), the theory finds the gains that put the flow Jacobian's spectral radius

    rho^2 = prod_l g_l^2 E[phi_l'(u^l)^2]                                    (docs/theory.md §3)

at the target (:func:`dmft.critical_gain`), and the weights are redrawn from that ensemble with
its own sampler (:meth:`dmft.Ensemble.sample`), so that a model and ``simulate`` get the same
matrices for the same seed (``torch.nn.Linear.weight`` has shape (out, in) = (N_{l+1}, N_l),
the layout of W^l).

Gate biases from a time scale: at the fixed point h* = 0 with sigma_z = 0 every unit's gate is
G* = sigmoid(mu_z), and its effective time constant is tau / G*; :func:`gate_bias_for_timescale`
inverts this: mu_z = logit(tau / timescale).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

import dmft
from dmft import Ensemble, Gate, Layer, Weights
from dmft import _validate as _v

from ._fields import GatedField

__all__ = ["StabilityWarning", "ensemble_of", "from_ensemble_", "critical_",
           "gate_bias_for_timescale", "field_of"]


class StabilityWarning(UserWarning):
    """The requested initialization cannot make the model's fixed point stable."""


def field_of(model) -> GatedField:
    """The :class:`GatedField` of a model (or the field itself)."""
    field = getattr(model, "field", model)
    if not isinstance(field, GatedField):
        raise TypeError(f"model must be a gnode model or GatedField, got {type(model).__name__}")
    return field


def gate_bias_for_timescale(timescale: float, tau: float = 1.0) -> float:
    """Gate bias mean mu_z whose gate G* = sigmoid(mu_z) gives the time constant tau / G*.

    Parameters
    ----------
    timescale : float
        Requested effective time constant, > tau (a gate G* < 1 only slows the dynamics).
    tau : float
        The model's time constant.

    Returns
    -------
    float
        mu_z = log(G / (1 - G)), G = tau / timescale.

    Examples
    --------
    >>> round(gate_bias_for_timescale(2.0), 12)   # G* = 1/2
    0.0
    """
    timescale = _v.real("timescale", timescale, low=0.0, low_open=True)
    tau = _v.real("tau", tau, low=0.0, low_open=True)
    if not timescale > tau:
        raise ValueError(f"timescale must be > tau = {tau} (the gate G* = tau/timescale must be "
                         f"< 1), got {timescale}")
    g = tau / timescale
    return math.log(g) - math.log1p(-g)


def _rms(t: torch.Tensor) -> float:
    return float(torch.sqrt(torch.mean(t.detach().double() ** 2)))


def _per_layer(name: str, value, n: int) -> list[float | None]:
    if value is None or isinstance(value, int | float):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{name} must be a scalar or have {n} entries, got {len(value)}")
    return value


def ensemble_of(model, *, gains: float | Sequence[float] | None = None,
                bias_std: float | Sequence[float] | None = None,
                gate_gain: float | None = None, gate_bias_mean: float | None = None,
                gate_bias_std: float | None = None, timescale: float | None = None,
                input_gain: float | None = None, gate_input_gain: float | None = None
                ) -> Ensemble:
    """The :class:`dmft.Ensemble` describing a model's architecture and weight scales.

    Depth, activations, hidden widths (as multiples of N), which layers have biases, the gate,
    leak, tau and the input dimension are read from the module.  Scales not given are
    estimated from the current parameters with the ensemble's convention:
    g_l = rms(W^l) sqrt(fan_in_l), sigma_l = rms(b^l), g_z = rms(W_z) sqrt(N),
    mu_z = mean(b_z), sigma_z = std(b_z), g_x = rms(U) sqrt(D).

    A gate with hidden layers is not part of the ensemble (``gate=None``): the theory's
    fixed point and critical gains do not depend on the gate (docs/theory.md section 3).

    Parameters
    ----------
    model : SequenceModel or GatedField
    gains, bias_std : float or sequence, optional
        Per flow layer (a scalar applies to every layer).  A nonzero bias spread on a layer
        without bias is an error.
    gate_gain, gate_bias_mean, gate_bias_std, timescale : float, optional
        Gate parameters; ``timescale`` sets ``gate_bias_mean`` by :func:`gate_bias_for_timescale`.
    input_gain, gate_input_gain : float, optional

    Returns
    -------
    dmft.Ensemble
    """
    field = field_of(model)
    n, L = field.state_dim, field.depth
    gl = _per_layer("gains", gains, L)
    sl = _per_layer("bias_std", bias_std, L)
    widths = field.widths()
    layers = []
    for i, (lin, act) in enumerate(zip(field.flow, field.activations, strict=True)):
        g = gl[i] if gl[i] is not None else _rms(lin.weight) * math.sqrt(lin.in_features)
        if lin.bias is None:
            if sl[i]:
                raise ValueError(f"bias_std[{i}] = {sl[i]} but flow layer {i} has no bias "
                                 "(model built with bias=False)")
            s = 0.0
        else:
            s = sl[i] if sl[i] is not None else _rms(lin.bias)
        w = 1.0 if i == L - 1 else widths[i + 1] / n
        layers.append(Layer(g, act, s, w))
    gate = None
    if timescale is not None:
        if gate_bias_mean is not None:
            raise ValueError("give either timescale or gate_bias_mean, not both")
        gate_bias_mean = gate_bias_for_timescale(timescale, field.tau)
    if field.gated and not field.gate_hidden:
        wz, bz = field.gate[0].weight, field.gate[0].bias
        gz = gate_gain if gate_gain is not None else _rms(wz) * math.sqrt(n)
        mu = gate_bias_mean if gate_bias_mean is not None else float(bz.detach().mean())
        sz = gate_bias_std if gate_bias_std is not None else float(bz.detach().std(
            correction=0))
        gxz = 0.0
        if field.gate_input is not None:
            gxz = gate_input_gain if gate_input_gain is not None else \
                _rms(field.gate_input.weight) * math.sqrt(field.input_dim)
        gate = Gate(gz, mu, sz, gxz)
    elif not field.gated and any(v is not None for v in (gate_gain, gate_bias_mean,
                                                          gate_bias_std, gate_input_gain)):
        raise ValueError("gate parameters given but the model has no gate")
    gx = 0.0
    if field.flow_input is not None:
        gx = input_gain if input_gain is not None else \
            _rms(field.flow_input.weight) * math.sqrt(field.input_dim)
    return Ensemble(flow=tuple(layers), gate=gate, leak=field.leak, tau=field.tau,
                    input_dim=field.input_dim, input_gain=gx)


def _check_compatible(field: GatedField, ens: Ensemble) -> None:
    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    if ens.depth != field.depth:
        raise ValueError(f"ens has {ens.depth} flow layers, the model {field.depth}")
    acts = tuple(la.activation for la in ens.flow)
    if acts != field.activations:
        raise ValueError(f"ens activations {acts} differ from the model's {field.activations}")
    if ens.widths(field.state_dim) != field.widths():
        raise ValueError(f"ens widths at N = {field.state_dim} are {ens.widths(field.state_dim)},"
                         f" the model's {field.widths()}")
    for i, (la, lin) in enumerate(zip(ens.flow, field.flow, strict=True)):
        if lin.bias is None and la.bias_std > 0:
            raise ValueError(f"ens.flow[{i}].bias_std = {la.bias_std} but flow layer {i} of the "
                             "model has no bias")
    if ens.leak != field.leak:
        raise ValueError(f"ens.leak = {ens.leak} but the model has leak = {field.leak}")
    if ens.tau != field.tau:
        raise ValueError(f"ens.tau = {ens.tau} but the model has tau = {field.tau}")
    if ens.gate is not None and (not field.gated or field.gate_hidden):
        raise ValueError("ens has a one-layer gate but the model has "
                         + ("no gate" if not field.gated else "a gate with hidden layers"))
    if ens.input_dim not in (0, field.input_dim):
        raise ValueError(f"ens.input_dim = {ens.input_dim} but the model has input_dim = "
                         f"{field.input_dim}")


@torch.no_grad()
def from_ensemble_(model, ens: Ensemble, seed: int | np.random.Generator) -> Weights:
    """Set a model's weights to the realization ``ens.sample(N, seed)``, in place.

    The copied arrays are exactly those of the ensemble's sampler (and of
    ``simulate.sample(ens, N, seed)``): flow W^l and b^l, the one-layer gate W_z, b_z when
    ``ens.gate`` is set, the input weights U, U_z when ``ens.input_dim > 0``.  Parameters the
    ensemble does not describe (readout, initial state, N-CODE controller, a gate when
    ``ens.gate is None``, inputs when ``ens.input_dim == 0``) are left as they are.

    Returns
    -------
    dmft.Weights
        The numpy realization that was copied.
    """
    field = field_of(model)
    _check_compatible(field, ens)
    w = ens.sample(field.state_dim, seed)

    def put(param: torch.Tensor, arr: np.ndarray) -> None:
        param.copy_(torch.from_numpy(np.ascontiguousarray(arr)).to(param.dtype))

    for lin, wl, bl in zip(field.flow, w.flow_weights, w.flow_biases, strict=True):
        put(lin.weight, wl)
        if lin.bias is not None:
            put(lin.bias, bl)
    if ens.gate is not None:
        put(field.gate[0].weight, w.gate_weight)
        put(field.gate[0].bias, w.gate_bias)
    if ens.input_dim > 0:
        put(field.flow_input.weight, w.input_weight)
        if ens.gate is not None:
            put(field.gate_input.weight, w.gate_input_weight)
    return w


def critical_(model, rho: float = 1.0, *, seed: int | np.random.Generator,
              **ensemble_kw) -> Ensemble:
    """Redraw a model's weights from the ensemble whose flow Jacobian has spectral radius rho.

    ``ens = ensemble_of(model, **ensemble_kw)``; the theory's factor c (:func:`dmft.critical_gain`,
    docs/theory.md section 3) scales every flow gain; the weights are redrawn with
    :func:`from_ensemble_` from ``ens.scaled(c)``.  rho = 1 is the critical initialization of
    a leaky model (stable for rho < 1, chaotic/explosive above).

    A non-leaky model gets a :class:`StabilityWarning`: its Jacobian diag(G*) J_F has
    eigenvalues filling a disk centred at 0, so about half of them have positive real part
    for any nonzero weights; rho then only sets the disk's radius.

    Parameters
    ----------
    model : SequenceModel or GatedField
    rho : float
        Target spectral radius > 0.
    seed : int or numpy.random.Generator
        Explicit randomness for the redraw.
    **ensemble_kw
        Passed to :func:`ensemble_of` (``gains`` sets the relative gains of the layers,
        ``bias_std``, ``gate_gain``, ``timescale``, ...).

    Returns
    -------
    dmft.Ensemble
        The ensemble the weights were drawn from.
    """
    field = field_of(model)
    if not field.leak:
        warnings.warn(
            "non-leaky model: the Jacobian diag(G*) J_F at the fixed point has eigenvalues "
            "filling a disk centred at 0, so about half have positive real part for any "
            "nonzero initialization (docs/theory.md section 3); no initialization makes it stable. "
            f"rho = {rho} sets the disk's radius only.", StabilityWarning, stacklevel=2)
    ens = ensemble_of(model, **ensemble_kw)
    ens_c = ens.scaled(dmft.critical_gain(ens, rho=rho))
    from_ensemble_(model, ens_c, seed)
    return ens_c
