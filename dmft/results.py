"""What every solver result shares: the :class:`Phase` vocabulary and a short ``repr``.

Results of :mod:`dmft` and :mod:`simulate` are keyword-only frozen dataclasses
(``@dataclass(frozen=True, kw_only=True)``) with ``converged`` and ``message``; their ``repr``
is :func:`short_repr` (scalars and strings in full, arrays by shape, the ensemble by its
one-line description), so that printing a result never dumps arrays.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import numpy as np

__all__ = ["Phase", "PHASE_CODES", "short_repr"]


class Phase(StrEnum):
    """The phase of an ensemble or of a simulated network: one vocabulary for every solver.

    A ``str`` enum: ``Phase.CHAOTIC == "chaotic"``, ``str(Phase.CHAOTIC) == "chaotic"``, its
    ``repr`` is that of the string (so printed results and tuples read as before the enum), and
    it is written as its value to JSON and netCDF.  Each member has a fixed integer ``code``
    (``phase_code`` of :func:`dmft.phase_diagram`); :data:`PHASE_CODES` maps values to codes.

    ====================  ====  ===========================================  ===================
    member (value)        code  meaning                                      produced by
    ====================  ====  ===========================================  ===================
    ``FIXED_POINT``         0   a stable fixed point attracts: rho < 1       fixed_point,
    ("fixed point")             (leaky), or lambda_max < 0 beyond 2 errors   stationary,
                                without noise                                sampled, phase
                                                                             diagram, simulate
    ``CRITICAL``            1   the fixed point is marginally stable:        fixed_point,
    ("critical")                rho = 1 to 1e-12 (leaky)                     stationary, phase
                                                                             diagram
    ``CHAOTIC``             2   lambda_max > 0 (closed theory), or > 2       fixed_point (bounded
    ("chaotic")                 errors (sampled theory, simulation)          flow, rho > 1),
                                                                             stationary, sampled,
                                                                             simulate
    ``EXPLOSIVE``           3   |h| grows without bound: an unbounded flow   fixed_point,
    ("explosive")               beyond rho = 1 or without a finite fixed     stationary, sampled,
                                point; sampled paths or a simulated state    sampled_two_time,
                                that diverged (lambda_max = +inf)            simulate
    ``DRIVEN_STABLE``       4   noise-driven and not chaotic: lambda_max     stationary, sampled,
    ("stable (driven)")         <= 0 (closed) or < 0 beyond 2 errors; the    simulate
                                state fluctuates, nearby paths converge
    ``UNSTABLE``            5   non-leaky, rho > 0: the fixed point is a     fixed_point
    ("unstable")                saddle (half the eigenvalues have Re > 0)
    ``MARGINAL``            6   non-leaky, rho = 0: J = 0 at the fixed       fixed_point
    ("marginal")                point, every direction neutral
    ``NEAR_CRITICAL``       7   lambda_max within 2 errors of 0: the         stationary, sampled,
    ("near critical")           transition region (or a neutral direction),  simulate
                                not resolved by the error
    ``UNKNOWN``             8   not classified: lambda_max not computed      sampled
    ("unknown")                 (``lyapunov=False``) or a transient          (lyapunov=False),
                                solution (no stationary state)               sampled_two_time
    ``FAILED``             -1   the solver raised at this point; the         phase_diagram
    ("failed")                  message is kept next to it (``status``)
    ====================  ====  ===========================================  ===================
    """

    code: int

    def __new__(cls, value: str, code: int):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.code = code
        return obj

    FIXED_POINT = "fixed point", 0
    CRITICAL = "critical", 1
    CHAOTIC = "chaotic", 2
    EXPLOSIVE = "explosive", 3
    DRIVEN_STABLE = "stable (driven)", 4
    UNSTABLE = "unstable", 5
    MARGINAL = "marginal", 6
    NEAR_CRITICAL = "near critical", 7
    UNKNOWN = "unknown", 8
    FAILED = "failed", -1

    def __repr__(self) -> str:
        return repr(self.value)

    @classmethod
    def from_code(cls, code: int) -> Phase:
        """The member with this integer ``code``."""
        for p in cls:
            if p.code == int(code):
                return p
        raise ValueError(f"no phase has code {code!r}; codes: {PHASE_CODES}")

    @classmethod
    def from_lyapunov(cls, lam: float, err: float, *, noise: bool) -> Phase:
        """Classify a measured lambda_max with standard error ``err`` (2-error rule).

        CHAOTIC above 2 errors, FIXED_POINT (DRIVEN_STABLE when noise drives the state) below
        -2 errors, NEAR_CRITICAL in between.
        """
        if lam > 2 * err:
            return cls.CHAOTIC
        if lam < -2 * err:
            return cls.DRIVEN_STABLE if noise else cls.FIXED_POINT
        return cls.NEAR_CRITICAL


#: phase value -> integer code (derived from :class:`Phase`, the one place they are defined)
PHASE_CODES: dict[str, int] = {p.value: p.code for p in Phase}


def _short(v) -> str:
    if isinstance(v, np.ndarray):
        return f"array(shape={v.shape}, dtype={v.dtype})"
    if isinstance(v, dict):
        return "{" + ", ".join(repr(k) for k in v) + "}"
    if hasattr(v, "describe") and callable(v.describe):
        return f"<{v.describe()}>"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return f"{type(v).__name__}(...)"
    if isinstance(v, tuple | list) and len(v) > 8:
        return f"{type(v).__name__}(len={len(v)})"
    return repr(v)


def short_repr(obj) -> str:
    """``Name(field=value, ...)`` with arrays shown by shape and dicts by their keys; the
    fields a result declares itself come before those it inherits (shared diagnostics)."""
    own = type(obj).__dict__.get("__annotations__", {})
    fields = sorted((f for f in dataclasses.fields(obj) if f.repr), key=lambda f: f.name not in own)
    parts = [f"{f.name}={_short(getattr(obj, f.name))}" for f in fields]
    return f"{type(obj).__name__}({', '.join(parts)})"
