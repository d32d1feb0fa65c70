"""Real sequence classification: nODE, gnODE, GRU and Elman, default vs critical initialization.

JapaneseVowels and BasicMotions (UEA archive, read offline from the files shipped in the
sktime/aeon wheels: ``gnode.tasks.datasets``), 3 seeds, ``gnode.train`` (AdamW, best validation
parameters); test accuracy and training time per row.  Full run: every model gets the same
number of optimizer steps (600) on every data set, about 8 min on one core.  The fast version
trains 8 epochs on a subset of JapaneseVowels (a smoke test, not a result).

Run: python docs/examples/real_data.py [--fast] [--out FILE]
"""

from __future__ import annotations

import math

import numpy as np
from _common import finish, setup

args = setup("real_data", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

from gnode.tasks.datasets import classification_table, format_table, load_dataset  # noqa: E402

#: optimizer steps per model in the full run, the same for every data set: epochs are set from
#: the number of batches, so the 36 BasicMotions training sequences are not trained 8x less
#: than JapaneseVowels' 243 (with 40 epochs each, measured: BasicMotions GRU 58 %, 95 % at 600
#: steps)
STEPS = 600
if args.fast:
    datasets = [load_dataset("JapaneseVowels").subset(90, 120, seed=args.seed)]
    runs = [(datasets[0], dict(seeds=(0,), epochs=8, state_dim=16, batch_size=16))]
else:
    datasets = [load_dataset("JapaneseVowels"), load_dataset("BasicMotions")]
    runs = []
    for d in datasets:
        n_fit = len(d.y_train) - int(round(0.1 * len(d.y_train)))   # 10 % held for validation
        epochs = math.ceil(STEPS / math.ceil(n_fit / 32))
        runs.append((d, dict(seeds=(0, 1, 2), epochs=epochs, state_dim=32, batch_size=32)))
rows = [row for d, kw in runs for row in classification_table([d], **kw)]
table = format_table(rows)
print(table)
labels = [f"{r.dataset[:8]}\n{r.model}/{r.init[:4]}" for r in rows]
fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4))
ax.bar(range(len(rows)), [100 * r.accuracy for r in rows],
       yerr=[100 * r.accuracy_std for r in rows], color=[
           {"node": "C0", "gnode": "C1", "gru": "C2", "elman": "C3"}[r.model] for r in rows],
       alpha=[1.0 if r.init == "critical" else 0.55 for r in rows][0])
ax.set_xticks(range(len(rows)), labels, fontsize=6)
ax.set(ylabel="test accuracy (%)", ylim=(0, 100), title="test accuracy, mean +- std over seeds")
numbers = {"rows": [{"dataset": r.dataset, "model": r.model, "init": r.init,
                     "accuracy": r.accuracy, "accuracy_std": r.accuracy_std,
                     "seconds": r.seconds} for r in rows],
           "chance": {d.name: 1.0 / d.n_classes for d in datasets},
           "epochs": {d.name: kw["epochs"] for d, kw in runs},
           "min_accuracy": float(np.min([r.accuracy for r in rows]))}
finish(fig, args, numbers)
