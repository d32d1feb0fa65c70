"""Forward + backward time per batch of gnode models against torch.nn.GRU (same run, CPU).

Setting (issue 6): state N = 128, sequence length T = 100, batch B = 64, input D = 32,
output O = 10, float32 for every model (the GRU's usual dtype), one Euler step per sample
(dt = tau = 1: the discrete gated update).  Loss = mean(output^2); time = forward + backward.

Models:
- ``gnode-1``: GNODE with a one-layer tanh flow and one-layer gate (eager; the first layers
  of flow and gate are one fused matrix product, the input currents of all T samples one
  product before the loop).
- ``gnode-1 compiled``: the same with ``torch.compile`` applied to the vector field (optional,
  ``--compile``; reports the compile time separately).
- ``gnode-deep``: flow MLP with two hidden layers of 128 (relu), one-layer gate.
- ``ncode``: closed-loop N-CODE, flow hidden 128, rank-1 control.

Run:  python benchmarks/models.py [--reps 10] [--threads 1] [--compile]
Prints milliseconds per batch (median of reps after 2 warm-up runs) and the ratio to the GRU.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gnode.models import GNODE, GRU, NCODE

B, T, N, D, NOUT = 64, 100, 128, 32, 10


def timed(model, x, reps: int) -> float:
    def once():
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.output.square().mean().backward()

    for _ in range(2):
        once()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        once()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--compile", action="store_true", help="also try torch.compile")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dt = torch.float32
    x = torch.randn(B, T, D, dtype=dt)
    models = {
        "gru": GRU(N, D, NOUT, dtype=dt),
        "gnode-1": GNODE(N, D, NOUT, flow_hidden=(), output_activation="tanh", dtype=dt),
        "gnode-deep": GNODE(N, D, NOUT, flow_hidden=(N, N), activation="relu",
                            output_activation="tanh", dtype=dt),
        "ncode": NCODE(N, D, NOUT, control="closed", flow_hidden=(N,), activation="relu",
                       output_activation="tanh", dtype=dt),
    }
    if args.compile:
        m = GNODE(N, D, NOUT, flow_hidden=(), output_activation="tanh", dtype=dt)
        t0 = time.perf_counter()
        try:
            m.field.state_rhs = torch.compile(m.field.state_rhs, dynamic=False)
            timed(m, x, 1)
            models["gnode-1 compiled"] = m
            print(f"torch.compile: {time.perf_counter() - t0:.1f} s to compile and warm up")
        except Exception as exc:  # noqa: BLE001 - report any backend failure and go on
            print(f"torch.compile failed on this machine: {type(exc).__name__}: {exc}"[:300])
    print(f"B={B} T={T} N={N} D={D} float32, threads={torch.get_num_threads()}, "
          f"reps={args.reps}")
    base = None
    for name, model in models.items():
        t = timed(model, x, args.reps)
        base = t if base is None else base
        print(f"{name:18s} {1e3 * t:9.2f} ms/batch   ratio to GRU {t / base:6.2f}")


if __name__ == "__main__":
    main()
