"""Checks shared by the simulation drivers: the step size against a stability estimate, and the
length of one compiled call (so that Ctrl-C is seen within a second or two).

Stability estimate (docs/theory.md sections 1 and 3).  The Jacobian J = (1/tau)[diag(G)(-lam I +
J_F) + ...] of a realization has its eigenvalues, as N -> infinity, in a disk around -lam G / tau
of radius at most rho_sup / tau, rho_sup = prod_l g_l max|phi_l'| (the circular law of each W^l,
times the largest slope of its activation; the gate's factor G <= 1 only shrinks it).  So

    |lambda|_max <= (lam + rho_sup) / tau,

and a fixed step dt whose dt |lambda|_max exceeds the method's stability radius on the negative
real axis (explicit Euler 2, classical RK4 2.785) cannot follow the fastest decaying mode: the
numbers are not those of the ODE.  Such a step is reported (a :class:`StepSizeWarning`, and
``converged=False`` with the reason in ``message``); the largest estimated stable step is named.
The estimate is an upper bound of the true rate, so a step it passes is within the region.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from dmft.activations import get_activation

__all__ = ["StepSizeWarning", "rate_bound", "step_problem", "STABILITY_RADIUS", "span_steps"]

#: the stability interval of each method on the negative real axis, |z| for z = dt lambda
STABILITY_RADIUS = {"euler": 2.0, "rk4": 2.785}

#: work of one compiled integration call (multiply-adds): about 0.1 s on one core, so that a
#: long run returns to Python, where Ctrl-C is handled, many times a second
_CALL_WORK = 1e8

_GRID = np.linspace(-12.0, 12.0, 4801)


class StepSizeWarning(RuntimeWarning):
    """A fixed step beyond the integrator's stability estimate (the result says so too)."""


def _max_slope(name: str) -> float:
    return float(np.max(np.abs(get_activation(name).deriv(_GRID))))


def rate_bound(ens) -> float:
    """(lam + prod_l g_l max|phi_l'|) / tau, the bound on |lambda| of the module docstring."""
    lam = 1.0 if ens.leak else 0.0
    rho = math.prod(layer.gain * _max_slope(layer.activation) for layer in ens.flow)
    return (lam + rho) / ens.tau


def step_problem(ens, dt: float, method: str, *, warn: bool = True) -> str:
    """"" when ``dt`` is within the stability estimate of ``method``; else the reason (and a
    :class:`StepSizeWarning` when ``warn``)."""
    rate = rate_bound(ens)
    limit = STABILITY_RADIUS[method]
    if not dt * rate > limit:
        return ""
    reason = (f"dt = {dt:g} is beyond the stability estimate of {method}: dt |lambda|_max ~ "
              f"{dt:g} x {rate:.4g} = {dt * rate:.4g} > {limit:g} (|lambda|_max <= (lam + "
              "prod_l g_l max|phi_l'|) / tau); the numbers are not those of the ODE: use "
              f"dt <= {limit / rate:.3g}")
    if warn:
        warnings.warn(reason, StepSizeWarning, stacklevel=3)
    return reason


def span_steps(work_per_step: float) -> int:
    """Steps per compiled call for ``work_per_step`` multiply-adds per step (deterministic: it
    depends on the problem's size only, so that seeded noise per call is reproducible)."""
    return max(1, int(_CALL_WORK / max(work_per_step, 1.0)))
