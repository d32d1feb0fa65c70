"""Per-element cost of the activations' numba element operations (dmft.activations).

The vectorizable tanh / sigmoid of dmft._vecmath (value and derivative) against a numba loop
calling math.tanh / math.exp (scalar libm calls without SVML), and the element-by-element
dispatch of the other activations, over one contiguous row of N float64 (default 10^5, in L2).
Prints nanoseconds per element, best of the repeats.

    python benchmarks/vecmath.py [--n 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_of  # noqa: E402

from dmft.activations import activations, get_activation, numba_values_into  # noqa: E402


@njit(cache=True)
def _libm_tanh_into(x, s, d):
    for i in range(x.shape[0]):
        t = math.tanh(x[i])
        s[i] = t
        d[i] = 1.0 - t * t


@njit(cache=True)
def _libm_sigmoid_into(x, s, d):
    for i in range(x.shape[0]):
        e = 1.0 / (1.0 + math.exp(-x[i]))
        s[i] = e
        d[i] = e * (1.0 - e)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args(argv)
    x = 3.0 * np.random.default_rng(0).standard_normal(a.n)
    s, d = np.empty_like(x), np.empty_like(x)

    def ns(f) -> float:
        return 1e9 * best_of(f, a.repeat)[0] / a.n

    print(f"ns per element (value and derivative), N = {a.n}")
    for name in activations():
        code = get_activation(name).numba_code
        if code is not None:
            t = ns(lambda c=code: numba_values_into(c, x, s, d))
            print(f"  {name:9s} dmft.activations  {t:6.2f}")
    print(f"  tanh      scalar libm loop  {ns(lambda: _libm_tanh_into(x, s, d)):6.2f}")
    print(f"  sigmoid   scalar libm loop  {ns(lambda: _libm_sigmoid_into(x, s, d)):6.2f}")


if __name__ == "__main__":
    main()
