"""Shared plumbing of the docs examples: ``--fast`` / ``GNODE_DOCS_FAST=1``, ``--out``, JSON.

Every example is run as ``python docs/examples/<name>.py [--fast] [--out FILE]``: it writes its
figure to ``--out`` (default ``docs/figures/<name>.png``) and prints its key numbers as one JSON
object on the last line of standard output (tests/test_docs_examples.py reads it).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def setup(name: str, description: str) -> argparse.Namespace:
    """Parse ``--fast`` / ``--out`` / ``--seed``; select the non-interactive matplotlib backend
    and one torch thread (the examples are small and the machine may be shared)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true",
                        help="reduced size (also GNODE_DOCS_FAST=1), as run by the tests")
    parser.add_argument("--out", default=str(FIGURES / f"{name}.png"), help="figure file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.fast = args.fast or os.environ.get("GNODE_DOCS_FAST", "0") not in ("", "0")
    import matplotlib

    matplotlib.use("Agg")
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ImportError:  # pragma: no cover
        pass
    return args


def finish(fig, args: argparse.Namespace, numbers: dict) -> None:
    """Save the figure and print the key numbers as JSON on the last line."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    numbers = {"figure": str(out), "fast": bool(args.fast), **numbers}
    print(json.dumps(numbers, default=float))
