"""``gnode phase-diagram``: lambda_max over (gain, gate bias) with theory and simulation.

Writes ``phase_diagram.nc`` (the theory dataset of :func:`dmft.phase_diagram`, plus the simulated
points of :func:`simulate.sweep` as ``sim_*`` variables) and ``phase_diagram.png`` (lambda_max
heatmap, the critical line rho = 1 of the fixed point, the explosive region hatched, simulated
points overlaid as markers coloured on the same scale).
"""

from __future__ import annotations

import argparse
import math

from ._common import (
    _floats,
    add_flow_arguments,
    atomic_write,
    compile_notice,
    ensemble_from_args,
    output_dir,
    print_json,
    save_figure,
)

#: most points on one grid axis (a larger count is a typo, not a phase diagram)
MAX_AXIS_POINTS = 10_000
#: seconds to wait for a dask scheduler before giving up
SCHEDULER_TIMEOUT_S = 10


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "phase-diagram", help="lambda_max phase diagram over (gain, gate bias): theory + sims",
        description="Phase diagram of a gated ensemble: sampled/closed DMFT on a grid of (gain "
                    "factor, gate bias mean), finite-N simulations at a few points, "
                    "phase_diagram.png and phase_diagram.nc.")
    add_flow_arguments(p, default_layers="tanh")
    p.set_defaults(gate_gain=1.0)
    p.add_argument("--gain-grid", default="0.5:3.0:11",
                   help="gain factors start:stop:count or a comma list (default 0.5:3.0:11)")
    p.add_argument("--gate-biases", default="-3:3:9",
                   help="gate bias means start:stop:count or a comma list (default -3:3:9); "
                        "write --gate-biases=-3:3:9 when the value starts with '-'")
    p.add_argument("--n-paths", type=int, default=300, help="sampled paths per iteration")
    p.add_argument("--sim-n", type=int, default=600,
                   help="N of the simulated networks (0: none; default 600). lambda_max has an "
                        "O(1/N) finite-size deficit near onset: use 1000+ for closer agreement")
    p.add_argument("--sim-points", type=int, default=3,
                   help="simulated points per axis (a coarse sub-grid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="local processes")
    p.add_argument("--scheduler", default=None,
                   help="dask.distributed scheduler address tcp://host:port for the simulations")
    p.add_argument("--out", default=".", help="output directory")
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
            raise ValueError(f"{name} must be start:stop:count (two numbers and an int), "
                             f"got {text!r}") from None
        if not (1 <= n <= MAX_AXIS_POINTS) or not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"{name}: count must be an int in [1, {MAX_AXIS_POINTS}] and the "
                             f"ends finite, got {text!r}")
        return np.linspace(a, b, n)
    vals = _floats(text, name)
    if not vals or len(vals) > MAX_AXIS_POINTS:
        raise ValueError(f"{name} must hold 1 to {MAX_AXIS_POINTS} values, got {len(vals)}")
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must hold finite numbers, got {text!r}")
    return np.asarray(vals)


def _client(address: str | None):
    """A dask client for ``--scheduler``, connected before any work (within the timeout)."""
    if not address:
        return None
    from distributed import Client
    try:
        return Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OSError(f"--scheduler: cannot reach {address!r} within {SCHEDULER_TIMEOUT_S} s "
                      f"({type(exc).__name__}: {exc})") from None


def _check_counts(args) -> None:
    for opt, value, low in (("--workers", args.workers, 1), ("--n-paths", args.n_paths, 1),
                            ("--sim-n", args.sim_n, 0), ("--sim-points", args.sim_points, 1)):
        if value < low:
            raise ValueError(f"{opt} must be an int >= {low}, got {value}")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from dmft import phase_diagram
    from dmft.static import critical_gain

    ens = ensemble_from_args(args)
    if ens.gate is None:
        raise ValueError("phase-diagram needs a gated ensemble (--gate-gain)")
    gains = _grid(args.gain_grid, "--gain-grid")
    biases = _grid(args.gate_biases, "--gate-biases")
    _check_counts(args)
    out = output_dir(args.out, "--out")            # checked before the work
    client = _client(args.scheduler) if args.sim_n > 0 else None
    # kernels compile in the workers when there are several: ask the cache instead
    uses = ("sampled", "simulate") if args.sim_n > 0 else ("sampled",)
    compile_notice("phase-diagram", uses if args.workers > 1 else None)
    sk = dict(n_paths=args.n_paths, lag_window=20.0, burn_in=10.0, measure=40.0, dt=0.1,
              lyapunov_iter=10)
    ds = phase_diagram(ens, x=("gain", gains), y=("gate.bias_mean", biases),
                       sampled_kwargs=sk, seed=args.seed, n_workers=args.workers,
                       progress=not args.json)
    try:
        gc = critical_gain(ens)
    except Exception:  # noqa: BLE001 - no critical point (e.g. a zero gain)
        gc = math.nan
    ds.attrs["critical_gain_factor"] = gc
    if args.sim_n > 0:
        from simulate import SimulationTask, sweep
        k = max(1, args.sim_points)
        sg = gains[np.unique(np.linspace(0, len(gains) - 1, k).round().astype(int))]
        sb = biases[np.unique(np.linspace(0, len(biases) - 1, k).round().astype(int))]
        sim = sweep(SimulationTask(ens, n=args.sim_n, t_max=100.0, t_transient=50.0, dt=0.1),
                    {"gain": sg, "gate.bias_mean": sb}, [args.seed], store=out / "sweep_store",
                    client=client, n_workers=args.workers, progress=not args.json)
        sim = sim.isel(seed=0).rename({"gain": "sim_gain", "gate.bias_mean": "sim_gate_bias"})
        for v in sim.data_vars:
            ds[f"sim_{v}"] = sim[v]
        ds.attrs["sim_n"] = args.sim_n
    nc = out / "phase_diagram.nc"
    _to_netcdf(ds, nc)
    png = out / "phase_diagram.png"
    _plot(ds, png, gc)
    summary = {"png": str(png), "nc": str(nc), "critical_gain_factor": gc,
               "phases": {str(p): int((ds.phase == p).sum()) for p in np.unique(ds.phase)}}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {png} and {nc}; critical gain factor {gc:.4g}")
    return 0


def _to_netcdf(ds, path) -> None:
    ds = ds.copy()
    for v in ds.data_vars:
        if ds[v].dtype.kind in "UO":
            ds[v] = ds[v].astype(str)
    ds.attrs = {k: (str(v) if not isinstance(v, int | float) else v) for k, v in ds.attrs.items()}
    try:
        with atomic_write(path) as tmp:
            ds.to_netcdf(tmp)
    except (ValueError, ImportError):   # no netCDF4/h5netcdf: classic netCDF3 via scipy
        for v in ds.data_vars:
            if ds[v].dtype.kind == "U":
                ds[v] = ds[v].astype("S")
        with atomic_write(path) as tmp:
            ds.to_netcdf(tmp, engine="scipy")


def _plot(ds, path, gc) -> None:
    """Left: lambda_max heatmap (theory) with the critical line, the explosive region and the
    simulated points.  Right: lambda_max against the gate bias at the simulated gains, theory
    (with its Monte Carlo error band) next to the finite-N simulations (with their errors)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: the backend is never touched

    x = ds["gain"].values
    y = ds["gate.bias_mean"].values
    # arrays as (gate bias, gain) = (rows, columns) of the heatmap
    lam = ds["lyapunov_max"].transpose("gate.bias_mean", "gain").values.astype(float)
    finite = np.isfinite(lam)
    vmax = float(np.nanmax(np.abs(lam[finite]))) if finite.any() else 1.0
    has_sim = "sim_lyapunov_max" in ds
    fig = Figure(figsize=(12.0 if has_sim else 6.4, 4.8))
    axes = fig.subplots(1, 2 if has_sim else 1, squeeze=False)
    ax = axes[0, 0]
    shown = np.where(finite, lam, np.nan)
    m = ax.pcolormesh(x, y, shown, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="nearest")
    fig.colorbar(m, ax=ax, label=r"$\lambda_{max}\,\tau$ (theory)")
    expl = ~finite & np.isinf(lam)
    if expl.any():
        ax.contourf(x, y, expl.astype(float), levels=[0.5, 1.5], hatches=["//"], colors="none")
        ax.plot([], [], " ", label="hatched: explosive")
    if math.isfinite(gc):
        ax.axvline(gc, color="k", ls="--", lw=1, label=rf"critical line $\rho=1$ (g={gc:.3g})")
    if has_sim:
        sx, sy = np.meshgrid(ds["sim_gain"].values, ds["sim_gate_bias"].values, indexing="ij")
        sl = ds["sim_lyapunov_max"].values
        ok = np.isfinite(sl)
        ax.scatter(sx[ok], sy[ok], c=sl[ok], cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                   edgecolors="k", linewidths=1.5, s=110, marker="s",
                   label="simulation (finite N)")
        if (~ok).any():
            ax.scatter(sx[~ok], sy[~ok], marker="x", c="k", s=60, label="simulation: diverged")
    ax.set_xlabel("gain factor (times every flow gain)")
    ax.set_ylabel(r"gate bias mean $\mu_z$")
    ax.set_title(str(ds.attrs.get("ensemble", "")), fontsize=8)
    ax.legend(loc="lower right", fontsize=7)

    if has_sim:
        ax2 = axes[0, 1]
        n_sim = ds.attrs.get("sim_n", "")
        colors = matplotlib.colormaps["viridis"](
            np.linspace(0.1, 0.85, len(ds["sim_gain"].values)))
        lam_err = (ds["lyapunov_err"].transpose("gate.bias_mean", "gain").values.astype(float)
                   if "lyapunov_err" in ds else None)
        for g, col in zip(ds["sim_gain"].values, colors, strict=True):
            i = int(np.argmin(np.abs(x - g)))
            th = lam[:, i]
            ok_t = np.isfinite(th)
            ax2.plot(y[ok_t], th[ok_t], "-", color=col, label=f"theory, gain {x[i]:.3g}")
            if lam_err is not None:
                er = lam_err[:, i]
                ax2.fill_between(y[ok_t], (th - er)[ok_t], (th + er)[ok_t], color=col, alpha=0.2)
            sv = ds["sim_lyapunov_max"].sel(sim_gain=g).values
            se = ds["sim_lyapunov_err"].sel(sim_gain=g).values if "sim_lyapunov_err" in ds \
                else None
            ax2.errorbar(ds["sim_gate_bias"].values, sv, yerr=se, fmt="s", color=col, ms=6,
                         capsize=3, mec="k", label=f"simulation N={n_sim}, gain {g:.3g}")
        ax2.axhline(0.0, color="0.5", lw=0.8)
        ax2.set_xlabel(r"gate bias mean $\mu_z$")
        ax2.set_ylabel(r"$\lambda_{max}\,\tau$")
        ax2.set_title("theory (bands: Monte Carlo error) vs finite-N simulation", fontsize=9)
        ax2.legend(fontsize=6.5, ncol=2)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
