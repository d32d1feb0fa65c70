"""n-bit flip-flop memory tasks (Sussillo & Barak 2013; Kim, Can, Krishnamurthy, ICML 2023).

A trial has ``n_bins`` time bins on [0, 1] (dt = 1 / n_bins).  Its number of pulses is
Poisson(``rate``); each pulse starts in a bin drawn uniformly from {0, ..., n_bins - 1} and lasts
``width`` bins; a pulse that would not fit before the end of the trial is dropped (so the kept
pulses form a Poisson process on the starts {0, ..., n_bins - width} with rate/n_bins per bin).
Pulses are written in the order drawn; a later one overwrites an earlier one where they overlap.

The target of each channel holds the value of its last pulse:

    y_c(t) = x_c(t')   with t' = max{s <= t : a pulse covers channel c at s},
    y_c(t) = y_c^0     before the first pulse

(during a pulse the target already follows it).  Variants (pulse amplitudes and initial targets
as in the paper's code, github.com/timkimd/RNNTools.jl ``src/generate_data.jl``):

==================  ============================================================  ============
variant             a pulse                                                         y^0
==================  ============================================================  ============
``"3bit"``          one random channel, amplitude +-1 (n-bit flip-flop)            +1
``"3bit-uniform"``  one random channel, amplitude U[-1, 1]                         0
``"2bit-square"``   one random channel of 2, amplitude U[-1, 1]: targets fill      0
                    the square [-1, 1]^2
``"2bit-ring"``     both channels, (2 cos a, 2 sin a), a ~ U[0, 2 pi): targets     (2, 0)
                    on the circle of radius ``radius`` = 2
``"2bit-disk"``     both channels, uniform (by area) on the annulus                (1.5, 0)
                    1 < |x| < 2 (``annulus``)
==================  ============================================================  ============

The ``"3bit"`` family accepts any ``n_bits >= 1`` (the paper uses 3); the ``"2bit-*"`` variants
need ``n_bits == 2``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dmft import _validate as _v

__all__ = ["FlipFlop", "flipflop", "FLIPFLOP_VARIANTS"]

FLIPFLOP_VARIANTS = ("3bit", "3bit-uniform", "2bit-square", "2bit-ring", "2bit-disk")
_JOINT = ("2bit-ring", "2bit-disk")       # a pulse sets both channels


class FlipFlop(NamedTuple):
    """Output of :func:`flipflop` (unpacks as ``inputs, targets``).

    Attributes
    ----------
    inputs : ndarray, shape (n_trials, n_bins, n_bits)
        Pulses (zero between pulses).
    targets : ndarray, shape (n_trials, n_bins, n_bits)
        The last pulse value of each channel (``y^0`` before the first).
    """

    inputs: np.ndarray
    targets: np.ndarray


def _check_int(name: str, value, low: int) -> int:
    return _v.integer(name, value, low=low, high=100_000_000)


def _check_seed(seed) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.SeedSequence):
        raise TypeError("seed must be an int >= 0 or a numpy.random.SeedSequence, got "
                        f"{type(seed).__name__}")
    if not isinstance(seed, np.random.SeedSequence) and seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(seed)


def flipflop(n_bits: int, n_trials: int, *, variant: str = "3bit", seed,
             n_bins: int = 100, width: int = 3, rate: float = 12.0, radius: float = 2.0,
             annulus: tuple[float, float] = (1.0, 2.0)) -> FlipFlop:
    """Generate flip-flop trials (see the module docstring for the task's definition).

    Parameters
    ----------
    n_bits : int
        Number of channels (2 for the ``"2bit-*"`` variants).
    n_trials : int
        Number of trials, >= 1.
    variant : {"3bit", "3bit-uniform", "2bit-square", "2bit-ring", "2bit-disk"}
    seed : int or numpy.random.SeedSequence
        Seeds a ``numpy.random.Generator``; the same seed gives the same trials.
    n_bins : int
        Time bins per trial (100 in the paper: bins of width 0.01 on [0, 1]).
    width : int
        Pulse width in bins (3), 1 <= width <= n_bins.
    rate : float
        Mean number of pulses per trial (Poisson, 12), >= 0.
    radius : float
        Circle radius of ``"2bit-ring"`` (2).
    annulus : (float, float)
        Inner and outer radius of ``"2bit-disk"`` ((1, 2)); 0 <= inner < outer.

    Returns
    -------
    FlipFlop
        ``inputs`` and ``targets``, float64 arrays of shape (n_trials, n_bins, n_bits).

    References
    ----------
    D. Sussillo, O. Barak, "Opening the black box", Neural Computation 25 (2013).
    T. D. Kim, T. Can, K. Krishnamurthy, "Trainability, expressivity and interpretability in
    gated neural ODEs", ICML 2023 (arXiv:2307.06398): the flip-flop experiments.

    Examples
    --------
    >>> x, y = flipflop(2, 5, variant="2bit-ring", seed=0)
    >>> x.shape, y.shape
    ((5, 100, 2), (5, 100, 2))
    >>> bool(np.allclose(np.hypot(y[..., 0], y[..., 1]), 2.0))
    True
    """
    _v.choice("variant", variant, FLIPFLOP_VARIANTS)
    n_bits = _check_int("n_bits", n_bits, 1)
    if variant.startswith("2bit") and n_bits != 2:
        raise ValueError(f"variant {variant!r} needs n_bits == 2, got {n_bits}")
    n_trials = _check_int("n_trials", n_trials, 1)
    n_bins = _check_int("n_bins", n_bins, 1)
    width = _check_int("width", width, 1)
    if width > n_bins:
        raise ValueError(f"width must be <= n_bins = {n_bins}, got {width}")
    rate = _v.real("rate", rate, low=0.0, high=1e6)
    radius = _v.real("radius", radius, low=0.0, low_open=True)
    _v.check_memory(8.0 * 4 * n_trials * n_bins * n_bits,
                    f"{n_trials} flip-flop trials of {n_bins} bins x {n_bits} bits")
    try:
        r_in, r_out = (float(a) for a in annulus)
    except (TypeError, ValueError):
        raise TypeError(f"annulus must be a pair of numbers, got {annulus!r}") from None
    if not (math.isfinite(r_out) and 0 <= r_in < r_out):
        raise ValueError(f"annulus must satisfy 0 <= inner < outer < inf, got {annulus!r}")
    rng = _check_seed(seed)

    inputs = np.zeros((n_trials, n_bins, n_bits))
    active = np.zeros((n_trials, n_bins, n_bits), dtype=bool)
    counts = rng.poisson(rate, size=n_trials)
    for i, k in enumerate(counts):
        # every random number of a trial is drawn in one fixed order: determinism by seed
        starts = rng.integers(0, n_bins, size=k)
        if variant in _JOINT:
            angle = rng.uniform(0.0, 2.0 * math.pi, size=k)
            if variant == "2bit-ring":
                r = np.full(k, float(radius))
            else:       # uniform by area on the annulus: r^2 ~ U[r_in^2, r_out^2]
                r = np.sqrt(rng.uniform(r_in ** 2, r_out ** 2, size=k))
            amp = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
            chans = [slice(None)] * k
        else:
            chans = rng.integers(0, n_bits, size=k)
            if variant == "3bit":
                amp = np.where(rng.random(k) < 0.5, -1.0, 1.0)
            else:
                amp = rng.uniform(-1.0, 1.0, size=k)
        for s, c, a in zip(starts, chans, amp, strict=True):
            if s + width > n_bins:
                continue
            inputs[i, s:s + width, c] = a
            active[i, s:s + width, c] = True

    if variant == "3bit":
        y0 = np.ones(n_bits)
    elif variant == "2bit-ring":
        y0 = np.array([float(radius), 0.0])
    elif variant == "2bit-disk":
        y0 = np.array([0.5 * (r_in + r_out), 0.0])
    else:
        y0 = np.zeros(n_bits)
    # forward fill: index of the last active bin at or before t (-1: none yet)
    t_idx = np.where(active, np.arange(n_bins)[None, :, None], -1)
    last = np.maximum.accumulate(t_idx, axis=1)
    held = np.take_along_axis(inputs, np.maximum(last, 0), axis=1)
    targets = np.where(last >= 0, held, y0)
    return FlipFlop(inputs, targets)
