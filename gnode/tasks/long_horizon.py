"""Long-horizon sequence tasks: delayed recall, the adding problem, sequential digits.

Each generator returns a :class:`SequenceTask` batch (numpy float64, batch-first) with the
target read at the *last* step of every sequence, the form the trainability suite trains on
(:mod:`gnode.tasks.trainability`):

==================  ===========================================================================
``delayed_recall``  ``n_symbols``-way one-hot symbols shown at the first ``n_recall`` steps,
                    silence for the rest of ``delay`` steps, a cue on the last step; the
                    readout there classifies every shown symbol (the copy task of Hochreiter
                    and Schmidhuber 1997 / Arjovsky, Shah, Bengio 2016, read out at the end).
                    Chance: cross-entropy log(n_symbols).  No input drives the delay.
``adding``          two channels: values U[0, 1] at every step and markers at one random step
                    of each half; the target is the sum of the two marked values (Hochreiter
                    and Schmidhuber 1997; Le, Jaitly, Hinton 2015).  Predicting 1 gives MSE
                    1/6.  The values drive the network at every step.
``digits``          scikit-learn's 8x8 digits (1797 images, 10 classes) read pixel by pixel,
                    64 steps of one channel in [0, 1] (the small offline cousin of sequential
                    MNIST); a fixed train/test split.
==================  ===========================================================================
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = ["SequenceTask", "delayed_recall", "adding", "digits", "TASK_KINDS"]

TASK_KINDS = ("classification", "regression")


class SequenceTask(NamedTuple):
    """A batch of a last-step task.

    Attributes
    ----------
    inputs : ndarray, shape (B, T, D)
    targets : ndarray
        ``kind="classification"``: int labels, shape (B,) or (B, K) (K symbols, one readout
        block of ``n_classes`` logits each); ``"regression"``: shape (B, O).
    kind : str
    n_classes : int
        Classes per label (0 for regression).
    baseline : float
        The loss of the best constant prediction (chance): log(n_classes) for classification,
        the targets' variance for regression.
    """

    inputs: np.ndarray
    targets: np.ndarray
    kind: str
    n_classes: int
    baseline: float


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer | np.random.SeedSequence):
        raise TypeError(f"seed must be an int or a numpy.random.SeedSequence, got "
                        f"{type(seed).__name__}")
    return np.random.default_rng(seed)


def _count(name: str, v, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def delayed_recall(n_trials: int, delay: int, *, seed, n_symbols: int = 8,
                   n_recall: int = 1) -> SequenceTask:
    """Delayed recall (the copy task read out at the end); see the module docstring.

    Inputs have ``n_symbols + 1`` channels (the last is the recall cue at step ``delay - 1``);
    the sequence length is ``delay`` >= ``n_recall + 1``.
    """
    n = _count("n_trials", n_trials, 1)
    k = _count("n_recall", n_recall, 1)
    t = _count("delay", delay, k + 1)
    a = _count("n_symbols", n_symbols, 2)
    rng = _rng(seed)
    sym = rng.integers(0, a, size=(n, k))
    x = np.zeros((n, t, a + 1))
    for j in range(k):
        x[np.arange(n), j, sym[:, j]] = 1.0
    x[:, -1, a] = 1.0
    return SequenceTask(x, sym if k > 1 else sym[:, 0], "classification", a, math.log(a))


def adding(n_trials: int, length: int, *, seed) -> SequenceTask:
    """The adding problem (module docstring): inputs (B, length, 2), targets (B, 1)."""
    n = _count("n_trials", n_trials, 1)
    t = _count("length", length, 2)
    rng = _rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, t))
    half = t // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, t, size=n)
    marks = np.zeros((n, t))
    marks[np.arange(n), first] = 1.0
    marks[np.arange(n), second] = 1.0
    x = np.stack([values, marks], axis=-1)
    y = (values[np.arange(n), first] + values[np.arange(n), second])[:, None]
    return SequenceTask(x, y, "regression", 0, 1.0 / 6.0)


def digits(*, test_fraction: float = 0.2, seed: int = 0
           ) -> tuple[SequenceTask, SequenceTask]:
    """Sequential 8x8 digits (scikit-learn), pixel by pixel: (train, test) of 64 steps.

    Pixels are scaled to [0, 1]; the split is a fixed permutation of ``seed``.
    """
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    d = load_digits()
    x = (d.data / 16.0)[:, :, None]
    y = d.target.astype(np.int64)
    perm = _rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    base = math.log(10)
    return (SequenceTask(x[tr], y[tr], "classification", 10, base),
            SequenceTask(x[te], y[te], "classification", 10, base))
