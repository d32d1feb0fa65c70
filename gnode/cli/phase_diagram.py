"""``gnode phase-diagram``: lambda_max over (gain, gate bias) with theory and simulation.

Writes ``phase_diagram.nc`` (the theory dataset of :func:`dmft.phase_diagram`, plus the simulated
points of :func:`simulate.sweep` as ``sim_*`` variables on the same coordinates, means +-
standard errors over disorder realizations, :func:`simulate.disorder_mean`) and
``phase_diagram.png`` (lambda_max heatmap, the critical line rho = 1 of the fixed point, the
explosive region and failed points hatched, simulated points overlaid as markers coloured on the
same scale).  Both files are written atomically; the .nc carries CF ``units``/``long_name`` on
every variable and the provenance (version, command line, times, N, seeds) in its attributes.
Both stages are resumable: the theory points (``theory_<key>/``) and the simulations (``N<n>/``)
are kept in the store directory ``--store`` (default ``<out>/.gnode-cache/sweep_store``) as they
finish, so that a killed run, started again with the same arguments, computes only what is
missing; ``--scheduler`` sends both to a dask.distributed cluster.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path

from ._common import (
    _floats,
    add_flow_arguments,
    atomic_write,
    compile_notice,
    ensemble_from_args,
    int_at_least,
    nonneg_float,
    output_dir,
    positive_float,
    print_json,
    save_figure,
)

#: most points on one grid axis (a larger count is a typo, not a phase diagram)
MAX_AXIS_POINTS = 10_000
_MAX_POINTS = 100_000      # theory grid points (each costs 0.1-3 s)
#: connection timeout; with the imports the command fails within 10 s
SCHEDULER_TIMEOUT_S = 5.0
CACHE_DIR = ".gnode-cache"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "phase-diagram", help="lambda_max phase diagram over (gain, gate bias): theory + sims",
        description="Phase diagram of a gated ensemble: sampled/closed DMFT on a grid of (gain "
                    "factor, gate bias mean), finite-N simulations at a few points (means +- "
                    "standard errors over --sim-seeds realizations; several --sim-n give the "
                    "N -> inf extrapolation a + b/N), phase_diagram.png and phase_diagram.nc. "
                    "The gain factor multiplies the flow's gains (--gain, default 2).")
    add_flow_arguments(p)
    p.set_defaults(gate_gain=1.0)
    p.add_argument("--gain-grid", default="0.25:1.5:11",
                   help="gain factors start:stop:count or a comma list (default 0.25:1.5:11, "
                        "i.e. gains 0.5 to 3 with the default --gain 2)")
    p.add_argument("--gate-biases", default="-3:3:9",
                   help="gate bias means start:stop:count or a comma list (default -3:3:9); "
                        "write --gate-biases=-3:3:9 when the value starts with '-'")
    p.add_argument("--n-paths", type=int_at_least(8), default=300,
                   help="sampled paths per iteration")
    p.add_argument("--sim-n", default="400",
                   help="N of the simulated networks, or a comma list of sizes for the finite-"
                        "size extrapolation a + b/N (0: no simulation; default 400). lambda_max "
                        "has an O(1/N) finite-size deficit near onset")
    p.add_argument("--sim-points", type=int_at_least(1), default=3,
                   help="simulated points per axis (a coarse sub-grid; default 3)")
    p.add_argument("--sim-seeds", type=int_at_least(1), default=3,
                   help="disorder realizations per simulated point (seeds --seed ...; the "
                        "error bars are their standard error; default 3)")
    p.add_argument("--sim-t", type=positive_float, default=100.0,
                   help="simulated observation time, after the transient (default 100, in "
                        "units of tau / E[G])")
    p.add_argument("--sim-transient", type=nonneg_float, default=50.0,
                   help="simulated state transient before the observation (default 50)")
    p.add_argument("--sim-dt", type=positive_float, default=0.1,
                   help="simulation step (default 0.1)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--workers", type=int_at_least(1), default=2, help="local processes")
    p.add_argument("--scheduler", default=None,
                   help="dask.distributed scheduler address tcp://host:port for the theory points "
                        "and the simulations (default: local processes; refused after "
                        f"{SCHEDULER_TIMEOUT_S:g} s when unreachable)")
    p.add_argument("--out", default=".", help="output directory (default .)")
    p.add_argument("--store", default=None,
                   help=f"directory of the resumable stores of the theory points and the "
                        f"simulations (default <out>/{CACHE_DIR}/sweep_store); safe to delete")
    p.set_defaults(func=run)


def _grid(text: str, name: str):
    import numpy as np
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"{name} must be start:stop:count or a comma list, got {text!r}")
        try:
            a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(f"{name} must be start:stop:count (numbers, an integer count), "
                             f"got {text!r}") from None
        if not 1 <= n <= MAX_AXIS_POINTS or not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"{name}: count must be in [1, {MAX_AXIS_POINTS}] and the ends "
                             f"finite, got {text!r}")
        return np.linspace(a, b, n)
    vals = _floats(text, name)
    if not vals or len(vals) > MAX_AXIS_POINTS:
        raise ValueError(f"{name} must hold 1 to {MAX_AXIS_POINTS} values, got {len(vals)}")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must hold finite numbers, got {text!r}")
    return np.asarray(vals)


def _sizes(text: str) -> list[int]:
    try:
        ns = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--sim-n must be an integer or a comma list of integers, got "
                         f"{text!r}") from None
    if ns == [0]:
        return []
    if not ns or any(n < 2 for n in ns) or len(set(ns)) != len(ns):
        raise ValueError(f"--sim-n must be 0 or distinct sizes >= 2, got {text!r}")
    return sorted(ns)


def _connect(address: str | None):
    """The dask client, or a clear error within the timeout (before any work starts)."""
    if not address:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'gnode-dmft[dask]'"
                         ) from None
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OSError(f"--scheduler: cannot reach the scheduler {address!r} within "
                      f"{SCHEDULER_TIMEOUT_S:g} s ({type(exc).__name__}: {exc}): start it, or "
                      "drop --scheduler to compute locally") from None


def run(args: argparse.Namespace) -> int:
    ens = ensemble_from_args(args)
    if ens.gate is None:
        raise ValueError("phase-diagram needs a gated ensemble (--gate-gain)")
    gains = _grid(args.gain_grid, "--gain-grid")
    biases = _grid(args.gate_biases, "--gate-biases")
    if gains.size * biases.size > _MAX_POINTS:
        raise ValueError(f"the grid has {gains.size * biases.size} points, more than "
                         f"{_MAX_POINTS}: lower the counts of --gain-grid / --gate-biases")
    sim_ns = _sizes(args.sim_n)
    out = output_dir(args.out, "--out")            # checked before the work
    store = Path(args.store) if args.store else out / CACHE_DIR / "sweep_store"
    output_dir(str(store), "--store")
    client = _connect(args.scheduler)
    # kernels compile in the workers when there are several: ask the cache instead
    uses = ("sampled", "simulate") if sim_ns else ("sampled",)
    compile_notice("phase-diagram", uses if args.workers > 1 else None)
    try:
        return _run_stages(args, ens, gains, biases, sim_ns, out, store, client)
    finally:
        if client is not None:
            client.close()


def _run_stages(args, ens, gains, biases, sim_ns, out, store, client) -> int:
    """The theory and the simulations (resumable, in ``store``), then the outputs."""
    import numpy as np

    from dmft import phase_diagram
    from dmft.static import critical_gain

    sk = dict(n_paths=args.n_paths, lag_window=20.0, burn_in=10.0, measure=40.0, dt=0.1,
              lyapunov_iter=10)
    ds = phase_diagram(ens, x=("gain", gains), y=("gate.bias_mean", biases),
                       sampled_kwargs=sk, seed=args.seed, n_workers=args.workers,
                       progress=not args.json, client=client, store=store)
    try:
        gc = critical_gain(ens)
    except Exception:  # noqa: BLE001 - no critical point (e.g. a zero gain)
        gc = math.nan
    ds.attrs["critical_gain_factor"] = gc
    if sim_ns:
        ds = ds.merge(_simulate(ens, args, gains, biases, sim_ns, store, client))
    ds.attrs.update(_provenance(args, sim_ns, store))
    nc = out / "phase_diagram.nc"
    _to_netcdf(ds, nc)
    png = out / "phase_diagram.png"
    _plot(ds, png, gc)
    summary = {"png": str(png), "nc": str(nc), "critical_gain_factor": gc,
               "store": str(store),
               "phases": {str(p): int((ds.phase == p).sum()) for p in np.unique(ds.phase)}}
    if args.json:
        print_json(summary)
    else:
        failed = summary["phases"].get("failed", 0)
        print(f"wrote {png} and {nc}; critical gain factor {gc:.4g}; "
              f"{ds.phase.size} theory points ({failed} failed)"
              + f"; store {store}")
    return 0


def _provenance(args, sim_ns, store) -> dict:
    from dmft._phase import package_version

    argv = getattr(args, "argv", None)
    argv = sys.argv[1:] if argv is None else argv
    prov = {"software": f"gnode-dmft {package_version()}",
            "command": shlex.join(["gnode", *argv]),
            "python": sys.version.split()[0],
            "theory_seed": args.seed,
            "Conventions": "CF-1.8 (units and long_name on every variable)"}
    if sim_ns:
        prov.update(sim_n=",".join(str(n) for n in sim_ns),
                    sim_seeds=",".join(str(args.seed + r) for r in range(args.sim_seeds)),
                    sim_t_max=args.sim_t, sim_t_transient=args.sim_transient,
                    sim_dt=args.sim_dt, sim_time_unit="tau / E[G] at each point",
                    sim_store=str(store))
    return prov


def _simulate(ens, args, gains, biases, sim_ns, store, client):
    """The simulated sub-grid on the theory's coordinates: per-size means +- standard errors
    over the realizations, and the N -> inf extrapolation when several sizes are given."""
    import numpy as np
    import xarray as xr

    from dmft._phase import variable_attrs
    from simulate import SimulationTask, disorder_mean, sweep

    k = args.sim_points
    sg = gains[np.unique(np.linspace(0, len(gains) - 1, k).round().astype(int))]
    sb = biases[np.unique(np.linspace(0, len(biases) - 1, k).round().astype(int))]
    seeds = [args.seed + r for r in range(args.sim_seeds)]
    per_n = []
    for n in sim_ns:
        task = SimulationTask(ens, n=n, t_max=args.sim_t, t_transient=args.sim_transient,
                              dt=args.sim_dt)
        raw = sweep(task, {"gain": sg, "gate.bias_mean": sb}, seeds, store=store / f"N{n}",
                    client=client, n_workers=args.workers, progress=not args.json)
        raw = raw.rename({"gate.bias_mean": "gate_bias_mean"})
        m = disorder_mean(raw)
        m["lyapunov_max_realizations"] = raw["lyapunov_max"]
        per_n.append(m.drop_vars([v for v in ("phase_code", "diverged_at") if v in m]))
    sim = xr.concat(per_n, dim=xr.DataArray(sim_ns, dims="sim_n", name="sim_n"),
                    coords="minimal", compat="override")
    sim = sim.reindex(gain=gains, gate_bias_mean=biases).transpose(
        "sim_n", "gate_bias_mean", "gain", ...)
    sim["status"] = sim["status"].fillna("not simulated").astype(str)
    sim["n_seeds"] = sim["n_seeds"].fillna(0).astype(int)
    if len(sim_ns) > 1:
        sim = sim.merge(_extrapolate(sim))
    sim = sim.rename({v: f"sim_{v}" for v in sim.data_vars})
    for v in sim.data_vars:
        sim[v].attrs = variable_attrs(v)
    sim["sim_n"].attrs = {"long_name": "phase-space dimension N of the simulated networks",
                          "units": "1"}
    sim["seed"].attrs = {"long_name": "seed of the weight realization", "units": "1"}
    sim.attrs = {}
    return sim


def _extrapolate(sim):
    """lambda_max(N) = a + b / N per point (:func:`simulate.finite_size_extrapolation`)."""
    import numpy as np
    import xarray as xr

    from simulate import finite_size_extrapolation

    real = sim["lyapunov_max_realizations"].transpose("gate_bias_mean", "gain", "sim_n", "seed")
    shape = real.shape[:2]
    val, err = np.full(shape, np.nan), np.full(shape, np.nan)
    ns = sim["sim_n"].values
    for i, j in np.ndindex(*shape):
        cols = [real.values[i, j, a] for a in range(len(ns))]
        cols = [c[np.isfinite(c)] for c in cols]
        if all(c.size for c in cols) and sum(c.size - 1 for c in cols) >= 1:
            fit = finite_size_extrapolation(ns, cols)
            val[i, j], err[i, j] = fit.value, fit.stderr
    dims = ("gate_bias_mean", "gain")
    return xr.Dataset({"lyapunov_extrapolated": (dims, val),
                       "lyapunov_extrapolated_err": (dims, err)},
                      coords={d: sim[d] for d in dims})


def _to_netcdf(ds, path) -> None:
    ds = ds.copy()
    for v in ds.data_vars:
        if ds[v].dtype.kind in "UO":
            ds[v] = ds[v].astype(str)
    ds.attrs = {k: (str(v) if not isinstance(v, int | float) else v) for k, v in ds.attrs.items()}
    try:
        with atomic_write(path, keep_suffix=True) as tmp:
            ds.to_netcdf(tmp)
    except (ValueError, ImportError):   # no netCDF4/h5netcdf: classic netCDF3 via scipy
        for v in ds.data_vars:
            if ds[v].dtype.kind == "U":
                ds[v] = ds[v].astype("S")
        with atomic_write(path, keep_suffix=True) as tmp:
            ds.to_netcdf(tmp, engine="scipy")


def _edges(v):
    import numpy as np
    v = np.asarray(v, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = 0.5 * (v[1:] + v[:-1])
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def _hatch_cells(ax, x, y, mask, hatch, color, label):
    """Hatched rectangles over the cells where ``mask`` (rows: y, columns: x) holds."""
    import numpy as np
    from matplotlib.patches import Rectangle

    ex, ey = _edges(x), _edges(y)
    for i, j in zip(*np.nonzero(mask), strict=True):
        ax.add_patch(Rectangle((ex[j], ey[i]), ex[j + 1] - ex[j], ey[i + 1] - ey[i],
                               fill=False, hatch=hatch, edgecolor=color, lw=0.0))
    if mask.any():
        ax.add_patch(Rectangle((0, 0), 0, 0, fill=False, hatch=hatch, edgecolor=color,
                               label=label))


def _plot(ds, path, gc) -> None:
    """Left: lambda_max heatmap (theory) with the critical line, the explosive and failed
    regions and the simulated points.  Right: lambda_max against the gate bias at the simulated
    gains, theory (with its Monte Carlo error band) next to the finite-N simulations (disorder
    standard errors) and, with several sizes, their N -> inf extrapolation."""
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: the backend is never touched

    x, y = ds["gain"].values, ds["gate_bias_mean"].values
    # arrays as (gate bias, gain) = (rows, columns) of the heatmap
    lam = ds["lyapunov_max"].transpose("gate_bias_mean", "gain").values.astype(float)
    phase = ds["phase"].transpose("gate_bias_mean", "gain").values.astype(str)
    finite = np.isfinite(lam)
    vmax = float(np.max(np.abs(lam[finite]))) if finite.any() else 1.0
    vmax = vmax if vmax > 0 else 1.0
    has_sim = "sim_lyapunov_max" in ds
    fig = Figure(figsize=(12.0 if has_sim else 6.4, 4.8))
    axes = fig.subplots(1, 2 if has_sim else 1, squeeze=False)
    ax = axes[0, 0]
    m = ax.pcolormesh(x, y, np.where(finite, lam, np.nan), cmap="RdBu_r", vmin=-vmax,
                      vmax=vmax, shading="nearest")
    fig.colorbar(m, ax=ax, label=r"$\lambda_{max}\,\tau$ (theory)")
    _hatch_cells(ax, x, y, np.isinf(lam) & (phase == "explosive"), "//", "0.2",
                 "explosive (lambda = +inf)")
    _hatch_cells(ax, x, y, phase == "failed", "xx", "tab:orange",
                 "failed (solver message in status)")
    if math.isfinite(gc):
        ax.axvline(gc, color="k", ls="--", lw=1, label=rf"critical line $\rho=1$ (g={gc:.3g})")
    if has_sim:
        _sim_markers(ax, ds, vmax)
    ax.set_xlabel("gain factor (times every flow gain)")
    ax.set_ylabel(r"gate bias mean $\mu_z$")
    ax.set_title(str(ds.attrs.get("ensemble", "")), fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    if has_sim:
        _cuts(axes[0, 1], ds, x, y, lam)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def _largest_n(ds):
    return ds.isel(sim_n=-1) if "sim_n" in ds.dims else ds


def _sim_markers(ax, ds, vmax) -> None:
    import numpy as np

    big = _largest_n(ds)
    sl = big["sim_lyapunov_max"].transpose("gain", "gate_bias_mean").values
    seen = big["sim_n_seeds"].transpose("gain", "gate_bias_mean").values > 0
    sx, sy = np.meshgrid(ds["gain"].values, ds["gate_bias_mean"].values, indexing="ij")
    ok = seen & np.isfinite(sl)
    ax.scatter(sx[ok], sy[ok], c=sl[ok], cmap="RdBu_r", vmin=-vmax, vmax=vmax,
               edgecolors="k", linewidths=1.5, s=110, marker="s",
               label=f"simulation N={int(big['sim_n']) if 'sim_n' in big.coords else ''}")
    if (seen & ~np.isfinite(sl)).any():
        ax.scatter(sx[seen & ~ok], sy[seen & ~ok], marker="x", c="k", s=60,
                   label="simulation: diverged")


def _cuts(ax2, ds, x, y, lam) -> None:
    import matplotlib
    import numpy as np

    big = _largest_n(ds)
    seen = big["sim_n_seeds"].transpose("gate_bias_mean", "gain").values > 0
    cols = np.nonzero(seen.any(axis=0))[0]
    colors = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.85, max(len(cols), 1)))
    lam_err = ds["lyapunov_err"].transpose("gate_bias_mean", "gain").values.astype(float)
    n_sim = int(big["sim_n"]) if "sim_n" in big.coords else ""
    for j, col in zip(cols, colors, strict=False):
        th, er = lam[:, j], lam_err[:, j]
        ok_t = np.isfinite(th)
        ax2.plot(y[ok_t], th[ok_t], "-", color=col, label=f"theory, gain {x[j]:.3g}")
        ax2.fill_between(y[ok_t], (th - er)[ok_t], (th + er)[ok_t], color=col, alpha=0.2)
        rows = seen[:, j]
        sv = big["sim_lyapunov_max"].transpose("gate_bias_mean", "gain").values[rows, j]
        se = big["sim_lyapunov_sem"].transpose("gate_bias_mean", "gain").values[rows, j]
        ax2.errorbar(y[rows], sv, yerr=np.nan_to_num(se), fmt="s", color=col, ms=6, capsize=3,
                     mec="k", label=f"simulation N={n_sim}, gain {x[j]:.3g}")
        if "sim_lyapunov_extrapolated" in ds:
            ev = ds["sim_lyapunov_extrapolated"].transpose("gate_bias_mean", "gain").values
            ee = ds["sim_lyapunov_extrapolated_err"].transpose("gate_bias_mean", "gain").values
            ax2.errorbar(y[rows], ev[rows, j], yerr=np.nan_to_num(ee[rows, j]), fmt="D",
                         color=col, ms=5, capsize=3, mec="w",
                         label=f"N -> inf (a + b/N), gain {x[j]:.3g}")
    ax2.axhline(0.0, color="0.5", lw=0.8)
    ax2.set_xlabel(r"gate bias mean $\mu_z$")
    ax2.set_ylabel(r"$\lambda_{max}\,\tau$")
    ax2.set_title("theory (bands: its error) vs finite-N simulation\n(error bars: standard "
                  "error over disorder realizations)", fontsize=8)
    ax2.legend(fontsize=6.5, ncol=2)
