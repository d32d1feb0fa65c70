"""The code blocks of README.md and of the docs pages run as written, with the outputs shown.

Every fenced block is taken from the Markdown source and run in a fresh interpreter:

- ```python blocks are doctests (``>>>`` lines and their expected output).  Each block is
  written to its own file and run by pytest's doctest runner in a subprocess, with ``NUMBER``
  (a printed float matches to the last digit written: "0.19" stands for 0.19 +- 0.01) and
  ``ELLIPSIS``.  The precision of each number is chosen in the page from the number's own
  error (a chaotic simulation's exponents carry a standard error of about 0.01).
- ```console blocks: every ``$ gnode ...`` line is run in an empty directory and must exit 0.

The setup commands (indented blocks of README.md) build a virtual environment: CI runs the test
command itself (``.ci/run``, checked here to be exactly the README's), and the main job's
command is the ``gnode phase-diagram`` line of the console block.  That line takes about
3-4 minutes on these 2-core machines (99 sampled-DMFT points and 27 simulations: 9 points
x 3 seeds), more than the fast
suite can spend on one command: it runs as written under ``-m slow``, and the fast suite runs
the same command on a 2 x 2 grid with one small simulated point (``_FAST``), which exercises
every step of the job (theory grid, simulation sweep, store, .nc and .png).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(id, body) of every fenced block whose info string starts with ``kind``."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for m in _FENCE.finditer(text):
            if m.group(1) == kind:
                line = text[:m.start()].count("\n") + 1
                out.append((f"{page.relative_to(ROOT)}:{line}", m.group(2)))
    return out


def _env() -> dict:
    return {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}


def test_pages_have_blocks():
    # the extractor must see the README's examples (a regex that matches nothing passes nothing)
    assert len(blocks("python")) >= 3 and len(blocks("console")) >= 1


@pytest.mark.parametrize("where,body", [pytest.param(w, b, id=w) for w, b in blocks("python")])
def test_python_block(where, body, tmp_path):
    assert ">>>" in body, f"{where}: a python block must be a doctest (>>> lines with outputs)"
    f = tmp_path / "block.md"
    f.write_text(body)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--doctest-glob=block.md", "-o", "doctest_optionflags=NUMBER ELLIPSIS", str(f)],
        capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=900)
    assert proc.returncode == 0, f"{where}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


#: fast-suite versions of the commands too long for it (module docstring)
_FAST = {"gnode phase-diagram": "gnode phase-diagram --gain-grid 0.5,2 --gate-biases=-1,1 "
                                "--n-paths 64 --sim-n 60 --sim-points 1"}


def _commands() -> list:
    out = []
    for where, body in blocks("console"):
        for line in body.splitlines():
            if line.startswith("$ "):
                cmd = line[2:].strip()
                slow = cmd in _FAST
                out.append(pytest.param(where, cmd, id=f"{where} {cmd}",
                                        marks=[pytest.mark.slow] if slow else []))
                if slow:
                    out.append(pytest.param(where, _FAST[cmd], id=f"{where} {cmd} (fast)"))
    return out


@pytest.mark.parametrize("where,cmd", _commands())
def test_console_command(where, cmd, tmp_path):
    argv = shlex.split(cmd)
    exe = shutil.which(argv[0], path=str(Path(sys.executable).parent)) or shutil.which(argv[0])
    assert exe is not None, f"{where}: {argv[0]} is not installed"
    proc = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(), timeout=900)
    assert proc.returncode == 0, f"{where}: {cmd}\n{proc.stderr[-3000:]}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    cmd = next(line.strip() for line in readme.splitlines() if "pytest" in line
               and line.startswith("    python3 -m venv"))
    assert cmd in ci.splitlines(), "the README's test command and .ci/run differ"
