"""``gnode warmup``: compile the numba kernels once, so that the first real run does not wait.

The kernels of ``simulate`` and of the sampled DMFT are compiled on their first call and cached
on disk (:mod:`simulate._warmup`); this subcommand runs each on a tiny problem and prints what
each took (a few seconds per group when compiling, well under a second once cached).
"""

from __future__ import annotations

import argparse
import sys
import time

_DESCRIPTION = ("Compile the numba kernels of the simulations and of the sampled DMFT on tiny "
                "problems and cache them on disk, so that the first real run does not wait for "
                "the compiler. Safe to run again (it then only loads the cache).")


def register(subparsers) -> None:
    p = subparsers.add_parser("warmup", description=_DESCRIPTION,
                              help="compile and cache the numba kernels (first use only)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from simulate._warmup import cache_is_warm, warmup

    warm = cache_is_warm()
    if not args.json:
        state = {True: "already cached", False: "compiling", None: "state unknown"}[warm]
        print(f"numba kernels: {state}", file=sys.stderr)

    def report(name: str, seconds: float) -> None:
        if not args.json:
            print(f"  {name:<36} {seconds:6.2f} s", file=sys.stderr)

    t0 = time.perf_counter()
    times = warmup(report=report)
    total = time.perf_counter() - t0
    if args.json:
        import json
        json.dump({"cached_before": warm, "seconds": times, "total_seconds": total},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"kernels ready in {total:.1f} s (cached: {cache_is_warm()})")
    return 0
