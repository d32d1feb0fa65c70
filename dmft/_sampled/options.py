"""Options of the stationary sampled DMFT and the time grid they define.

Contract
--------
:class:`SampledOptions` holds every numerical option of :func:`dmft.sampled` (the keywords of
that function, same names, same defaults), validated on construction: a bad value raises
ValueError or TypeError naming the option and its allowed range; derived defaults
(``lyapunov_burn``, ``workers``) are filled in.  :class:`SampledGrid` turns the options and an
ensemble's time unit into step counts and the lag grid.  Both are frozen: the solver's pieces
read them and never change them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["SampledOptions", "SampledGrid", "check_int", "check_positive", "check_seed"]


def check_int(name: str, v, low: int = 1) -> int:
    """``v`` as an int >= ``low`` (Python or numpy integer, not bool)."""
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def check_positive(name: str, v) -> float:
    """``v`` as a finite float > 0."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating) \
            or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return int(seed)


def _default_workers(n_replicas: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)
    return min(cores, n_replicas)


@dataclass(frozen=True, kw_only=True)
class SampledOptions:
    """The options of :func:`dmft.sampled` (see there for their meaning), validated.

    ``lyapunov_burn=None`` becomes min(4, lyapunov_iter // 2) and ``workers=None`` the
    available cores, at most ``n_replicas``.
    """

    n_paths: int = 1000
    dt: float = 0.05
    lag_window: float = 30.0
    burn_in: float = 20.0
    measure: float = 60.0
    damping: float = 1.0
    max_iter: int = 80
    tol: float = 3.0
    n_average: int = 4
    lyapunov: bool = True
    lyapunov_iter: int = 16
    lyapunov_burn: int | None = None
    n_replicas: int = 4
    workers: int | None = None
    seed: int = 0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("n_paths", check_int("n_paths", self.n_paths, 8))
        put("n_replicas", check_int("n_replicas", self.n_replicas, 4))
        if self.n_paths // self.n_replicas < 8:
            raise ValueError(f"n_paths / n_replicas must be >= 8, got {self.n_paths} / "
                             f"{self.n_replicas}")
        for name in ("dt", "lag_window", "burn_in", "measure", "tol"):
            put(name, check_positive(name, getattr(self, name)))
        if not (0 < self.damping <= 1):
            raise ValueError(f"damping must be in (0, 1], got {self.damping!r}")
        put("max_iter", check_int("max_iter", self.max_iter))
        put("seed", check_seed(self.seed))
        if self.measure <= self.lag_window:
            raise ValueError(f"measure ({self.measure}) must exceed lag_window "
                             f"({self.lag_window})")
        put("n_average", check_int("n_average", self.n_average))
        put("lyapunov_iter", check_int("lyapunov_iter", self.lyapunov_iter, 2))
        burn = self.lyapunov_burn
        if burn is None:
            burn = min(4, self.lyapunov_iter // 2)
        elif isinstance(burn, bool) or not isinstance(burn, int | np.integer) \
                or not 0 <= burn <= self.lyapunov_iter - 2:
            raise ValueError(f"lyapunov_burn must be an int in [0, lyapunov_iter - 2 = "
                             f"{self.lyapunov_iter - 2}], got {burn!r}")
        put("lyapunov_burn", int(burn))
        workers = _default_workers(self.n_replicas) if self.workers is None else self.workers
        put("workers", check_int("workers", workers))

    @property
    def paths_per_replica(self) -> int:
        return self.n_paths // self.n_replicas


@dataclass(frozen=True, kw_only=True)
class SampledGrid:
    """Step counts and lags of one solve, in the ensemble's time units.

    ``tau_eff`` = tau / E[G]; ``dt`` = options.dt x tau_eff (the integration step);
    ``n_lag`` lags 0, dt, ..., ``n_burn`` discarded and ``n_steps`` integrated steps per path;
    ``n_paths`` paths per replica.
    """

    tau_eff: float
    dt: float
    n_lag: int
    n_burn: int
    n_steps: int
    n_paths: int

    @classmethod
    def create(cls, options: SampledOptions, tau_eff: float) -> SampledGrid:
        n_burn = int(round(options.burn_in / options.dt))
        return cls(tau_eff=tau_eff, dt=options.dt * tau_eff,
                   n_lag=int(round(options.lag_window / options.dt)) + 1, n_burn=n_burn,
                   n_steps=n_burn + int(round(options.measure / options.dt)),
                   n_paths=options.paths_per_replica)

    @property
    def lags(self) -> np.ndarray:
        return np.arange(self.n_lag) * self.dt
