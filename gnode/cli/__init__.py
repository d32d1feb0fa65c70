"""The ``gnode`` command line.

Each module of this package that defines ``register(subparsers)`` adds one subcommand; the
subcommand's handler is set with ``parser.set_defaults(func=...)`` and returns an exit code.
Modules import their heavy dependencies (torch, numba) inside the handler, so that
``gnode --help`` stays fast.

Every error is one line ``gnode <command>: error: <message>`` on stderr, without a traceback:

- exit status 2: bad input (argparse's usage errors, ``ValueError``/``TypeError`` raised while
  handling, an output path that is missing or unwritable, checked before the work starts);
- exit status 1: a computation that failed (``dmft.ConvergenceError`` with the solver's
  message, ``MemoryError``, an ``OSError`` while writing, an unreachable scheduler), with what
  to change;
- exit status 130: interrupted (Ctrl-C); output files are written atomically, so none is left
  half-written.
"""

from __future__ import annotations

import argparse
import importlib
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
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except (ValueError, TypeError) as exc:
        return _fail(args, str(exc), 2)
    except ArithmeticError as exc:   # overflow in a kernel: values beyond float64
        return _fail(args, f"{type(exc).__name__}: {exc}: the parameters are beyond the range "
                           "float64 can evaluate; lower the gains or bias spreads", 1)
    except MemoryError:
        return _fail(args, "not enough memory for this computation: lower the sizes (--n, "
                           "--k, grid counts, --n-paths)", 1)
    except OSError as exc:
        return _fail(args, f"{exc}", 1)
    except Exception as exc:   # noqa: BLE001 - only the solvers' ConvergenceError is expected
        from dmft.errors import ConvergenceError
        if not isinstance(exc, ConvergenceError):
            raise
        return _fail(args, f"{exc}; {_HINTS.get(args.command, _HINT)}", 1)


_HINT = "change the parameters (lower gains, a gate, noise) or the solver options"
_HINTS = {"theory": "try --method sampled (the sampled theory), other gains, or dmft.stationary "
                    "options from Python",
          "critical": "no gain reaches the target rho: change --rho, the layers or the biases",
          "lyapunov": "lower the gains, or shorten --dt",
          "spectrum": "lower the gains, or raise --paths"}


def _fail(args, message: str, status: int) -> int:
    text = " ".join(str(message).split())    # one line on stderr
    print(f"gnode {args.command}: error: {text}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
