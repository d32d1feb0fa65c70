"""Helpers shared by the subcommands: the flow arguments (one default flow for every
subcommand), parsing, checked and atomic output files, JSON output."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

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
                "mGRU); any of these options adds it, the others default to 0")
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
    if args.widths:
        widths = per_layer(_floats(args.widths, "--widths"), "--widths", L - 1)
    flow = tuple(Layer(g, a, s, widths[i] if i < L - 1 else 1.0)
                 for i, (a, g, s) in enumerate(zip(acts, gains, bias, strict=True)))
    gate = None
    opts = (args.gate_gain, args.gate_bias_mean, args.gate_bias_std)
    if any(v is not None for v in opts):
        gate = Gate(*(0.0 if v is None else v for v in opts))
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


def check_output_file(path: str | None, option: str) -> Path | None:
    """Refuse an output file whose directory is missing or unwritable, before any work."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{option} {path!r} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{option} {path!r}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path!r}: the directory {str(parent)!r} is not writable")
    return p


def check_output_dir(path: str, option: str) -> Path:
    """Create (if needed) and check an output directory, before any work."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{option} {path!r} is a file, not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{option} {path!r}: cannot create the directory ({exc.strerror})"
                         ) from None
    if not os.access(p, os.W_OK):
        raise ValueError(f"{option} {path!r} is not writable")
    return p


def write_atomic(path: str | os.PathLike, writer) -> None:
    """``writer(tmp)`` then rename to ``path``: no half-written file after a crash or Ctrl-C."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Save a matplotlib figure atomically (format from the file name's extension)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))



class VersionAction(argparse.Action):
    """``--version``: print the installed gnode-dmft version (looked up only when asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the gnode-dmft version and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dmft._phase import package_version
        print(f"gnode (gnode-dmft) {package_version()}")
        parser.exit()
