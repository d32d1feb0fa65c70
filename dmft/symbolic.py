"""Symbolic derivations (sympy) of the closed forms used in :mod:`dmft.kernels` and
:mod:`dmft.static` (docs/theory.md sections 2 and 3).

What is derived here rather than typed in:

- second moments E[phi(u)^2] and E[phi'(u)^2] of relu, identity and erf by symbolic Gaussian
  integration (u ~ N(0, q));
- Price's theorem for the closed-form kernels: d K / d c equals the closed-form E[phi' phi'];
- the boundary values of the kernels (c = 0 gives E[phi]^2; c = sqrt(q q') gives the second
  moment);
- the zero-bias critical gains: with h* = 0, rho^2 = prod_l g_l^2 lim_{q->0+} E[phi_l'(u)^2],
  so the critical product of gains is prod_l (lim E[phi_l'^2])^(-1/2): 1 for tanh,
  sqrt(pi)/2 for erf, 2^((L-1)/2) for L - 1 relu layers and an identity output.

These functions are used by the tests to check the numerical code against an independent route.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sympy as sp

__all__ = ["symbols", "closed_kernel", "closed_dkernel", "phi", "gaussian_expectation",
           "second_moment", "derivative_moment", "derivative_moment_at_zero", "price_residual",
           "critical_gain_product"]

q, q2, c = sp.symbols("q q2 c", positive=True)
u = sp.Symbol("u", real=True)


def symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol]:
    """The symbols (q, q2, c) used by the expressions of this module."""
    return q, q2, c


def phi(name: str) -> sp.Expr:
    """The activation as a sympy expression in ``u``."""
    table = {
        "identity": u,
        "relu": sp.Max(0, u),
        "erf": sp.erf(u),
        "tanh": sp.tanh(u),
        "sigmoid": 1 / (1 + sp.exp(-u)),
        "softplus": sp.log(1 + sp.exp(u)),
    }
    if name not in table:
        raise ValueError(f"name must be one of {sorted(table)}, got {name!r}")
    return table[name]


def closed_kernel(name: str) -> sp.Expr:
    """Closed-form K(q, q2, c) for ``identity``, ``relu`` (Cho & Saul 2009), ``erf``
    (Williams 1997)."""
    if name == "identity":
        return c
    if name == "relu":
        t = sp.acos(c / sp.sqrt(q * q2))
        return sp.sqrt(q * q2) / (2 * sp.pi) * (sp.sin(t) + (sp.pi - t) * sp.cos(t))
    if name == "erf":
        return 2 / sp.pi * sp.asin(2 * c / sp.sqrt((1 + 2 * q) * (1 + 2 * q2)))
    raise ValueError(f"no closed-form kernel for {name!r} (have identity, relu, erf)")


def closed_dkernel(name: str) -> sp.Expr:
    """Closed-form E[phi'(u) phi'(u')] for ``identity``, ``relu``, ``erf``."""
    if name == "identity":
        return sp.Integer(1)
    if name == "relu":
        return (sp.pi - sp.acos(c / sp.sqrt(q * q2))) / (2 * sp.pi)
    if name == "erf":
        return 4 / sp.pi / sp.sqrt((1 + 2 * q) * (1 + 2 * q2) - 4 * c ** 2)
    raise ValueError(f"no closed-form derivative kernel for {name!r}")


def gaussian_expectation(expr: sp.Expr, var: sp.Expr = q) -> sp.Expr:
    """E[expr(u)] for u ~ N(0, var), by symbolic integration."""
    pdf = sp.exp(-u ** 2 / (2 * var)) / sp.sqrt(2 * sp.pi * var)
    return sp.simplify(sp.integrate(sp.piecewise_fold(expr * pdf), (u, -sp.oo, sp.oo)))


@cache
def second_moment(name: str) -> sp.Expr:
    """E[phi(u)^2], u ~ N(0, q), derived by integration (identity, relu, erf-free cases)."""
    if name == "relu":   # Max(0, u)^2 = u^2 on u > 0
        pdf = sp.exp(-u ** 2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
        return sp.simplify(sp.integrate(u ** 2 * pdf, (u, 0, sp.oo)))
    return gaussian_expectation(phi(name) ** 2)


@cache
def derivative_moment(name: str) -> sp.Expr:
    """E[phi'(u)^2], u ~ N(0, q), derived by integration (identity, relu, erf)."""
    if name == "relu":   # phi' = Heaviside(u)
        pdf = sp.exp(-u ** 2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
        return sp.simplify(sp.integrate(pdf, (u, 0, sp.oo)))
    return gaussian_expectation(sp.diff(phi(name), u) ** 2)


def derivative_moment_at_zero(name: str) -> sp.Expr:
    """lim_{q -> 0+} E[phi'(u)^2]: phi'(0)^2 for smooth phi, 1/2 for relu."""
    if name == "relu":
        return sp.limit(derivative_moment("relu"), q, 0, "+")
    return sp.simplify(sp.diff(phi(name), u).subs(u, 0) ** 2)


def price_residual(name: str) -> sp.Expr:
    """d K / d c - E[phi' phi'] for the closed forms, simplified (0 when Price's theorem holds)."""
    return sp.simplify(sp.diff(closed_kernel(name), c) - closed_dkernel(name))


def critical_gain_product(activations: Sequence[str]) -> sp.Expr:
    """prod_l g_l at rho = 1 for a zero-bias flow with h* = 0 (docs/theory.md section 3)."""
    acts = tuple(activations)
    if not acts:
        raise ValueError("activations must name at least one layer")
    return sp.nsimplify(sp.simplify(
        sp.Mul(*[1 / sp.sqrt(derivative_moment_at_zero(a)) for a in acts])))
