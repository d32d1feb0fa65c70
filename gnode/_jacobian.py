"""Jacobians, fixed points and the spectral radius of a model's flow (docs/theory.md section 3).

At a fixed point h* of ``tau dh/dt = G (-lam h + F)`` (F(h*) = lam h*) the Jacobian is
J = diag(G*) (-lam I + J_F) / tau with J_F = dF/dh; the theory's spectral radius rho is that of
J_F, checked here by torch autograd and dense eigenvalues.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dmft.errors import ConvergenceError

from .init import field_of

__all__ = ["jacobian", "fixed_point", "spectral_radius", "ModelFixedPoint"]


@dataclass(frozen=True)
class ModelFixedPoint:
    """Result of :func:`fixed_point`.

    Attributes
    ----------
    h : Tensor, shape (N,)
        The fixed point: F(h) = h (leaky) or F(h) = 0 (non-leaky).
    converged, residual, n_iter, message
        Newton diagnostics; residual = max |-lam h + F(h)|.
    """

    h: torch.Tensor
    converged: bool
    residual: float
    n_iter: int
    message: str


def _prep(field, h, x):
    if not isinstance(h, torch.Tensor):
        raise TypeError(f"h must be a torch.Tensor, got {type(h).__name__}")
    if h.shape[-1] != field.state_dim or h.dim() not in (1, 2):
        raise ValueError(f"h must have shape (N,) or (B, N) with N = {field.state_dim}, got "
                         f"{tuple(h.shape)}")
    if h.dtype != field.dtype:
        raise TypeError(f"h must have dtype {field.dtype}, got {h.dtype}")
    if x is not None:
        if not isinstance(x, torch.Tensor) or x.shape[-1] != field.input_dim \
                or x.shape[:-1] != h.shape[:-1]:
            raise ValueError(f"x must be a tensor of shape {tuple(h.shape[:-1])} + "
                             f"({field.input_dim},), matching h")
        if x.dtype != field.dtype:
            raise TypeError(f"x must have dtype {field.dtype}, got {x.dtype}")
    return h.detach(), None if x is None else x.detach()


def jacobian(model, h: torch.Tensor, x: torch.Tensor | None = None, *,
             of: str = "flow") -> torch.Tensor:
    """Jacobian with respect to h, by reverse-mode autograd.

    Parameters
    ----------
    model : SequenceModel or GatedField
    h : Tensor, shape (N,) or (B, N)
    x : Tensor, shape (D,) or (B, D), optional
        Input (zero input when omitted).
    of : {"flow", "field"}
        dF/dh (the flow) or d(dh/dt)/dh = diag(G)(-lam I + dF/dh) / tau + the gate's term.

    Returns
    -------
    Tensor, shape (N, N) or (B, N, N)
    """
    field = field_of(model)
    if of not in ("flow", "field"):
        raise ValueError(f"of must be 'flow' or 'field', got {of!r}")
    h, x = _prep(field, h, x)
    fn = field.flow_fn if of == "flow" else field.forward

    def single(hh, xx):
        return torch.func.jacrev(lambda v: fn(v, xx))(hh)

    if h.dim() == 1:
        return single(h, x).detach()
    if x is None:
        return torch.func.vmap(lambda hh: single(hh, None))(h).detach()
    return torch.func.vmap(single)(h, x).detach()


def _newton(field, x, h, lam, s, tol, max_iter):
    """Damped Newton on R(h) = s F(h, x) - lam h; returns (h, max|R|, iterations)."""
    eye = torch.eye(field.state_dim, dtype=field.dtype)

    def resid(v):
        with torch.no_grad():
            return s * field.flow_fn(v, x) - lam * v

    r = resid(h)
    err, it = float(r.abs().max()), 0
    while err > tol and it < max_iter:
        it += 1
        step = torch.linalg.solve(s * jacobian(field, h, x) - lam * eye, -r)
        # Armijo backtracking on |R|^2: the Newton step is a descent direction for it
        r2, t = float(r @ r), 1.0
        while True:
            hn = h + t * step
            rn = resid(hn)
            if float(rn @ rn) <= (1.0 - 1e-4 * t) * r2 or t < 1e-6:
                break
            t *= 0.5
        h, r = hn, rn
        err = float(r.abs().max())
    return h, err, it


def fixed_point(model, x: torch.Tensor | None = None, *, h0: torch.Tensor | None = None,
                tol: float = 1e-10, max_iter: int = 100) -> ModelFixedPoint:
    """A fixed point of the flow, -lam h + F(h, x) = 0, by damped Newton iterations.

    From ``h0`` when given.  Otherwise (leaky) by continuation: the fixed point of
    h = s F(h, x) is followed from s = 1/2 (a contraction for rho < 2, unique) to s = 1, so the
    returned h* is the branch connected to the stable one; for odd activations without biases
    this is h* = 0.  Non-leaky: Newton on F(h) = 0 from h = 0.

    Raises
    ------
    ConvergenceError
        When the residual does not fall below ``tol`` in ``max_iter`` iterations.
    """
    field = field_of(model)
    lam = 1.0 if field.leak else 0.0
    h = torch.zeros(field.state_dim, dtype=field.dtype) if h0 is None else h0
    h, x = _prep(field, h, x)
    total = 0
    if h0 is None and field.leak:
        for s in (0.5, 0.6, 0.7, 0.8, 0.9):
            h, err, it = _newton(field, x, h, lam, s, tol, max_iter)
            total += it
    h, err, it = _newton(field, x, h, lam, 1.0, tol, max_iter)
    total += it
    if not err <= tol:
        raise ConvergenceError("model fixed point: Newton did not converge; try another h0 or "
                               "a larger max_iter", residual=err, n_iter=total)
    return ModelFixedPoint(h, True, err, total, "Newton on -lam h + F(h)"
                           + (" with continuation in the flow's scale" if h0 is None else ""))


def spectral_radius(model, x: torch.Tensor | None = None, *,
                    h0: torch.Tensor | None = None, seed: int = 0) -> float:
    """max |eig(dF/dh)| at the model's fixed point (zero input unless ``x`` is given).

    Compare with the theory's rho (docs/theory.md eq. 3.2): at width N the edge of the eigenvalue
    disk fluctuates by O(sqrt(log N / N)).

    A ReLU flow is not differentiable at h* = 0 (zero biases): F is then positively homogeneous
    near 0 and its Jacobian depends on the direction of approach; it is evaluated at
    1e-6 v with v a standard normal direction (``seed``), whose ReLU pattern is the one the
    theory's E[phi'(u)^2] = 1/2 averages over.
    """
    field = field_of(model)
    fp = fixed_point(field, x, h0=h0)
    h = fp.h
    if "relu" in field.activations and not bool(h.any()):
        gen = torch.Generator().manual_seed(seed)
        h = 1e-6 * torch.randn(field.state_dim, generator=gen, dtype=torch.float64).to(h.dtype)
    j = jacobian(field, h, x)
    return float(torch.linalg.eigvals(j).abs().max())
