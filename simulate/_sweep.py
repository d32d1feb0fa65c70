"""Resumable sweeps of (parameters, seed) tasks, embedded or on a dask.distributed cluster.

A sweep is the outer product of named parameter grids and seeds.  Each task calls
``func(params, seed) -> dict[str, float]`` and its result is written, as soon as it arrives, to
one ``.npz`` file in the store directory (atomically: write then rename), next to a
``manifest.json`` describing the grid.  Rerunning the same sweep on the same store skips
finished tasks, so a killed sweep loses at most the tasks in flight.  A task that raises is
recorded (``<task>.error.json`` with the traceback) and the others finish; failed tasks are
retried on the next run.  The result is an ``xarray.Dataset`` over (*grid names, "seed") with a
``status`` variable ("ok" or the error) so that missing numbers are never silent NaNs.

Execution: ``client=None`` runs in local processes (``concurrent.futures``, nothing to start;
``n_workers=0`` runs in this process); a ``dask.distributed.Client`` submits the tasks to its
cluster (``gnode ... --scheduler tcp://host:port``).  The driver writes the store, so workers need
no shared file system.
"""

from __future__ import annotations

import json
import math
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["sweep", "SimulationTask", "load_sweep"]


def _run(func, params, seed):
    """Run one task; never raises (the error is returned)."""
    try:
        out = func(dict(params), int(seed))
        if not isinstance(out, Mapping):
            raise TypeError(f"a sweep task must return a dict of numbers, got "
                            f"{type(out).__name__}")
        return {str(k): float(v) for k, v in out.items()}, None
    except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
        return None, "".join(traceback.format_exception_only(type(exc), exc)).strip() + \
            "\n" + traceback.format_exc()


def _key(idx: tuple[int, ...], seed: int) -> str:
    return "task_" + "_".join(str(i) for i in idx) + f"_seed{seed}"


def _write_atomic(path: Path, writer) -> None:
    tmp = path.with_name(path.name + ".tmp")
    writer(tmp)
    os.replace(tmp, path)


def _check_grid(grid, seeds):
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping {parameter name: values}")
    out = {}
    for name, vals in grid.items():
        if not isinstance(name, str):
            raise TypeError(f"grid keys must be parameter names (str), got {name!r}")
        v = np.asarray(vals, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"grid[{name!r}] must be a non-empty 1-D sequence")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"grid[{name!r}] must contain only finite values")
        out[name] = v
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 (a count) or a list of ints, got {seeds}")
        seeds = list(range(int(seeds)))
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return out, seeds


def sweep(func: Callable[[dict, int], Mapping[str, float]], grid: Mapping[str, Sequence[float]],
          seeds: int | Sequence[int] = 3, *, store: str | os.PathLike, client=None,
          n_workers: int | None = None, progress: bool = True, retry_failed: bool = True,
          max_tasks: int | None = None):
    """Run ``func(params, seed)`` over the grid x seeds, resumably; return labelled results.

    Parameters
    ----------
    func : callable
        ``func(params: dict[str, float], seed: int) -> dict[str, float]``; picklable (module
        level, or a :class:`SimulationTask`) for process or cluster execution.
    grid : mapping
        Parameter name -> 1-D values (the outer product is swept).
    seeds : int or sequence of int
        A count (seeds 0..n-1) or explicit seeds; several by default (3), so that
        :func:`simulate.disorder_mean` gives each point an error bar over realizations.
    store : path
        Directory of the on-disk store (created; reused to resume).
    client : dask.distributed.Client, optional
        Submit tasks to this cluster instead of local processes.
    n_workers : int, optional
        Local processes (default: the number of CPUs, at most 2 here); 0 runs in this process.
    progress : bool
        tqdm progress bar.
    retry_failed : bool
        Rerun tasks that failed in an earlier run.
    max_tasks : int, optional
        Stop after this many new tasks (used to interrupt sweeps in tests; the rest resumes).

    Returns
    -------
    xarray.Dataset
        One variable per key returned by ``func`` over (*grid, "seed"); ``status`` holds "ok",
        "pending" or the error message.
    """
    grid, seeds = _check_grid(grid, seeds)
    root = Path(store)
    root.mkdir(parents=True, exist_ok=True)
    manifest = {"grid": {k: v.tolist() for k, v in grid.items()}, "seeds": seeds,
                "func": getattr(func, "__qualname__", type(func).__name__)}
    mpath = root / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        if old["grid"] != manifest["grid"] or old["seeds"] != manifest["seeds"]:
            raise ValueError(f"store {str(root)!r} holds a different sweep (grid or seeds "
                             "differ); use another store directory")
    else:
        _write_atomic(mpath, lambda p: p.write_text(json.dumps(manifest, indent=1)))
    names = list(grid)
    shape = tuple(len(v) for v in grid.values())
    todo = []
    for idx in np.ndindex(*shape):
        params = {n: float(grid[n][i]) for n, i in zip(names, idx, strict=True)}
        for s in seeds:
            key = _key(idx, s)
            if (root / f"{key}.npz").exists():
                continue
            if (root / f"{key}.error.json").exists() and not retry_failed:
                continue
            todo.append((key, params, s))
    if max_tasks is not None:
        todo = todo[: int(max_tasks)]

    def record(key, res, err):
        if err is None:
            def write(path, res=res):
                with open(path, "wb") as fh:
                    np.savez(fh, **res)
            _write_atomic(root / f"{key}.npz", write)
            (root / f"{key}.error.json").unlink(missing_ok=True)
        else:
            _write_atomic(root / f"{key}.error.json",
                          lambda p: p.write_text(json.dumps({"error": err})))

    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="sweep")
    try:
        if client is not None:
            from distributed import as_completed
            futs = {client.submit(_run, func, p, s, pure=False): key for key, p, s in todo}
            for fut in as_completed(futs):
                res, err = fut.result()
                record(futs[fut], res, err)
                bar is not None and bar.update()
        elif n_workers == 0 or len(todo) <= 1:
            for key, p, s in todo:
                record(key, *_run(func, p, s))
                bar is not None and bar.update()
        elif todo:
            nw = n_workers or min(2, os.cpu_count() or 1)
            with ProcessPoolExecutor(nw) as ex:
                pending = {ex.submit(_run, func, p, s): key for key, p, s in todo}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        record(pending.pop(fut), *fut.result())
                        bar is not None and bar.update()
    finally:
        if bar is not None:
            bar.close()
    return load_sweep(root)


def load_sweep(store: str | os.PathLike):
    """The dataset of a sweep store (finished tasks; "pending" status for the others)."""
    import xarray as xr

    root = Path(store)
    mpath = root / "manifest.json"
    if not mpath.exists():
        raise ValueError(f"{str(root)!r} is not a sweep store (no manifest.json)")
    man = json.loads(mpath.read_text())
    grid = {k: np.asarray(v) for k, v in man["grid"].items()}
    seeds = man["seeds"]
    shape = tuple(len(v) for v in grid.values()) + (len(seeds),)
    values: dict[str, np.ndarray] = {}
    status = np.full(shape, "pending", dtype=object)
    for idx in np.ndindex(*shape[:-1]):
        for j, s in enumerate(seeds):
            key = _key(idx, s)
            f = root / f"{key}.npz"
            if f.exists():
                with np.load(f) as z:
                    for k in z.files:
                        if k not in values:
                            values[k] = np.full(shape, np.nan)
                        values[k][idx + (j,)] = float(z[k])
                status[idx + (j,)] = "ok"
            elif (root / f"{key}.error.json").exists():
                status[idx + (j,)] = json.loads((root / f"{key}.error.json").read_text())[
                    "error"].splitlines()[0]
    dims = list(grid) + ["seed"]
    data = {k: (dims, v) for k, v in sorted(values.items())}
    data["status"] = (dims, status.astype(str))
    coords = dict(grid)
    coords["seed"] = np.asarray(seeds)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["store"] = str(root)
    ds.attrs["func"] = man.get("func", "")
    return ds


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
