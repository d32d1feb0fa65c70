"""Solvers: convergence orders, unrolled RK4 vs torchdiffeq (adaptive and adjoint)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnode.models import GNODE
from gnode.solve import odeint, unroll


def _smooth_model(seed: int = 0) -> GNODE:
    """A small gnODE with smooth activations and O(1) weights (a smooth, non-stiff field)."""
    m = GNODE(4, 2, 1, flow_hidden=(5,), activation="tanh", output_activation="tanh", tau=0.7)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return m


def _data(seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    h0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    x = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    return h0, x


@pytest.mark.parametrize("method, order", [("euler", 1), ("rk4", 4)])
def test_convergence_order(method, order):
    """Global error vs step size, fitted slope on log-log axes, reference RK4 with 2048 substeps.

    Inputs are piecewise constant on intervals of length dt = 0.5, and the steps align with
    the jumps, so the classical orders hold.  Slope tolerance 0.25: the pre-asymptotic
    curvature over one decade of step sizes.
    """
    m = _smooth_model()
    h0, x = _data()
    with torch.no_grad():
        ref = unroll(m.field, h0, x, dt=0.5, substeps=2048, method="rk4").states[:, -1]
        subs = [4, 8, 16, 32] if order == 4 else [16, 32, 64, 128]
        err = [float((unroll(m.field, h0, x, dt=0.5, substeps=s, method=method).states[:, -1]
                      - ref).abs().max()) for s in subs]
    slope = np.polyfit(np.log(0.5 / np.array(subs)), np.log(err), 1)[0]
    assert abs(slope - order) < 0.25, (slope, err)


def test_unrolled_rk4_agrees_with_adaptive_dopri5():
    """Same piecewise-constant input problem solved both ways: agreement to the tolerances
    (RK4 with step 1/64: error ~ (1/64)^4 * C ~ 1e-8; dopri5 rtol 1e-10)."""
    m = _smooth_model(2)
    h0, x = _data(3)
    t = torch.arange(5, dtype=torch.float64) * 0.5
    with torch.no_grad():
        fixed = unroll(m.field, h0, x, dt=0.5, substeps=32, method="rk4").states
        adapt = odeint(m.field, h0, t, x=x, input_dt=0.5, rtol=1e-10, atol=1e-12,
                       options={"jump_t": t[1:-1]})
    torch.testing.assert_close(adapt[:, 1:], fixed, rtol=0, atol=1e-7)


def test_adjoint_gradients_agree_with_backprop_through_rk4():
    """d(loss)/d(parameters) by the adjoint ODE equals backprop through fine RK4 steps
    (autonomous, smooth: both routes converge to the exact gradient; tolerance 1e-6)."""
    m = _smooth_model(4)
    h0, _ = _data(5)
    t = torch.tensor([0.0, 2.0], dtype=torch.float64)

    def grads(fn):
        m.zero_grad()
        (fn() ** 2).sum().backward()
        return [torch.zeros_like(p) if p.grad is None else p.grad.clone()
                for p in m.field.parameters()]

    g_fixed = grads(lambda: unroll(m.field, h0, n_steps=1, dt=2.0, substeps=256,
                                   method="rk4").states[:, -1])
    g_adj = grads(lambda: odeint(m.field, h0, t, adjoint=True, rtol=1e-10,
                                 atol=1e-12)[:, -1])
    assert any(float(g.abs().max()) > 1e-3 for g in g_fixed)   # a non-trivial check
    for a, b in zip(g_fixed, g_adj, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)


def test_solver_argument_errors():
    m = _smooth_model()
    h0, x = _data()
    with pytest.raises(ValueError, match="method"):
        unroll(m.field, h0, x, method="midpoint")
    with pytest.raises(ValueError, match="substeps"):
        unroll(m.field, h0, x, substeps=0)
    with pytest.raises(ValueError, match="n_steps"):
        unroll(m.field, h0)
    with pytest.raises(ValueError, match="t must be"):
        odeint(m.field, h0, torch.zeros(1, dtype=torch.float64))
