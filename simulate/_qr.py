"""The QR (Benettin-Geist) driver shared by both Lyapunov paths (docs/theory.md section 7).

Contract
--------
:func:`run_qr` takes a *tangent stepper* (below) and a validated :class:`QRSchedule`; it runs the
state transient, the tangent transient and the observation in ``n_history`` chunks (the blocks of
the history and of the standard errors), and returns a :class:`QRRun`: per-block sums of
log|R_jj|, the running estimate, and where (stage, time) the state diverged if it did.
:func:`assemble` turns a run into a :class:`LyapunovResult` (exponents sorted, block standard
errors, Kaplan-Yorke dimension, entropy rate, residual).  Neither raises for divergence.

A tangent stepper owns the state, the k tangent vectors and whatever buffers it needs, and
provides, each returning the number of re-orthonormalization intervals completed (fewer than
asked when the state diverged, i.e. became non-finite or left the stepper's bound):

- ``transient(n)``: n intervals of the state alone (no tangents); called once, also with n = 0;
- ``align(n)``: n intervals with the tangents evolved and re-orthonormalized, nothing
  accumulated; called once, also with n = 0;
- ``observe(n, logsum)``: n intervals, each ending with Q R = qr(Q) and ``logsum += log|R_jj|``;
- ``mean_trace(T, diverged)``: the time average of tr J over the observation (or None);
- ``final_state`` (the current state) and ``n_iter`` (integration steps so far).

The two steppers are the numba network fast path and the generic rhs/jac path
(:mod:`simulate._lyapunov`).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dmft import _validate as _v
from dmft.results import Phase, short_repr

from ._integrate import _method_code

__all__ = ["LyapunovResult", "TwoTrajectoryResult", "kaplan_yorke", "QRSchedule", "QRRun",
           "run_qr", "assemble", "check_interval", "interval_count"]


@dataclass(frozen=True, kw_only=True)
class LyapunovResult:
    """Result of :func:`lyapunov_spectrum` / :func:`lyapunov_spectrum_ode`.

    Attributes
    ----------
    exponents : ndarray, shape (k,)
        Lyapunov exponents in descending order (per unit time).
    stderr : ndarray, shape (k,)
        Standard error of each exponent from the spread of ``n_blocks`` block estimates.
    history_t : ndarray, shape (n_hist,)
        Observation times at which the running estimate was recorded.
    history : ndarray, shape (n_hist, k)
        Running estimates (the convergence history), sorted like ``exponents`` at each row.
    block_exponents : ndarray, shape (n_blocks, k)
        The exponents estimated on each block of the observation time separately.
    kaplan_yorke : float
        Kaplan-Yorke dimension (a lower bound, flagged by ``kaplan_yorke_lower_bound``, when
        the partial sum of the k exponents never turns negative).
    kaplan_yorke_lower_bound : bool
    entropy_rate : float
        Sum of the positive exponents.
    mean_trace : float or None
        Time average of tr J(h(t)) over the observation time (None with ``trace="none"``).
    t_max, dt, t_ons : float
    method : str
    elapsed : float
        Wall-clock seconds.
    lambda_max_two_trajectory : float or None
        Two-trajectory estimate of lambda_max when requested.
    final_state : ndarray, shape (N,)
        The state where the run stopped (after a divergence: the first state beyond the bound,
        possibly non-finite).
    phase : Phase
        EXPLOSIVE when the state diverged; else by the 2-error rule on lambda_max
        (:meth:`dmft.Phase.from_lyapunov`): CHAOTIC, FIXED_POINT (DRIVEN_STABLE with noise) or
        NEAR_CRITICAL.
    diverged : bool
    diverged_at : float
        Time since the start (transients included) at which the state was found beyond the
        bound; ``inf`` when it was not.
    reason : str
        Why the run diverged ("" when it did not).
    converged : bool
        False when the run diverged (then the exponents cover the time before, or are +inf when
        no observation time was accumulated), when the tangent vectors failed, or when dt is
        beyond the stability estimate (:mod:`simulate._checks`); ``message`` says which.
    residual : float
        Largest |lambda_j(T) - lambda_j(T/2)|: how much the estimate moved over the second half.
    n_iter : int
        Integration steps (transients included).
    message : str
    """

    exponents: np.ndarray
    stderr: np.ndarray
    history_t: np.ndarray
    history: np.ndarray
    block_exponents: np.ndarray
    kaplan_yorke: float
    kaplan_yorke_lower_bound: bool
    entropy_rate: float
    mean_trace: float | None
    t_max: float
    dt: float
    t_ons: float
    method: str
    elapsed: float
    lambda_max_two_trajectory: float | None
    final_state: np.ndarray
    phase: Phase
    diverged: bool
    diverged_at: float
    reason: str
    converged: bool
    residual: float
    n_iter: int
    message: str

    __repr__ = short_repr

    @property
    def k(self) -> int:
        return int(self.exponents.shape[0])

    @property
    def lambda_max(self) -> float:
        return float(self.exponents[0])

    @property
    def sum(self) -> float:
        return float(self.exponents.sum())


@dataclass(frozen=True, kw_only=True)
class TwoTrajectoryResult:
    """Result of :func:`lyapunov_max_two`; ``float(result)`` is ``lambda_max``.

    Attributes
    ----------
    lambda_max : float
        (1/T) sum_m log(d_m / d0) over the observed intervals; +inf when the state diverged
        before any.
    t_max, dt, t_ons : float
        Observed time T and the steps.
    diverged, diverged_at, reason : bool, float, str
        As in :class:`LyapunovResult` (the state is checked at the end of every interval).
    converged, n_iter, message
    """

    lambda_max: float
    t_max: float
    dt: float
    t_ons: float
    diverged: bool
    diverged_at: float
    reason: str
    converged: bool
    n_iter: int
    message: str

    __repr__ = short_repr

    def __float__(self) -> float:
        return float(self.lambda_max)


def kaplan_yorke(exponents: np.ndarray) -> tuple[float, bool]:
    """Kaplan-Yorke dimension of descending exponents; returns (D_KY, is_lower_bound).

    ``exponents`` is a 1-D array of real numbers (any order); +inf (the explosive marker) and
    -inf (a singular map) are allowed, NaN is refused.
    """
    lam = np.sort(_v.real_array("exponents", exponents, ndim=1, finite=False))[::-1]
    with np.errstate(invalid="ignore"):
        cs = np.cumsum(lam)
    if np.isnan(cs).any():     # +inf and -inf together: the sum is undefined
        raise ValueError("kaplan_yorke: exponents contain both +inf and -inf")
    if lam.size == 0 or cs[0] < 0:
        return 0.0, False
    nonneg = np.flatnonzero(cs >= 0)
    j = int(nonneg[-1]) + 1  # number of exponents in the non-negative partial sum
    if j >= lam.size:
        return float(lam.size), True
    return float(j + cs[j - 1] / abs(lam[j])), False


# --------------------------------------------------------------------------- schedule
def interval_count(t, t_ons, name):
    """round(t / t_ons) for a time ``t`` >= 0 (validated, named ``name`` in errors)."""
    t = _v.real(name, t, low=0.0)
    if t / t_ons > _MAX_INTERVALS:
        raise ValueError(f"{name} / t_ons must be at most {_MAX_INTERVALS:.0e}, got {t / t_ons:g}")
    return int(round(t / t_ons))


#: the most re-orthonormalization intervals of one run (a typo, not a request, beyond)
_MAX_INTERVALS = 1e9


def check_interval(t_max, dt, t_ons):
    """Validate (t_max, dt, t_ons); returns (t_ons, steps per t_ons, observation intervals).

    ``t_ons=None`` is the multiple of dt nearest to 1.
    """
    dt = _v.real("dt", dt, low=0.0, low_open=True)
    if t_ons is None:
        t_ons = dt * max(1, int(round(1.0 / dt)))
    t_ons = _v.real("t_ons", t_ons, low=0.0, low_open=True)
    if t_ons / dt > 1e9:
        raise ValueError(f"t_ons / dt must be at most 1e9 steps, got {t_ons / dt:g}")
    steps = int(round(t_ons / dt))
    if steps < 1 or abs(steps * dt - t_ons) > 1e-9 * t_ons:
        raise ValueError(f"t_ons must be a positive multiple of dt, got t_ons={t_ons}, dt={dt}")
    t_max = _v.real("t_max", t_max, low=0.0, low_open=True)
    n_ons = interval_count(t_max, t_ons, "t_max")
    if n_ons < 2:
        raise ValueError(f"t_max must cover at least 2 intervals t_ons={t_ons}, got {t_max}")
    return float(t_ons), steps, n_ons


@dataclass(frozen=True)
class QRSchedule:
    """Validated times of a spectrum run, as step and interval counts.

    ``steps`` integration steps of ``dt`` per re-orthonormalization interval ``t_ons``;
    ``n_tr`` state-transient, ``n_trt`` tangent-transient and ``n_ons`` observation intervals.
    """

    k: int
    method: str
    code: int
    dt: float
    t_ons: float
    steps: int
    n_ons: int
    n_tr: int
    n_trt: int

    @classmethod
    def create(cls, k, n, method, t_max, dt, t_ons, t_transient, t_transient_tangent):
        """Validate the shared arguments of the spectrum routines; the tangent transient
        defaults to min(t_max / 10, 50)."""
        k = _v.integer("k", k, low=1, high=n)   # 1 <= k <= N
        code = _method_code(method)
        t_ons, steps, n_ons = check_interval(t_max, dt, t_ons)
        if t_transient_tangent is None:
            t_transient_tangent = min(t_max / 10.0, 50.0)
        return cls(k=int(k), method=method, code=code, dt=dt, t_ons=t_ons, steps=steps,
                   n_ons=n_ons, n_tr=interval_count(t_transient, t_ons, "t_transient"),
                   n_trt=interval_count(t_transient_tangent, t_ons, "t_transient_tangent"))

    @property
    def total(self) -> int:
        return self.n_tr + self.n_trt + self.n_ons


# --------------------------------------------------------------------------- driver
class TangentStepper(Protocol):  # pragma: no cover - a protocol
    n_iter: int
    final_state: np.ndarray

    def transient(self, n: int) -> int: ...
    def align(self, n: int) -> int: ...
    def observe(self, n: int, logsum: np.ndarray) -> int: ...
    def mean_trace(self, T: float, diverged: bool) -> float | None: ...


@dataclass
class QRRun:
    """What :func:`run_qr` gathered: per-block log sums and lengths, the running estimate,
    and ``stage`` / ``intervals`` where the state diverged (``stage`` None: it did not)."""

    blocks: list = field(default_factory=list)
    lens: list = field(default_factory=list)
    cum: list = field(default_factory=list)
    hist_t: list = field(default_factory=list)
    observed: int = 0
    stage: str | None = None
    intervals: int = 0
    start: float = 0.0
    failure: str = ""

    @property
    def diverged(self) -> bool:
        return self.stage is not None


def _chunks(n_ons, n_history):
    nb = max(1, min(int(n_history), n_ons))
    edges = np.linspace(0, n_ons, nb + 1).round().astype(int)
    return np.diff(edges)


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="t_ons", file=sys.stderr, leave=False)


def run_qr(stepper: TangentStepper, sched: QRSchedule, *, n_history: int, progress: bool,
           desc: str) -> QRRun:
    """Transients and observation of a spectrum run (module docstring)."""
    run = QRRun(start=time.perf_counter())
    bar = _progress(sched.total, progress, desc)
    try:
        for stage, n, fn in (("the state transient", sched.n_tr, stepper.transient),
                             ("the tangent transient", sched.n_trt, stepper.align)):
            done = fn(n)
            if bar:
                bar.update(done)
            if getattr(stepper, "failure", ""):
                run.failure, run.intervals = f"{stepper.failure}, during {stage}", \
                    run.intervals + done
                return run
            if done < n:
                run.stage, run.intervals = stage, run.intervals + done
                return run
            run.intervals += n
        _observe(stepper, sched, run, n_history, bar)
    finally:
        if bar:
            bar.close()
    return run


def _observe(stepper, sched, run, n_history, bar):
    running = np.zeros(sched.k)
    for size in _chunks(sched.n_ons, n_history):
        logsum = np.zeros(sched.k)
        done = stepper.observe(int(size), logsum)
        if bar:
            bar.update(done)
        run.intervals += done
        failure = getattr(stepper, "failure", "")
        if failure:
            run.failure = f"{failure}, during the observation"
        elif done < size:
            run.stage = "the observation"
        if done < size:
            if done == 0:
                return
        run.blocks.append(logsum)
        run.lens.append(done * sched.t_ons)
        run.observed += done
        running = running + logsum
        run.cum.append(running / (run.observed * sched.t_ons))
        run.hist_t.append(run.observed * sched.t_ons)
        if run.diverged or run.failure:
            return


def _block_stderr(block_exps, block_len):
    if block_exps.shape[0] < 2:
        return np.full(block_exps.shape[1], np.inf)
    w = block_len / block_len.sum()
    finite = np.isfinite(block_exps).all(axis=0)
    safe = np.where(finite, block_exps, 0.0)
    mean = (w[:, None] * safe).sum(axis=0)
    var = (w[:, None] * (safe - mean) ** 2).sum(axis=0) / (1 - (w**2).sum())
    # an exponent that is infinite in some block has no spread to estimate: +inf error, or 0
    # when it is the same infinity in every block (a singular map: exactly -inf)
    same = (block_exps == block_exps[:1]).all(axis=0)
    return np.where(finite, np.sqrt(var * (w**2).sum()), np.where(same, 0.0, np.inf))


def assemble(run: QRRun, sched: QRSchedule, *, mean_trace, two, final, n_iter, message,
             elapsed, noise: bool = False, diverged_at: float = math.inf,
             reason: str = "", unstable: str = "") -> LyapunovResult:
    """A :class:`LyapunovResult` from the per-block log sums of ``run``.

    Without any observed block (the state diverged before) the exponents are +inf with zero
    errors (the explosive marker of :class:`dmft.Phase`) and the history is empty.  The result
    is not converged, with the reason in ``message``, when the state diverged, the tangents
    failed (``run.failure``), a continuous-time exponent is -inf (a tangent collapsed to 0:
    impossible for a flow) or the step is beyond the stability estimate (``unstable``).
    """
    k = sched.k
    blocks = np.array(run.blocks).reshape(-1, k)
    block_len = np.array(run.lens, dtype=float)
    T = run.observed * sched.t_ons
    if run.blocks:
        exps_unsorted = blocks.sum(axis=0) / T
        order = np.argsort(-exps_unsorted, kind="stable")
        exps = exps_unsorted[order]
        block_exps = (blocks / block_len[:, None])[:, order]
        hist = -np.sort(-np.array(run.cum), axis=1)
        half = hist[len(hist) // 2 - 1] if len(hist) >= 2 else hist[-1]
        stderr = _block_stderr(block_exps, block_len)
        with np.errstate(invalid="ignore"):
            moved = np.abs(hist[-1] - half)
        moved = np.where(hist[-1] == half, 0.0, np.where(np.isnan(moved), np.inf, moved))
        residual = float(np.max(moved))
    else:
        exps, stderr, residual = np.full(k, math.inf), np.zeros(k), math.inf
        block_exps, hist = np.zeros((0, k)), np.zeros((0, k))
    dky, lb = kaplan_yorke(exps)
    notes = [run.failure] if run.failure else []
    if np.isneginf(exps).any():
        if sched.method == "rk4":
            notes.append("an exponent is -inf: a tangent vector collapsed to exactly 0 within "
                         "one step, impossible for a flow (dt beyond the stability range)")
        else:
            message += "; the Euler map is singular here: some exponents are -inf (exact)"
    if unstable:
        notes.append(unstable)
    if notes:
        message += "; NOT CONVERGED: " + "; ".join(notes)
    if run.diverged:
        phase = Phase.EXPLOSIVE
    elif run.failure and not run.blocks:
        phase = Phase.UNKNOWN
    else:
        phase = Phase.from_lyapunov(float(exps[0]), float(stderr[0]), noise=noise)
    with np.errstate(invalid="ignore"):
        entropy = float(exps[exps > 0].sum())
    return LyapunovResult(
        exponents=exps, stderr=stderr,
        history_t=np.array(run.hist_t), history=hist, block_exponents=block_exps,
        kaplan_yorke=dky, kaplan_yorke_lower_bound=lb,
        entropy_rate=entropy,
        mean_trace=None if mean_trace is None else float(mean_trace), t_max=float(T),
        dt=float(sched.dt), t_ons=float(sched.t_ons), method=sched.method, elapsed=elapsed,
        lambda_max_two_trajectory=two, final_state=final, phase=phase, diverged=run.diverged,
        diverged_at=float(diverged_at), reason=reason,
        converged=not run.diverged and not notes, residual=residual, n_iter=int(n_iter),
        message=message)


def elapsed_since(run: QRRun) -> float:
    return time.perf_counter() - run.start

