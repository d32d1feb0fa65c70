"""Real sequence classification: nODE, gnODE, GRU and Elman, default vs critical initialization.

JapaneseVowels and BasicMotions (UEA archive, read offline from the files shipped in the
sktime/aeon wheels: ``gnode.tasks.datasets``), 3 seeds, ``gnode.train`` (AdamW, best validation
parameters); test accuracy and training time per row.  The fast version trains 2 epochs on a
subset of JapaneseVowels (a smoke test, not a result).

Run: python docs/examples/real_data.py [--fast] [--out FILE]
"""

from __future__ import annotations

import numpy as np
from _common import finish, setup

args = setup("real_data", __doc__)

import matplotlib.pyplot as plt  # noqa: E402

from gnode.tasks.datasets import classification_table, format_table, load_dataset  # noqa: E402

if args.fast:
    data = [load_dataset("JapaneseVowels").subset(90, 120, seed=args.seed)]
    kw = dict(seeds=(0,), epochs=8, state_dim=16, batch_size=16)
else:
    data = ["JapaneseVowels", "BasicMotions"]
    kw = dict(seeds=(0, 1, 2), epochs=40, state_dim=32)
rows = classification_table(data, **kw)
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
           "chance": {d.name if hasattr(d, "name") else d: 1.0 / (
               d.n_classes if hasattr(d, "n_classes") else 1) for d in data},
           "min_accuracy": float(np.min([r.accuracy for r in rows]))}
finish(fig, args, numbers)
