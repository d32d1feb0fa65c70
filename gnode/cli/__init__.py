"""The ``gnode`` command line.

Each module of this package that defines ``register(subparsers)`` adds one subcommand; the
subcommand's handler is set with ``parser.set_defaults(func=...)`` and returns an exit code.
Modules import their heavy dependencies (torch, numba) inside the handler, so that
``gnode --help`` stays fast.

Every error is one line ``gnode <command>: error: <message>`` on stderr, without a traceback:

- exit status 2, usage: bad input (argparse's own errors, and ``ValueError``/``TypeError``
  raised while handling, e.g. by the validation layer ``dmft._validate``; an allocation above
  the memory limit is one of these; an output path that is missing or unwritable, checked
  before the work starts);
- exit status 1, a failed computation: :class:`dmft.ConvergenceError` (the solver's message and
  diagnostics, and what to change), an overflow (``OverflowError``, ``FloatingPointError``),
  ``MemoryError``, ``OSError`` (a file that could not be written, a scheduler that cannot be
  reached), or any other exception (an internal error, named by its type;
  ``GNODE_TRACEBACK=1`` prints the traceback for a bug report);
- exit status 130: interrupted (Ctrl-C); output files are written atomically, so none is left
  half-written.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from ._common import DEFAULT_GAIN, DEFAULT_LAYERS, Parser, VersionAction

    parser = Parser(
        prog="gnode",
        description="Mean-field theory, simulation and models of gated neural ODEs.",
        epilog=f"Every subcommand describes the same ensemble with the same options; default "
               f"flow: --layers {DEFAULT_LAYERS} --gain {DEFAULT_GAIN}. 'gnode COMMAND --help' "
               "lists them.")
    parser.add_argument("--version", action=VersionAction)
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
    args.argv = list(sys.argv[1:] if argv is None else argv)   # provenance of written files
    try:
        return int(args.func(args) or 0)
    except BaseException as exc:  # noqa: BLE001 - every error ends as one line (docstring)
        if isinstance(exc, SystemExit) or os.environ.get("GNODE_TRACEBACK"):
            raise
        status, message = _explain(exc, args.command)
        print(f"gnode {args.command}: error: {message}", file=sys.stderr, flush=True)
        return status
    finally:
        from ._common import end_notice
        end_notice()


_CONVERGENCE_HINT = ("the parameters may lie outside the method's scope (e.g. at or very near "
                     "a phase boundary, or an explosive flow): change the gain or the other "
                     "ensemble parameters, or use the simulation (gnode lyapunov)")
#: what to change when a command's solver does not converge (default: _CONVERGENCE_HINT)
_HINTS = {"theory": "try --method sampled (the sampled theory), other gains, or dmft.stationary "
                    "options from Python",
          "critical": "no gain reaches the target rho: change --rho, the layers or the biases",
          "lyapunov": "lower the gains, or shorten --dt",
          "spectrum": "lower the gains, or raise --paths"}


def _explain(exc: BaseException, command: str) -> tuple[int, str]:
    """(exit status, one-line message) for an exception escaping the subcommand ``command``."""
    from dmft.errors import ConvergenceError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if isinstance(exc, ValueError | TypeError):
        return 2, text
    if isinstance(exc, ConvergenceError):
        return 1, f"{text}; {_HINTS.get(command, _CONVERGENCE_HINT)}"
    if isinstance(exc, OverflowError | FloatingPointError):   # values beyond float64
        return 1, (f"{type(exc).__name__}: {text}: the parameters are beyond the range float64 "
                   "can evaluate; lower the gains or bias spreads")
    if isinstance(exc, MemoryError):
        return 1, (f"out of memory ({text}); use a smaller problem (--n, --k, grid counts, "
                   "--n-paths, times)")
    if isinstance(exc, OSError):
        return 1, text
    return 1, (f"internal error, {type(exc).__name__}: {text} (please report it; "
               "GNODE_TRACEBACK=1 shows the traceback)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
