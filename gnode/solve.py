"""Solvers for gated neural ODEs driven by input sequences.

Two routes, which agree on smooth problems (tests/test_gnode_solve.py):

- :func:`unroll`: fixed-step explicit Euler or classical RK4, unrolled (backpropagation through
  the steps).  Inputs are piecewise constant: sample ``x[:, k]`` holds on ``[k dt, (k+1) dt)``,
  integrated with ``substeps`` steps of size ``dt / substeps``.  Per-sequence ``lengths``
  freeze each sequence's state after its last sample.
- :func:`odeint`: adaptive solvers of torchdiffeq (``dopri5``, ...), optionally with the adjoint
  method (memory O(1) in the number of steps; Chen, Rubanova, Bettencourt, Duvenaud 2018).

The vector field is a :class:`gnode.models.GatedField` (or :class:`ControlledField`) whose
solver state is a tuple of tensors, the first being h of shape (B, N).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from dmft import _validate as _v

__all__ = ["Solution", "unroll", "odeint", "euler_step", "rk4_step", "METHODS"]


class Solution(NamedTuple):
    """Result of :func:`unroll`.

    Attributes
    ----------
    states : Tensor, shape (B, T, N)
        h at the end of each input interval, h((k + 1) dt).
    final : tuple of Tensor
        The full solver state after each sequence's last sample (``lengths``).
    """

    states: torch.Tensor
    final: tuple[torch.Tensor, ...]


def _axpy(a: float, xs, ys):
    return tuple(y + a * x for x, y in zip(xs, ys, strict=True))


def euler_step(f, state, h: float):
    """One explicit Euler step: s + h f(s)."""
    return _axpy(h, f(state), state)


def rk4_step(f, state, h: float):
    """One classical Runge-Kutta step (order 4)."""
    k1 = f(state)
    k2 = f(_axpy(h / 2, k1, state))
    k3 = f(_axpy(h / 2, k2, state))
    k4 = f(_axpy(h, k3, state))
    return tuple(s + (h / 6) * (a + 2 * b + 2 * c + d)
                 for s, a, b, c, d in zip(state, k1, k2, k3, k4, strict=True))


METHODS = {"euler": euler_step, "rk4": rk4_step}


def _check_positive(name: str, value) -> float:
    return _v.real(name, value, low=0.0, low_open=True)


def _check_field_state(field, h0) -> None:
    """h0: a finite (B, N) tensor of the field's dtype."""
    if not isinstance(h0, torch.Tensor):
        raise _v.ParameterTypeError(f"h0 must be a torch.Tensor of shape (batch, N), got "
                                    f"{type(h0).__name__}")
    n = getattr(field, "state_dim", None)
    if h0.dim() != 2 or (n is not None and h0.shape[1] != n):
        raise ValueError(f"h0 must have shape (batch, {n}), got {tuple(h0.shape)}")
    dtype = getattr(field, "dtype", None)
    if isinstance(dtype, torch.dtype) and h0.dtype != dtype:
        raise TypeError(f"h0 must have the field's dtype {dtype}, got {h0.dtype}")
    if not bool(torch.isfinite(h0).all()):
        raise ValueError("h0 contains non-finite values (nan or inf)")


def check_lengths(lengths, batch: int, n_steps: int, device) -> torch.Tensor | None:
    """Validate per-sequence lengths (ints in [1, T]) and return them as a long tensor."""
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths, device=device)
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must be integers, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > n_steps):
        raise ValueError(f"lengths must lie in [1, {n_steps}] (the sequence length), got "
                         f"min {int(lengths.min())}, max {int(lengths.max())}")
    return lengths.long()


def unroll(field, h0: torch.Tensor, x: torch.Tensor | None = None, *, n_steps: int | None = None,
           dt: float = 1.0, substeps: int = 1, method: str = "euler",
           lengths: torch.Tensor | None = None, state0: tuple | None = None) -> Solution:
    """Integrate ``field`` over an input sequence with a fixed-step unrolled solver.

    Parameters
    ----------
    field : GatedField
        The vector field (its ``state_rhs``, ``drive``, ``prepare``, ``initial_state``).
    h0 : Tensor, shape (B, N)
        Initial state.
    x : Tensor, shape (B, T, D), optional
        Inputs, piecewise constant on intervals of length ``dt``.  Without inputs give
        ``n_steps`` = T.
    dt : float
        Time between input samples (in the units of tau).
    substeps : int
        Solver steps per input sample (step size dt / substeps).
    method : {"euler", "rk4"}
    lengths : Tensor of int, shape (B,), optional
        Number of valid samples per sequence; the state is frozen afterwards.
    state0 : tuple of Tensor, optional
        Full initial solver state (default ``field.initial_state(h0)``).

    Returns
    -------
    Solution
    """
    _v.choice("method", method, sorted(METHODS))
    dt = _check_positive("dt", dt)
    substeps = _v.integer("substeps", substeps, low=1, high=1_000_000)
    step = METHODS[method]
    _check_field_state(field, h0)
    if x is not None:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != h0.shape[0]:
            raise ValueError(f"x must be a tensor of shape ({h0.shape[0]}, T, D), got "
                             f"{getattr(x, 'shape', type(x).__name__)}")
        n_steps = x.shape[1]
        drives = field.drive(x)
    else:
        try:
            n_steps = _v.integer("n_steps", n_steps, low=1)
        except ValueError as exc:
            raise type(exc)(f"{exc} (n_steps is required when x is None)") from None
        drives = None
    batch = h0.shape[0]
    lengths = check_lengths(lengths, batch, n_steps, h0.device)
    state = field.initial_state(h0) if state0 is None else tuple(state0)
    first = field.prepare()
    hstep = dt / substeps
    out = []
    for k in range(n_steps):
        drive = None if drives is None else drives[:, k]

        def f(s, drive=drive):
            return field.state_rhs(s, drive, first)

        new = state
        for _ in range(substeps):
            new = step(f, new, hstep)
        if lengths is not None:
            keep = lengths > k
            new = tuple(torch.where(keep.view(-1, *([1] * (n.dim() - 1))), n, s)
                        for n, s in zip(new, state, strict=True))
        state = new
        out.append(state[0])
    return Solution(torch.stack(out, dim=1), state)


class _InputODE(nn.Module):
    """f(t, state) for torchdiffeq: the field with piecewise-constant inputs looked up at t."""

    def __init__(self, field, x: torch.Tensor | None, input_dt: float, t0: float) -> None:
        super().__init__()
        self.field = field
        self.x = x
        self.input_dt, self.t0 = input_dt, t0

    def forward(self, t, state):
        drive = None
        if self.x is not None:
            k = int(math.floor((float(t) - self.t0) / self.input_dt + 1e-12))
            k = min(max(k, 0), self.x.shape[1] - 1)
            drive = self.field.drive(self.x[:, k])
        return self.field.state_rhs(state, drive)


def odeint(field, h0: torch.Tensor, t: torch.Tensor, *, x: torch.Tensor | None = None,
           input_dt: float = 1.0, method: str = "dopri5", adjoint: bool = False,
           rtol: float = 1e-7, atol: float = 1e-9, options: dict | None = None
           ) -> torch.Tensor:
    """Adaptive (or adjoint) solve through torchdiffeq.

    Parameters
    ----------
    field : GatedField
    h0 : Tensor, shape (B, N)
    t : Tensor, shape (M,)
        Increasing output times; t[0] is the initial time.
    x : Tensor, shape (B, T, D), optional
        Inputs, x[:, k] on [t[0] + k input_dt, t[0] + (k+1) input_dt) (held after the end).
        Adaptive solvers see the jumps as kinks; pass the jump times in ``options``
        (torchdiffeq's ``jump_t``) for efficiency.
    method, rtol, atol, options
        Passed to ``torchdiffeq.odeint``.
    adjoint : bool
        Use ``torchdiffeq.odeint_adjoint`` (gradients by the adjoint ODE).

    Returns
    -------
    Tensor, shape (B, M, N)
        h at the times t.
    """
    import torchdiffeq

    input_dt = _check_positive("input_dt", input_dt)
    if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.numel() < 2:
        raise ValueError("t must be a 1-D tensor of at least 2 increasing times")
    if not bool(torch.isfinite(t).all()) or not bool((t[1:] > t[:-1]).all()):
        raise ValueError("t must be a 1-D tensor of at least 2 increasing times (finite)")
    _check_field_state(field, h0)
    rtol = _v.real("rtol", rtol, low=0.0, low_open=True)
    atol = _v.real("atol", atol, low=0.0, low_open=True)
    _v.flag("adjoint", adjoint)
    if not isinstance(method, str):
        raise _v.ParameterTypeError(f"method must be a torchdiffeq method name (str), got "
                                    f"{type(method).__name__}")
    func = _InputODE(field, x, input_dt, float(t[0]))
    state0 = field.initial_state(h0)
    solver = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    kw = {"rtol": rtol, "atol": atol, "method": method, "options": options}
    if adjoint:
        kw["adjoint_params"] = tuple(field.parameters())
    sol = solver(func, state0, t, **kw)
    return sol[0].transpose(0, 1)
