"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import math
import time


def best_of(f, repeat: int = 5, *, warmup: bool = True):
    """(best wall time over ``repeat`` calls, last result); one untimed warm-up call first."""
    out = f() if warmup else None
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out
