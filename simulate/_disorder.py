"""Means over disorder realizations (seeds) with their standard errors (docs/theory.md section 8).

A finite-N observable such as lambda_max, Delta_0 or the mean gate differs from one weight
realization to the next by O(N^-1/2) (self-averaging), far more than the within-trajectory
error of one long run: at relu -> tanh, g = 1.5, N = 1000 the seed-to-seed spread of lambda_max
is 0.025 against a within-trajectory standard error of 0.004.  The error bar of an N-unit
estimate is therefore the standard error over realizations, s / sqrt(R) with s the sample
standard deviation of the R realizations; the within-trajectory error is kept beside it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["disorder_mean", "DISORDER_VARIABLES"]

#: the observables averaged over realizations by :func:`disorder_mean` (when present)
DISORDER_VARIABLES = ("lyapunov_max", "delta0", "gate_mean")
_SEM_NAMES = {"lyapunov_max": "lyapunov_sem", "delta0": "delta0_sem",
              "gate_mean": "gate_mean_sem"}


def disorder_mean(ds, dim: str = "seed"):
    """Mean +- standard error over disorder realizations of a sweep dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`simulate.sweep` result (:class:`simulate.SimulationTask` variables over the grid
        and ``dim``), with its ``status`` variable ("ok" for a finished realization).
    dim : str
        The realization dimension.

    Returns
    -------
    xarray.Dataset
        Over the grid: ``lyapunov_max``, ``delta0``, ``gate_mean`` (means over the finished,
        non-diverged realizations), ``lyapunov_sem``, ``delta0_sem``, ``gate_mean_sem``
        (sample standard deviation / sqrt(R), ddof = 1: the disorder error), ``lyapunov_err``
        (the within-trajectory error of the mean, sqrt(sum err_r^2) / R, kept separate),
        ``n_seeds`` (R), ``diverged`` (fraction of finished realizations that diverged) and
        ``status``.  A point where a realization diverged has lambda_max = Delta_0 = +inf (the
        explosive phase, per the divergence policy of :mod:`simulate`); a point with R = 1 has
        no disorder error: its ``*_sem`` are NaN and its status says so; a point with no
        finished realization has NaN means and the first error as status.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"lyapunov_max": (("g", "seed"), [[0.10, 0.12, 0.14]]),
    ...                  "lyapunov_err": (("g", "seed"), [[0.003, 0.003, 0.003]]),
    ...                  "status": (("g", "seed"), [["ok", "ok", "ok"]])},
    ...                 coords={"g": [1.5], "seed": [0, 1, 2]})
    >>> m = disorder_mean(ds).sel(g=1.5)
    >>> round(float(m.lyapunov_max), 3), round(float(m.lyapunov_sem), 4), int(m.n_seeds)
    (0.12, 0.0115, 3)
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    if dim not in ds.dims:
        raise ValueError(f"dim {dim!r} is not a dimension of ds (dims: {list(ds.dims)})")
    ok = (ds["status"] == "ok") if "status" in ds else xr.ones_like(ds[dim], dtype=bool)
    div = (ds["diverged"] > 0) & ok if "diverged" in ds else xr.zeros_like(ok)
    good = ok & ~div
    n_ok = ok.sum(dim)
    n = good.sum(dim)
    out = {}
    for v in DISORDER_VARIABLES:
        if v not in ds:
            continue
        x = ds[v].where(good)
        mean = x.mean(dim)
        sem = x.std(dim, ddof=1) / np.sqrt(n.where(n > 1))
        if v != "gate_mean":
            mean = xr.where(div.any(dim), math.inf, mean)
            sem = xr.where(div.any(dim), 0.0, sem)
        out[v], out[_SEM_NAMES[v]] = mean, sem
    if "lyapunov_err" in ds:
        e = ds["lyapunov_err"].where(good)
        out["lyapunov_err"] = np.sqrt((e * e).sum(dim)) / n.where(n > 0)
    out["n_seeds"] = n_ok
    out["diverged"] = div.sum(dim) / n_ok.where(n_ok > 0)
    out["status"] = _status(ds, ok, n_ok, dim)
    res = xr.Dataset(out)
    res.attrs.update(ds.attrs)
    res.attrs["realizations"] = f"mean +- standard error over the {dim!r} dimension"
    return res


def _status(ds, ok, n_ok, dim):
    import xarray as xr

    first_error = None
    if "status" in ds:
        st = ds["status"].where(~ok, "")
        first_error = st.max(dim)    # any non-"ok" message (lexically largest; "" when none)
    text = xr.where(n_ok > 1, "ok", xr.where(n_ok == 1, "ok (one realization: no disorder "
                                                       "error)", "no finished realization"))
    if first_error is not None:
        text = xr.where((n_ok == 0) & (first_error != ""), first_error, text)
    return text.astype(str)
