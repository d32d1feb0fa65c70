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

import os
from dataclasses import dataclass

import numpy as np

from .. import _validate as _v

__all__ = ["SampledOptions", "SampledGrid", "check_int", "check_positive", "check_seed"]


#: the largest count accepted for a path, iteration or replica count (memory is checked too)
MAX_COUNT = 100_000_000


def check_int(name: str, v, low: int = 1) -> int:
    """``v`` as an int >= ``low`` (Python or numpy integer, not bool; :mod:`dmft._validate`)."""
    return _v.integer(name, v, low=low, high=MAX_COUNT)


def check_positive(name: str, v) -> float:
    """``v`` as a finite float > 0 (Python or numpy scalar, not bool)."""
    return _v.real(name, v, low=0.0, low_open=True)


def check_seed(seed) -> int:
    """An explicit seed: an int >= 0."""
    return _v.seed("seed", seed)


#: the largest step accepted, in units of tau_eff: the stochastic Heun step of the single-site
#: equation's decay -G h is unstable for G dt / tau > 2 and already inaccurate beyond 1
#: (1 - 1 + 1/2 = 0.5 against e^-1 = 0.37), which a bounded flow would show as a false
#: "explosive" phase
MAX_DT = 1.0


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
    map_step: float | None = None

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
        put("dt", _v.real("dt", self.dt, low=0.0, low_open=True, high=MAX_DT))
        if self.map_step is not None:   # the map's step over tau: G delta <= 1 for every G
            put("map_step", _v.real("map_step (the Euler map's dt / tau)", self.map_step,
                                    low=0.0, low_open=True, high=1.0))
        put("damping", _v.real("damping", self.damping, low=0.0, low_open=True, high=1.0))
        put("lyapunov", _v.flag("lyapunov", self.lyapunov))
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
        else:
            burn = _v.integer("lyapunov_burn (an int in [0, lyapunov_iter - 2])", burn, low=0,
                              high=self.lyapunov_iter - 2)
        put("lyapunov_burn", int(burn))
        workers = _default_workers(self.n_replicas) if self.workers is None else self.workers
        put("workers", check_int("workers", workers))
        # every replica's paths x steps: u, z, G, h, phi and the drives (float64), at once
        steps = (self.burn_in + self.measure) / self.dt
        _v.check_memory(8.0 * 8 * self.n_paths * steps,
                        f"sampled with n_paths = {self.n_paths} over {steps:.0f} steps")

    @property
    def paths_per_replica(self) -> int:
        return self.n_paths // self.n_replicas


@dataclass(frozen=True, kw_only=True)
class SampledGrid:
    """Step counts and lags of one solve, in the ensemble's time units.

    ``tau_eff`` = tau / E[G]; ``dt`` = options.dt x tau_eff (the integration step), or for
    the Euler map (``options.map_step``) the map's step map_step x tau, the windows still
    in units of tau_eff; ``n_lag`` lags 0, dt, ..., ``n_burn`` discarded and ``n_steps``
    integrated steps per path; ``n_paths`` paths per replica; ``map_step`` (None: the flow)
    delta = dt / tau of the map.
    """

    tau_eff: float
    dt: float
    n_lag: int
    n_burn: int
    n_steps: int
    n_paths: int
    map_step: float | None = None

    @classmethod
    def create(cls, options: SampledOptions, tau_eff: float, tau: float = 1.0) -> SampledGrid:
        step = options.dt if options.map_step is None else options.map_step * tau / tau_eff
        n_burn = int(round(options.burn_in / step))
        return cls(tau_eff=tau_eff, dt=step * tau_eff,
                   n_lag=int(round(options.lag_window / step)) + 1, n_burn=n_burn,
                   n_steps=n_burn + int(round(options.measure / step)),
                   n_paths=options.paths_per_replica, map_step=options.map_step)

    @property
    def lags(self) -> np.ndarray:
        return np.arange(self.n_lag) * self.dt
