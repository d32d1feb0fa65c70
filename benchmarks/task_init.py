"""Time of ``gnode.task_init_`` per model and horizon, against one training run of the
trainability sweep measured in the same run (gnODE, width 64, adding-100, 200 Adam steps).

Target (issue 14): the task-aware choice costs under 5 s per model.  The rule's cost is a few
root finds, each a driven solve (dmft.driven) and the gradient recursion over the horizon
(eq. 11.7, or 11.15 for the gate spread: O(classes x T^2), compiled).

    python benchmarks/task_init.py [--horizons 100 300 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from _timing import best_of  # noqa: E402

from gnode.init import task_init_  # noqa: E402
from gnode.tasks.trainability import build_model, fit, make_task  # noqa: E402

MODELS = ("gnode", "mgru", "elman", "node")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizons", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = make_task("adding-100", n_test=64)

    def train():
        fit(build_model("gnode", base, width=64, seed=0), base, steps=200, batch_size=16)
    t_train, _ = best_of(train, 1)
    print(f"baseline: one training run (gnODE, adding-100, 200 steps) {t_train:.2f} s")
    print(f"{'model':>6} {'T':>5} {'rule':>30} {'seconds':>8} {'/ training run':>15}")
    for horizon in args.horizons:
        task = make_task(f"adding-{horizon}", n_test=16)
        x, ln = task.input_sample()
        for kind in MODELS:
            model = build_model(kind, task, width=64, seed=0)
            kw = dict(horizon=horizon, inputs=x, lengths=ln, seed=0)
            t, r = best_of(lambda m=model, kw=kw: task_init_(m, **kw), args.repeat)
            print(f"{kind:>6} {horizon:>5} {r.rule:>30} {t:8.2f} {t / t_train:15.3f}")


if __name__ == "__main__":
    main()
