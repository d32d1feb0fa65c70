"""Sequence models built on gated neural ODEs (docs/theory.md section 1), batch-first.

Every model maps inputs x of shape (B, T, D) to a :class:`Trajectory`: the readout
y_k = W_out h((k+1) dt) + b_out of shape (B, T, O), the states and the final state.  The vector
field (:class:`GatedField` / :class:`ControlledField`) and the solver (:mod:`gnode.solve`) are
separate pieces; a model holds a field, an initial state and a linear readout.

=============  ==============================================================================
``GNODE``      tau dh/dt = G(h,x) (-lam h + F(h,x)), MLP flow, MLP gate (Kim, Can,
               Krishnamurthy, ICML 2023)
``NODE``       the same without gate (leaky or not)
``MGRU``       one-layer tanh flow and one-layer gate (continuous-time minimal gated RNN)
``Elman``      tau dh/dt = -h + tanh(W h + U x + b)
``NCODE``      dynamic flow parameters, open- or closed-loop (Chalvidal et al., ICLR 2021)
``GRU``        ``torch.nn.GRU`` with the same interface, for comparisons
=============  ==============================================================================

Initial state (``initial_state``): ``"zero"``; ``"learned"`` (one trained vector, zero at
initialization); ``"input"`` (a linear map of the first input sample, h(0) = E x_0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ._fields import ControlledField, GatedField, check_dim
from .solve import METHODS, _check_positive, check_lengths, unroll

__all__ = ["Trajectory", "SequenceModel", "GNODE", "NODE", "MGRU", "Elman", "NCODE", "GRU",
           "GatedField", "ControlledField"]

_INITIAL = ("zero", "learned", "input")


class Trajectory(NamedTuple):
    """Output of a sequence model.

    Attributes
    ----------
    output : Tensor, shape (B, T, O)
        Readout of the state after each input sample.
    states : Tensor, shape (B, T, N)
        h((k + 1) dt); frozen after each sequence's length.
    final : Tensor, shape (B, N)
        The state after each sequence's last valid sample.
    """

    output: torch.Tensor
    states: torch.Tensor
    final: torch.Tensor


def cast_floating(name: str, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The one dtype rule of ``forward`` and :func:`gnode.train`: floating-point input of any
    precision is cast to the model's dtype; integer, bool and complex input is refused."""
    if x.dtype == dtype:
        return x
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} must hold floating-point numbers (cast to the model's dtype "
                        f"{dtype}), got dtype {x.dtype}")
    return x.to(dtype)


def check_inputs(x, input_dim: int, dtype: torch.dtype, name: str = "x") -> torch.Tensor:
    """Validate a batch-first input tensor (B, T, D): type, shape, finiteness; floating-point
    input is cast to ``dtype`` (:func:`cast_floating`)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch, time, {input_dim}), "
                        f"got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != input_dim:
        raise ValueError(f"{name} must have shape (batch, time, {input_dim}), "
                         f"got {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} must have batch >= 1 and time >= 1, got {tuple(x.shape)}")
    x = cast_floating(name, x, dtype)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return x


class SequenceModel(nn.Module):
    """A vector field, an initial state, a solver setting and a linear readout.

    Parameters
    ----------
    field : GatedField
    output_dim : int
        O >= 1.
    initial_state : {"zero", "learned", "input"}
    dt : float
        Time between input samples.
    substeps : int
        Solver steps per input sample.
    method : {"euler", "rk4"}
    """

    def __init__(self, field: GatedField, output_dim: int, *, initial_state: str = "learned",
                 dt: float = 1.0, substeps: int = 1, method: str = "euler") -> None:
        super().__init__()
        o = check_dim("output_dim", output_dim)
        if initial_state not in _INITIAL:
            raise ValueError(f"initial_state must be one of {_INITIAL}, got {initial_state!r}")
        if initial_state == "input" and field.input_dim == 0:
            raise ValueError("initial_state='input' needs input_dim >= 1")
        if method not in METHODS:
            raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
        if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
            raise ValueError(f"substeps must be an int >= 1, got {substeps!r}")
        self.dt = _check_positive("dt", dt)
        self.substeps, self.method = substeps, method
        self.field = field
        n, dtype = field.state_dim, field.dtype
        self.readout = nn.Linear(n, o, dtype=dtype)
        self.initial_mode = initial_state
        self.h0 = nn.Parameter(torch.zeros(n, dtype=dtype)) if initial_state == "learned" \
            else None
        self.encoder = nn.Linear(field.input_dim, n, dtype=dtype) if initial_state == "input" \
            else None

    # convenient views
    @property
    def state_dim(self) -> int:
        return self.field.state_dim

    @property
    def input_dim(self) -> int:
        return self.field.input_dim

    @property
    def output_dim(self) -> int:
        return self.readout.out_features

    @property
    def dtype(self) -> torch.dtype:
        return self.field.dtype

    def initial(self, x: torch.Tensor) -> torch.Tensor:
        """h(0), shape (B, N), for inputs x (B, T, D)."""
        b = x.shape[0]
        if self.initial_mode == "input":
            return self.encoder(x[:, 0])
        if self.initial_mode == "learned":
            return self.h0.expand(b, -1)
        return x.new_zeros(b, self.state_dim)

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None,
                h0: torch.Tensor | None = None) -> Trajectory:
        """Run the model over inputs ``x`` (B, T, D).

        Parameters
        ----------
        x : Tensor, shape (B, T, D)
        lengths : Tensor of int, shape (B,), optional
            Valid samples per sequence (masking; states frozen afterwards).
        h0 : Tensor, shape (B, N) or (N,), optional
            Overrides the model's initial state.
        """
        x = check_inputs(x, self.input_dim, self.dtype)
        if h0 is None:
            h0 = self.initial(x)
        else:
            h0 = check_state(h0, x.shape[0], self.state_dim, self.dtype)
        sol = unroll(self.field, h0, x if self.input_dim else None, n_steps=x.shape[1],
                     dt=self.dt, substeps=self.substeps, method=self.method, lengths=lengths)
        return Trajectory(self.readout(sol.states), sol.states, sol.final[0])


def check_state(h0, batch: int, n: int, dtype: torch.dtype, name: str = "h0") -> torch.Tensor:
    """Validate an initial state, (B, N) or (N,) (broadcast over the batch)."""
    if not isinstance(h0, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(h0).__name__}")
    if h0.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {h0.dtype}")
    if h0.shape == (n,):
        h0 = h0.expand(batch, n)
    if h0.shape != (batch, n):
        raise ValueError(f"{name} must have shape ({batch}, {n}) or ({n},), "
                         f"got {tuple(h0.shape)}")
    if not bool(torch.isfinite(h0).all()):
        raise ValueError(f"{name} contains non-finite values")
    return h0


def _solver_kw(kw: dict) -> dict:
    """The solver keywords of a model constructor's ``**kw``; anything else is a TypeError."""
    skw = {k: kw.pop(k) for k in ("initial_state", "dt", "substeps", "method") if k in kw}
    if kw:
        raise TypeError(f"unexpected keyword arguments {sorted(kw)}")
    return skw


class GNODE(SequenceModel):
    """Gated neural ODE: ``tau dh/dt = G(h,x) (-lam h + F(h,x))`` with MLP flow and gate.

    Parameters
    ----------
    state_dim, input_dim, output_dim : int
        N, D (>= 0), O.
    flow_hidden : sequence of int, optional
        Hidden widths of the flow (default ``(state_dim,)``: the two-layer flow of the paper;
        ``()`` gives a one-layer flow).
    gate_hidden : sequence of int
        Hidden widths of the gate (default ``()``: one layer).
    activation, output_activation : str
        phi_a and phi_out.
    bias, leak, tau, dtype
        See :class:`GatedField`.
    initial_state, dt, substeps, method
        See :class:`SequenceModel`.

    References
    ----------
    T. D. Kim, T. Can, K. Krishnamurthy, "Trainability, expressivity and interpretability in
    gated neural ODEs", ICML 2023 (arXiv:2307.06398), eq. (1)-(3).
    """

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *,
                 flow_hidden: Sequence[int] | None = None, gate_hidden: Sequence[int] = (),
                 activation: str = "relu", output_activation: str = "identity",
                 bias: bool = True, leak: bool = True, tau: float = 1.0,
                 dtype: torch.dtype = torch.float64, **kw) -> None:
        skw = _solver_kw(kw)
        if flow_hidden is None:
            flow_hidden = (state_dim,)
        field = GatedField(state_dim, input_dim, flow_hidden=flow_hidden, gate_hidden=gate_hidden,
                           activation=activation, output_activation=output_activation,
                           bias=bias, gated=True, leak=leak, tau=tau, dtype=dtype)
        super().__init__(field, output_dim, **skw)


class NODE(SequenceModel):
    """Neural ODE ``tau dh/dt = -lam h + F(h, x)`` (no gate); ``leak=False`` is non-leaky.

    Parameters as :class:`GNODE` without ``gate_hidden``.
    """

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *,
                 flow_hidden: Sequence[int] | None = None, activation: str = "relu",
                 output_activation: str = "identity", bias: bool = True, leak: bool = True,
                 tau: float = 1.0, dtype: torch.dtype = torch.float64, **kw) -> None:
        skw = _solver_kw(kw)
        if flow_hidden is None:
            flow_hidden = (state_dim,)
        field = GatedField(state_dim, input_dim, flow_hidden=flow_hidden,
                           activation=activation, output_activation=output_activation,
                           bias=bias, gated=False, leak=leak, tau=tau, dtype=dtype)
        super().__init__(field, output_dim, **skw)


def _one_layer_tanh(state_dim, input_dim, bias, gated, tau, dtype, kw):
    """The one-layer tanh field of MGRU (gated) and Elman, and the solver keywords of ``kw``."""
    skw = _solver_kw(kw)
    field = GatedField(state_dim, input_dim, flow_hidden=(), output_activation="tanh",
                       bias=bias, gated=gated, leak=True, tau=tau, dtype=dtype)
    return field, skw


class MGRU(SequenceModel):
    """Continuous-time minimal gated RNN: ``tau dh/dt = G (-h + tanh(W h + U x + b))``,
    ``G = sigmoid(W_z h + U_z x + b_z)``.  With dt = tau and Euler steps it is the discrete
    update h <- (1 - G) h + G tanh(W h + U x + b)."""

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *, bias: bool = True,
                 tau: float = 1.0, dtype: torch.dtype = torch.float64, **kw) -> None:
        field, skw = _one_layer_tanh(state_dim, input_dim, bias, True, tau, dtype, kw)
        super().__init__(field, output_dim, **skw)


class Elman(SequenceModel):
    """Elman / random rate network ``tau dh/dt = -h + tanh(W h + U x + b)``."""

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *, bias: bool = True,
                 tau: float = 1.0, dtype: torch.dtype = torch.float64, **kw) -> None:
        field, skw = _one_layer_tanh(state_dim, input_dim, bias, False, tau, dtype, kw)
        super().__init__(field, output_dim, **skw)


class NCODE(SequenceModel):
    """Neural ODE with controlled flow parameters (N-CODE), open or closed loop.

    The first flow layer's weights are W^0 + A(t) B(t)^T / sqrt(N), with (A, B) a controller
    state: open loop, set from h(0) and relaxing with tau_c; closed loop, driven by h(t)
    (:class:`ControlledField`).  At initialization the controlled part is zero.

    Parameters
    ----------
    control : {"open", "closed"}
    rank : int
        Rank r of the controlled part.
    control_tau : float
        tau_c.
    gated : bool
        Add the gnODE gate (default False, as in the N-CODE paper).
    Other parameters as :class:`GNODE`.

    References
    ----------
    M. Chalvidal, M. Ricci, R. VanRullen, T. Serre, "Go with the flow: adaptive control for
    neural ODEs", ICLR 2021.
    """

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *,
                 control: str = "closed", rank: int = 1, control_tau: float = 1.0,
                 flow_hidden: Sequence[int] | None = None, gate_hidden: Sequence[int] = (),
                 activation: str = "relu", output_activation: str = "identity",
                 bias: bool = True, leak: bool = True, tau: float = 1.0, gated: bool = False,
                 dtype: torch.dtype = torch.float64, **kw) -> None:
        skw = _solver_kw(kw)
        if flow_hidden is None:
            flow_hidden = (state_dim,)
        field = ControlledField(state_dim, input_dim, control=control, rank=rank,
                                control_tau=control_tau, flow_hidden=flow_hidden,
                                gate_hidden=gate_hidden, activation=activation,
                                output_activation=output_activation, bias=bias, leak=leak,
                                tau=tau, gated=gated, dtype=dtype)
        super().__init__(field, output_dim, **skw)


class GRU(nn.Module):
    """``torch.nn.GRU`` (one layer, batch-first) with the interface of :class:`SequenceModel`.

    States after a sequence's length are frozen at its final state, as in the ODE models.
    """

    def __init__(self, state_dim: int, input_dim: int, output_dim: int, *,
                 initial_state: str = "learned", dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        n = check_dim("state_dim", state_dim)
        d = check_dim("input_dim", input_dim)
        o = check_dim("output_dim", output_dim)
        if initial_state not in _INITIAL:
            raise ValueError(f"initial_state must be one of {_INITIAL}, got {initial_state!r}")
        self.gru = nn.GRU(d, n, batch_first=True, dtype=dtype)
        self.readout = nn.Linear(n, o, dtype=dtype)
        self.initial_mode = initial_state
        self.h0 = nn.Parameter(torch.zeros(n, dtype=dtype)) if initial_state == "learned" \
            else None
        self.encoder = nn.Linear(d, n, dtype=dtype) if initial_state == "input" else None
        self.state_dim, self.input_dim = n, d

    @property
    def dtype(self) -> torch.dtype:
        return self.readout.weight.dtype

    def forward(self, x: torch.Tensor, *, lengths: torch.Tensor | None = None,
                h0: torch.Tensor | None = None) -> Trajectory:
        x = check_inputs(x, self.input_dim, self.dtype)
        b, t = x.shape[:2]
        if h0 is None:
            h0 = SequenceModel.initial(self, x)
        else:
            h0 = check_state(h0, b, self.state_dim, self.dtype)
        states, _ = self.gru(x, h0.unsqueeze(0).contiguous())
        lengths = check_lengths(lengths, b, t, x.device)
        if lengths is None:
            final = states[:, -1]
        else:
            final = states[torch.arange(b, device=x.device), lengths - 1]
            valid = torch.arange(t, device=x.device)[None, :] < lengths[:, None]
            states = torch.where(valid[..., None], states, final[:, None, :])
        return Trajectory(self.readout(states), states, final)
