"""Vector fields of gated neural ODEs (docs/theory.md section 1) as torch modules.

:class:`GatedField` is the right-hand side of

    tau dh/dt = G(h, x) * ( -lam h + F(h, x) ),     lam = 1 (leak=True) or 0

    F:  u^1 = W^0 h + U x + b^0,  s^l = phi_a(u^l),  u^{l+1} = W^l s^l + b^l,  F = phi_out(u^L)
    G:  sigmoid of an MLP of the same form (one layer: G = sigmoid(W_z h + U_z x + b_z))

``flow[l]`` is a ``torch.nn.Linear`` whose ``weight`` (out, in) is W^l of the ensemble
(shape (N_{l+1}, N_l)), so a :class:`dmft.Ensemble` sample copies in without transposes.
The first flow layer and the first gate layer read the same h: :meth:`GatedField.rhs` applies
them as ONE fused matrix product ([W^0; W_z] h), and the input currents [U; U_z] x of a whole
sequence are computed by one product before time stepping (:meth:`GatedField.drive`).

:class:`ControlledField` is the N-CODE form (Chalvidal, Ricci, VanRullen, Serre, ICLR 2021): the
first flow layer's weights are themselves dynamic, W^0(t) = W^0 + A(t) B(t)^T / sqrt(N) with
A (N_1 x r), B (N x r) obeying

    tau_c dA/dt = -A + c * P_a(h),     tau_c dB/dt = -B + c * P_b(h)

c = 0 (open loop: the parameters are a function of the initial state and of time only,
A(0), B(0) = E_a h(0), E_b h(0)) or c = 1 (closed loop: driven by the current state).
E_a and P_a start at zero, so at initialization W^0(t) = W^0: the model is the gnODE/nODE with
the same flow, and the critical initialization applies to it unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dmft import _validate as _v

from ._activations import check_activation, torch_activation

__all__ = ["GatedField", "ControlledField", "check_dim"]


#: the largest dimension accepted (a million units: 8 TB of float64 couplings)
MAX_DIM = 1_000_000


def check_dim(name: str, value, *, low: int = 1) -> int:
    """Validate an integer dimension (>= ``low``; Python or numpy int, not bool)."""
    return _v.integer(name, value, low=low, high=MAX_DIM)


def _check_widths(name: str, widths) -> tuple[int, ...]:
    if isinstance(widths, int) and not isinstance(widths, bool):
        widths = (widths,)
    if not isinstance(widths, Sequence) or isinstance(widths, str):
        raise TypeError(f"{name} must be a sequence of positive ints (hidden widths), "
                        f"got {type(widths).__name__}")
    return tuple(check_dim(f"{name}[{i}]", w) for i, w in enumerate(widths))


class GatedField(nn.Module):
    """Right-hand side of ``tau dh/dt = G(h, x) * (-lam h + F(h, x))`` (docs/theory.md section 1).

    Parameters
    ----------
    state_dim : int
        N, the phase-space dimension.
    input_dim : int
        D >= 0, the input dimension (0: autonomous).
    flow_hidden : sequence of int
        Hidden widths of the flow MLP (empty: one weight layer, the Elman / mGRU flow).
    gate_hidden : sequence of int
        Hidden widths of the gate MLP (empty: the one-layer gate of the gnODE paper).
    activation, output_activation : str
        phi_a (hidden layers of flow and gate) and phi_out (the flow's last layer); names of
        :mod:`dmft.activations` with a torch form.
    bias : bool
        Biases b^l in the flow (the gate always has biases: b_z sets its time scales).
    gated : bool
        With the gate G, or G = 1.
    leak : bool
        lam = 1 (leaky) or 0.
    tau : float
        Time constant tau > 0.
    dtype : torch.dtype
        Parameter dtype (float64 by default, the project's convention).
    """

    def __init__(self, state_dim: int, input_dim: int = 0, *, flow_hidden: Sequence[int] = (),
                 gate_hidden: Sequence[int] = (), activation: str = "relu",
                 output_activation: str = "identity", bias: bool = True, gated: bool = True,
                 leak: bool = True, tau: float = 1.0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        n = check_dim("state_dim", state_dim)
        d = check_dim("input_dim", input_dim, low=0)
        fh = _check_widths("flow_hidden", flow_hidden)
        gh = _check_widths("gate_hidden", gate_hidden)
        check_activation(activation, "activation")
        check_activation(output_activation, "output_activation")
        bias, gated, leak = (_v.flag(name, flag) for name, flag in
                             (("bias", bias), ("gated", gated), ("leak", leak)))
        tau = _v.real("tau", tau, low=0.0, low_open=True)
        widths_all = (n, *fh, n)
        n_params = sum(a * b + b for a, b in zip(widths_all[:-1], widths_all[1:], strict=True))
        _v.check_memory(8.0 * 4 * n_params * (2 if gated else 1),
                        f"a field with state_dim = {n} and hidden widths {fh}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        kw = {"dtype": dtype}
        self.state_dim, self.input_dim = n, d
        self.flow_hidden, self.gate_hidden = fh, gh
        self.activation, self.output_activation = activation, output_activation
        self.bias, self.leak, self.tau = bias, leak, float(tau)
        widths = (n, *fh, n)
        self.flow = nn.ModuleList(nn.Linear(a, b, bias=bias, **kw)
                                  for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.activations = tuple([activation] * len(fh) + [output_activation])
        self._acts = tuple(torch_activation(a) for a in self.activations)
        self.flow_input = nn.Linear(d, widths[1], bias=False, **kw) if d else None
        if gated:
            gw = (n, *gh, n)
            self.gate = nn.ModuleList(nn.Linear(a, b, bias=True, **kw)
                                      for a, b in zip(gw[:-1], gw[1:], strict=True))
            self.gate_input = nn.Linear(d, gw[1], bias=False, **kw) if d else None
            self._gate_acts = tuple([torch_activation(activation)] * len(gh)
                                    + [torch_activation("sigmoid")])
        else:
            self.gate = None
            self.gate_input = None
            self._gate_acts = ()

    # ------------------------------------------------------------------ structure
    @property
    def gated(self) -> bool:
        return self.gate is not None

    @property
    def depth(self) -> int:
        """Number of weight layers L of the flow."""
        return len(self.flow)

    @property
    def dtype(self) -> torch.dtype:
        return self.flow[0].weight.dtype

    def widths(self) -> tuple[int, ...]:
        """(N_0, N_1, ..., N_L), N_0 = N_L = N."""
        return (self.state_dim, *self.flow_hidden, self.state_dim)

    @property
    def drive_dim(self) -> int:
        """Width of the input currents [U x, U_z x]: N_1 (+ width of the gate's first layer)."""
        return self.flow[0].out_features + (self.gate[0].out_features if self.gated else 0)

    # ------------------------------------------------------------------ pieces
    def drive(self, x: torch.Tensor) -> torch.Tensor | None:
        """Input currents [U x, U_z x], shape (..., drive_dim); None when D = 0."""
        if self.input_dim == 0:
            return None
        w = self.flow_input.weight
        if self.gate_input is not None:
            w = torch.cat([w, self.gate_input.weight], dim=0)
        return x @ w.t()

    def first_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused first layers ([W^0; W_z], [b^0; b_z]) acting on h."""
        f0 = self.flow[0]
        b = f0.bias if f0.bias is not None else f0.weight.new_zeros(f0.out_features)
        if not self.gated:
            return f0.weight, b
        g0 = self.gate[0]
        return torch.cat([f0.weight, g0.weight], 0), torch.cat([b, g0.bias], 0)

    def _flow_tail(self, u: torch.Tensor) -> torch.Tensor:
        s = self._acts[0](u)
        for layer, act in zip(self.flow[1:], self._acts[1:], strict=True):
            s = act(layer(s))
        return s

    def _gate_tail(self, z: torch.Tensor) -> torch.Tensor:
        s = self._gate_acts[0](z)
        for layer, act in zip(self.gate[1:], self._gate_acts[1:], strict=True):
            s = act(layer(s))
        return s

    def _currents(self, h, drive, first):
        w, b = self.first_layer() if first is None else first
        a = torch.addmm(b, h, w.t()) if h.dim() == 2 else h @ w.t() + b
        if drive is not None:
            a = a + drive
        n1 = self.flow[0].out_features
        return a[..., :n1], a[..., n1:]

    def flow_and_gate(self, h: torch.Tensor, drive: torch.Tensor | None = None,
                      first=None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(F(h, x), G(h, x)) given the input currents ``drive`` = :meth:`drive` (x)."""
        u, z = self._currents(h, drive, first)
        return self._flow_tail(u), (self._gate_tail(z) if self.gated else None)

    def rhs(self, h: torch.Tensor, drive: torch.Tensor | None = None,
            first=None) -> torch.Tensor:
        """dh/dt = G (-lam h + F) / tau for states ``h`` of shape (..., N)."""
        f, g = self.flow_and_gate(h, drive, first)
        v = f - h if self.leak else f
        if g is not None:
            v = g * v
        return v / self.tau if self.tau != 1.0 else v

    def forward(self, h: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """dh/dt at state ``h`` (..., N) and input ``x`` (..., D)."""
        return self.rhs(h, None if x is None else self.drive(x))

    def flow_fn(self, h: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """The flow field F(h, x) alone."""
        return self.flow_and_gate(h, None if x is None else self.drive(x))[0]

    # ------------------------------------------------------------------ state as tuple
    def initial_state(self, h0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The solver state (a tuple) for the initial phase-space point h0."""
        return (h0,)

    def state_rhs(self, state: tuple[torch.Tensor, ...], drive, first=None):
        """Right-hand side on the solver state (tuple); the state's first entry is h."""
        return (self.rhs(state[0], drive, first),)

    def prepare(self):
        """Quantities fixed during a solve (the fused first layer), computed once per solve."""
        return self.first_layer()


class ControlledField(GatedField):
    """N-CODE vector field: dynamic first-layer flow weights W^0 + A B^T / sqrt(N).

    State: (h, A, B) with A of shape (..., N_1, r) and B of shape (..., N, r)::

        tau   dh/dt = G(h, x) * ( -lam h + F(h, x; W^0 + A B^T / sqrt N) )
        tau_c dA/dt = -A + c P_a h,    tau_c dB/dt = -B + c P_b h,   c = 1 closed loop, 0 open

    with A(0) = E_a h(0), B(0) = E_b h(0) (reshaped).  E_a and P_a start at zero.

    Parameters
    ----------
    control : {"open", "closed"}
    rank : int
        r, the rank of the controlled part of W^0.
    control_tau : float
        tau_c > 0.
    Other parameters as :class:`GatedField` (``gated=False`` by default).
    """

    def __init__(self, state_dim: int, input_dim: int = 0, *, control: str = "closed",
                 rank: int = 1, control_tau: float = 1.0, gated: bool = False,
                 dtype: torch.dtype = torch.float64, **kwargs) -> None:
        super().__init__(state_dim, input_dim, gated=gated, dtype=dtype, **kwargs)
        _v.choice("control", control, ("open", "closed"))
        r = check_dim("rank", rank)
        control_tau = _v.real("control_tau", control_tau, low=0.0, low_open=True)
        self.control, self.rank, self.control_tau = control, r, float(control_tau)
        n, n1 = self.state_dim, self.flow[0].out_features
        kw = {"bias": False, "dtype": dtype}
        self.encode_a = nn.Linear(n, n1 * r, **kw)
        self.encode_b = nn.Linear(n, n * r, **kw)
        nn.init.zeros_(self.encode_a.weight)
        if control == "closed":
            self.control_a = nn.Linear(n, n1 * r, **kw)
            self.control_b = nn.Linear(n, n * r, **kw)
            nn.init.zeros_(self.control_a.weight)
        else:
            self.control_a = self.control_b = None

    def initial_state(self, h0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n, n1, r = self.state_dim, self.flow[0].out_features, self.rank
        a = self.encode_a(h0).reshape(*h0.shape[:-1], n1, r)
        b = self.encode_b(h0).reshape(*h0.shape[:-1], n, r)
        return (h0, a, b)

    def state_rhs(self, state, drive, first=None):
        h, a, b = state
        u, z = self._currents(h, drive, first)
        # (A B^T / sqrt N) h = A (B^T h) / sqrt N: O(r (N + N_1)) per sample
        bh = (b * h.unsqueeze(-1)).sum(-2) / math.sqrt(self.state_dim)        # (..., r)
        u = u + (a @ bh.unsqueeze(-1)).squeeze(-1)
        f = self._flow_tail(u)
        v = f - h if self.leak else f
        if self.gated:
            v = self._gate_tail(z) * v
        dh = v / self.tau
        da, db = -a, -b
        if self.control == "closed":
            n, n1, r = self.state_dim, self.flow[0].out_features, self.rank
            da = da + self.control_a(h).reshape(*h.shape[:-1], n1, r)
            db = db + self.control_b(h).reshape(*h.shape[:-1], n, r)
        return (dh, da / self.control_tau, db / self.control_tau)

    def rhs(self, h, drive=None, first=None):
        """dh/dt with the controlled part at its value for the state h alone (A = E_a h...).

        The N-CODE state is (h, A, B); use :meth:`state_rhs` for the full system.  At
        initialization (E_a = 0) this equals the static field.
        """
        return self.state_rhs(self.initial_state(h), drive, first)[0]
