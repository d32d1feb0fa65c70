"""Exceptions raised by the solvers of this project."""

from __future__ import annotations

__all__ = ["ConvergenceError"]


class ConvergenceError(RuntimeError):
    """A solver did not converge.

    Attributes
    ----------
    diagnostics : dict
        What the solver knew when it gave up (iterations, residual, last iterate, ...).
    """

    def __init__(self, message: str, **diagnostics) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics

    def __str__(self) -> str:  # the message, then the diagnostics in one line
        base = super().__str__()
        if not self.diagnostics:
            return base
        diag = ", ".join(f"{k}={v!r}" for k, v in self.diagnostics.items()
                         if not hasattr(v, "__len__") or isinstance(v, str))
        return f"{base} [{diag}]" if diag else base
