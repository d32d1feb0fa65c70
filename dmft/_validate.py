"""One validation layer for the public entry points of dmft, simulate and gnode.

Every public function checks its arguments here, at its boundary, before any work:

=====================  ========================================================================
``real``               a real number (Python or numpy scalar, not bool) in a stated range,
                       finite unless ``allow_inf`` -> float
``integer``            an integer (Python or numpy integer, not bool) in a stated range -> int
``flag``               a bool (or numpy bool) -> bool
``choice``             one of a fixed set of strings
``seed``, ``rng``      an explicit seed (int >= 0), or a numpy Generator
``real_array``         an array of real numbers with a given ndim / shape, finite by default
``check_memory``       an allocation estimated before it is made, against a stated fraction of
                       this machine's memory (``GNODE_MEMORY_FRACTION``, default 0.5)
=====================  ========================================================================

Errors name the parameter and the allowed range.  A value of the wrong type raises
:class:`ParameterTypeError`, a TypeError (the project's convention) that is also a ValueError
(what the ad-hoc checks it replaces raised, so callers catching either keep working), in the
way numpy's ``AxisError`` is both a ValueError and an IndexError.  A value of the right type
outside its range raises ValueError.  An allocation above the limit raises
:class:`MemoryLimitError` (a ValueError and a MemoryError) before anything is allocated.
"""

from __future__ import annotations

import math
import os
from numbers import Integral, Real

import numpy as np

__all__ = ["ParameterTypeError", "MemoryLimitError", "real", "integer", "flag", "choice",
           "seed", "rng", "real_array", "check_memory", "memory_limit", "MEMORY_FRACTION_ENV",
           "DEFAULT_MEMORY_FRACTION"]

#: environment variable overriding the fraction of the machine's memory one allocation may take
MEMORY_FRACTION_ENV = "GNODE_MEMORY_FRACTION"
DEFAULT_MEMORY_FRACTION = 0.5


class ParameterTypeError(TypeError, ValueError):
    """A parameter of the wrong type (a TypeError that is also a ValueError, module docstring)."""


class MemoryLimitError(ValueError, MemoryError):
    """An allocation estimated above the memory limit, raised before it is attempted."""


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def range_text(kind: str, low=None, high=None, low_open=False, high_open=False) -> str:
    """'a finite real number >= 0', 'an int in [1, 10]', ... (the allowed range in words)."""
    if low is None and high is None:
        return kind
    if high is None:
        return f"{kind} {'>' if low_open else '>='} {_fmt(low)}"
    if low is None:
        return f"{kind} {'<' if high_open else '<='} {_fmt(high)}"
    return (f"{kind} in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}"
            f"{')' if high_open else ']'}")


def real(name: str, value, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, allow_inf: bool = False) -> float:
    """``value`` as a float, checked to be a real number in the range (module docstring).

    Examples
    --------
    >>> real("dt", np.float32(0.5), low=0.0, low_open=True)
    0.5
    >>> real("dt", 0.0, low=0.0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: dt must be a finite real number > 0, got 0.0
    """
    kind = "a real number" if allow_inf else "a finite real number"
    text = range_text(kind, low, high, low_open, high_open)
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real):
        raise ParameterTypeError(f"{name} must be {text}, got {_shown(value)} "
                                 f"({type(value).__name__})")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be {text}, got {_shown(value)}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {text}, got {_shown(value)}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{name} must be {text}, got {_shown(value)}")
    return v


def integer(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int, checked to be an integer (not bool, not float) in [low, high]."""
    text = range_text("an int", low, high)
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
        raise ParameterTypeError(f"{name} must be {text}, got {_shown(value)} "
                                 f"({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be {text}, got {v}")
    return v


def flag(name: str, value) -> bool:
    """``value`` as a bool (Python or numpy bool only: 0, 1 and strings are refused)."""
    if not isinstance(value, bool | np.bool_):
        raise ParameterTypeError(f"{name} must be a bool (True or False), got {_shown(value)} "
                                 f"({type(value).__name__})")
    return bool(value)


def choice(name: str, value, options) -> str:
    """``value``, checked to be one of the strings ``options``."""
    options = tuple(options)
    if not isinstance(value, str):
        raise ParameterTypeError(f"{name} must be one of {list(options)}, got {_shown(value)} "
                                 f"({type(value).__name__})")
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


def seed(name: str, value) -> int:
    """An explicit seed: an int >= 0 (Python or numpy integer)."""
    return integer(name, value, low=0)


def rng(name: str, value) -> np.random.Generator:
    """A numpy Generator, or a fresh ``default_rng`` of a seed (int >= 0); None is refused."""
    if isinstance(value, np.random.Generator):
        return value
    if value is None:
        raise ParameterTypeError(f"{name} must be a numpy.random.Generator or an int seed >= 0 "
                                 "(got None); seeds are explicit in this project")
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral):
        raise ParameterTypeError(f"{name} must be a numpy.random.Generator or an int seed >= 0, "
                                 f"got {_shown(value)} ({type(value).__name__})")
    return np.random.default_rng(seed(name, value))


def instance(name: str, value, cls: type, *, optional: bool = False):
    """``value`` itself if it is a ``cls`` (or None when ``optional``), else a
    :class:`ParameterTypeError` naming the parameter and the class (``dmft.<Name>``)."""
    if isinstance(value, cls) or (optional and value is None):
        return value
    allowed = f"a dmft.{cls.__name__}" + (" or None" if optional else "")
    raise ParameterTypeError(f"{name} must be {allowed}, got {type(value).__name__}")


def real_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
               shape: tuple[int | None, ...] | None = None, finite: bool = True,
               low: float | None = None, nonempty: bool = False) -> np.ndarray:
    """``value`` as a float64 array, checked at the boundary.

    Refuses non-numeric data (strings, objects, None, complex; bools are refused too: they are
    not measurements), a wrong ``ndim`` (an int or a tuple of allowed values) or ``shape``
    (None entries match any length), non-finite entries (unless ``finite=False``; NaN is always
    refused) and entries below ``low``.
    """
    if isinstance(value, str | bytes) or value is None:
        raise ParameterTypeError(f"{name} must be an array of real numbers, got "
                                 f"{type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:     # ragged nested sequences
        raise ValueError(f"{name} must be a rectangular array of real numbers ({exc})") from None
    if arr.dtype.kind not in "iuf":
        raise ParameterTypeError(f"{name} must be an array of real numbers, got dtype "
                                 f"{arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a
                                         for s, a in zip(shape, arr.shape, strict=True)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if nonempty and arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.isnan(arr).any() or (finite and not np.isfinite(arr).all()):
        raise ValueError(f"{name} must be {'finite' if finite else 'free of NaN'} "
                         "(it contains nan or inf)")
    if low is not None and arr.size and float(arr.min()) < low:
        raise ValueError(f"{name} must be >= {_fmt(low)}, got a minimum of {float(arr.min())!r}")
    return arr


# ---------------------------------------------------------------------------- memory
def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):   # pragma: no cover - non-POSIX
        return 8 << 30


def memory_fraction() -> float:
    """The fraction of the machine's memory one allocation may take (``GNODE_MEMORY_FRACTION``,
    default 0.5; ``inf`` disables the check)."""
    text = os.environ.get(MEMORY_FRACTION_ENV)
    if text is None:
        return DEFAULT_MEMORY_FRACTION
    try:
        f = float(text)
    except ValueError:
        raise ValueError(f"the environment variable {MEMORY_FRACTION_ENV} must be a number > 0 "
                         f"(a fraction of the machine's memory, or inf), got {text!r}") from None
    if not f > 0:
        raise ValueError(f"the environment variable {MEMORY_FRACTION_ENV} must be > 0, got {f}")
    return f


def memory_limit() -> float:
    """Bytes one allocation may take: ``memory_fraction()`` x the physical memory."""
    return memory_fraction() * _physical_memory()


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"   # pragma: no cover


def check_memory(nbytes: float, what: str) -> None:
    """Raise :class:`MemoryLimitError` when ``what`` would need more than the memory limit.

    ``nbytes`` is the caller's estimate of what it is about to allocate (arrays it holds at
    once); the limit is :func:`memory_limit`.
    """
    limit = memory_limit()
    if nbytes > limit:
        raise MemoryLimitError(
            f"{what} needs about {_bytes(float(nbytes))}, more than {memory_fraction():g} of "
            f"this machine's memory ({_bytes(float(_physical_memory()))}); reduce the size, or "
            f"raise the limit with the environment variable {MEMORY_FRACTION_ENV} (a fraction, "
            "or inf to disable the check)")
