"""Resumable sweeps of (parameters, seed) tasks, embedded or on a dask.distributed cluster.

The store behind ``simulate.sweep`` and ``dmft.phase_diagram`` (here, below both, so that the
theory does not import the simulation package).

A sweep is the outer product of named parameter grids and seeds.  Each task calls
``func(params, seed) -> dict[str, float]`` and its result is written, as soon as it arrives, to
one ``.npz`` file in the store directory (atomically: write, fsync, then rename), next to a
``manifest.json`` describing the sweep: the grid, the seeds and the full task description
(:func:`describe_task`: for :class:`simulate.SimulationTask` its ensemble, N, times and step),
so that a
store is keyed by the whole sweep and refuses another one (a different ensemble, N or grid)
instead of returning its numbers.  Rerunning the same sweep on the same store skips finished
tasks, so a killed sweep loses at most the tasks in flight.  Every file is verified when it is
read (the zip's CRC, the expected content): a damaged task file is recomputed by :func:`sweep`
(with a warning naming it) and reported by name in ``status`` by :func:`load_sweep`; a damaged
manifest is an error naming the file.  A task that raises is
recorded (``<task>.error.json`` with the traceback) and the others finish; failed tasks are
retried on the next run.  The result is an ``xarray.Dataset`` over (*grid names, "seed") with a
``status`` variable ("ok" or the error) so that missing numbers are never silent NaNs.

Execution: ``client=None`` runs in local processes (spawned: they work after parallel numba
kernels have run in the driver, and die with it, :mod:`dmft._pool`; nothing to start;
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
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import numpy as np

from ._files import atomic_write

__all__ = ["sweep", "load_sweep", "describe_task", "task_key"]


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


_MANIFEST_VERSION = 2


class DamagedFile(ValueError):
    """A store file that cannot be read back (truncated, corrupted, or of the wrong content)."""


def _read_result(path: Path) -> dict[str, float]:
    """A task file's numbers, verified (zip CRC, every entry a scalar number)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {}
            for k in z.files:
                v = z[k]
                if v.shape != () or v.dtype.kind not in "fiu":
                    raise ValueError(f"entry {k!r} is not a scalar number")
                out[k] = float(v)
    except Exception as exc:  # noqa: BLE001 - any failure to read back is damage
        raise DamagedFile(f"{path}: {type(exc).__name__}: {exc}") from None
    if not out:
        raise DamagedFile(f"{path}: no entries")
    return out


def _read_json(path: Path, key: str) -> dict:
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"no {key!r} entry")
    except Exception as exc:  # noqa: BLE001
        raise DamagedFile(f"{path}: {type(exc).__name__}: {exc}") from None
    return data


def _canonical(value):
    """A JSON-able, process-independent description of a task's parameter."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    text = repr(value)
    if " at 0x" in text:     # an object's default repr names its address: not reproducible
        return type(value).__module__ + "." + type(value).__qualname__
    return text


def describe_task(func) -> dict:
    """The full description of a sweep's task that keys its store (module docstring).

    ``func.describe_task()`` when the task defines it; for a dataclass instance (such as
    :class:`simulate.SimulationTask`) its type and every field (the ensemble by its complete
    repr); for ``functools.partial`` the function, arguments and keywords; for a plain function its
    qualified name and a hash of its code (constants and names included), defaults and closure.
    """
    import dataclasses
    import functools

    if hasattr(func, "describe_task"):
        return _canonical(func.describe_task())
    if dataclasses.is_dataclass(func) and not isinstance(func, type):
        return {"callable": f"{type(func).__module__}.{type(func).__qualname__}",
                "fields": {f.name: _canonical(getattr(func, f.name))
                           for f in dataclasses.fields(func)}}
    if isinstance(func, functools.partial):
        return {"callable": describe_task(func.func), "args": _canonical(func.args),
                "keywords": _canonical(func.keywords)}
    code = getattr(func, "__code__", None)
    if code is not None:   # a plain function: its name and what it does (not its module's name,
        # which differs between a script run as __main__ and the same file imported)
        cells = [c.cell_contents for c in (func.__closure__ or ())]
        return {"callable": func.__qualname__, "code": _code_hash(code),
                "defaults": _canonical(func.__defaults__), "closure": _canonical(cells)}
    return {"callable": f"{type(func).__module__}.{type(func).__qualname__}"}


def _code_hash(code) -> str:
    import hashlib
    import types

    h = hashlib.sha256(code.co_code)
    for c in code.co_consts:
        h.update(_code_hash(c).encode() if isinstance(c, types.CodeType) else repr(c).encode())
    h.update(repr(code.co_names).encode())
    return h.hexdigest()[:16]


def task_key(func, grid: Mapping[str, Sequence[float]], seeds) -> str:
    """A short hash of the whole sweep (task, grid, seeds): a store directory name that
    separates different sweeps (e.g. ``store / task_key(...)``)."""
    import hashlib

    grid, seeds = _check_grid(grid, seeds)
    text = json.dumps({"task": describe_task(func),
                       "grid": {k: v.tolist() for k, v in grid.items()}, "seeds": seeds},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _differences(old, new, prefix="") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def _open_store(root: Path, manifest: dict) -> None:
    """Create the store, or check that it holds this very sweep (else ValueError)."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"store {str(root)!r} is a file, not a directory")
    root.mkdir(parents=True, exist_ok=True)
    mpath = root / "manifest.json"
    if not mpath.exists():
        with atomic_write(mpath) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1))
        return
    try:
        old = _read_json(mpath, "grid")
    except DamagedFile as exc:
        raise ValueError(f"the store's manifest is damaged ({exc}); remove the store directory "
                         "or use another one") from None
    if old.get("version") != _MANIFEST_VERSION:
        raise ValueError(f"store {str(root)!r} was written by an older version without a task "
                         "description (it cannot be checked against this sweep); use another "
                         "store directory")
    diff = _differences({k: old.get(k) for k in ("grid", "seeds", "task")},
                        {k: manifest[k] for k in ("grid", "seeds", "task")})
    if diff:
        raise ValueError(f"store {str(root)!r} holds a different sweep ({'; '.join(diff[:4])}"
                         f"{'; ...' if len(diff) > 4 else ''}); use another store directory "
                         "(e.g. one named by simulate.task_key for this sweep)")


def _finished(path: Path, damaged: list[str]) -> bool:
    """True when the task file exists and reads back; a damaged one is set aside."""
    if not path.exists():
        return False
    try:
        _read_result(path)
        return True
    except DamagedFile as exc:
        damaged.append(str(exc))
        os.replace(path, path.with_name(path.name + ".damaged"))
        return False


def _check_grid(grid, seeds):
    from . import _validate as _v

    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping {parameter name: values}")
    out = {}
    for name, vals in grid.items():
        if not isinstance(name, str):
            raise TypeError(f"grid keys must be parameter names (str), got {name!r}")
        try:
            v = _v.real_array(f"grid[{name!r}]", vals, ndim=1, nonempty=True)
        except ValueError as exc:
            if "finite" in str(exc):
                raise ValueError(f"grid[{name!r}] must contain only finite values") from None
            raise ValueError(f"grid[{name!r}] must be a non-empty 1-D sequence ({exc})") from None
        out[name] = v
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 (a count) or a list of ints, got {seeds}")
        seeds = list(range(int(seeds)))
    if isinstance(seeds, str) or not hasattr(seeds, "__iter__"):
        raise _v.ParameterTypeError(f"seeds must be a count (int >= 1) or a sequence of int "
                                    f"seeds, got {_v._shown(seeds)}")
    seeds = [_v.seed(f"seeds[{i}]", s) for i, s in enumerate(seeds)]
    if not seeds:
        raise ValueError("seeds must not be empty")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    n_tasks = math.prod(v.size for v in out.values()) * len(seeds)
    if n_tasks > 10_000_000:
        raise ValueError(f"the sweep has {n_tasks:.3g} tasks (grid x seeds), more than 1e7 (one "
                         "file each); use a coarser grid")
    return out, seeds


def _check_options(store, client, n_workers, progress, retry_failed, max_tasks):
    from . import _validate as _v

    if not isinstance(store, str | os.PathLike):
        raise _v.ParameterTypeError(f"store must be a directory path (str or os.PathLike), got "
                                    f"{type(store).__name__}")
    if client is not None and not hasattr(client, "submit"):
        raise _v.ParameterTypeError(f"client must be a dask.distributed.Client or None, got "
                                    f"{type(client).__name__}")
    if n_workers is not None:
        n_workers = _v.integer("n_workers", n_workers, low=0, high=4096)
    if max_tasks is not None:
        max_tasks = _v.integer("max_tasks", max_tasks, low=0)
    _v.flag("progress", progress)
    _v.flag("retry_failed", retry_failed)
    return n_workers, max_tasks


def _pending_tasks(root: Path, grid: dict, seeds: list, retry_failed: bool):
    """The tasks ``(key, params, seed)`` still to run, in grid order, and the damaged task
    files set aside on the way (see :func:`_finished`)."""
    names = list(grid)
    shape = tuple(len(v) for v in grid.values())
    todo, damaged = [], []
    for idx in np.ndindex(*shape):
        params = {n: float(grid[n][i]) for n, i in zip(names, idx, strict=True)}
        for s in seeds:
            key = _key(idx, s)
            if _finished(root / f"{key}.npz", damaged):
                continue
            if (root / f"{key}.error.json").exists() and not retry_failed:
                continue
            todo.append((key, params, s))
    return todo, damaged


def _record(root: Path, key: str, res, err) -> None:
    """Store one task's outcome: its results (``key.npz``) or its error (``key.error.json``)."""
    if err is None:
        with atomic_write(root / f"{key}.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **res)
        (root / f"{key}.error.json").unlink(missing_ok=True)
    else:
        with atomic_write(root / f"{key}.error.json") as tmp:
            tmp.write_text(json.dumps({"error": err}))


def _execute(func, todo: list, root: Path, client, n_workers, bar) -> None:
    """Run the tasks ``todo`` on the dask ``client``, in this process or in local processes,
    recording each outcome in the store as it finishes."""
    if client is not None:
        from distributed import as_completed
        futs = {client.submit(_run, func, p, s, pure=False): key for key, p, s in todo}
        for fut in as_completed(futs):
            res, err = fut.result()
            _record(root, futs[fut], res, err)
            bar is not None and bar.update()
    elif n_workers == 0 or len(todo) <= 1:
        for key, p, s in todo:
            _record(root, key, *_run(func, p, s))
            bar is not None and bar.update()
    elif todo:
        from ._pool import process_pool
        nw = n_workers or min(2, os.cpu_count() or 1)
        with process_pool(min(nw, len(todo))) as ex:
            pending = {ex.submit(_run, func, p, s): key for key, p, s in todo}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    _record(root, pending.pop(fut), *fut.result())
                    bar is not None and bar.update()


def sweep(func: Callable[[dict, int], Mapping[str, float]], grid: Mapping[str, Sequence[float]],
          seeds: int | Sequence[int] = 3, *, store: str | os.PathLike, client=None,
          n_workers: int | None = None, progress: bool = True, retry_failed: bool = True,
          max_tasks: int | None = None):
    """Run ``func(params, seed)`` over the grid x seeds, resumably; return labelled results.

    Parameters
    ----------
    func : callable
        ``func(params: dict[str, float], seed: int) -> dict[str, float]``; picklable (module
        level, or a :class:`simulate.SimulationTask`) for process or cluster execution.
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
    if not callable(func):
        from ._validate import ParameterTypeError
        raise ParameterTypeError(f"func must be a callable (params, seed) -> dict, got "
                                 f"{type(func).__name__}")
    n_workers, max_tasks = _check_options(store, client, n_workers, progress, retry_failed,
                                          max_tasks)
    root = Path(store)
    manifest = {"version": _MANIFEST_VERSION, "grid": {k: v.tolist() for k, v in grid.items()},
                "seeds": seeds, "task": describe_task(func),
                "func": getattr(func, "__qualname__", type(func).__name__)}
    _open_store(root, manifest)
    todo, damaged = _pending_tasks(root, grid, seeds, retry_failed)
    if damaged:
        import warnings
        warnings.warn(f"sweep: {len(damaged)} damaged task file(s) set aside (*.damaged) and "
                      f"recomputed: {'; '.join(damaged[:3])}", RuntimeWarning, stacklevel=2)
    if max_tasks is not None:
        todo = todo[: int(max_tasks)]

    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), desc="sweep")
    try:
        _execute(func, todo, root, client, n_workers, bar)
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
    try:
        man = _read_json(mpath, "grid")
    except DamagedFile as exc:
        raise ValueError(f"the store's manifest is damaged ({exc})") from None
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
                try:
                    res = _read_result(f)
                except DamagedFile as exc:
                    status[idx + (j,)] = f"damaged: {exc}"
                    continue
                for k, v in res.items():
                    if k not in values:
                        values[k] = np.full(shape, np.nan)
                    values[k][idx + (j,)] = v
                status[idx + (j,)] = "ok"
            elif (root / f"{key}.error.json").exists():
                try:
                    err = _read_json(root / f"{key}.error.json", "error")["error"]
                    status[idx + (j,)] = str(err).splitlines()[0] if err else "failed"
                except DamagedFile as exc:
                    status[idx + (j,)] = f"damaged: {exc}"
    dims = list(grid) + ["seed"]
    data = {k: (dims, v) for k, v in sorted(values.items())}
    data["status"] = (dims, status.astype(str))
    coords = dict(grid)
    coords["seed"] = np.asarray(seeds)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs["store"] = str(root)
    ds.attrs["func"] = man.get("func", "")
    return ds
