"""Helpers shared by the subcommands: parsing flow descriptions, JSON output, output files.

Output files are checked before any work starts (:func:`output_file`, :func:`output_dir`) and
written atomically (:func:`atomic_write`: a temporary file in the same directory, renamed over
the target only once complete), so that Ctrl-C or a failure never leaves a half-written
``.png``/``.nc``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np


def add_flow_arguments(p: argparse.ArgumentParser, *, default_layers: str = "tanh",
                       default_gain: str | None = None) -> None:
    """Arguments describing an ensemble: layers, gains, bias spreads, widths, gate, leak, tau."""
    p.add_argument("--layers", default=default_layers,
                   help="comma-separated activations of the flow's layers, first to last "
                        f"(default: {default_layers})")
    p.add_argument("--gain", "--gains", dest="gains", default=default_gain,
                   help="one gain for every layer, or a comma-separated list (default 1)")
    p.add_argument("--bias-std", default="0",
                   help="bias spread, one value or one per layer (default 0)")
    p.add_argument("--widths", default=None,
                   help="hidden-layer widths as multiples of N, comma-separated")
    p.add_argument("--non-leaky", action="store_true", help="drop the -h term (lam = 0)")
    p.add_argument("--tau", type=float, default=1.0, help="time constant (default 1)")
    p.add_argument("--gate-gain", type=float, default=None,
                   help="add a sigmoid gate with this gain")
    p.add_argument("--gate-bias-mean", type=float, default=0.0)
    p.add_argument("--gate-bias-std", type=float, default=0.0)
    p.add_argument("--noise-std", type=float, default=0.0, help="white-noise amplitude")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise ValueError(f"{name} must be a comma-separated list of numbers, "
                         f"got {text!r}") from None


def ensemble_from_args(args: argparse.Namespace):
    """Build a :class:`dmft.Ensemble` from the arguments of :func:`add_flow_arguments`."""
    from dmft.ensemble import Ensemble, Gate, Layer

    acts = [a.strip() for a in args.layers.split(",") if a.strip()]
    if not acts:
        raise ValueError("--layers must name at least one activation")
    L = len(acts)

    def per_layer(values, name, n):
        if len(values) == 1:
            return values * n
        if len(values) != n:
            raise ValueError(f"{name} must have 1 or {n} values, got {len(values)}")
        return values

    gains = per_layer(_floats(args.gains or "1", "--gain"), "--gain", L)
    bias = per_layer(_floats(args.bias_std, "--bias-std"), "--bias-std", L)
    widths = [1.0] * (L - 1)
    if args.widths:
        widths = per_layer(_floats(args.widths, "--widths"), "--widths", L - 1)
    flow = tuple(Layer(g, a, s, widths[i] if i < L - 1 else 1.0)
                 for i, (a, g, s) in enumerate(zip(acts, gains, bias, strict=True)))
    gate = None
    if args.gate_gain is not None:
        gate = Gate(args.gate_gain, args.gate_bias_mean, args.gate_bias_std)
    elif (args.gate_bias_mean, args.gate_bias_std) != (0.0, 0.0):   # never silently ignored
        raise ValueError("--gate-bias-mean and --gate-bias-std describe a gate: give "
                         "--gate-gain too")
    return Ensemble(flow=flow, gate=gate, leak=not args.non_leaky, tau=args.tau,
                    noise_std=args.noise_std)


def to_jsonable(obj):
    """Convert numpy scalars/arrays and non-finite floats for ``json.dumps``."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def print_json(obj) -> None:
    json.dump(to_jsonable(obj), sys.stdout, indent=2)
    sys.stdout.write("\n")


def output_file(text: str | None, option: str) -> Path | None:
    """``text`` as the path of a file to write, checked before any work (None stays None).

    Raises ValueError (usage, exit 2) when the path is a directory, its directory is missing,
    or that directory is not writable.
    """
    if text is None:
        return None
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"{option} must name a file, {text!r} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option}: the directory {str(parent)!r} of {text!r} does not exist "
                         "(create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: the directory {str(parent)!r} is not writable")
    return path


def output_dir(text: str, option: str) -> Path:
    """``text`` as an output directory, created if missing; checked before any work.

    Raises ValueError (usage, exit 2) when it is an existing file, cannot be created, or is
    not writable.
    """
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} must be a directory, {text!r} is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option}: cannot create the directory {text!r} "
                         f"({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: the directory {text!r} is not writable")
    return path


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (``os.replace``,
    atomic on POSIX), on any exception (Ctrl-C included) it is removed and ``path`` untouched.

    The temporary name keeps the suffix, so that writers choosing a format by it still work.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp",
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_figure(fig, path: str | Path, **kwargs) -> None:
    """``fig.savefig`` through :func:`atomic_write` (the format from ``path``'s suffix)."""
    fmt = Path(path).suffix.lstrip(".") or None
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)


#: the armed notice (None: nothing to say) and numba's listener (registered once a process)
_NOTICE: dict = {"message": None, "listener": None}


def compile_notice(command: str, uses: tuple[str, ...] | None = None,
                   kernels: Callable[[tuple[str, ...]], bool | None] | None = None) -> None:
    """One line on stderr when this run compiles numba kernels (the first run of a fresh clone).

    Arms a listener on numba's ``numba:compile`` event (fired only when a kernel is not in the
    on-disk cache, after the cache lookup): it prints the line when the first compilation
    starts, so that it comes after the arguments were validated and never on a cached run;
    :func:`gnode.cli.main` disarms it when the command ends.  ``uses`` (keys of
    ``simulate._warmup.USES``) instead prints it now when those kernels are not cached, for
    commands whose kernels compile in worker processes (``kernels`` replaces
    ``simulate._warmup.cache_is_warm``, for tests).
    """
    message = (f"gnode {command}: compiling kernels (first use only; `gnode warmup` does it "
               "ahead of time)")
    if uses is not None:
        if kernels is None:
            from simulate._warmup import cache_is_warm as kernels
        if kernels(uses) is False:
            print(message, file=sys.stderr, flush=True)
        return
    _NOTICE["message"] = message
    if _NOTICE["listener"] is None:
        from numba.core import event

        class _FirstCompile(event.Listener):
            def on_start(self, ev) -> None:
                text, _NOTICE["message"] = _NOTICE["message"], None   # once
                if text:
                    print(text, file=sys.stderr, flush=True)

            def on_end(self, ev) -> None:
                pass

        _NOTICE["listener"] = _FirstCompile()
        event.register("numba:compile", _NOTICE["listener"])


def end_notice() -> None:
    """Disarm :func:`compile_notice` (the command is over: later compilations are not its)."""
    _NOTICE["message"] = None
