"""Phase diagrams over two ensemble parameters (docs/theory.md sections 3, 4 and 6).

Each grid point is one ensemble; what is computed there depends on what the theory allows:

- stable fixed point (rho < 1, leaky, no noise) without a gate or with a constant gate gamma:
  Delta_0 = q*, and lambda_max = gamma (rho - 1) / tau, the right edge of the eigenvalue disk of
  diag(gamma) (-I + J_F) (section 3);
- chaotic non-gated (or constant-gate) leaky flows: the closed stationary theory
  ``dmft.stationary`` (section 4), with lambda_max and time rescaled by gamma (section 6);
- unbounded flows above rho = 1: the phase ``Phase.EXPLOSIVE`` (lambda_max = +inf, not NaN);
- everything else (gated, noise-driven): the sampled theory :func:`dmft.sampled` (section 6).

Parameter paths name what an axis changes (:func:`dmft.ensemble.set_parameter`; the syntax is
in :func:`phase_diagram`).  The dataset's dimensions are netCDF-safe names of the paths
(:func:`axis_name`: "gate.bias_mean" -> "gate_bias_mean", "flow[0].gain" -> "flow0_gain"), the
path itself in the coordinate's ``parameter_path`` attribute; every variable carries CF
``units`` and ``long_name``, the dataset its provenance (package version, seeds, solver options).

Execution: in this process, in local processes (``n_workers``), or, with ``store`` or a dask
``client``, as the tasks of a resumable :func:`simulate.sweep` (:class:`PointTask`, one per
point): every finished point is written to the store as it arrives, so that a killed run loses
no finished point and a rerun on the same store computes only the others (the simulation
sweeps' semantics, points that raised included: they are retried). The store of one diagram is
the subdirectory ``theory_<key>`` of ``store``, the key a hash of every point's ensemble, the
sampled options and the seeds, so that another diagram never reads its numbers.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _validate as _v
from ._pool import process_pool
from ._stationary import stationary
from .ensemble import PARAMETERS, Ensemble, set_parameter
from .errors import ConvergenceError
from .results import PHASE_CODES, Phase

__all__ = ["phase_diagram", "set_parameter", "point", "axis_name", "variable_attrs",
           "PointTask", "PARAMETERS", "QUANTITIES", "METHODS"]

QUANTITIES = ("lyapunov_max", "lyapunov_err", "delta0", "rho", "phase", "gate_mean", "method")
METHODS = ("static", "stationary", "sampled")   # the routes of :func:`point`, coded by index
_NUMERIC = tuple(q for q in QUANTITIES if q not in ("phase", "method"))
# PHASE_CODES (phase value -> integer code) is derived from dmft.Phase in dmft.results
#: bytes one grid point holds (its ensemble, task and result), for the memory estimate
_POINT_BYTES = 8192

#: CF ``units`` and ``long_name`` of every variable a phase diagram writes (theory and, with the
#: ``sim_`` prefix, simulation).  Time is measured in the unit of the ensemble's tau.
_VARIABLE_ATTRS = {
    "lyapunov_max": ("1/time", "maximal Lyapunov exponent lambda_max (+inf: explosive)"),
    "lyapunov_err": ("1/time", "numerical error of lambda_max (theory: quadrature and Monte "
                               "Carlo; simulation: within-trajectory standard error)"),
    "lyapunov_sem": ("1/time", "standard error of lambda_max over disorder realizations"),
    "lyapunov_extrapolated": ("1/time", "lambda_max extrapolated to N -> inf (a + b/N fit)"),
    "lyapunov_extrapolated_err": ("1/time", "standard error of the extrapolated lambda_max"),
    "delta0": ("1", "variance Delta_0 = <h_i^2> of the state (+inf: explosive)"),
    "delta0_sem": ("1", "standard error of Delta_0 over disorder realizations"),
    "rho": ("1", "spectral radius of the flow Jacobian at the fixed point"),
    "gate_mean": ("1", "mean gate value E[G]"),
    "gate_mean_sem": ("1", "standard error of the mean gate over disorder realizations"),
    "phase": ("1", "phase (dmft.Phase value; 'failed': the solver raised, see status)"),
    "phase_code": ("1", "integer code of the phase (dmft.Phase.code; -1: failed)"),
    "method": ("1", "theory used at the point: static, stationary or sampled"),
    "status": ("1", "'ok', or the message of the solver that failed at the point"),
    "diverged": ("1", "fraction of realizations whose state diverged"),
    "diverged_at": ("time", "earliest time a realization diverged (inf: none)"),
    "n_seeds": ("1", "number of disorder realizations (seeds) in the mean"),
    "lyapunov_max_realizations": ("1/time", "lambda_max of each disorder realization"),
}
#: where the simulation's meaning differs from the theory's
_SIM_ATTRS = {
    "lyapunov_err": ("1/time", "within-trajectory standard error of the realization mean of "
                               "lambda_max (kept beside the disorder error lyapunov_sem)"),
    "status": ("1", "'ok', 'not simulated', or why the point has no (disorder) error"),
}


def variable_attrs(name: str) -> dict:
    """CF ``units`` and ``long_name`` of a phase-diagram variable (``sim_`` prefix allowed)."""
    sim = name.startswith("sim_")
    base = name[4:] if sim else name
    units, long_name = (_SIM_ATTRS.get(base) if sim else None) or _VARIABLE_ATTRS.get(
        base, ("1", base.replace("_", " ")))
    if name.startswith("sim_"):
        long_name = f"simulation (finite N): {long_name}"
    return {"units": units, "long_name": long_name}


def axis_name(path: str) -> str:
    """The netCDF-safe dimension name of a parameter path ("flow[0].gain" -> "flow0_gain",
    "flow[-1].gain" -> "flowm1_gain", "gate.bias_mean" -> "gate_bias_mean")."""
    name = re.sub(r"\]?\.", "_", path.replace("-", "m"))
    return re.sub(r"[^0-9A-Za-z_]", "", name).strip("_")


def _axis_attrs(path: str) -> dict:
    desc = {"gain": "gain factor (multiplies every flow gain of the base ensemble)",
            "bias_std": "bias spread of every flow layer", "tau": "time constant tau",
            "noise_std": "white-noise amplitude"}
    long_name = desc.get(path, path.replace(".", " ").replace("_", " "))
    return {"parameter_path": path, "long_name": long_name,
            "units": "time" if path == "tau" else "1"}



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
    """One grid point; a solver that raises gives the labelled phase FAILED with its message
    (any exception of the solvers: a failure at one point never loses the grid)."""
    ens, sk, seed = args
    try:
        return point(ens, sampled_kwargs=sk, seed=seed), ""
    except ConvergenceError as exc:
        return None, f"ConvergenceError: {exc}"
    except (ArithmeticError, ValueError, RuntimeError, IndexError, np.linalg.LinAlgError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class PointTask:
    """The theory points of one phase diagram as a :func:`simulate.sweep` task.

    ``params["point"]`` is the point's flat index k (C order over (y, x)); the task runs
    :func:`point` at ``ensembles[k]`` with ``seeds[k]`` (the sweep's seed argument, the
    diagram's root seed, is not used again) and returns numbers only: the numeric
    :data:`QUANTITIES`, ``phase_code`` (:attr:`dmft.Phase.code`) and ``method_code`` (the index
    in :data:`METHODS`). A solver failure that the in-process route labels (:func:`_point_task`)
    raises :class:`_PointFailed` with that label: the sweep records it and :func:`phase_diagram`
    labels the point failed with the same message; any other exception is the sweep's too.
    """

    ensembles: tuple[Ensemble, ...]
    sampled_kwargs: dict | None
    seeds: tuple[int, ...]

    def __call__(self, params: dict, seed: int) -> dict:
        k = int(params["point"])
        r, label = _point_task((self.ensembles[k], self.sampled_kwargs, self.seeds[k]))
        if r is None:
            raise _PointFailed(label)
        out = {q: float(r[q]) for q in _NUMERIC}
        out["phase_code"] = float(Phase(r["phase"]).code)
        out["method_code"] = float(METHODS.index(r["method"]))
        return out

    def key(self) -> str:
        """A hash of everything the points depend on: the store subdirectory's name."""
        text = repr((self.ensembles, sorted((self.sampled_kwargs or {}).items()), self.seeds))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class _PointFailed(Exception):
    """A point's solver failed; the message is :func:`_point_task`'s label of the failure."""


# how simulate.sweep's status names it (module-qualified, the first line of the message)
_FAILED_STATUS = f"{__name__}.{_PointFailed.__qualname__}: "


def _stored_points(task: PointTask, seed: int, *, store, client, n_workers: int,
                   progress: bool) -> list:
    """:func:`_point_task`'s (result, error) per point, through a resumable sweep in
    ``store / theory_<key>`` (module docstring); an exception that :func:`_point_task` does
    not label raises after the sweep (the finished points stay in the store; a rerun retries
    that point)."""
    from ._store import sweep

    root = Path(store) / f"theory_{task.key()}"
    ds = sweep(task, {"point": np.arange(len(task.ensembles))}, [int(seed)], store=root,
               client=client, n_workers=n_workers if n_workers > 1 else 0, progress=progress)
    results = []
    for k in range(len(task.ensembles)):
        status = str(ds["status"].values[k, 0])
        if status == "ok":
            r = {q: float(ds[q].values[k, 0]) for q in _NUMERIC}
            r["phase"] = Phase.from_code(int(ds["phase_code"].values[k, 0]))
            r["method"] = METHODS[int(ds["method_code"].values[k, 0])]
            results.append((r, ""))
        elif status.startswith(_FAILED_STATUS):
            results.append((None, status[len(_FAILED_STATUS):]))
        else:
            raise RuntimeError(f"phase_diagram: the theory at point {k} "
                               f"({task.ensembles[k].describe()}) raised {status}; the finished "
                               f"points are kept in {str(root)!r}, a rerun retries this one")
    return results


def _axis(axis, name):
    if not (isinstance(axis, tuple | list) and len(axis) == 2 and isinstance(axis[0], str)):
        raise TypeError(f"{name} must be a pair (parameter path, values), got {axis!r}")
    vals = _v.real_array(f"{name}: the grid of {axis[0]!r}", axis[1], ndim=1)
    if vals.ndim != 1 or vals.size == 0:
        raise ValueError(f"{name}: the grid of {axis[0]!r} must be a non-empty 1-D sequence")
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name}: the grid of {axis[0]!r} must contain only finite values")
    return axis[0], vals


def _check_quantities(quantities) -> tuple:
    """``quantities`` as a tuple; ValueError/TypeError unless a non-empty subset of
    :data:`QUANTITIES`."""
    if isinstance(quantities, str):
        raise _v.ParameterTypeError(f"quantities must be a sequence of names from "
                                    f"{QUANTITIES}, got the string {quantities!r}")
    quantities = tuple(quantities)
    bad = [q for q in quantities if q not in QUANTITIES]
    if bad or not quantities:
        raise ValueError(f"quantities must be a non-empty subset of {QUANTITIES}, got {bad}")
    return quantities


def _point_arrays(results: list, quantities: tuple, dims: list, shape: tuple) -> dict:
    """The dataset's variables ``{name: (dims, array)}`` from the per-point (result, error)
    pairs: each quantity (NaN / "failed" where the solver raised), ``phase_code`` with
    ``phase``, and ``status``."""
    data = {}
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
    return data


def phase_diagram(ens: Ensemble, x: tuple[str, Sequence[float]] = ("gain", np.linspace(0.5, 3, 11)),
                  y: tuple[str, Sequence[float]] | None = None, *,
                  quantities: Sequence[str] = QUANTITIES, sampled_kwargs: dict | None = None,
                  seed: int = 0, n_workers: int = 1, progress: bool = False,
                  client=None, store: str | os.PathLike | None = None):
    """lambda_max, Delta_0, rho, phase and mean gate over a grid of two ensemble parameters.

    Parameters
    ----------
    ens : Ensemble
        The base ensemble; each point is ``set_parameter(set_parameter(ens, *x), *y)``.
    x, y : (str, sequence of float)
        Parameter path and its values (``y`` may be None for a 1-D scan).  Paths
        (:data:`dmft.ensemble.PARAMETERS`):

        ==================  ==========================================================
        ``"gain"``          a factor multiplying every flow gain of ``ens``
        ``"flow[i].gain"``  the gain g_i of flow layer i (0-based; -1 is the last)
        ``"flow[i].bias_std"``  the bias spread sigma_i of layer i
        ``"bias_std"``      the bias spread of every flow layer
        ``"gate.gain"``, ``"gate.bias_mean"``, ``"gate.bias_std"``, ``"gate.input_gain"``
                            the gate's g_z, mu_z, sigma_z, g_xz (``ens`` needs a gate)
        ``"noise_std"``, ``"tau"``  the noise amplitude, the time constant
        ==================  ==========================================================
    quantities : sequence of str
        Subset of :data:`QUANTITIES`.
    sampled_kwargs : dict
        Options of :func:`dmft.sampled` at points that need the sampled theory.
    seed : int
        Root seed; point k uses ``SeedSequence(seed).spawn`` entry k (reproducible, order-free).
    n_workers : int
        Local processes (1: in this process); not used with a ``client``.
    progress : bool
        tqdm progress bar.
    client : dask.distributed.Client, optional
        Compute the points on this cluster (as a resumable sweep, module docstring); without
        ``store`` in a temporary store (nothing to resume).
    store : path, optional
        Directory of the resumable store (module docstring): each finished point is kept
        there, a rerun with the same arguments computes only the missing ones. The numbers
        equal the in-process ones (same seeds); a failed point's ``status`` is the first line
        of its message.

    Returns
    -------
    xarray.Dataset
        Variables over (y, x) dims named :func:`axis_name` of the paths ("gate.bias_mean" ->
        "gate_bias_mean"; the path in the coordinate's ``parameter_path``), each with CF
        ``units`` and ``long_name``; ``phase`` as strings and
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
    >>> ds.lyapunov_max.attrs["units"], ds.gain.attrs["parameter_path"]
    ('1/time', 'gain')
    """
    import xarray as xr

    _v.instance("ens", ens, Ensemble)
    xname, xv = _axis(x, "x")
    axes = [(xname, xv)]
    if y is not None:
        yname, yv = _axis(y, "y")
        if yname == xname:
            raise ValueError(f"x and y must name different parameters, both are {xname!r}")
        axes.insert(0, (yname, yv))
    dims = [axis_name(name) for name, _ in axes]   # before any work: the dataset's dimensions
    if len(set(dims)) != len(dims):
        raise ValueError(f"x and y must name different parameters, got {[n for n, _ in axes]}")
    seed = _v.seed("seed", seed)
    n_workers = _v.integer("n_workers", n_workers, low=1, high=4096)
    progress = _v.flag("progress", progress)
    if sampled_kwargs is not None and not isinstance(sampled_kwargs, dict):
        raise _v.ParameterTypeError(f"sampled_kwargs must be a dict or None, got "
                                    f"{type(sampled_kwargs).__name__}")
    _v.check_memory(_POINT_BYTES * math.prod(len(v) for _, v in axes),
                    "the phase diagram's grid (one ensemble and one result per point)")
    quantities = _check_quantities(quantities)
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
    if store is not None and not isinstance(store, str | os.PathLike):
        raise _v.ParameterTypeError(f"store must be a path (str or os.PathLike), got "
                                    f"{type(store).__name__}")
    if client is not None or store is not None:
        task = PointTask(tuple(ensembles), sampled_kwargs, tuple(seeds))
        with tempfile.TemporaryDirectory() if store is None else nullcontext(store) as where:
            results = _stored_points(task, seed, store=where, client=client,
                                     n_workers=n_workers, progress=progress)
    elif n_workers > 1:
        with process_pool(n_workers) as ex:   # spawned: survives earlier parallel numba
            it = ex.map(_point_task, tasks, chunksize=max(1, len(tasks) // (8 * n_workers)))
            results = list(_progress(it, len(tasks), progress))
    else:
        results = list(_progress(map(_point_task, tasks), len(tasks), progress))
    data = _point_arrays(results, quantities, dims, shape)
    coords = {axis_name(name): (axis_name(name), vals, _axis_attrs(name)) for name, vals in axes}
    ds = xr.Dataset(data, coords=coords)
    for v in ds.data_vars:
        ds[v].attrs.update(variable_attrs(v))
    ds.attrs.update(ensemble=ens.describe(), seed=int(seed),
                    phase_codes=str(PHASE_CODES), software=f"gnode-dmft {package_version()}",
                    sampled_kwargs=str(dict(sampled_kwargs or {})),
                    n_failed=int(sum(r is None for r, _ in results)),
                    note="lyapunov_max in 1/time (time in the unit of tau); +inf marks the "
                         "explosive phase, 'failed' a point whose solver raised (status)")
    return ds


def package_version() -> str:
    """The installed version of gnode-dmft ("unknown" outside an installation)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("gnode-dmft")
    except PackageNotFoundError:
        return "unknown"


def _progress(it, total, enabled):
    if not enabled:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc="phase diagram")
