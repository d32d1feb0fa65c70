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
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import optimize

import dmft
from dmft import Ensemble, Gate, Layer, Weights
from dmft import _validate as _v

from ._fields import GatedField

__all__ = ["StabilityWarning", "ensemble_of", "from_ensemble_", "critical_",
           "gate_bias_for_timescale", "field_of", "task_init_", "TaskInit", "max_stable_radius",
           "input_averaged_gate"]


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


#: scales of PyTorch's default ``nn.Linear`` initialization (kaiming_uniform with a = sqrt 5:
#: weights and biases uniform on +-1/sqrt(fan_in)), in the ensemble's convention: every gain
#: g = sqrt(fan_in) std(W) = 1/sqrt(3), every bias spread 1/sqrt(3 fan_in), gate bias mean 0
TORCH_DEFAULT_GAIN = 1.0 / math.sqrt(3.0)
SCALES = ("weights", "architecture")


def _default_bias_std(fan_in: int) -> float:
    return 1.0 / math.sqrt(3.0 * fan_in)


def _gain(given, weight: torch.Tensor, arch: bool) -> float:
    """``given``, else the gain of ``weight``: g = rms(W) sqrt(fan_in), or
    :data:`TORCH_DEFAULT_GAIN` for the architecture's scales."""
    if given is not None:
        return given
    return TORCH_DEFAULT_GAIN if arch else _rms(weight) * math.sqrt(weight.shape[1])


def _flow_layers(field: GatedField, gains, bias_std, arch: bool) -> list[Layer]:
    """The ensemble's flow layers of ``field`` (gains and bias spreads given, else estimated
    as in :func:`ensemble_of`); a bias spread on a layer without bias is a ValueError."""
    n, L = field.state_dim, field.depth
    gl = _per_layer("gains", gains, L)
    sl = _per_layer("bias_std", bias_std, L)
    widths = field.widths()
    layers = []
    for i, (lin, act) in enumerate(zip(field.flow, field.activations, strict=True)):
        g = _gain(gl[i], lin.weight, arch)
        if lin.bias is None:
            if sl[i]:
                raise ValueError(f"bias_std[{i}] = {sl[i]} but flow layer {i} has no bias "
                                 "(model built with bias=False)")
            s = 0.0
        elif sl[i] is not None:
            s = sl[i]
        else:
            s = _default_bias_std(lin.in_features) if arch else _rms(lin.bias)
        w = 1.0 if i == L - 1 else widths[i + 1] / n
        layers.append(Layer(g, act, s, w))
    return layers


def _gate_of(field: GatedField, gate_gain, gate_bias_mean, gate_bias_std, gate_input_gain,
             arch: bool) -> Gate:
    """The ensemble's gate of ``field``'s one-layer gate (parameters given, else estimated as
    in :func:`ensemble_of`)."""
    wz, bz = field.gate[0].weight, field.gate[0].bias.detach()
    gz = _gain(gate_gain, wz, arch)
    if gate_bias_mean is not None:
        mu = gate_bias_mean
    else:
        mu = 0.0 if arch else float(bz.mean())
    if gate_bias_std is not None:
        sz = gate_bias_std
    else:
        sz = _default_bias_std(field.state_dim) if arch else float(bz.std(correction=0))
    gxz = 0.0
    if field.gate_input is not None:
        gxz = _gain(gate_input_gain, field.gate_input.weight, arch)
    return Gate(gz, mu, sz, gxz)


def ensemble_of(model, *, gains: float | Sequence[float] | None = None,
                bias_std: float | Sequence[float] | None = None,
                gate_gain: float | None = None, gate_bias_mean: float | None = None,
                gate_bias_std: float | None = None, timescale: float | None = None,
                input_gain: float | None = None, gate_input_gain: float | None = None,
                scales: str = "weights") -> Ensemble:
    """The :class:`dmft.Ensemble` describing a model's architecture and weight scales.

    Depth, activations, hidden widths (as multiples of N), which layers have biases, the gate,
    leak, tau and the input dimension are read from the module.  Scales not given are taken
    from ``scales``:

    - ``"weights"`` (default): estimated from the current parameters with the ensemble's
      convention, g_l = rms(W^l) sqrt(fan_in_l), sigma_l = rms(b^l), g_z = rms(W_z) sqrt(N),
      mu_z = mean(b_z), sigma_z = std(b_z), g_x = rms(U) sqrt(D);
    - ``"architecture"``: the expected scales of PyTorch's default initialization for this
      architecture (:data:`TORCH_DEFAULT_GAIN` for every gain, 1/sqrt(3 fan_in) for every bias
      spread, mu_z = 0): no dependence on the current weights, hence none on torch's global
      random generator.

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
    scales : {"weights", "architecture"}
        Where the scales not given come from (above).

    Returns
    -------
    dmft.Ensemble
    """
    field = field_of(model)
    if scales not in SCALES:
        raise ValueError(f"scales must be one of {SCALES}, got {scales!r}")
    arch = scales == "architecture"
    layers = _flow_layers(field, gains, bias_std, arch)
    if timescale is not None:
        if gate_bias_mean is not None:
            raise ValueError("give either timescale or gate_bias_mean, not both")
        gate_bias_mean = gate_bias_for_timescale(timescale, field.tau)
    gate = None
    if field.gated and not field.gate_hidden:
        gate = _gate_of(field, gate_gain, gate_bias_mean, gate_bias_std, gate_input_gain, arch)
    elif not field.gated and any(v is not None for v in (gate_gain, gate_bias_mean,
                                                          gate_bias_std, gate_input_gain)):
        raise ValueError("gate parameters given but the model has no gate")
    gx = 0.0
    if field.flow_input is not None:
        gx = _gain(input_gain, field.flow_input.weight, arch)
    return Ensemble(flow=tuple(layers), gate=gate, leak=field.leak, tau=field.tau,
                    input_dim=field.input_dim, input_gain=gx)


def _check_compatible(field: GatedField, ens: Ensemble) -> None:
    _v.instance("ens", ens, Ensemble)
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
              scales: str = "architecture", **ensemble_kw) -> Ensemble:
    """Redraw a model's weights from the ensemble whose flow Jacobian has spectral radius rho.

    ``ens = ensemble_of(model, scales=scales, **ensemble_kw)``; the theory's factor c
    (:func:`dmft.critical_gain`, docs/theory.md section 3) scales every flow gain; the weights
    are redrawn with :func:`from_ensemble_` from ``ens.scaled(c)``.  rho = 1 is the critical
    initialization of a leaky model (stable for rho < 1, chaotic/explosive above).

    The relative layer gains and the bias spreads come, unless given, from the architecture
    (``scales="architecture"``: the expected scales of PyTorch's default initialization), so
    that the weights depend on ``seed`` only, in any process; ``scales="weights"`` estimates
    them from the model's current weights instead (the behaviour before; those depend on
    whatever drew the current weights, e.g. torch's global generator).

    How it differs from :func:`task_init_`: rho is a property of the autonomous fixed point
    only.  It ignores the horizon over which gradients must flow, the Euler step and the input
    that drives the network (input suppresses chaos and moves the edge), and at rho = 1 a flow
    whose activations are all unbounded (ReLU, identity) with biases has no finite fixed point
    (q* = inf, docs/theory.md eq. 3.7): the model sits on the edge of explosion.  That case gets
    a :class:`StabilityWarning` (as does rho > 1 for such a flow); :func:`task_init_` chooses
    the gains and the gate bias from the task and never lands there.

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
    scales : {"architecture", "weights"}
        Source of the scales not given (see :func:`ensemble_of`).
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
    ens = ensemble_of(model, scales=scales, **ensemble_kw)
    ens_c = ens.scaled(dmft.critical_gain(ens, rho=rho))
    if field.leak:
        fp = dmft.fixed_point(ens_c)
        if not math.isfinite(fp.q) or fp.phase == dmft.Phase.EXPLOSIVE:
            warnings.warn(
                f"rho = {rho:g} puts this unbounded flow (activations {field.activations}) "
                f"{'on' if abs(rho - 1) < 1e-9 else 'beyond'} the edge of explosion: "
                f"q* = {fp.q:g} ({fp.message}; docs/theory.md eq. 3.7), so the model's fixed "
                "point drifts away or its state grows without bound.  Use rho < 1, bias_std=0, "
                "or gnode.task_init_ (gains from the task).", StabilityWarning, stacklevel=2)
    from_ensemble_(model, ens_c, seed)
    return ens_c


# ----------------------------------------------------------------------------- task-aware
#: the gate mean the task-aware initializer never exceeds: that of PyTorch's default gate
#: (bias mean 0, G = 1/2); it only closes the gate further when the horizon needs it
GATE_OPEN = 0.5
#: measured excess of the finite-N spectral radius of a two-layer ReLU flow over rho (40
#: draws per size, radius / rho): N = 64: mean 1.07, sd 0.11; 128: 1.07, 0.09; 256: 1.04,
#: 0.055; 512: 1.05, 0.045 (sd ~ 1 / sqrt N); the margin keeps mean + 2.5 sd below 1
RADIUS_EXCESS, RADIUS_SPREAD = 0.07, 2.5


def max_stable_radius(n: int) -> float:
    """The largest rho at which an unbounded flow of width ``n`` stays stable at finite N.

    rho_max = 1 / (1 + 0.07 + 2.5 / sqrt(n)): the measured mean excess of the finite-N
    spectral radius over the theory's rho plus 2.5 of its standard deviations (1 / sqrt n), see
    :data:`RADIUS_EXCESS`.  An unbounded flow (ReLU hidden layers, linear output) has no
    chaotic phase: beyond radius 1 its state grows without bound, and with biases its q*
    diverges as rho -> 1 (docs/theory.md eq. 3.7).
    """
    return 1.0 / (1.0 + RADIUS_EXCESS + RADIUS_SPREAD / math.sqrt(n))


@dataclass(frozen=True, kw_only=True)
class TaskInit:
    """Result of :func:`task_init_`: the ensemble drawn and what the theory predicts for it.

    Attributes
    ----------
    ensemble : dmft.Ensemble
        The ensemble the weights were drawn from.
    horizon : float
        Input samples over which gradients must flow; ``steps`` Euler steps of ``step``.
    inputs : dmft.InputStatistics or None
    gain_factor : float
        The common factor c of the flow gains (relative gains times c).
    rho : float
        The autonomous spectral radius at that gain (docs/theory.md eq. 3.2).
    gate : float or None
        E[G] at initialization (None without a gate); ``gate_bias_mean`` and
        ``gate_bias_std`` are its mu_z and sigma_z.
    state_variance, decorrelation_time, lyapunov_max, memory_time : float
        Predictions of the driven theory (dmft.driven, docs/theory.md section 11) for the
        Euler map of the model, in the model's time units.
    gradient_ratio : float
        Predicted rms gradient norm after ``horizon`` samples relative to its start,
        sqrt(G(steps)) (eq. 11.7): 1 is the target.
    rule : str
        Which condition fixed the choice ("horizon", "state bound" or "edge", the last two
        with " + gate" or " + gate spread" when the gate closes).
    seconds : float
    converged, message
    """

    ensemble: Ensemble
    horizon: float
    step: float
    steps: int
    inputs: object
    gain_factor: float
    rho: float
    gate: float | None
    gate_bias_mean: float | None
    gate_bias_std: float | None
    state_variance: float
    decorrelation_time: float
    lyapunov_max: float
    memory_time: float
    gradient_ratio: float
    rule: str
    seconds: float
    converged: bool
    message: str

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in (
            "horizon", "step", "steps", "gain_factor", "rho", "gate", "gate_bias_mean",
            "gate_bias_std", "state_variance", "decorrelation_time", "lyapunov_max", "memory_time",
            "gradient_ratio", "rule", "seconds", "converged", "message")}
        out["ensemble"] = self.ensemble.describe()
        out["inputs"] = None if self.inputs is None else self.inputs.describe()
        return out


def input_averaged_gate(gate: dmft.Gate, input_variance: float) -> dmft.Gate:
    """A gate whose z moves only with the input, as the quenched gate of its time average.

    z_i(t) = b_i + (U_z x(t))_i with (U_z x)_i ~ N(0, s^2), s^2 = g_xz^2 C_x(0) (plus
    g_z^2 Delta_0 when given in ``input_variance``).  Over many steps a unit's retention
    1 - delta G_i(t) acts through its time average, E_eta[sigmoid(b_i + eta)] ~
    sigmoid(k b_i) with k = (1 + pi s^2 / 8)^{-1/2} (the probit approximation of the logistic-
    normal integral, error < 0.02 in G): the quenched gate N(k mu_z, (k sigma_z)^2) of eq.
    11.14.  An approximation (the gate's fluctuations enter the squared norm at second order
    in delta G), not part of the exact theory: docs/theory.md 11.6.
    """
    k = 1.0 / math.sqrt(1.0 + math.pi * input_variance / 8.0)
    return dmft.Gate(0.0, k * gate.bias_mean, k * gate.bias_std, 0.0)


def _positive(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) \
            or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _task_inputs(field: GatedField, inputs, lengths, spacing: float):
    """The input statistics of the task (a data batch is estimated, eq. 11.1)."""
    if inputs is None:
        return None
    if isinstance(inputs, dmft.InputStatistics):
        if field.input_dim == 0:
            raise ValueError("inputs given but the model has input_dim = 0")
        return inputs
    if field.input_dim == 0:
        raise ValueError("inputs given but the model has input_dim = 0")
    shape = tuple(getattr(inputs, "shape", ()))
    if len(shape) != 3 or shape[-1] != field.input_dim:
        raise ValueError(f"inputs must be a dmft.InputStatistics or a data batch of shape "
                         f"(batch, time, {field.input_dim}), got shape {shape}")
    return dmft.InputStatistics.from_batch(inputs, spacing, lengths=lengths)


def _gate_bias(gamma: float, var: float) -> float:
    """mu_z with E[sigmoid(z)] = gamma, z ~ N(mu_z, var) (the constant-gate mean)."""
    logit = math.log(gamma) - math.log1p(-gamma)
    if var <= 0:
        return logit
    from dmft.kernels import gaussian_mean
    sig = dmft.activations.get_activation("sigmoid").fn

    def f(mu):
        return float(gaussian_mean(sig, mu, var)) - gamma
    lo, hi = logit - 2.0 - 3.0 * math.sqrt(var), logit + 2.0 + 3.0 * math.sqrt(var)
    return float(optimize.brentq(f, lo, hi, xtol=1e-10))


class _Task:
    """The theory's view of (model, task): G(steps) as a function of (c, gamma)."""

    def __init__(self, ens: Ensemble, inputs, step: float, steps: int):
        self.ens, self.inputs, self.step, self.steps = ens, inputs, step, steps

    def ensemble(self, c: float, gamma) -> Ensemble:
        """The flow scaled by c; ``gamma`` a constant gate E[G], a quenched spread (mu_z,
        sigma_z) of gate biases (eq. 11.14), or None."""
        e = self.ens.scaled(c)
        if isinstance(gamma, tuple):
            e = e.replace(gate=dmft.Gate(0.0, gamma[0], gamma[1], 0.0))
        elif gamma is not None:
            e = e.replace(gate=dmft.Gate(0.0, math.log(gamma) - math.log1p(-gamma), 0.0, 0.0))
        return e

    def solve(self, c, gamma, lyapunov=False):
        # G(steps) needs A(k) for k <= steps: a window of 4 horizons (at least 512 steps)
        # reproduces G(1000) of the default window (40 tau / gate) to 3e-6 in log G (measured,
        # ReLU gnODE at E[G] = 0.0012 and 0.012) at a 16th of the cost
        window = self.step * max(4 * self.steps, 512)
        return dmft.driven(self.ensemble(c, gamma), self.inputs, dt=self.step, tol=1e-9,
                           lyapunov=lyapunov, window=window)

    def log_growth(self, c: float, gamma) -> float:
        """log G(steps) (eq. 11.7); +inf when explosive."""
        r = self.solve(c, gamma)
        if r.phase == dmft.Phase.EXPLOSIVE:
            return math.inf
        g = dmft.gradient_growth(r, self.steps)[-1]
        return math.log(g) if g > 0 else -math.inf


def _root_log(f, lo: float, hi: float, what: str, xtol: float = 1e-3) -> float:
    """Root of the increasing f on a log scale, the bracket [lo, hi] widened as needed."""
    cache: dict[float, float] = {}
    raw = f

    def f(x):   # every value is one driven solve: never twice at the same point
        if x not in cache:
            cache[x] = raw(x)
        return cache[x]
    flo, fhi = f(lo), f(hi)
    for _ in range(40):
        if flo <= 0.0 <= fhi:
            break
        if flo > 0:
            hi, fhi, lo = lo, flo, lo - 1.0
            flo = f(lo)
        else:
            lo, flo, hi = hi, fhi, hi + 1.0
            fhi = f(hi)
    else:
        raise dmft.ConvergenceError(f"task_init_: no bracket for the {what}", lo=lo, hi=hi)
    if not math.isfinite(fhi):   # shrink an explosive upper end onto the finite side
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            fm = f(mid)
            if math.isfinite(fm) and fm >= 0:
                hi, fhi = mid, fm
                break
            if math.isfinite(fm):
                lo, flo = mid, fm
            else:
                hi = mid
    return float(optimize.brentq(f, lo, hi, xtol=xtol))


def _spread_gate(task: _Task, c: float, floor: float) -> tuple[float, float]:
    """(mu_z, sigma_z) of rule 3's spread: sigma_z = -mu_z / 2 and the largest mu_z < 0 with
    log G(steps) >= floor for the quenched gate N(mu_z, sigma_z^2) (eqs. 11.14-11.15)."""
    def f(x):   # x = log(-mu_z): G grows as the spread reaches slower time scales
        m = math.exp(x)
        return task.log_growth(c, (-m, 0.5 * m)) - floor
    m = math.exp(_root_log(f, math.log(0.5), math.log(20.0), "gate spread"))
    return -m, 0.5 * m


def task_init_(model, *, horizon: float, seed: int | np.random.Generator, inputs=None,
               lengths=None, dt: float | None = None, gains: float | Sequence[float] | None = None,
               bias_std: float | Sequence[float] | None = None, input_gain: float | None = None,
               gate_gain: float = 0.0, gate_bias_std: float = 0.0,
               gate_input_gain: float = 0.0, kappa: float = 1.0,
               gate_spread: bool = True) -> TaskInit:
    """Initialize a model for a task: flow gains and gate bias from the driven theory.

    The theory of the model as trained (docs/theory.md section 11: the Euler map of the model,
    driven by the task's stationary input through U) predicts the squared gradient norm G(k)
    after k steps (eq. 11.7).  With ``steps`` = horizon x substeps the rule is

    1. bounded flows (a tanh/erf/sigmoid layer) without a gate: the gain factor c solves
       G(steps) = 1, the gradient neither grows nor decays over the horizon on average (as the
       horizon grows this tends to the driven edge of chaos, lambda_max = 0, which input moves
       to larger gains);
    2. unbounded flows (ReLU and identity only): c puts rho at the finite-N stability margin
       :func:`max_stable_radius` (an unbounded flow has G < 1 at every bounded state, and
       this is never the q* = inf edge of a biased flow); gated bounded flows (the mGRU): c
       puts rho at the edge, rho = 1 (q* is finite at every gain of a bounded flow, so there
       is no state bound to keep, and at the edge the tangent map contracts least, so the
       gate of rule 3 closes least);
    3. a one-layer gate: E[G] = :data:`GATE_OPEN` unless the gradient over the horizon then
       falls below e^-kappa in norm.  Then, with ``gate_spread`` (the default), the gate
       biases get a spread of time scales, b_i ~ N(mu_z, sigma_z^2) with sigma_z = -mu_z / 2
       (the fastest 2.3 %, mu_z + 2 sigma_z, at the open gate: the response of PyTorch's
       default) and mu_z the largest with sqrt(G(steps)) >= e^-kappa for this quenched spread
       (eqs. 11.14-11.16); without it, every unit gets the same gate, closed to the largest
       E[G] that keeps sqrt(G(steps)) >= e^-kappa (a constant gate rescales time, eq. 6.7).
       Either way the memory is held by the gates' time scales, not by a flow near its edge
       (docs/theory.md 11.5).

    Relative gains and bias spreads come from the arguments or the architecture (the expected
    scales of PyTorch's default initialization, :func:`ensemble_of` with
    ``scales="architecture"``), never from the current weights: the same ``seed`` gives the same
    weights in any process.  The gate's weights are drawn with ``gate_gain`` and
    ``gate_input_gain`` (default 0: a constant gate at initialization, for which the theory is
    exact; with nonzero values the gate mean is matched and the theory is the constant-gate
    approximation).

    Parameters
    ----------
    model : SequenceModel or GatedField
        Leaky, Euler steps (``method="euler"``); a gate, if any, with one layer.
    horizon : float
        Number of input samples over which gradients must flow (> 0).
    seed : int or numpy.random.Generator
    inputs : dmft.InputStatistics or array (batch, time, input_dim), optional
        The task's input: its statistics, or a batch from which they are estimated (eq. 11.1;
        ``lengths`` gives each sequence's valid samples).  None: no input.
    dt : float, optional
        Time between input samples; default the model's ``dt`` (a GatedField needs it).
    gains, bias_std, input_gain : optional
        Relative flow gains (scaled together by the rule), bias spreads, input gain.
    gate_gain, gate_bias_std, gate_input_gain : float
        Gate scales (g_z, sigma_z, g_xz); with ``gate_spread`` the rule sets sigma_z, and
        ``gate_bias_std`` must be 0.
    kappa : float
        Tolerated decay of the gradient norm over the horizon, e^-kappa (rule 3).
    gate_spread : bool
        Rule 3 with a spread of gate time scales (default) or one closed gate for all units.

    Returns
    -------
    TaskInit

    Raises
    ------
    ValueError, TypeError
        Bad arguments (horizon <= 0, dt <= 0, inputs of the wrong shape or not finite, a
        non-leaky model, RK4 steps, a gate with hidden layers).
    """
    t0 = time.perf_counter()
    field = field_of(model)
    horizon = _positive("horizon", horizon)
    kappa = _positive("kappa", kappa)
    gate_spread = _v.flag("gate_spread", gate_spread)
    if gate_spread and gate_bias_std != 0:
        raise ValueError("gate_bias_std is set by the rule's spread of time scales (eq. 11.16); "
                         "give it with gate_spread=False")
    if not field.leak:
        raise ValueError("task_init_ needs a leaky model (a non-leaky flow has no stationary "
                         "state, docs/theory.md section 3)")
    if field.gated and field.gate_hidden:
        raise ValueError("task_init_ supports one-layer gates only (gate_hidden=())")
    method = getattr(model, "method", "euler")
    if method != "euler":
        raise ValueError(f"task_init_ uses the theory of the Euler map; the model has "
                         f"method={method!r}")
    model_dt = getattr(model, "dt", None)
    if dt is None:
        if model_dt is None:
            raise ValueError("dt must be given for a GatedField (the time between samples)")
        dt = model_dt
    dt = _positive("dt", dt)
    if model_dt is not None and abs(dt - model_dt) > 1e-12 * model_dt:
        raise ValueError(f"dt = {dt} differs from the model's dt = {model_dt}")
    substeps = int(getattr(model, "substeps", 1))
    step = dt / substeps
    if step > field.tau:
        raise ValueError(f"the Euler step dt / substeps = {step:g} exceeds tau = {field.tau:g}")
    steps = max(1, int(round(horizon * substeps)))
    stats = _task_inputs(field, inputs, lengths, dt)
    gate_kw = {}
    if field.gated:
        gate_kw = dict(gate_gain=0.0, gate_bias_std=0.0, gate_input_gain=0.0,
                       gate_bias_mean=0.0)
    ens = ensemble_of(model, gains=gains, bias_std=bias_std, input_gain=input_gain,
                      scales="architecture", **gate_kw)
    task = _Task(ens, stats, step, steps)
    gamma = GATE_OPEN if field.gated else None
    bounded = any(dmft.activations.get_activation(a).bounded for a in field.activations)
    if bounded and not field.gated:
        logc = _root_log(lambda x: task.log_growth(math.exp(x), gamma),
                         math.log(dmft.critical_gain(ens, rho=0.8)),
                         math.log(dmft.critical_gain(ens, rho=1.2)), "gain factor")
        c, rule = math.exp(logc), "horizon"
    else:   # a gated bounded flow at the edge, an unbounded one at the finite-N margin; a
        # gate then sets the time scale
        c = dmft.critical_gain(ens, rho=1.0 if bounded else max_stable_radius(field.state_dim))
        rule = "edge" if bounded else "state bound"
        floor = -2.0 * kappa
        if field.gated and task.log_growth(c, gamma) < floor:
            if gate_spread:
                gamma = _spread_gate(task, c, floor)
                rule += " + gate spread"
            else:
                lg = _root_log(lambda x: floor - task.log_growth(c, math.exp(x)),
                               math.log(1e-3), math.log(GATE_OPEN), "gate mean")
                gamma, rule = min(math.exp(lg), GATE_OPEN), rule + " + gate"
    final = task.solve(c, gamma, lyapunov=True)
    mu = sd = None
    if isinstance(gamma, tuple):   # the drawn gate: the rule's spread, the given g_z, g_xz
        (mu, sd), gamma = gamma, final.gate
        var = gate_gain ** 2 * final.delta0 + (
            gate_input_gain ** 2 * stats.second_moment if stats is not None else 0.0)
        if var > 0:   # the rule's spread is that of the time-averaged gates: draw wider
            k = input_averaged_gate(dmft.Gate(0.0, 1.0, 0.0, 0.0), var).bias_mean
            mu, sd = mu / k, sd / k
    elif field.gated:   # the drawn gate: mean gamma with the given scales
        var = gate_gain ** 2 * final.delta0 + gate_bias_std ** 2 + (
            gate_input_gain ** 2 * stats.second_moment if stats is not None else 0.0)
        mu, sd = _gate_bias(gamma, var), gate_bias_std
    drawn = ensemble_of(model, gains=[la.gain for la in task.ensemble(c, None).flow],
                        bias_std=[la.bias_std for la in ens.flow], input_gain=ens.input_gain,
                        scales="architecture",
                        **({} if not field.gated else dict(
                            gate_gain=gate_gain, gate_bias_std=sd,
                            gate_input_gain=gate_input_gain, gate_bias_mean=mu)))
    from_ensemble_(model, drawn, seed)
    ratio = math.sqrt(max(dmft.gradient_growth(final, steps)[-1], 0.0))
    return TaskInit(
        ensemble=drawn, horizon=horizon, step=step, steps=steps, inputs=stats, gain_factor=c,
        rho=dmft.fixed_point(drawn).rho, gate=gamma, gate_bias_mean=mu, gate_bias_std=sd,
        state_variance=final.delta0, decorrelation_time=final.decorrelation_time,
        lyapunov_max=final.lyapunov_max, memory_time=final.memory_time,
        gradient_ratio=ratio, rule=rule, seconds=time.perf_counter() - t0, converged=True,
        message=f"{rule}: c = {c:.4g}, rho = {dmft.fixed_point(drawn).rho:.4g}"
                + (f", E[G] = {gamma:.4g}" if gamma is not None else "")
                + f", predicted gradient ratio over {horizon:g} samples {ratio:.3g}")
