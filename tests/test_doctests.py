"""The docstring examples (``>>>``) of every module of dmft, simulate and gnode run as written."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

PACKAGES = ("dmft", "simulate", "gnode")


def _modules() -> list[str]:
    names = list(PACKAGES)
    for pkg in PACKAGES:
        path = importlib.import_module(pkg).__path__
        names += [m.name for m in pkgutil.walk_packages(path, f"{pkg}.")
                  if not m.name.endswith("__main__")]  # __main__ runs the CLI when imported
    return sorted(names)


MODULES = _modules()


def _doctests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder().find(module, name) if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    for test in _doctests(name):
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


def test_the_examples_are_found():
    """The walk reaches the modules that have examples (a walk that found none would pass)."""
    with_examples = {n for n in MODULES if _doctests(n)}
    assert {"dmft.ensemble", "dmft.activations", "gnode.init", "gnode.analysis"} <= with_examples
    assert sum(len(t.examples) for n in with_examples for t in _doctests(n)) >= 20
