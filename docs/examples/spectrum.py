"""The Lyapunov spectrum from the theory against finite-N spectra: F(s), D_KY/N and h_KS/N.

Theory: ``dmft.spectrum`` (docs/theory.md section 9): the single-site chain driven by calibrated
gain paths of the stationary DMFT, extrapolated to the regulator eta -> 0, with its errors
(regulator, Monte Carlo over replicas, grid).  Simulation: ``simulate.lyapunov_spectrum`` (QR
method, RK4) of sampled networks, the k = N/4 largest exponents, summarized with the same
definitions (``simulate.spectrum_summary``, eq. 9.12); points are means over realizations with
their standard errors (finite-N corrections are O(1/N), docs/theory.md section 8).

Cases: the one-layer tanh network at several gains (continuous time, and the Euler map with
delta = 0.5 for the table), a two-layer ReLU -> tanh flow, and the mGRU (one-layer tanh flow,
sigmoid gate of gain 1) at two gate biases.

Run: python docs/examples/spectrum.py [--fast] [--out FILE] [--cache FILE]
(the full run takes hours on 2 cores; ``--cache`` keeps finished points across runs).
The Euler map (delta = 0.5) is simulated as the map itself (``method="euler"``, dt = 0.5).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.argv, _cache_arg = [a for a in sys.argv if not a.startswith("--cache=")], \
    [a.split("=", 1)[1] for a in sys.argv if a.startswith("--cache=")]
from _common import finish, setup  # noqa: E402

args = setup("spectrum", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

import dmft  # noqa: E402
import simulate  # noqa: E402
from dmft import Ensemble  # noqa: E402

FAST = args.fast
CACHE = Path(_cache_arg[0]) if _cache_arg else None
cache = json.loads(CACHE.read_text()) if CACHE and CACHE.is_file() else {}

if FAST:
    N, SEEDS, T_OBS = 150, (0, 1), 100.0
    THEORY = {"n_paths": 64, "n_replicas": 1, "grid_error": False}
    TANH_GAINS, TANH_SIM, TANH_F = (3.0,), (3.0,), (3.0,)
    RELU_GAINS, MGRU_GAINS, MGRU_BIASES, MAP_GAINS = (), (), (), ()
else:
    N, SEEDS, T_OBS = 1000, (0, 1), 200.0   # N = 500 for the two-layer and gated flows (cost)
    THEORY = {"n_paths": 256, "n_replicas": 2, "grid_error": True}
    TANH_GAINS, TANH_SIM, TANH_F = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0), (2.0, 3.0, 5.0), (2.0, 3.0, 5.0)
    RELU_GAINS, MGRU_GAINS, MGRU_BIASES = (1.5, 2.0, 2.5), (2.0, 3.0, 4.0), (0.0, -2.0)
    MAP_GAINS = (2.0, 3.0, 5.0)


def cases():
    """(label, family, gain, ensemble, dt) of every theory point."""
    out = [("tanh", "tanh", g, Ensemble.elman(g), None) for g in TANH_GAINS]
    out += [("relu->tanh", "relu->tanh", g, Ensemble.node((g, g), hidden="relu", output="tanh"),
             None) for g in RELU_GAINS]
    out += [(f"mGRU mu_z={mu:g}", f"mGRU mu_z={mu:g}", g,
             Ensemble.mgru(g, gate_gain=1.0, gate_bias_mean=mu), None)
            for mu in MGRU_BIASES for g in MGRU_GAINS]
    out += [("tanh, delta = 0.5", "tanh map", g, Ensemble.elman(g), 0.5) for g in MAP_GAINS]
    return out


def sim_size(family):
    """N of a family's simulated networks: the two-layer and gated flows cost 2-8x more per
    step than the one-layer tanh network, so they run at half its N on these 2 cores."""
    return N if FAST or family.startswith("tanh") else N // 2


def priority(case):
    """Order of computation (the cache keeps finished points if a long run is stopped): the
    Euler map, then one mGRU gain per bias, then the rest."""
    _, family, g, _, dt = case
    return (0 if dt is not None else 1 if family.startswith("mGRU") and g == 3.0 else 2)


def key(family, g, what):
    return f"{what}|{family}|{g:g}"


def save():
    if CACHE:
        CACHE.write_text(json.dumps(cache))


def theory_point(family, g, ens, dt):
    k = key(family, g, "theory")
    if k not in cache:
        t0 = time.perf_counter()
        s = np.linspace(-0.6, 0.0, 13)[:-1] if (family == "tanh" and g in TANH_F) else None
        r = dmft.spectrum(ens, dt=dt, **THEORY)
        out = {"lyapunov_max": r.lyapunov_max,
               "dimension_fraction": r.dimension_fraction,
               "entropy_rate": r.entropy_rate, "unstable_fraction": r.unstable_fraction,
               "errors": r.errors, "s": r.s.tolist(), "cdf": r.cdf.tolist(),
               "cdf_err": r.cdf_err.tolist(), "seconds": time.perf_counter() - t0}
        if s is not None:   # the bulk of F below the Kaplan-Yorke point, for the F(s) panel
            rb = dmft.spectrum(ens, s=s, n_paths=THEORY["n_paths"], n_replicas=1,
                               grid_error=False)
            out["s_bulk"], out["cdf_bulk"] = rb.s.tolist(), rb.cdf.tolist()
        cache[k] = out
        save()
        print(f"theory {family} g={g}: {cache[k]['seconds']:.0f} s", file=sys.stderr, flush=True)
    return cache[k]


def sim_point(family, g, ens, map_dt=None):
    k = key(family, g, "sim")
    if k not in cache:
        t0 = time.perf_counter()
        tau_eff = dmft.fixed_point(ens).gate_mean or 1.0
        tau_eff = 1.0 / tau_eff
        dt = map_dt or (0.1 if ens.gate is None else 0.2)
        runs, n = [], sim_size(family)
        for seed in SEEDS:
            net = simulate.sample(ens, n, seed=seed)
            res = simulate.lyapunov_spectrum(net, n // 4, t_max=T_OBS * tau_eff, dt=dt,
                                             method="euler" if map_dt else "rk4",
                                             t_transient=50.0 * tau_eff, seed=seed)
            sm = simulate.spectrum_summary(res)
            runs.append({**sm.as_dict(), "exponents": res.exponents.tolist()})
        cache[k] = {"n": n, "k": n // 4, "t_obs": T_OBS * tau_eff, "runs": runs,
                    "seconds": time.perf_counter() - t0}
        save()
        print(f"simulation {family} g={g}: {cache[k]['seconds']:.0f} s", file=sys.stderr,
              flush=True)
    return cache[k]


def mean_sem(runs, name):
    v = np.array([r[name] for r in runs], dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def total_error(errors):
    return float(np.sqrt(sum(e * e for e in errors.values() if e is not None)))


numbers = {"n": N, "seeds": list(SEEDS), "t_obs": T_OBS, "theory_settings": THEORY,
           "points": {}}
t_start = time.perf_counter()
for _, family, g, ens, dt in sorted(cases(), key=priority):
    th = theory_point(family, g, ens, dt)
    pt = {"theory": {q: th[q] for q in ("lyapunov_max", "dimension_fraction", "entropy_rate",
                                        "unstable_fraction")},
          "theory_error": {q: total_error(th["errors"][q]) for q in th["errors"]},
          "theory_seconds": th["seconds"]}
    simulated = (family == "tanh" and g in TANH_SIM) or (not FAST and (
        (family == "relu->tanh" and g == 2.0) or (family.startswith("mGRU") and g == 3.0)
        or family == "tanh map"))
    if simulated:
        sm = sim_point(family, g, ens, dt)
        pt["simulation"] = {q: mean_sem(sm["runs"], q) for q in (
            "lyapunov_max", "dimension_fraction", "entropy_rate", "unstable_fraction")}
        pt["simulation_n"], pt["simulation_k"] = sm["n"], sm["k"]
    numbers["points"][key(family, g, "point")] = pt
numbers["seconds"] = time.perf_counter() - t_start

# ------------------------------------------------------------------ figure
fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
ax = axes[0]
for i, g in enumerate(TANH_F):
    th = cache[key("tanh", g, "theory")]
    s = np.array(th.get("s_bulk", []) + th["s"] + [th["lyapunov_max"]])
    F = np.array(th.get("cdf_bulk", []) + th["cdf"] + [1.0])
    ax.plot(s, F, "-", color=f"C{i}", label=f"g = {g:g} theory")
    if key("tanh", g, "sim") in cache:
        sm = cache[key("tanh", g, "sim")]
        lam = np.array(sm["runs"][0]["exponents"])
        grid = np.linspace(lam.min(), lam.max() * 1.02, 400)
        ax.plot(grid, dmft.empirical_cdf(lam, sm["n"], grid), color=f"C{i}", lw=0.8, alpha=0.7,
                label=f"g = {g:g}, N = {sm['n']}")
ax.axvline(0, color="0.6", lw=0.6)
ax.set(xlabel="s (per tau)", ylabel="F(s): fraction of exponents below s",
       title="one-layer tanh: F(s), theory vs one network")
ax.legend(fontsize=7)

for ax, q, ylabel in ((axes[1], "dimension_fraction", "D_KY / N"),
                      (axes[2], "entropy_rate", "h_KS / N (per tau)")):
    fams = {}
    for _, family, g, _ens, dt in cases():
        if dt is not None:
            continue
        fams.setdefault(family, []).append(g)
    for i, (family, gains) in enumerate(fams.items()):
        pts = [numbers["points"][key(family, g, "point")] for g in gains]
        th = [p["theory"][q] for p in pts]
        er = [p["theory_error"][q] for p in pts]
        ax.errorbar(gains, th, yerr=er, fmt="-o", ms=3, color=f"C{i}", label=f"{family} theory")
        sim = [(g, p["simulation"][q]) for g, p in zip(gains, pts, strict=True)
               if "simulation" in p]
        if sim:
            ax.errorbar([g for g, _ in sim], [v[0] for _, v in sim],
                        yerr=[v[1] for _, v in sim], fmt="s", mec="k", color=f"C{i}",
                        label=f"{family}, N = {sim_size(family)}")
    ax.set(xlabel="gain g (per layer)", ylabel=ylabel, title=ylabel + " against the gain")
    ax.legend(fontsize=6.5)
finish(fig, args, numbers)
if os.environ.get("GNODE_SPECTRUM_PRINT"):
    print(json.dumps(numbers, indent=1), file=sys.stderr)
