"""Phase diagrams over two ensemble parameters (docs/theory.md sections 3, 4 and 6).

Each grid point is one ensemble; what is computed there depends on what the theory allows:

- stable fixed point (rho < 1, leaky, no noise) without a gate or with a constant gate gamma:
  Delta_0 = q*, and lambda_max = gamma (rho - 1) / tau, the right edge of the eigenvalue disk of
  diag(gamma) (-I + J_F) (section 3);
- chaotic non-gated (or constant-gate) leaky flows: the closed stationary theory
  ``dmft.stationary`` (section 4), with lambda_max and time rescaled by gamma (section 6);
- unbounded flows above rho = 1: the phase ``Phase.EXPLOSIVE`` (lambda_max = +inf, not NaN);
- everything else (gated, noise-driven): the sampled theory :func:`dmft.sampled` (section 6).

Parameter paths name what an axis changes (``set_parameter``): "gain" (a factor multiplying
every flow gain of the base ensemble), "flow[i].gain", "flow[i].bias_std", "bias_std" (every
layer), "gate.gain", "gate.bias_mean", "gate.bias_std", "noise_std", "tau".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import _validate as _v
from ._pool import process_pool
from ._stationary import stationary
from .ensemble import PARAMETERS, Ensemble, set_parameter
from .errors import ConvergenceError
from .results import PHASE_CODES, Phase

__all__ = ["phase_diagram", "set_parameter", "point", "PARAMETERS", "QUANTITIES"]

QUANTITIES = ("lyapunov_max", "lyapunov_err", "delta0", "rho", "phase", "gate_mean", "method")
# PHASE_CODES (phase value -> integer code) is derived from dmft.Phase in dmft.results
#: bytes one grid point holds (its ensemble, task and result), for the memory estimate
_POINT_BYTES = 8192



def _closed_applies(ens: Ensemble) -> bool:
    return ens.leak and ens.noise_std == 0 and ens.input_dim == 0 and (
        ens.gate is None or ens.gate.is_constant)


def point(ens: Ensemble, *, sampled_kwargs: dict | None = None, seed: int = 0) -> dict:
    """Theory at one ensemble: dict with the :data:`QUANTITIES` (see module docstring)."""
    from .static import fixed_point
    fp = fixed_point(ens)
    gamma = 1.0 if ens.gate is None else ens.gate.constant_value
    out = {"rho": fp.rho, "gate_mean": fp.gate_mean if fp.gate_mean is not None else 1.0,
           "lyapunov_err": 0.0}
    if fp.phase == Phase.EXPLOSIVE:
        out.update(lyapunov_max=math.inf, delta0=math.inf, phase=Phase.EXPLOSIVE,
                   method="static")
        return out
    if _closed_applies(ens):
        if fp.stable:
            out.update(lyapunov_max=gamma * (fp.rho - 1.0) / ens.tau, delta0=fp.q,
                       phase=Phase.FIXED_POINT, method="static")
            return out
        r = stationary(ens.without_gate() if ens.gate is not None else ens)
        out.update(lyapunov_max=gamma * float(r.lyapunov_max), delta0=float(r.delta0),
                   phase=r.phase, method="stationary")
        return out
    from ._sampled import sampled
    kw = dict(sampled_kwargs or {})
    kw.setdefault("workers", 1)   # a grid parallelizes over points, not over replicas
    r = sampled(ens, seed=seed, **kw)
    out.update(lyapunov_max=r.lyapunov_max, lyapunov_err=r.lyapunov_err, delta0=r.delta0,
               phase=r.phase, gate_mean=r.gate_mean, method="sampled")
    return out


def _point_task(args):
    ens, sk, seed = args
    try:
        return point(ens, sampled_kwargs=sk, seed=seed), ""
    except ConvergenceError as exc:
        return None, f"ConvergenceError: {exc}"


def _axis(axis, name):
    if not (isinstance(axis, tuple | list) and len(axis) == 2 and isinstance(axis[0], str)):
        raise TypeError(f"{name} must be a pair (parameter path, values), got {axis!r}")
    vals = _v.real_array(f"{name}: the grid of {axis[0]!r}", axis[1], ndim=1)
    if vals.ndim != 1 or vals.size == 0:
        raise ValueError(f"{name}: the grid of {axis[0]!r} must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name}: the grid of {axis[0]!r} must contain only finite values")
    return axis[0], vals


def phase_diagram(ens: Ensemble, x: tuple[str, Sequence[float]] = ("gain", np.linspace(0.5, 3, 11)),
                  y: tuple[str, Sequence[float]] | None = None, *,
                  quantities: Sequence[str] = QUANTITIES, sampled_kwargs: dict | None = None,
                  seed: int = 0, n_workers: int = 1, progress: bool = False):
    """lambda_max, Delta_0, rho, phase and mean gate over a grid of two ensemble parameters.

    Parameters
    ----------
    ens : Ensemble
        The base ensemble; each point is ``set_parameter(set_parameter(ens, *x), *y)``.
    x, y : (str, sequence of float)
        Parameter path and its values (``y`` may be None for a 1-D scan).
    quantities : sequence of str
        Subset of :data:`QUANTITIES`.
    sampled_kwargs : dict
        Options of :func:`dmft.sampled` at points that need the sampled theory.
    seed : int
        Root seed; point k uses ``SeedSequence(seed).spawn`` entry k (reproducible, order-free).
    n_workers : int
        Local processes (1: in this process).
    progress : bool
        tqdm progress bar.

    Returns
    -------
    xarray.Dataset
        Variables over (y, x) dims named after the paths; ``phase`` as strings and
        ``phase_code`` as integers (:attr:`dmft.Phase.code`, table in :class:`dmft.Phase`;
        attribute ``phase_codes``); a point whose solver raised has phase "failed" (code -1)
        and its message in ``status`` ("ok" elsewhere), its numbers NaN, flagged there;
        the fixed point's stability boundary is in ``rho`` (rho = 1).

    Examples
    --------
    >>> from dmft import Ensemble, phase_diagram
    >>> ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [0.5, 0.8]))
    >>> [round(float(v), 12) for v in ds.lyapunov_max]
    [-0.5, -0.2]
    """
    import xarray as xr

    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    xname, xv = _axis(x, "x")
    axes = [(xname, xv)]
    if y is not None:
        yname, yv = _axis(y, "y")
        if yname == xname:
            raise ValueError(f"x and y must name different parameters, both are {xname!r}")
        axes.insert(0, (yname, yv))
    seed = _v.seed("seed", seed)
    n_workers = _v.integer("n_workers", n_workers, low=1, high=4096)
    progress = _v.flag("progress", progress)
    if sampled_kwargs is not None and not isinstance(sampled_kwargs, dict):
        raise _v.ParameterTypeError(f"sampled_kwargs must be a dict or None, got "
                                    f"{type(sampled_kwargs).__name__}")
    _v.check_memory(_POINT_BYTES * math.prod(len(v) for _, v in axes),
                    "the phase diagram's grid (one ensemble and one result per point)")
    if isinstance(quantities, str):
        raise _v.ParameterTypeError(f"quantities must be a sequence of names from "
                                    f"{QUANTITIES}, got the string {quantities!r}")
    quantities = tuple(quantities)
    bad = [q for q in quantities if q not in QUANTITIES]
    if bad or not quantities:
        raise ValueError(f"quantities must be a non-empty subset of {QUANTITIES}, got {bad}")
    # validate every path on the first values before any work
    shape = tuple(len(v) for _, v in axes)
    ensembles = []
    for idx in np.ndindex(*shape):
        e = ens
        for (name, vals), i in zip(axes[::-1], idx[::-1], strict=True):
            e = set_parameter(e, name, vals[i])
        ensembles.append(e)
    seeds = [int(s.generate_state(1)[0]) for s in
             np.random.SeedSequence(int(seed)).spawn(len(ensembles))]
    tasks = [(e, sampled_kwargs, s) for e, s in zip(ensembles, seeds, strict=True)]
    if n_workers > 1:
        with process_pool(n_workers) as ex:   # spawned: survives earlier parallel numba
            it = ex.map(_point_task, tasks, chunksize=max(1, len(tasks) // (8 * n_workers)))
            results = list(_progress(it, len(tasks), progress))
    else:
        results = list(_progress(map(_point_task, tasks), len(tasks), progress))
    data = {}
    dims = [name for name, _ in axes]
    for q in quantities:
        if q in ("phase", "method"):
            fill = Phase.FAILED if q == "phase" else "failed"
            arr = np.array([r[q] if r else fill for r, _ in results], dtype=object)
        else:
            arr = np.array([r[q] if r else np.nan for r, _ in results], dtype=float)
        data[q] = (dims, arr.reshape(shape).astype(str if q in ("phase", "method") else float))
    if "phase" in quantities:
        codes = [Phase(r["phase"]).code if r else Phase.FAILED.code for r, _ in results]
        data["phase_code"] = (dims, np.array(codes, dtype=int).reshape(shape))
    data["status"] = (dims, np.array([err or "ok" for _, err in results]).reshape(shape))
    ds = xr.Dataset(data, coords={name: vals for name, vals in axes})
    ds.attrs.update(ensemble=ens.describe(), seed=int(seed),
                    phase_codes=str(PHASE_CODES),
                    note="lyapunov_max in 1/time; +inf marks the explosive phase")
    return ds


def _progress(it, total, enabled):
    if not enabled:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc="phase diagram")
