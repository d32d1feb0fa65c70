"""The ``gnode`` command line.

Each module of this package that defines ``register(subparsers)`` adds one subcommand; the
subcommand's handler is set with ``parser.set_defaults(func=...)`` and returns an exit code.
Modules import their heavy dependencies (torch, numba) inside the handler, so that
``gnode --help`` stays fast.

Bad input (``ValueError``/``TypeError`` raised while handling) prints one line
``gnode <command>: error: <message>`` on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gnode",
        description="Mean-field theory, simulation and models of gated neural ODEs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError) as exc:
        print(f"gnode {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
