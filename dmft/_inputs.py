"""Statistics of a stationary input process x(t) for the driven theory (docs/theory.md 11.1).

Contract
--------
:class:`InputStatistics` describes the input that drives a network through U (gain g_x) and
U_z (gain g_xz) by one function: the channel-averaged, *uncentred* second moment

    C_x(s) = (1/D) sum_d < x_d(t) x_d(t + s) >_t                                   (11.1)

so that (U x)_i, with U_ij ~ N(0, g_x^2 / D) independent of x, has the covariance g_x^2 C_x(s)
(its quenched mean, from a non-zero input mean, is the static part C_x(inf)).  Three kinds:

- ``white(variance, spacing)``: independent samples held for ``spacing`` (the models' piecewise
  constant inputs); at sample lags C_x(k spacing) = mean^2 + variance [k = 0], between them the
  phase average (the linear interpolation, a triangle of half-width ``spacing``).
- ``ou(variance, timescale)``: an Ornstein-Uhlenbeck process, C_x(s) = mean^2 +
  variance exp(-|s| / timescale) at every s (sampled at spacing dt it is the AR(1) sequence).
- ``from_batch(x, spacing, lengths)``: estimated from sequences (B, T, D) over valid samples,
  tabulated at the sample lags (linear interpolation between them, the phase average; beyond the
  last estimated lag the mean of the table's last tenth, the static part).

Bad input (wrong shape, empty, non-finite values or parameters) raises ValueError or TypeError
naming the argument.  Nothing is random here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .ensemble import _check_real

__all__ = ["InputStatistics"]

_KINDS = ("white", "ou", "table")


@dataclass(frozen=True, kw_only=True)
class InputStatistics:
    """A stationary input process by its covariance C_x(s) (eq. 11.1); build it with
    :meth:`white`, :meth:`ou` or :meth:`from_batch`.

    Attributes
    ----------
    kind : {"white", "ou", "table"}
    variance, mean : float
        The fluctuating variance and the mean of every channel (``table``: variance =
        C_x(0) - static, mean = sqrt(static)).
    timescale : float or None
        OU correlation time.
    spacing : float or None
        Sample spacing of ``white`` and ``table`` (the time between input samples).
    table : ndarray or None
        C_x at the sample lags 0, spacing, 2 spacing, ... (``table``).
    """

    kind: str
    variance: float = 1.0
    mean: float = 0.0
    timescale: float | None = None
    spacing: float | None = None
    table: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "variance", _check_real("variance", self.variance))
        object.__setattr__(self, "mean", _check_real("mean", self.mean, low=None))
        if self.kind == "ou":
            object.__setattr__(self, "timescale",
                               _check_real("timescale", self.timescale, low_open=True))
        else:
            object.__setattr__(self, "spacing",
                               _check_real("spacing", self.spacing, low_open=True))
        if self.kind == "table":
            t = np.asarray(self.table, dtype=float)
            if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or t[0] < 0:
                raise ValueError("table must be a non-empty 1-D array of finite values with "
                                 "table[0] >= 0 (C_x at lags 0, spacing, ...)")
            object.__setattr__(self, "table", t)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def white(cls, variance: float, spacing: float, *, mean: float = 0.0) -> InputStatistics:
        """Independent samples of ``variance`` (and ``mean``), each held for ``spacing``."""
        return cls(kind="white", variance=variance, mean=mean, spacing=spacing)

    @classmethod
    def ou(cls, variance: float, timescale: float, *, mean: float = 0.0) -> InputStatistics:
        """Ornstein-Uhlenbeck input: C_x(s) = mean^2 + variance exp(-|s| / timescale)."""
        return cls(kind="ou", variance=variance, mean=mean, timescale=timescale)

    @classmethod
    def from_batch(cls, inputs, spacing: float, *, lengths=None,
                   max_lag: int | None = None) -> InputStatistics:
        """Estimate C_x at the sample lags from sequences ``inputs`` (B, T, D), eq. 11.1.

        C_x(k) = sum over sequences, channels and valid t of x(t) x(t + k), divided by the
        number of such pairs (t + k < length).  ``inputs`` may be a numpy array or a torch
        tensor; ``lengths`` (B,) gives each sequence's valid samples (default: all T).
        ``max_lag`` (default T - 1) is the last tabulated lag.

        Raises
        ------
        ValueError
            ``inputs`` not of shape (B, T, D) with B, T, D >= 1, non-finite values, or bad
            ``lengths`` / ``max_lag``.
        """
        x = _as_batch(inputs)
        b, t, d = x.shape
        ln = _as_lengths(lengths, b, t)
        mask = np.arange(t)[None, :] < ln[:, None]
        x = np.where(mask[..., None], x, 0.0)
        if max_lag is None:
            max_lag = t - 1
        if isinstance(max_lag, bool) or not isinstance(max_lag, int | np.integer) \
                or not 0 <= max_lag < t:
            raise ValueError(f"max_lag must be an int in [0, {t - 1}], got {max_lag!r}")
        m = 1 << int(math.ceil(math.log2(2 * t)))
        f = np.fft.rfft(x, m, axis=1)
        sums = np.fft.irfft((f * f.conj()).real.sum(axis=(0, 2)), m)[:max_lag + 1]
        counts = d * np.clip(ln[:, None] - np.arange(max_lag + 1)[None, :], 0, None).sum(axis=0)
        valid = counts > 0
        table = sums[valid] / counts[valid]
        static = _static(table)
        return cls(kind="table", variance=float(table[0]) - static,
                   mean=math.sqrt(max(static, 0.0)), spacing=spacing, table=table)

    # ------------------------------------------------------------------ the covariance
    @property
    def second_moment(self) -> float:
        """C_x(0)."""
        return float(self.covariance(np.zeros(1))[0])

    @property
    def static(self) -> float:
        """C_x(inf): mean^2 (``table``: the mean of its last tenth)."""
        if self.kind == "table":
            return _static(self.table)
        return self.mean * self.mean

    @property
    def correlation_time(self) -> float:
        """The time over which C_x - C_x(inf) decays (sets the theory's lag window)."""
        if self.kind == "ou":
            return float(self.timescale)
        if self.kind == "white":
            return float(self.spacing)
        return float(self.spacing * self.table.size)

    def covariance(self, lags) -> np.ndarray:
        """C_x at the (non-negative or negative) time lags ``lags`` (eq. 11.1)."""
        s = np.abs(np.asarray(lags, dtype=float))
        if self.kind == "ou":
            return self.mean ** 2 + self.variance * np.exp(-s / self.timescale)
        if self.kind == "white":
            return self.mean ** 2 + self.variance * np.clip(1.0 - s / self.spacing, 0.0, None)
        k = s / self.spacing
        t = self.table
        return np.where(k <= t.size - 1, np.interp(k, np.arange(t.size), t), self.static)

    def describe(self) -> str:
        """One-line description."""
        if self.kind == "ou":
            core = f"OU(var={self.variance:g}, timescale={self.timescale:g})"
        elif self.kind == "white":
            core = f"white(var={self.variance:g}, spacing={self.spacing:g})"
        else:
            core = (f"table(C(0)={self.table[0]:.4g}, static={self.static:.4g}, "
                    f"{self.table.size} lags of {self.spacing:g})")
        return core + (f", mean={self.mean:g}" if self.kind != "table" and self.mean else "")


def _static(table: np.ndarray) -> float:
    tail = max(1, table.size // 10)
    return float(np.clip(table[-tail:].mean(), 0.0, table[0]))


def _as_batch(inputs) -> np.ndarray:
    """``inputs`` as a float64 (B, T, D) numpy array (torch tensors are detached)."""
    if hasattr(inputs, "detach") and hasattr(inputs, "numpy"):
        inputs = inputs.detach().cpu().double().numpy()
    if not isinstance(inputs, np.ndarray):
        raise TypeError(f"inputs must be a numpy array or torch tensor of shape (batch, time, "
                        f"channels), got {type(inputs).__name__}")
    if inputs.ndim != 3 or min(inputs.shape) < 1:
        raise ValueError(f"inputs must have shape (batch, time, channels) with every size >= 1, "
                         f"got {inputs.shape}")
    x = inputs.astype(float)
    if not np.all(np.isfinite(x)):
        raise ValueError("inputs contains non-finite values (nan or inf)")
    return x


def _as_lengths(lengths, b: int, t: int) -> np.ndarray:
    if lengths is None:
        return np.full(b, t, dtype=np.int64)
    if hasattr(lengths, "detach"):
        lengths = lengths.detach().cpu().numpy()
    ln = np.asarray(lengths)
    if ln.shape != (b,) or not np.issubdtype(ln.dtype, np.integer):
        raise ValueError(f"lengths must be integers of shape ({b},), got dtype {ln.dtype}, "
                         f"shape {ln.shape}")
    if ln.min() < 1 or ln.max() > t:
        raise ValueError(f"lengths must lie in [1, {t}]")
    return ln.astype(np.int64)
