"""Trajectory expressivity: how complex a set of cued trajectories a model can generate.

Kim, Can & Krishnamurthy (ICML 2023, arXiv:2307.06398, Section 4) introduce "a measure of
expressivity which probes the capacity of a neural network to generate complex trajectories" and
compare nODEs, gnODEs and RNNs as the phase-space dimension N and the complexity of the flow
(its hidden width) change.  The stored copies of the paper reachable from this project give its
abstract and introduction only, so the measure below is *our* precise definition in that
spirit, not a transcription of the paper's (see ``docs/expressivity.md``).

Definition
----------
Targets (:func:`random_trajectories`).  K trajectories y_k(t), k = 1..K, sampled on
t_j = (j + 1) / T, j = 0..T-1, each an independent band-limited Gaussian process with M Fourier
modes (the *complexity*):

    y_k(t) = M^{-1/2} sum_{m=1}^{M} [ a_km cos(2 pi m t) + b_km sin(2 pi m t) ],
    a_km, b_km ~ N(0, 1) iid,

so E[y_k(t)^2] = 1 and y_k has 2M random degrees of freedom.  Trial k is cued by a one-hot input
e_k in the first sample (zero afterwards): the model starts at h(0) = E e_k (``initial_state=
"input"``) and must then generate y_k autonomously, read out linearly.

Fit (:func:`fit_error`).  Full-batch AdamW for at most ``steps`` steps from the model's
initialization; the error is the normalized mean squared error

    e = sum_{k,j} (yhat_k(t_j) - y_k(t_j))^2 / sum_{k,j} y_k(t_j)^2,

the best over training (training stops once e <= ``threshold``).

Expressivity (:func:`expressivity`).  For an increasing grid of complexities M_1 < M_2 < ...,
the largest M_i such that the model fits *every* M_j <= M_i with e <= ``threshold``
(default 0.05: 95 % of the target variance generated), averaged over seeds (each seed draws new
targets and a new initialization).  Grid points above the first failure are not trained (the
envelope definition makes them irrelevant).

A one-dimensional autonomous ODE has monotone trajectories, so a model with N = 1 cannot
generate a non-monotone target: its error is bounded below by the isotonic-regression error of
the target (:func:`monotone_error_bound`), a check that does not depend on training
(tests/test_gnode_expressivity.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dmft import _validate as _v

__all__ = ["TrajectoryTask", "random_trajectories", "fit_error", "largest_fitted",
           "ExpressivityResult", "expressivity", "expressivity_model", "monotone_error_bound",
           "MODEL_KINDS"]

MODEL_KINDS = ("node", "gnode", "elman")


@dataclass(frozen=True)
class TrajectoryTask:
    """Cued random-trajectory targets (:func:`random_trajectories`).

    Attributes
    ----------
    inputs : ndarray, shape (K, T, K)
        One-hot cue e_k in the first sample of trial k, zeros afterwards.
    targets : ndarray, shape (K, T, O)
        y_k(t_j).
    times : ndarray, shape (T,)
        t_j = (j + 1) / T.
    complexity : int
        M, the number of Fourier modes.
    """

    inputs: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    times: np.ndarray = field(repr=False)
    complexity: int


def _check_int(name: str, v, low: int) -> int:
    return _v.integer(name, v, low=low, high=100_000_000)


def random_trajectories(n_trajectories: int, complexity: int, *, n_steps: int = 50,
                        output_dim: int = 1, seed: int | np.random.Generator = 0
                        ) -> TrajectoryTask:
    """K band-limited random target trajectories of complexity M and their cues.

    y_k(t) = M^{-1/2} sum_{m<=M} [a_km cos(2 pi m t) + b_km sin(2 pi m t)], a, b ~ N(0, 1),
    on t_j = (j + 1) / T (module docstring).

    Parameters
    ----------
    n_trajectories : int
        K >= 1.
    complexity : int
        M >= 1; needs T > 2 M (the modes are resolved on the grid).
    n_steps : int
        T.
    output_dim : int
        O >= 1 (independent components).
    seed : int or numpy.random.Generator

    Returns
    -------
    TrajectoryTask
    """
    k = _check_int("n_trajectories", n_trajectories, 1)
    m = _check_int("complexity", complexity, 1)
    t_n = _check_int("n_steps", n_steps, 2)
    o = _check_int("output_dim", output_dim, 1)
    if t_n <= 2 * m:
        raise ValueError(f"n_steps must be > 2 * complexity = {2 * m} to resolve {m} modes, "
                         f"got {t_n}")
    _v.check_memory(8.0 * 3 * k * t_n * (k + o + m), f"{k} trajectories of {t_n} steps")
    rng = _v.rng("seed", seed)
    t = (np.arange(t_n) + 1.0) / t_n
    modes = np.arange(1, m + 1)
    phase = 2.0 * np.pi * np.outer(t, modes)                      # (T, M)
    a = rng.standard_normal((k, o, m))
    b = rng.standard_normal((k, o, m))
    y = (np.einsum("kom,tm->kto", a, np.cos(phase)) +
         np.einsum("kom,tm->kto", b, np.sin(phase))) / math.sqrt(m)
    x = np.zeros((k, t_n, k))
    x[np.arange(k), 0, np.arange(k)] = 1.0
    return TrajectoryTask(x, y, t, m)


def expressivity_model(kind: str, state_dim: int, n_inputs: int, output_dim: int = 1, *,
                       flow_width: int | None = None, dt: float = 0.2, seed: int = 0):
    """A model for the expressivity task: ``"node"``, ``"gnode"`` (ReLU flow with one hidden
    layer of ``flow_width`` units, default N) or ``"elman"`` (tanh, flow complexity tied to N).

    ``initial_state="input"`` (h(0) = E x_0), Euler steps of ``dt`` (units of tau), float64;
    default (PyTorch) initialization drawn under ``torch.manual_seed(seed)``.
    """
    import torch

    from gnode.models import GNODE, NODE, Elman

    if kind not in MODEL_KINDS:
        raise ValueError(f"kind must be one of {MODEL_KINDS}, got {kind!r}")
    width = state_dim if flow_width is None else _check_int("flow_width", flow_width, 1)
    torch.manual_seed(seed)
    kw = dict(initial_state="input", dt=dt)
    if kind == "elman":
        return Elman(state_dim, n_inputs, output_dim, **kw)
    cls = GNODE if kind == "gnode" else NODE
    return cls(state_dim, n_inputs, output_dim, flow_hidden=(width,), **kw)


def fit_error(model, task: TrajectoryTask, *, steps: int = 400, lr: float = 1e-2,
              weight_decay: float = 0.0, threshold: float = 0.05,
              grad_clip: float = 10.0) -> tuple[float, int]:
    """Train ``model`` on ``task`` (full batch, AdamW) and return (best e, steps taken).

    e is the normalized MSE of the module docstring; training stops as soon as
    e <= ``threshold``.  A non-finite loss stops training (the best finite e is returned; +inf
    if none).
    """
    import torch

    if not isinstance(task, TrajectoryTask):
        raise TypeError(f"task must be a TrajectoryTask, got {type(task).__name__}")
    steps = _check_int("steps", steps, 1)
    dtype = next(model.parameters()).dtype
    x = torch.as_tensor(task.inputs, dtype=dtype)
    y = torch.as_tensor(task.targets, dtype=dtype)
    norm = float((y ** 2).sum())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    best, n = math.inf, 0
    while n < steps:
        n += 1
        opt.zero_grad()
        err = ((model(x).output - y) ** 2).sum() / norm
        e = float(err.detach())
        if not math.isfinite(e):
            break
        best = min(best, e)
        if best <= threshold:
            break
        err.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
    return best, n


def largest_fitted(complexities: Sequence[int], errors: Sequence[float],
                   threshold: float) -> int:
    """Largest M_i with e(M_j) <= threshold for every j <= i (0 if the first fails).

    ``errors`` may be shorter than ``complexities`` (grid points after the first failure are
    not evaluated) and may hold NaN for untrained points.
    """
    best = 0
    for m, e in zip(complexities, errors, strict=False):
        if not (e <= threshold):
            break
        best = int(m)
    return best


def monotone_error_bound(y: np.ndarray) -> float:
    """Least normalized squared error sum (yhat - y)^2 / sum y^2 over monotone yhat (either
    direction), by pool-adjacent-violators isotonic regression, for a 1-D series ``y``."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.size < 1 or not np.all(np.isfinite(y)):
        raise ValueError("y must be a finite 1-D array")

    def pava(v: np.ndarray) -> np.ndarray:
        vals, wts = [], []
        for xi in v:
            vals.append(float(xi))
            wts.append(1.0)
            while len(vals) > 1 and vals[-2] > vals[-1]:
                w = wts[-2] + wts[-1]
                vals[-2] = (wts[-2] * vals[-2] + wts[-1] * vals[-1]) / w
                wts[-2] = w
                del vals[-1], wts[-1]
        return np.repeat(vals, np.asarray(wts, dtype=int))

    up = np.sum((pava(y) - y) ** 2)
    down = np.sum((-pava(-y) - y) ** 2)
    return float(min(up, down) / np.sum(y * y))


@dataclass(frozen=True)
class ExpressivityResult:
    """Result of :func:`expressivity`.

    Attributes
    ----------
    complexities : ndarray, shape (n_m,)
    errors : ndarray, shape (n_seeds, n_m)
        Best normalized MSE per seed and complexity (NaN where not trained: above the first
        failure).
    largest : ndarray of int, shape (n_seeds,)
        :func:`largest_fitted` per seed.
    expressivity : float
        Mean of ``largest`` over seeds.
    threshold : float
    seconds : float
    converged, residual, n_iter, message
        ``converged``: every trained error was finite; ``residual``: the largest finite error;
        ``n_iter``: optimizer steps in total.
    """

    complexities: np.ndarray
    errors: np.ndarray
    largest: np.ndarray
    expressivity: float
    threshold: float
    seconds: float
    converged: bool
    residual: float
    n_iter: int
    message: str


def expressivity(make_model: Callable[[int, int], object], complexities: Sequence[int], *,
                 n_trajectories: int = 4, n_steps: int = 50, output_dim: int = 1,
                 seeds: Sequence[int] = (0,), threshold: float = 0.05, steps: int = 400,
                 lr: float = 1e-2) -> ExpressivityResult:
    """Expressivity of a model family: the largest complexity of K cued random trajectories
    it generates with normalized MSE <= ``threshold`` (module docstring).

    Parameters
    ----------
    make_model : callable (n_inputs, seed) -> model
        Builds a fresh model with ``n_inputs`` = K cue channels and ``output_dim`` outputs
        (e.g. ``lambda k, s: expressivity_model("gnode", 4, k, seed=s)``).
    complexities : sequence of int
        Increasing grid of M.
    n_trajectories, n_steps, output_dim
        K, T, O of :func:`random_trajectories`.
    seeds : sequence of int
        Seed s draws targets with ``seed=s`` and the model with ``make_model(K, s)``.
    threshold : float
        e at or below which a target set counts as fitted, in (0, 1).
    steps, lr
        Training budget of :func:`fit_error`.

    Returns
    -------
    ExpressivityResult
    """
    ms = [_check_int("complexities[i]", m, 1) for m in complexities]
    if not ms or any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
        raise ValueError(f"complexities must be a non-empty increasing sequence, got {ms}")
    if not (isinstance(threshold, float | int) and 0 < threshold < 1):
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    t0 = time.perf_counter()
    errors = np.full((len(seeds), len(ms)), np.nan)
    total = 0
    for i, s in enumerate(seeds):
        for j, m in enumerate(ms):
            task = random_trajectories(n_trajectories, m, n_steps=n_steps,
                                       output_dim=output_dim, seed=np.random.default_rng(
                                           [int(s), int(m)]))
            e, n = fit_error(make_model(n_trajectories, int(s)), task, steps=steps, lr=lr,
                             threshold=threshold)
            errors[i, j], total = e, total + n
            if not e <= threshold:
                break
    largest = np.array([largest_fitted(ms, row, threshold) for row in errors])
    finite = errors[np.isfinite(errors)]
    ok = bool(np.all(np.isfinite(errors) | np.isnan(errors)))
    return ExpressivityResult(np.array(ms), errors, largest, float(largest.mean()),
                              float(threshold), time.perf_counter() - t0, ok,
                              float(finite.max()) if finite.size else math.inf, total,
                              "ok" if ok else "a training run diverged (infinite error)")
