"""The simulation task of resumable sweeps; the store itself is :mod:`dmft._store`.

``simulate.sweep``, ``simulate.load_sweep``, ``describe_task`` and ``task_key`` are the store's
(:mod:`dmft._store`: the outer product of parameter grids and seeds, one atomically written
file per task, resumable, embedded or on a dask.distributed cluster), re-exported here where
users have always found them; :class:`SimulationTask` is the finite-N task.  It stays in this
module: a store's key names the task's type by module (``simulate._sweep.SimulationTask``),
so moving it would make existing stores refuse their own sweeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dmft._store import describe_task, load_sweep, sweep, task_key

__all__ = ["sweep", "SimulationTask", "load_sweep", "describe_task", "task_key"]


@dataclass(frozen=True)
class SimulationTask:
    """A picklable sweep task: finite-N simulation of ``ensemble`` with the grid's parameters.

    ``params`` keys are parameter paths of :func:`dmft.ensemble.set_parameter` ("gain",
    "gate.bias_mean", ...).  Returns lambda_max (QR method, k = 1,
    :func:`simulate.lyapunov_spectrum`), its standard error, Delta_0 = <|h|^2/N>_t, the
    mean gate value over units and time, ``phase_code`` (:attr:`dmft.Phase.code` of the
    simulated phase) and, per the divergence policy of :mod:`simulate`, ``diverged`` (1.0 or
    0.0) and ``diverged_at`` (``inf`` unless diverged; a diverged run reports lambda_max =
    Delta_0 = +inf and gate_mean NaN).
    """

    ensemble: object
    n: int = 500
    t_max: float = 200.0
    t_transient: float = 100.0
    dt: float = 0.1
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validated at construction (a bad task fails here, not in a worker later)."""
        from dmft import _validate as _v
        from dmft.ensemble import Ensemble

        _v.instance("ensemble", self.ensemble, Ensemble)
        checked = {"n": _v.integer("n", self.n, low=1),
                   "t_max": _v.real("t_max", self.t_max, low=0.0, low_open=True),
                   "t_transient": _v.real("t_transient", self.t_transient, low=0.0),
                   "dt": _v.real("dt", self.dt, low=0.0, low_open=True)}
        if not isinstance(self.extra, dict):
            raise _v.ParameterTypeError(f"extra must be a dict, got {type(self.extra).__name__}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def __call__(self, params: dict, seed: int) -> dict:
        from dmft.ensemble import set_parameter
        from dmft.results import Phase

        from ._integrate import integrate
        from ._lyapunov import lyapunov_spectrum
        from ._network import sample

        ens = self.ensemble
        for k, v in params.items():
            ens = set_parameter(ens, k, v)
        gamma = 1.0
        if ens.gate is not None and math.isfinite(ens.gate.bias_mean):
            from dmft.static import fixed_point
            gamma = fixed_point(ens).gate_mean or 1.0
        scale = 1.0 / gamma   # gated time unit tau / E[G]
        net = sample(ens, self.n, seed=seed)
        ly = lyapunov_spectrum(net, 1, t_max=self.t_max * scale, dt=self.dt,
                               t_transient=self.t_transient * scale, seed=seed)
        rng = np.random.default_rng(seed)
        tr = integrate(net, rng.standard_normal(self.n), self.t_max * scale, self.dt,
                       t_transient=self.t_transient * scale,
                       record_every=max(1, int(round(1.0 / self.dt))),
                       seed=seed if ens.noise_std > 0 else None)
        if ly.diverged or tr.diverged:   # the divergence policy: a flag and a time
            return {"lyapunov_max": math.inf, "lyapunov_err": 0.0, "delta0": math.inf,
                    "gate_mean": math.nan, "diverged": 1.0,
                    "diverged_at": min(ly.diverged_at, tr.diverged_at),
                    "phase_code": float(Phase.EXPLOSIVE.code)}
        h = tr.h
        out = {"lyapunov_max": float(ly.exponents[0]), "lyapunov_err": float(ly.stderr[0]),
               "delta0": float(np.mean(h * h)), "diverged": 0.0, "diverged_at": math.inf,
               "phase_code": float(ly.phase.code)}
        out["gate_mean"] = float(np.mean(net.gate_values(h)))
        return out
