"""Helpers shared by the subcommands: the flow arguments (one default flow for every
subcommand), parsing, checked and atomic output files, JSON output, the compile notice.

Output files are checked before any work starts (:func:`output_file`, :func:`output_dir`) and
written atomically (:func:`atomic_write`, from ``dmft._files``: a temporary file in the same
directory, synced and renamed over the target only once complete), so that Ctrl-C or a
failure never leaves a half-written ``.png``/``.nc``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dmft._files import atomic_write as atomic_write

#: the default flow of every subcommand: one tanh layer of gain 2 (a chaotic Elman network)
DEFAULT_LAYERS = "tanh"
DEFAULT_GAIN = "2"
_ACTIVATIONS = "{activations}"   # filled in by Parser.format_help (dmft's registry)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help lists the registered activations (looked up only when
    help is printed, so that parsing stays fast)."""

    def error(self, message: str):
        """Usage errors as one line on stderr (exit status 2), the usage left to --help."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} "
                     "--help)\n")

    def format_help(self) -> str:
        for action in self._actions:
            if action.help and _ACTIVATIONS in action.help:
                from dmft.activations import activations
                action.help = action.help.replace(_ACTIVATIONS, ", ".join(activations()))
        return super().format_help()


def _finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    v = _finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def nonneg_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    v = _finite(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def int_at_least(low: int):
    """argparse type: an int >= ``low``."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return v
    parse.__name__ = f"int >= {low}"
    return parse


def add_flow_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments describing an ensemble: layers, gains, bias spreads, widths, gate, leak, tau."""
    g = p.add_argument_group(
        "ensemble", "tau dh/dt = G (-h + F(h)), F an MLP flow with random weights "
                    "W_l ~ N(0, g_l^2 / fan_in) (docs/theory.md section 1).  Default flow of "
                    f"every subcommand: --layers {DEFAULT_LAYERS} --gain {DEFAULT_GAIN}, no gate.")
    g.add_argument("--layers", default=DEFAULT_LAYERS,
                   help="comma-separated activations of the flow's layers, first to last; "
                        f"activations: {_ACTIVATIONS} (default: {DEFAULT_LAYERS})")
    g.add_argument("--gain", "--gains", dest="gains", default=DEFAULT_GAIN,
                   help="one gain for every layer, or a comma-separated list, one per layer "
                        f"(default {DEFAULT_GAIN})")
    g.add_argument("--bias-std", default="0",
                   help="bias spread sigma_l, one value or one per layer (default 0)")
    g.add_argument("--widths", default=None,
                   help="hidden-layer widths as multiples of N, comma-separated")
    g.add_argument("--non-leaky", action="store_true",
                   help="drop the -h term: tau dh/dt = G F(h) (the non-leaky nODE)")
    g.add_argument("--tau", type=positive_float, default=1.0, help="time constant (default 1)")
    g.add_argument("--noise-std", type=nonneg_float, default=0.0,
                   help="amplitude of additive white noise (default 0)")
    gate = p.add_argument_group(
        "gate", "a sigmoid gate G = sigmoid(W_z h + b_z) multiplies the flow (gated nODE, "
                "mGRU); --gate-gain adds it, the bias options (default 0) need it")
    gate.add_argument("--gate-gain", type=nonneg_float, default=None,
                      help="g_z: W_z ~ N(0, g_z^2 / N); 0 makes G a constant per unit")
    gate.add_argument("--gate-bias-mean", type=_finite, default=None,
                      help="mu_z, the mean gate bias: G* ~ sigmoid(mu_z); negative values slow "
                           "the units down (time constants tau / G)")
    gate.add_argument("--gate-bias-std", type=nonneg_float, default=None,
                      help="sigma_z, the spread of the gate biases (a spread of time constants)")
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

    gains = per_layer(_floats(args.gains, "--gain"), "--gain", L)
    bias = per_layer(_floats(args.bias_std, "--bias-std"), "--bias-std", L)
    widths = [1.0] * (L - 1)
    if args.widths and L == 1:   # never silently ignored
        raise ValueError("--widths gives the hidden layers' widths: a one-layer flow has none "
                         "(give --layers two or more activations)")
    if args.widths:
        widths = per_layer(_floats(args.widths, "--widths"), "--widths", L - 1)
    flow = tuple(Layer(g, a, s, widths[i] if i < L - 1 else 1.0)
                 for i, (a, g, s) in enumerate(zip(acts, gains, bias, strict=True)))
    gate = None
    biases = (args.gate_bias_mean, args.gate_bias_std)
    if args.gate_gain is not None:
        gate = Gate(args.gate_gain, *(0.0 if v is None else v for v in biases))
    elif any(v is not None for v in biases):   # never silently ignored
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


def save_figure(fig, path: str | Path, dpi: int = 120) -> None:
    """``fig.savefig`` through :func:`atomic_write` (the format from ``path``'s suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)


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


class VersionAction(argparse.Action):
    """``--version``: print the installed gnode-dmft version (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the gnode-dmft version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dmft._phase import package_version
        print(f"gnode (gnode-dmft) {package_version()}")
        parser.exit()
