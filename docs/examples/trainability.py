"""Trainability: tasks x models x initializations, a gain x gate sweep, gradients at init.

The suite of ``gnode.tasks.trainability`` at fixed optimizer budgets (Adam, lr 3e-3, batch 16,
clipping 1, float32, one Euler step per sample): the normalized final test loss (1 = chance)
per (task, model, init) over seeds; for the gated model a sweep over the flow's spectral radius
rho x the gate time scale 1 / E[G] with the task-aware choice (``gnode.task_init_``) marked and
ranked; the measured squared gradient norm through time at initialization next to the theory's
prediction (``dmft.gradient_growth``, docs/theory.md eq. 11.7).

Runs are cached (JSON lines) in ``docs/figures/trainability_runs.jsonl`` (full) or a temporary
file (``--fast``), so an interrupted full run resumes.  The full run is a few hours on one
core; ``--fast`` is a smoke test of the pipeline (tiny budgets, not a result).

Run: python docs/examples/trainability.py [--fast] [--out FILE]
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import FIGURES, finish, setup

args = setup("trainability", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

from gnode.tasks.trainability import INITS, applicable, run_suite, summarize  # noqa: E402

MODELS_ALL = ("gnode", "node", "mgru", "elman", "gru")
if args.fast:
    WIDTH, SEEDS, STEPS = 32, (0,), 6
    TABLE = {"copy-20": (("gnode", "elman", "gru"), ("default", "rho1", "task")),
             "adding-20": (("gnode",), ("default", "task"))}
    SWEEP = {("copy-20", "gnode"): ((0.5, 0.72), (2.0, 20.0))}
    SWEEP_SEEDS = SEEDS
    LONG, EXTRA_INITS, LONG_LR, SPAN, GATE_INPUT, LONG_BUDGET = {}, {}, {}, {}, {}, {}
elif os.environ.get("GNODE_TRAINABILITY_FULL", "0") not in ("", "0"):
    # the whole plan of the issue (hours on one core; not yet run)
    WIDTH, SEEDS, STEPS = 64, (0, 1, 2), 200
    short = (("gnode", "node", "mgru", "elman", "gru"), ("default", "rho1", "task"))
    TABLE = {"copy-100": (MODELS_ALL, INITS), "adding-100": (MODELS_ALL, INITS),
             "flipflop": short, "digits": short, "JapaneseVowels": short,
             "BasicMotions": short}
    SWEEP = {(t, m): ((0.45, 0.72, 0.9, 1.0), (2.0, 20.0, 200.0))
             for t in ("copy-100", "adding-100") for m in ("gnode", "mgru")}
    SWEEP_SEEDS, EXTRA_INITS = SEEDS, {}
    # longer horizons: fewer models and inits, shorter budgets (their cost grows with T)
    LONG = {"copy-300": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 150),
            "adding-300": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 150),
            "copy-1000": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 80),
            "adding-1000": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 80)}
    LONG_LR, SPAN, GATE_INPUT, LONG_BUDGET = {}, {}, {}, {}
else:
    # the reduced plan that was run for docs/trainability.md (about 3 h on one core): at
    # T = 100 the models and inits below (every gnODE init on adding), GRU default only, the
    # flip-flop, sequential digits and the two real data sets with the same three inits, the
    # sweeps with two seeds; at T = 300 the gnODE (default, task-aware) against the GRU, at
    # two learning rates; at T = 1000 the same at 80 steps
    WIDTH, SEEDS, STEPS = 64, (0, 1, 2), 200
    short = (("gnode", "node", "mgru", "elman", "gru"), ("default", "rho1", "task"))
    TABLE = {"adding-100": short, "copy-100": (("gnode", "mgru", "gru"), ("default", "task")),
             "flipflop": short, "digits": short, "JapaneseVowels": short,
             "BasicMotions": short}
    SWEEP = {(t, m): ((0.45, 0.72, 0.9), (2.0, 20.0, 200.0))
             for t, m in (("adding-100", "gnode"), ("copy-100", "gnode"), ("adding-300", "gnode"))}
    # the bounded mGRU flow has no state bound: its sweeps reach beyond the edge
    SWEEP.update({(t, "mgru"): ((0.45, 0.72, 0.9, 1.0, 1.2), (2.0, 20.0, 200.0))
                  for t in ("adding-100", "copy-100")})
    SWEEP_SEEDS = (0, 1)
    EXTRA_INITS = {"adding-100": (("gnode",), ("orthogonal", "identity", "our_normal"))}
    LONG = {"copy-300": (("gnode", "mgru", "gru"), ("default", "task"), (0, 1, 2), 150),
            "adding-300": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 150),
            "copy-1000": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 80),
            "adding-1000": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 80)}
    # the unbounded gnODE diverged in training on copy-300 at lr 3e-3: the same runs (every
    # model and init of the row) at a third of the learning rate
    LONG_LR = {"copy-300": (("gnode", "gru"), ("default", "task"), (0, 1, 2), 150, 1e-3)}
    # the same T = 300 rows at four times the budget: is it the budget that stops them?
    LONG_BUDGET = {t: (("gnode", "gru"), ("default", "task"), (0, 1, 2), 600)
                   for t in ("copy-300", "adding-300")}
    # the flip-flop needs memory over the interval between two pulses of one bit (12 pulses on
    # 3 bits per 100-bin trial: 25 bins), not over the trial: the rule given that span (25);
    # and its targets follow a pulse from its first bin, so the gradient it needs reaches back
    # over one pulse (3 bins): the rule given that "credit horizon" (3)
    SPAN = {"flipflop": (("gnode", "node", "mgru", "elman"), (25, 3))}
    # the adding task's product marker x value: the gate given input weights (g_xz = 1)
    GATE_INPUT = {"adding-100": (("gnode", "mgru"), 1.0)}


LR = 3e-3   # the learning rate of every run but the LONG_LR reruns


def cfg(task, model, init, seed, steps=STEPS, lr=LR, **extra):
    return dict(task=task, model=model, init=init, seed=seed, width=WIDTH, steps=steps,
                batch=16, lr=lr, **extra)


def budget(task):
    """The optimizer steps of a task's plain runs (the T = 300 and 1000 rows have their own)."""
    return LONG[task][3] if task in LONG else STEPS


def plain(c):
    """A run (its cfg, or a table row) at the common learning rate and budget with the rule
    given the task's own length and its default gate clause: the runs the sweeps and the bars
    compare."""
    return c["lr"] == LR and c.get("horizon") is None and c.get("gate_spread") is None \
        and c.get("gate_input_gain") is None and c["steps"] == budget(c["task"])


GATED = ("gnode", "mgru")


configs = []   # seeds outermost: an interrupted run has every init of its first seeds
for s in SEEDS:
    for t, (models, inits) in TABLE.items():
        configs += [cfg(t, m, i, s) for m in models for i in inits if applicable(m, i)]
for s in SEEDS:   # further inits of some models (after every table run of all seeds)
    for t, (models, inits) in EXTRA_INITS.items():
        configs += [cfg(t, m, i, s) for m in models for i in inits if applicable(m, i)]
for s in SWEEP_SEEDS:
    for (t, model), (rhos, gates) in SWEEP.items():
        configs += [cfg(t, model, "sweep", s, budget(t), rho=r, gate_timescale=g)
                    for r in rhos for g in gates]
configs += [cfg(t, m, i, s, steps) for t, (models, inits, seeds, steps) in LONG.items()
            for m in models for i in inits if applicable(m, i) for s in seeds]
configs += [cfg(t, m, i, s, steps, lr=lr)
            for t, (models, inits, seeds, steps, lr) in LONG_LR.items()
            for m in models for i in inits if applicable(m, i) for s in seeds]
configs += [cfg(t, m, i, s, steps) for t, (models, inits, seeds, steps) in LONG_BUDGET.items()
            for m in models for i in inits if applicable(m, i) for s in seeds]
configs += [cfg(t, m, "task", s, horizon=h) for t, (models, hs) in SPAN.items() for h in hs
            for m in models for s in SEEDS]
configs += [cfg(t, m, "task", s, gate_input_gain=g) for t, (models, g) in GATE_INPUT.items()
            for m in models for s in SEEDS]

# the gate clause of the rule: a spread of time scales (the default, docs/theory.md 11.5) and,
# for comparison, one gate closed for every unit (the rule before it; gate_spread=False)
configs += [{**c, "gate_spread": False} for c in list(configs)
            if c["init"] == "task" and c["model"] in GATED]

cache = (Path(tempfile.mkdtemp()) / "runs.jsonl") if args.fast else \
    FIGURES / "trainability_runs.jsonl"
t0 = time.perf_counter()
runs = run_suite(configs, cache=cache, progress=not args.fast)
wall = time.perf_counter() - t0
table = summarize([r for r in runs if r["cfg"]["init"] != "sweep"],
                  fields=("task", "model", "init", "lr", "steps", "horizon", "gate_spread",
                          "gate_input_gain"))


# ----------------------------------------------------------------------------- sweep + rank
def single(c):
    """A run or row of the rule with one closed gate, otherwise as :func:`plain`."""
    return c["lr"] == LR and c.get("horizon") is None and c.get("gate_spread") is False \
        and c.get("gate_input_gain") is None and c["steps"] == budget(c["task"])


def task_choice(task, model, which=plain):
    """The task-aware (rho, mean gate time scale 1 / E[G]) of ``model`` in the table runs."""
    infos = [r["init_info"] for r in runs if r["cfg"]["task"] == task
             and r["cfg"]["model"] == model and r["cfg"]["init"] == "task" and which(r["cfg"])]
    return (float(np.mean([i["rho"] for i in infos])),
            float(np.mean([1.0 / i["gate"] for i in infos]))) if infos else None


sweeps = {}
for (t, model), (rhos, gates) in SWEEP.items():
    grid = np.full((len(rhos), len(gates)), np.nan)
    spread = np.full_like(grid, np.nan)
    for a, r_ in enumerate(rhos):
        for b, g_ in enumerate(gates):
            ls = [r["normalized_loss"] for r in runs if r["cfg"]["task"] == t
                  and r["cfg"]["model"] == model
                  and r["cfg"]["init"] == "sweep" and r["cfg"]["rho"] == r_
                  and r["cfg"]["gate_timescale"] == g_]
            grid[a, b], spread[a, b] = np.mean(ls), np.std(ls)
    theory = next((row for row in table if row["task"] == t and row["model"] == model
                   and row["init"] == "task" and plain(row)), None)
    one_gate = next((row for row in table if row["task"] == t and row["model"] == model
                     and row["init"] == "task" and single(row)), None)
    default = next((row for row in table if row["task"] == t and row["model"] == model
                    and row["init"] == "default" and plain(row)), None)
    best = np.unravel_index(np.nanargmin(grid), grid.shape)
    rank = None if theory is None else 1 + int(np.sum(grid < theory["loss"]))
    rank_one = None if one_gate is None else 1 + int(np.sum(grid < one_gate["loss"]))
    sweeps[f"{model} {t}"] = {
                 "rho": list(rhos), "gate_timescale": list(gates), "loss": grid.tolist(),
                 "loss_std": spread.tolist(), "best": {"rho": rhos[best[0]],
                                                       "gate_timescale": gates[best[1]],
                                                       "loss": float(grid[best]),
                                                       "loss_std": float(spread[best])},
                 "theory_choice": task_choice(t, model),
                 "theory_loss": None if theory is None else theory["loss"],
                 "theory_loss_std": None if theory is None else theory["loss_std"],
                 "one_gate_choice": task_choice(t, model, single),
                 "one_gate_loss": None if one_gate is None else one_gate["loss"],
                 "one_gate_loss_std": None if one_gate is None else one_gate["loss_std"],
                 "one_gate_rank": rank_one,
                 "default_loss": None if default is None else default["loss"],
                 "theory_rank": rank, "n_points": int(grid.size) + 1,
                 "theory_within_spread_of_best": None if theory is None else bool(
                     theory["loss"] - theory["loss_std"] <= grid[best] + spread[best])}

# ----------------------------------------------------------------------------- gradients
FLOOR = -150.0   # log G below which a float32 measurement is near its floor (numbers below)
pairs = []   # (task, model, init, lag, measured, predicted) in log
def rerun(c):
    """A run that repeats another's initialization (another learning rate or budget)."""
    return c["lr"] != LR or (c["task"] in LONG_BUDGET and c["steps"] == LONG_BUDGET[c["task"]][3])


for r in runs:   # a rerun has the same initialization: counted once
    if r["grad_predicted"] is None or rerun(r["cfg"]):
        continue
    for lag, gm, gp in zip(r["lags"], r["grad_measured"], r["grad_predicted"], strict=True):
        if gm > 0 and gp > 0 and math.isfinite(gm) and math.isfinite(gp):
            pairs.append((r["cfg"]["task"], r["cfg"]["model"], r["cfg"]["init"], lag,
                          math.log(gm), math.log(gp)))
at_horizon = {}
for r in runs:
    c = r["cfg"]
    if r["grad_predicted"] is None or c["init"] == "sweep" or rerun(c):
        continue
    key = f"{c['task']}/{c['model']}/{c['init']}" + (
        f" (span {c['horizon']})" if c.get("horizon") else "") + (
        " (one gate)" if c.get("gate_spread") is False else "") + (
        f" (g_xz {c['gate_input_gain']})" if c.get("gate_input_gain") else "")
    at_horizon.setdefault(key, []).append((math.log(max(r["grad_measured"][-1], 1e-300)),
                                           math.log(max(r["grad_predicted"][-1], 1e-300))))
grad_table = {k: {"measured_log": float(np.mean([m for m, _ in v])),
                  "measured_log_std": float(np.std([m for m, _ in v])),
                  "predicted_log": float(np.mean([p for _, p in v])), "lag": None}
              for k, v in at_horizon.items()}

# ----------------------------------------------------------------------------- figure
YMAX = 1.6   # loss / chance axis of the bars: a diverging run is drawn to the top, its value


def _clipped_bars(ax, x, vals, width, label):
    """Bars clipped at YMAX (an unbounded flow that left its stability region reaches 1e27);
    a clipped bar is hatched and carries its value."""
    vals = np.asarray(vals, dtype=float)
    bars = ax.bar(x, np.minimum(vals, YMAX), width=width, label=label)
    for b, v in zip(bars, vals, strict=True):
        if np.isfinite(v) and v > YMAX:
            b.set_hatch("//")
            ax.text(b.get_x() + width / 2, YMAX * 0.98, f"{v:.2g}", rotation=90, ha="center",
                    va="top", fontsize=6)


n_panels = len(sweeps) + 3   # the sweeps, the gradient scatter, two bar charts
n_rows = -(-n_panels // 3)
fig, axes = plt.subplots(n_rows, 3, figsize=(16, 5.0 * n_rows), squeeze=False)
panels = list(axes.flat)
for j, (t, sw) in enumerate(sweeps.items()):
    ax = panels[j]
    im = ax.imshow(np.array(sw["loss"]), origin="lower", cmap="viridis", aspect="auto",
                   vmin=0, vmax=max(1.0, float(np.nanmax(sw["loss"]))))
    ax.set_xticks(range(len(sw["gate_timescale"])), [f"{g:g}" for g in sw["gate_timescale"]])
    ax.set_yticks(range(len(sw["rho"])), [f"{r:g}" for r in sw["rho"]])
    for a in range(len(sw["rho"])):
        for b in range(len(sw["gate_timescale"])):
            ax.text(b, a, f"{sw['loss'][a][b]:.2f}", ha="center", va="center", fontsize=7,
                    color="w")
    marks = (("theory_choice", "theory_loss", "theory_rank", "r*",
              "theory, gate spread; at its mean 1/E[G]"),
             ("one_gate_choice", "one_gate_loss", "one_gate_rank", "wX", "theory, one gate"))
    for choice, loss, rank, style, label in marks:
        if sw[choice] is None:
            continue
        rho_c, g_c = sw[choice]
        y = np.interp(rho_c, sw["rho"], range(len(sw["rho"])))
        x = np.interp(math.log(g_c), np.log(sw["gate_timescale"]),
                      range(len(sw["gate_timescale"])))
        ax.plot([x], [y], style, ms=14, mec="k", label=f"{label} ({sw[loss]:.2f}, rank "
                                                       f"{sw[rank]}/{sw['n_points']})")
        # below the axis: inside it would hide the top row's numbers
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    ax.set(xlabel="gate time scale 1 / E[G] (steps)", ylabel="flow radius rho",
           title=f"{t}: final loss / chance")
    fig.colorbar(im, ax=ax, fraction=0.046)
ax = panels[len(sweeps)]
if pairs:
    m = np.array([p[4] for p in pairs])
    p = np.array([p[5] for p in pairs])
    ax.plot(p, m, ".", ms=3, alpha=0.6)
    lim = [min(p.min(), m.min()), max(p.max(), m.max())]
    ax.plot(lim, lim, "k", lw=0.8)
    ax.axhline(-195.0, color="gray", ls="--", lw=0.8)
    ax.text(lim[0], -190.0, "float32 measurement floor", fontsize=7, color="gray")
ax.set(xlabel="predicted log G(k) (theory)", ylabel=f"measured log G(k) (N = {WIDTH})",
       title="gradient norm at init: theory vs measurement")
ax = panels[len(sweeps) + 1]
tasks = list(TABLE) + list(LONG)
bars = [(i, i, plain) for i in INITS] + [("task", "task (one gate)", single)]
for k, (init, label, which) in enumerate(bars):
    vals = []
    for t in tasks:
        row = next((r for r in table if r["task"] == t and r["model"] == "gnode"
                    and r["init"] == init and which(r)), None)
        vals.append(np.nan if row is None else row["loss"])
    _clipped_bars(ax, np.arange(len(tasks)) + 0.11 * (k - 3), vals, 0.11, label)
ax.set_xticks(range(len(tasks)), tasks, rotation=30, fontsize=7)
ax.axhline(1.0, color="k", lw=0.6)
ax.set(ylabel="final loss / chance", title="gnODE: initializations", ylim=(0, YMAX))
ax.legend(fontsize=6, ncol=2)
ax = panels[len(sweeps) + 2]
for k, model in enumerate(MODELS_ALL):
    vals = []
    for t in tasks:
        rows = [r for r in table if r["task"] == t and r["model"] == model]
        vals.append(min((r["loss"] for r in rows), default=np.nan))
    _clipped_bars(ax, np.arange(len(tasks)) + 0.16 * (k - 2), vals, 0.16, model)
ax.set_xticks(range(len(tasks)), tasks, rotation=30, fontsize=7)
ax.axhline(1.0, color="k", lw=0.6)
ax.set(ylabel="best final loss / chance", title="models (best init each)", ylim=(0, YMAX))
ax.legend(fontsize=6)
for ax in panels[n_panels:]:
    ax.axis("off")

numbers = {"width": WIDTH, "seeds": list(SEEDS), "steps": STEPS, "n_runs": len(runs),
           "wall_seconds_this_call": wall,
           "train_seconds_total": float(sum(r["seconds"] for r in runs)),
           "init_seconds": {k: float(np.max([r["init_seconds"] for r in runs
                                              if r["cfg"]["model"] == k
                                              and r["cfg"]["init"] == "task"] or [0.0]))
                            for k in MODELS_ALL},
           "table": table, "sweeps": sweeps, "gradient_at_horizon": grad_table,
           "gradient_pairs": len(pairs),
           "gradient_rms_log_error": float(np.sqrt(np.mean([(a - b) ** 2 for *_, a, b
                                                            in pairs]))) if pairs else None,
           # the float32 measurement stops at log G ~ -194 to -197 (the same value for every
           # seed and task): pairs with both values above -150 are clear of it
           "gradient_pairs_above_floor": sum(1 for *_, a, b in pairs if min(a, b) > FLOOR),
           "gradient_rms_log_error_above_floor": float(np.sqrt(np.mean(
               [(a - b) ** 2 for *_, a, b in pairs if min(a, b) > FLOOR] or [np.nan])))}
finish(fig, args, numbers)
