"""Build the figures (and key-number JSON files) that the docs pages embed.

    python docs/build_figures.py            # full size (minutes per example)
    python docs/build_figures.py --fast     # the reduced versions the tests run (~2 min in all)
    python docs/build_figures.py --only gating expressivity --missing

Each example ``docs/examples/<name>.py`` writes ``docs/figures/<name>.png``; the last line of its
output (JSON) is stored as ``docs/figures/<name>.json``.  ``mkdocs build`` runs this with
``--missing`` through the hook ``docs/hooks.py`` (fast unless GNODE_DOCS_FAST=0), so a clean
checkout builds: ``mkdocs build --strict``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
EXAMPLES = ("critical_init", "autocorrelation", "gating", "nonleaky", "phase_diagram",
            "flipflop_ring", "expressivity", "real_data", "trainability", "spectrum")


def build(names=EXAMPLES, *, fast: bool = True, missing: bool = False) -> dict:
    """Run the examples; return {name: seconds}."""
    figures = DOCS / "figures"
    figures.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "MPLBACKEND": "Agg"}
    done = {}
    for name in names:
        png, js = figures / f"{name}.png", figures / f"{name}.json"
        if missing and png.is_file() and js.is_file():
            continue
        cmd = [sys.executable, str(DOCS / "examples" / f"{name}.py"), "--out", str(png)]
        if fast:
            cmd.append("--fast")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              cwd=DOCS.parent)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
        numbers = json.loads(proc.stdout.strip().splitlines()[-1])
        numbers["figure"] = png.name   # relative to docs/figures: the tree is relocatable
        js.write_text(json.dumps(numbers, indent=1))
        done[name] = time.perf_counter() - t0
        print(f"{name}: {done[name]:.0f} s", flush=True)
    return done


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true")
    p.add_argument("--missing", action="store_true", help="only examples without figures")
    p.add_argument("--only", nargs="*", default=list(EXAMPLES), choices=EXAMPLES)
    a = p.parse_args()
    build(a.only, fast=a.fast, missing=a.missing)
