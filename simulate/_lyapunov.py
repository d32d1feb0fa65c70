"""Lyapunov spectra by the QR (Benettin-Geist) method, docs/theory.md section 7.

The state h and k tangent vectors Q = [q_1 ... q_k] are evolved together,

    dh/dt = f(h),      dQ/dt = J(h) Q                 (method="rk4": continuous time)
    h' = h + dt f(h),  Q' = (I + dt J(h)) Q            (method="euler": the Euler map)

and every t_ons the tangent block is re-orthonormalized, Q R = qr(Q), accumulating log|R_jj|.
After a state transient (``t_transient``) and a tangent transient (``t_transient_tangent``, which
aligns Q with the covariant directions), lambda_j = (1/T) sum log|R_jj| over the observation time
T (Benettin, Galgani, Giorgilli, Strelcyn 1980; Geist, Parlitz, Lauterborn 1990; Engelken, Wolf,
Abbott 2023, arXiv:2006.02427, Algorithm 1). For the Euler map the exponents are reported per unit
time, log|R_jj| / (n dt).

One driver, two tangent steppers.  :func:`simulate._qr.run_qr` runs the schedule (transients,
observation in history chunks) and :func:`simulate._qr.assemble` the result, over

- :class:`NetworkStepper` (:func:`lyapunov_spectrum`, the fast path): one block Z = [h | Q] of
  shape (N, 1 + k) is propagated by :func:`simulate._network._phi_block`, which applies each
  weight matrix once per evaluation to the whole block: a BLAS-3 product for k ~ N, a single pass
  over the couplings for k = 1 (RK4: one pass per stage, W @ [h_s | v_s]). The whole time loop of
  a chunk runs in one numba function on buffers allocated once per run (no allocation or Python
  call per step). For a one-layer flow tr J comes out of the first stage's pass.
- :class:`OdeStepper` (:func:`lyapunov_spectrum_ode`): any rhs(x) and jac(x), a Python step loop
  integrating the augmented system (x, Y), dY/dt = jac(x) Y.

Outputs besides the exponents: Kaplan-Yorke dimension D_KY = j + sum_{i<=j} lambda_i /
|lambda_{j+1}| (j the largest index with a non-negative partial sum), entropy rate (sum of the
positive exponents, Pesin's bound on the KS entropy), the time average of tr J (equal to the sum of
all N exponents in continuous time, Liouville's formula), and block standard errors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
from numba import njit

from dmft import _validate as _v

from . import _checks
from ._integrate import _method_code, _state_ok, _step
from ._network import Network, _alloc_work, _phi_block, _trace_jacobian
from ._qr import (
    LyapunovResult,
    QRSchedule,
    TwoTrajectoryResult,
    assemble,
    check_interval,
    elapsed_since,
    interval_count,
    kaplan_yorke,
    run_qr,
)

#: wall time of one compiled call of the spectrum loop: Ctrl-C is seen between calls
_CALL_SECONDS = 0.25

__all__ = ["LyapunovResult", "TwoTrajectoryResult", "lyapunov_spectrum", "lyapunov_spectrum_ode",
           "lyapunov_max_two", "kaplan_yorke", "NetworkStepper", "OdeStepper"]


# --------------------------------------------------------------------------- numba kernels
@njit(cache=True)
def _orthonormal_frame(A):
    """Q of the QR factorization of A, computed in compiled code.

    The spectrum's loop calls LAPACK through numba (scipy's BLAS library); the initial frame
    goes through the same library, so that numpy's own BLAS threads are not left spinning
    (OpenBLAS busy-waits after a call) on the cores the loop then needs: measured at N = 500,
    a numpy QR before the loop slowed its first 50 steps from 3.7 to 5.6 ms per step.
    """
    return np.linalg.qr(A)[0]


#: the largest |log R_jj| wanted over one QR interval: the tangent vectors then keep their
#: relative scales within e^(2 x 7) ~ 1e6 (orthogonality lost to ~1e-10), far from under- or
#: overflow; longer intervals are cut into sub-intervals with a QR each (module docstring)
_LOG_GROWTH_MAX = 7.0

#: status codes of the chunk kernels
_OK, _DIVERGED, _TANGENT_NONFINITE = 0, 1, 2


@njit(cache=True)
def _reorthonormalize(Z, logsum, accumulate):
    """QR of the tangent block Z[:, 1:]; Z[:, 1:] <- Q diag(sign R_jj); logsum += log|R_jj|.

    Returns max_j |log|R_jj|| (the growth over the interval, which sets the next QR interval),
    or -1 when the tangent block is not finite (nothing is changed then).  A zero R_jj adds
    log 0 = -inf: never a clamped value.
    """
    n, c = Z.shape
    for i in range(n):
        for j in range(1, c):
            if not np.isfinite(Z[i, j]):
                return -1.0
    V = np.ascontiguousarray(Z[:, 1:])
    Q, R = np.linalg.qr(V)
    growth = 0.0
    for j in range(c - 1):
        rjj = R[j, j]
        sgn = 1.0 if rjj >= 0.0 else -1.0
        lr = math.log(abs(rjj)) if rjj != 0.0 else -np.inf
        growth = max(growth, abs(lr))
        if accumulate:
            logsum[j] += lr
        for i in range(n):
            Z[i, j + 1] = sgn * Q[i, j]
    return growth


@njit(cache=True)
def _next_sub(sub, growth, steps_per_ons):
    """The next QR sub-interval (steps) from the growth of the last one."""
    if growth > _LOG_GROWTH_MAX:
        return max(1, int(sub * _LOG_GROWTH_MAX / growth))
    if growth < 0.25 * _LOG_GROWTH_MAX:
        return min(steps_per_ons, 2 * sub)
    return sub


@njit(cache=True, inline="always")
def _traced_step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt, hbuf, want, one_layer):
    """One :func:`_step` of Z; with ``want`` return tr J at the step's start (0.0 otherwise).

    A one-layer flow gets the trace free from the step's first stage; a deeper one has it from
    :func:`_trace_jacobian` at the state before the step (copied into ``hbuf``).
    """
    tr_pre = 0.0
    if want and not one_layer:
        for i in range(Z.shape[0]):
            hbuf[i] = Z[i, 0]
        tr_pre = _trace_jacobian(hbuf, r, p)
    tr = _step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt, want and one_layer)
    if want and not one_layer:
        return tr_pre
    return tr


@njit(cache=True, inline="always")
def _add_trace(trace_acc, trace_mode, dt, steps_per_ons, tr):
    """Add one trace sample tr to ``trace_acc`` (the bookkeeping of :func:`_lyap_chunk`).

    ``trace_mode`` 2: dt * tr and dt, keeping the first sample in trace_acc[2] (flag
    trace_acc[3]); otherwise (mode 1, one sample per interval) weight t_ons = dt * steps_per_ons.
    """
    if trace_mode == 2:
        trace_acc[0] += dt * tr
        trace_acc[1] += dt
        if trace_acc[3] == 0.0:
            trace_acc[2] = tr
            trace_acc[3] = 1.0
    else:
        trace_acc[0] += dt * steps_per_ons * tr
        trace_acc[1] += dt * steps_per_ons


@njit(cache=True, inline="always")
def _kick(Z, noise_amp):
    """Add noise_amp times a standard normal draw to each state entry Z[:, 0] (in order)."""
    for i in range(Z.shape[0]):
        Z[i, 0] += noise_amp * np.random.standard_normal()


@njit(cache=True)
def _lyap_chunk(Z, n_ons, steps_per_ons, dt, method, accumulate, noise_amp, seed, bound, r, p,
                trace_mode, logsum, trace_acc, k1, k2, tmp, work, xt, yt, hbuf, lbuf, qr_sub):
    """Propagate Z = [h | Q] over n_ons re-orthonormalization intervals (whole loop in numba).

    ``k1, k2, tmp`` (shape of Z) and ``work, xt, yt`` (:func:`_alloc_work`) are preallocated by
    the caller: the step loop allocates nothing. Returns (intervals completed, steps taken,
    status): fewer than n_ons intervals when the state diverged (status 1; the steps then
    counting the one that left the bound) or the tangent block became non-finite (status 2).

    The tangents are re-orthonormalized at the end of every interval and, within it, every
    ``qr_sub[0]`` steps, a sub-interval adapted from the growth of the previous one
    (:func:`_next_sub`): however long ``t_ons``, log|R_jj| stays within the range where the
    tangents neither under- nor overflow, so no exponent is ever clamped (the sums over the
    sub-intervals, gathered in ``lbuf``, are added to ``logsum`` when the interval completes,
    so that ``logsum`` always covers whole intervals).  ``seed`` >= 0 seeds the noise; -1 continues
    the current stream (a run split into several calls draws the same numbers).

    Trace bookkeeping (only when ``accumulate``), ``tr_n`` = tr J at the start of step n (free
    from the first stage for a one-layer flow, :func:`_trace_jacobian` otherwise):
    ``trace_mode`` 2 adds dt * tr_n to trace_acc[0] and dt to trace_acc[1] every step and keeps
    the very first tr_n in trace_acc[2] (flag trace_acc[3]); the caller turns the left sum into
    the trapezoid rule with the final state's trace. ``trace_mode`` 1 samples tr_n once per
    interval (weight t_ons); 0 never.
    """
    n, c = Z.shape
    if noise_amp > 0.0 and seed >= 0:
        np.random.seed(seed)
    bound2 = bound * bound
    one_layer = len(p[0]) == 1
    for o in range(n_ons):
        since = 0
        for j in range(lbuf.shape[0]):
            lbuf[j] = 0.0
        for s in range(steps_per_ons):
            want = accumulate and (trace_mode == 2 or (trace_mode == 1 and s == 0))
            tr = _traced_step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt, hbuf, want,
                              one_layer)
            if want:
                _add_trace(trace_acc, trace_mode, dt, steps_per_ons, tr)
            if noise_amp > 0.0:
                _kick(Z, noise_amp)
            if not _state_ok(Z, bound2):
                return o, o * steps_per_ons + s + 1, _DIVERGED
            since += 1
            if c > 1 and since >= qr_sub[0] and s < steps_per_ons - 1:
                growth = _reorthonormalize(Z, lbuf, accumulate)
                if growth < 0.0:
                    return o, o * steps_per_ons + s + 1, _TANGENT_NONFINITE
                qr_sub[0] = _next_sub(qr_sub[0], growth, steps_per_ons)
                since = 0
        if c > 1:
            growth = _reorthonormalize(Z, lbuf, accumulate)
            if growth < 0.0:
                return o, (o + 1) * steps_per_ons, _TANGENT_NONFINITE
            qr_sub[0] = _next_sub(qr_sub[0], growth, steps_per_ons)
            if accumulate:
                for j in range(c - 1):
                    logsum[j] += lbuf[j]
    return n_ons, n_ons * steps_per_ons, _OK


@njit(cache=True)
def _two_traj_chunk(Z1, Z2, n_ons, steps_per_ons, dt, method, d0, bound, r, p, acc, measure):
    """Two nearby trajectories renormalized to distance d0 every interval; acc[0] += log(d/d0).

    Returns the intervals completed (fewer when a state left the bound), or -(o + 1) when the
    distance after interval o was exactly 0 (the copies merged to rounding: no clamped log).
    With ``measure`` False only Z1 is integrated (the transient).
    """
    n = Z1.shape[0]
    k1 = np.empty((n, 1))
    k2 = np.empty((n, 1))
    tmp = np.empty((n, 1))
    work, xt, yt = _alloc_work(p, 1)
    bound2 = bound * bound
    for o in range(n_ons):
        for _ in range(steps_per_ons):
            _step(Z1, method, dt, r, p, k1, k2, tmp, work, xt, yt)
            if measure:
                _step(Z2, method, dt, r, p, k1, k2, tmp, work, xt, yt)
        if not (_state_ok(Z1, bound2) and (not measure or _state_ok(Z2, bound2))):
            return o
        if not measure:
            continue
        d = 0.0
        for i in range(n):
            e = Z2[i, 0] - Z1[i, 0]
            d += e * e
        d = math.sqrt(d)
        if d == 0.0:
            return -(o + 1)
        acc[0] += math.log(d / d0)
        for i in range(n):
            Z2[i, 0] = Z1[i, 0] + (Z2[i, 0] - Z1[i, 0]) * (d0 / d)
    return n_ons


def _two_traj(Z1, Z2, n, steps, dt, code, d0, bound, p, acc, measure) -> tuple[int, bool]:
    """:func:`_two_traj_chunk` in calls of about ``_CALL_SECONDS`` (Ctrl-C between them);
    returns (intervals completed, merged)."""
    total, per = 0, 1
    while total < n:
        m = min(n - total, per)
        t0 = time.perf_counter()
        done = _two_traj_chunk(Z1, Z2, m, steps, dt, code, d0, bound, 0, p, acc, measure)
        if done < 0:
            return total - done - 1, True
        total += done
        if done < m:
            return total, False
        per = max(1, min(4 * m, int(m * _CALL_SECONDS / max(time.perf_counter() - t0, 1e-6))))
    return total, False


# --------------------------------------------------------------------------- network stepper
def _buffers(p, Z):
    """Preallocated work arrays of :func:`_lyap_chunk` for the block Z."""
    return (np.empty_like(Z), np.empty_like(Z), np.empty_like(Z), *_alloc_work(p, Z.shape[1]),
            np.empty(Z.shape[0]), np.zeros(max(Z.shape[1] - 1, 1)))


def _trace_at(h, p):
    """tr J(h) through the kernels (one-layer: the fused pass; deeper: the O(N^3) chain)."""
    h = np.ascontiguousarray(h, dtype=np.float64)
    if len(p[0]) == 1:
        out = np.empty((h.shape[0], 1))
        return float(_phi_block(h.reshape(-1, 1), 0, p, out, *_alloc_work(p, 1)))
    return float(_trace_jacobian(h, 0, p))


class NetworkStepper:
    """Tangent stepper of the network fast path: chunks of :func:`_lyap_chunk` on one block
    Z = [h | Q] and buffers allocated once (the contract of :mod:`simulate._qr`).

    Every chunk draws its noise from its own seed, the children of SeedSequence(seed) in call
    order; ``trace_mode`` 2 / 1 / 0 evaluates tr J every step / once per interval / never.
    The state at the start of the observation is kept in ``observation_start``.
    """

    def __init__(self, net: Network, sched: QRSchedule, h0, q0, *, trace_mode: int, seed: int,
                 n_history: int, bound: float):
        self.p = net.kernel_args()
        self.sched = sched
        self.noise_amp = float(net.noise_std * math.sqrt(sched.dt / net.tau))
        self.bound = float(bound)
        self.trace_mode = trace_mode
        self._seeds = iter(int(s.generate_state(1, dtype=np.uint32)[0])
                           for s in np.random.SeedSequence(seed).spawn(4 + n_history + 2))
        self.h0, self.q0 = h0, q0
        self.tr_acc = np.zeros(4)
        self.n_iter = 0
        self.Z = self.bufs = self.observation_start = None
        self.failure = ""
        # the QR sub-interval (steps): at first once per unit time, at most once per t_ons
        self.qr_sub = np.array([min(sched.steps, max(1, int(round(1.0 / sched.dt))))],
                               dtype=np.int64)
        self._per_call = 1

    def _chunk(self, Z, n, accumulate, trace_mode, logsum, bufs) -> int:
        """n intervals in compiled calls of about ``_CALL_SECONDS`` each (Ctrl-C is handled
        between them); the noise is seeded once per chunk, so the split changes no number."""
        s = self.sched
        seed = next(self._seeds)
        total = 0
        while total < n:
            m = min(n - total, self._per_call)
            t0 = time.perf_counter()
            done, steps, status = _lyap_chunk(
                Z, m, s.steps, float(s.dt), s.code, accumulate, self.noise_amp,
                seed if total == 0 else -1, self.bound, 0, self.p, trace_mode, logsum,
                self.tr_acc, *bufs, self.qr_sub)
            elapsed = time.perf_counter() - t0
            self.n_iter += steps
            total += done
            if status == _TANGENT_NONFINITE:
                self.failure = ("the tangent vectors became non-finite while the state stayed "
                                "bounded (a growth beyond float64 within one step: dt too large "
                                "for this network)")
            if done < m:
                return total
            self._per_call = max(1, min(4 * m, int(m * _CALL_SECONDS / max(elapsed, 1e-6))))
        return total

    def transient(self, n: int) -> int:
        Zs = np.array(self.h0.reshape(-1, 1), order="C")  # a copy: the caller's h0 is kept
        done = self._chunk(Zs, n, False, 0, np.zeros(1), _buffers(self.p, Zs)) if n else 0
        self.Z = np.ascontiguousarray(np.column_stack([Zs[:, 0].copy(), self.q0]))
        self.bufs = _buffers(self.p, self.Z)  # allocated once for the whole run
        return done

    def align(self, n: int) -> int:
        done = self._chunk(self.Z, n, False, 0, np.zeros(self.sched.k), self.bufs) if n else 0
        self.observation_start = self.Z[:, 0].copy()
        return done

    def observe(self, n: int, logsum: np.ndarray) -> int:
        return self._chunk(self.Z, n, True, self.trace_mode, logsum, self.bufs)

    def mean_trace(self, T: float, diverged: bool) -> float | None:
        acc = self.tr_acc
        if self.trace_mode == 2 and acc[3] == 1.0 and not diverged:
            # left sum dt * sum_{n<M} tr_n -> trapezoid rule: + dt/2 (tr_M - tr_0), O(dt^2)
            acc[0] += 0.5 * self.sched.dt * (_trace_at(self.Z[:, 0], self.p) - acc[2])
        return acc[0] / acc[1] if acc[1] > 0 and self.trace_mode > 0 else None

    @property
    def final_state(self) -> np.ndarray:
        return self.Z[:, 0].copy()

    def reason(self, stage: str, t: float) -> str:
        return (f"the state diverged (non-finite or rms(h) > bound = {self.bound:g}) during "
                f"{stage} at t = {t:g}: the network explodes or dt is too large; lower the "
                "gain or dt")


# --------------------------------------------------------------------------- generic stepper
class OdeStepper:
    """Tangent stepper of the generic path: dx/dt = rhs(x), dY/dt = jac(x) Y in a Python loop
    (RK4 on the augmented system, or the Euler map); the state is checked for finiteness at
    the end of every interval (the contract of :mod:`simulate._qr`)."""

    def __init__(self, rhs, jac, x: np.ndarray, Y: np.ndarray, sched: QRSchedule):
        self.rhs, self.jac, self.x, self.Y, self.sched = rhs, jac, x, Y, sched
        self.n_iter = 0
        self.tr_sum = 0.0
        self.failure = ""
        n = x.shape[0]
        f0, j0 = self._f(x), self._J(x)
        if f0.shape != (n,):
            raise ValueError(f"rhs(x0) must return an array of shape ({n},), got {f0.shape}")
        if j0.shape != (n, n):
            raise ValueError(f"jac(x0) must return an array of shape ({n}, {n}), got {j0.shape}")

    def _f(self, v):
        return np.asarray(self.rhs(v), dtype=np.float64)

    def _J(self, v):
        return np.asarray(self.jac(v), dtype=np.float64)

    def _qr(self):
        """QR of the tangents, or None (``failure`` set) when they are not finite."""
        if not np.all(np.isfinite(self.Y)):
            self.failure = ("the tangent vectors became non-finite while the state stayed "
                            "finite (growth beyond float64 within one interval: shorten t_ons "
                            "or dt)")
            return None
        return np.linalg.qr(self.Y)

    def _step(self, x, Y, with_tangent):
        dt, f, J = self.sched.dt, self._f, self._J
        if self.sched.code == 0:
            if with_tangent:
                Y = Y + dt * (J(x) @ Y)
            return x + dt * f(x), Y
        if not with_tangent:
            a = f(x)
            b = f(x + 0.5 * dt * a)
            c = f(x + 0.5 * dt * b)
            d = f(x + dt * c)
            return x + dt / 6 * (a + 2 * b + 2 * c + d), Y
        a, A = f(x), J(x) @ Y
        x2, Y2 = x + 0.5 * dt * a, Y + 0.5 * dt * A
        b, B = f(x2), J(x2) @ Y2
        x3, Y3 = x + 0.5 * dt * b, Y + 0.5 * dt * B
        c, C = f(x3), J(x3) @ Y3
        x4, Y4 = x + dt * c, Y + dt * C
        d, D = f(x4), J(x4) @ Y4
        return x + dt / 6 * (a + 2 * b + 2 * c + d), Y + dt / 6 * (A + 2 * B + 2 * C + D)

    def _interval(self, tangent: bool, trace: bool) -> bool:
        """One interval of steps; False when the state is no longer finite at its end (an
        overflow on the way is that outcome, reported by the driver: no warning)."""
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(self.sched.steps):
                if trace:
                    self.tr_sum += np.trace(self._J(self.x)) * self.sched.dt
                self.x, self.Y = self._step(self.x, self.Y, tangent)
                self.n_iter += 1
        return bool(np.all(np.isfinite(self.x)))

    def transient(self, n: int) -> int:
        for i in range(n):
            if not self._interval(False, False):
                return i
        return n

    def align(self, n: int) -> int:
        for i in range(n):
            if not self._interval(True, False):
                return i
            qr = self._qr()
            if qr is None:
                return i
            self.Y = qr[0]
        return n

    def observe(self, n: int, logsum: np.ndarray) -> int:
        for i in range(n):
            if not self._interval(True, True):
                return i
            qr = self._qr()
            if qr is None:
                return i
            Q, R = qr
            d = np.diag(R)
            with np.errstate(divide="ignore"):
                logsum += np.log(np.abs(d))      # log 0 = -inf: never clamped
            self.Y = Q * np.where(d < 0, -1.0, 1.0)
        return n

    def mean_trace(self, T: float, diverged: bool) -> float | None:
        return self.tr_sum / T if T > 0 else None

    @property
    def final_state(self) -> np.ndarray:
        return self.x

    def reason(self, stage: str, t: float) -> str:
        return (f"the state became non-finite during {stage}, detected at t = {t:g} (the end "
                "of a t_ons interval); reduce dt")


# --------------------------------------------------------------------------- public
def _trace_mode(trace: str, one_layer: bool, k: int) -> int:
    """0 never, 1 once per interval, 2 every step; "auto": every step for one-layer flows
    (tr J is free from the first RK stage) or k > 1, else once per interval (deeper flows pay
    an O(N^3) trace, worth it only next to k >= 2 tangents)."""
    if trace not in ("auto", "step", "ons", "none"):
        raise ValueError(f"trace must be 'auto', 'step', 'ons' or 'none', got {trace!r}")
    return {"none": 0, "ons": 1, "step": 2}.get(trace, 2 if (one_layer or k > 1) else 1)


def _start_state(h0, n, rng):
    if h0 is None:
        return rng.standard_normal(n)
    return _v.real_array("h0", h0, shape=(n,))


def _message(sched: QRSchedule, T: float, run) -> str:
    if not run.blocks:
        return (f"no observation time: the state diverged during {run.stage}; the "
                f"{sched.k} exponents are +inf (explosive)")
    msg = (f"{sched.k} exponents over T={T:g} ({sched.method}, dt={sched.dt:g}, "
           f"t_ons={sched.t_ons:g})")
    return msg + ("; the state DIVERGED, exponents cover the time before" if run.diverged
                  else "")


def _result(run, sched, stepper, *, two=None, noise=False, unstable="") -> LyapunovResult:
    """:func:`simulate._qr.assemble` with the stepper's trace, state, step count and reason."""
    T = run.observed * sched.t_ons
    diverged_at = stepper.n_iter * sched.dt if run.diverged else math.inf
    return assemble(run, sched, mean_trace=stepper.mean_trace(T, run.diverged), two=two,
                    final=stepper.final_state, n_iter=stepper.n_iter,
                    message=_message(sched, T, run), elapsed=elapsed_since(run), noise=noise,
                    diverged_at=diverged_at, unstable=unstable,
                    reason=stepper.reason(run.stage, diverged_at) if run.diverged else "")


def lyapunov_spectrum(net: Network, k: int | None = None, *, t_max: float = 100.0,
                      dt: float = 0.1, method: str = "rk4", t_ons: float | None = None,
                      t_transient: float = 100.0, t_transient_tangent: float | None = None,
                      seed: int = 0, h0: np.ndarray | None = None, n_history: int = 100,
                      trace: str = "auto", two_trajectory: bool = False,
                      bound: float = 1e6, progress: bool = False, backend: str = "numba",
                      device=None) -> LyapunovResult:
    """The k largest Lyapunov exponents of a finite-N network (QR method, fast path).

    Parameters
    ----------
    net : Network
        From :func:`simulate.sample` (gated, non-leaky, multi-layer all supported).
    k : int, optional
        Number of exponents, 1 <= k <= N (default N: the full spectrum).
    t_max : float
        Observation time T after the transients.
    dt : float
        Step of the RK4 integrator / the Euler map.
    method : {"rk4", "euler"}
        "rk4": continuous-time exponents (state and tangents integrated together by RK4);
        "euler": exponents of the map h -> h + dt f(h), per unit time.
    t_ons : float, optional
        Re-orthonormalization interval, a multiple of dt (default: the multiple of dt nearest
        to 1).
    t_transient : float
        State transient (no tangent vectors evolved).
    t_transient_tangent : float, optional
        Tangent transient: tangents evolved and re-orthonormalized, nothing accumulated
        (default ``min(t_max / 10, 50)``).
    seed : int
        Seeds h0 ~ N(0, I) (when ``h0`` is None), the initial tangent frame and the noise.
    n_history : int
        Number of points of the convergence history (= number of blocks for ``stderr``).
    trace : {"auto", "step", "ons", "none"}
        When tr J is evaluated for ``mean_trace``: every step ("step", trapezoid rule in time;
        free for a one-layer flow, where it comes out of the first stage's pass, and O(N^3) per
        step for deeper flows), once per re-orthonormalization interval ("ons", a sampled
        average), or never. "auto" is "step" for one-layer flows or k > 1, else "ons".
    two_trajectory : bool
        Also estimate lambda_max from two trajectories at distance 1e-8 sqrt(N), renormalized
        every t_ons (costs two more state integrations).
    bound : float
        rms(h) above which the state counts as diverged.
    progress : bool
        tqdm progress bar on stderr.
    backend : {"numba", "torch"}
        "torch": the same run on a torch device (:class:`simulate._torch.TorchStepper`:
        float64, batched products, ``torch.linalg.qr``), which agrees with the numba path to
        round-off; ``two_trajectory`` still runs on the numba path.
    device : str or torch.device, optional
        The torch device (``backend="torch"`` only); default "cuda" where torch sees a GPU,
        else "cpu".

    Returns
    -------
    LyapunovResult
        A diverging state is not raised (the divergence policy of :mod:`simulate`): the result
        has ``diverged=True``, ``diverged_at`` (time since the start, transients included, of
        the step that left ``bound``), ``reason``, ``phase=EXPLOSIVE`` and ``converged=False``;
        its exponents cover the observation before the divergence, or are +inf when none was
        accumulated.
    """
    if not isinstance(net, Network):
        raise _v.ParameterTypeError(f"net must be a simulate.Network, got {type(net).__name__}")
    n = net.n
    sched = QRSchedule.create(n if k is None else k, n, method, t_max, dt, t_ons, t_transient,
                              t_transient_tangent)
    trace_mode = _trace_mode(trace, net.depth == 1, sched.k)
    seed = _v.seed("seed", seed)
    n_history = _v.integer("n_history", n_history, low=1, high=100_000)
    bound = _v.real("bound", bound, low=0.0, low_open=True)
    two_trajectory = _v.flag("two_trajectory", two_trajectory)
    progress = _v.flag("progress", progress)
    # Z = [h | Q] and its RK4 buffers, the initial frame and its random draw: (N, k + 1) each
    _v.check_memory(8.0 * 7 * n * (sched.k + 1) + 8.0 * net.ensemble.n_weights(n),
                    f"a spectrum of k = {sched.k} exponents at N = {n}")
    unstable = _checks.step_problem(net.ensemble, sched.dt, method) if method == "rk4" else ""
    rng = np.random.default_rng(seed)
    h0 = _start_state(h0, n, rng)
    q0 = _orthonormal_frame(rng.standard_normal((n, sched.k)))
    kw = dict(trace_mode=trace_mode, seed=seed, n_history=n_history, bound=bound)
    if backend == "numba" and device is None:
        stepper = NetworkStepper(net, sched, h0, q0, **kw)
    else:
        from ._torch import torch_stepper
        stepper = torch_stepper(net, sched, h0, q0, backend=backend, device=device, **kw)
    run = run_qr(stepper, sched, n_history=n_history, progress=progress,
                 desc=f"Lyapunov N={n} k={sched.k}")
    two = None
    if two_trajectory and run.blocks:
        two = lyapunov_max_two(net, t_max=t_max, dt=dt, method=method, t_ons=sched.t_ons,
                               t_transient=0.0, h0=stepper.observation_start, seed=seed,
                               bound=bound).lambda_max
    return _result(run, sched, stepper, two=two, noise=net.noise_std > 0, unstable=unstable)


def lyapunov_max_two(net: Network, *, t_max: float = 100.0, dt: float = 0.1,
                     method: str = "rk4", t_ons: float | None = None, t_transient: float = 100.0,
                     h0: np.ndarray | None = None, seed: int = 0, d0: float | None = None,
                     bound: float = 1e6) -> TwoTrajectoryResult:
    """lambda_max from two nearby trajectories (Benettin et al. 1976), renormalized every t_ons.

    lambda_max = (1/T) sum_m log(d_m / d0), d_m the distance after interval m. Deterministic
    dynamics only (with noise both copies would need the same noise; use the QR method).
    Returns a :class:`TwoTrajectoryResult` (``float(result)`` is lambda_max); a state that
    leaves ``bound`` is flagged there (divergence policy of :mod:`simulate`), not raised.
    """
    if not isinstance(net, Network):
        raise _v.ParameterTypeError(f"net must be a simulate.Network, got {type(net).__name__}")
    if net.noise_std > 0:
        raise ValueError("lyapunov_max_two needs noise_std = 0 (use lyapunov_spectrum)")
    code = _method_code(method)
    t_ons, steps, n_ons = check_interval(t_max, dt, t_ons)
    n_tr = interval_count(t_transient, t_ons, "t_transient")
    rng = np.random.default_rng(_v.seed("seed", seed))
    n = net.n
    h = _start_state(h0, n, rng)
    bound = _v.real("bound", bound, low=0.0, low_open=True)
    d0 = 1e-8 * math.sqrt(n) if d0 is None else _v.real("d0", d0, low=0.0, low_open=True)
    p = net.kernel_args()
    Z1 = np.ascontiguousarray(h.reshape(n, 1)).copy()
    acc = np.zeros(1)
    done_tr, done, merged = 0, 0, False
    if n_tr:
        done_tr, _ = _two_traj(Z1, Z1, n_tr, steps, float(dt), code, d0, bound, p, acc, False)
    if done_tr == n_tr:
        e = rng.standard_normal(n)
        Z2 = Z1 + (d0 / np.linalg.norm(e)) * e.reshape(n, 1)
        acc[0] = 0.0
        done, merged = _two_traj(Z1, Z2, n_ons, steps, float(dt), code, d0, bound, p, acc,
                                 True)
    diverged = done < n_ons and not merged
    T = done * t_ons
    diverged_at = (done_tr + done + 1) * t_ons if diverged else math.inf
    reason = ""
    if diverged:
        stage = "the transient" if done_tr < n_tr else "the observation"
        reason = (f"the state diverged (non-finite or rms(h) > bound = {bound:g}) during {stage}"
                  f", detected at t = {diverged_at:g}; lower the gain or dt")
    message = reason or f"two trajectories at distance {d0:.3g} over T={T:g} ({method})"
    if merged:
        message = (f"NOT CONVERGED: the two trajectories merged to rounding after {done} "
                   f"intervals (the distance contracted below float64's resolution of the state "
                   f"within one t_ons = {t_ons:g}: use a shorter t_ons); lambda_max covers the "
                   "intervals before")
    return TwoTrajectoryResult(
        lambda_max=float(acc[0] / T) if done else (math.inf if diverged else -math.inf),
        t_max=float(T), dt=float(dt), t_ons=t_ons, diverged=diverged, diverged_at=diverged_at,
        reason=reason, converged=not diverged and not merged,
        n_iter=2 * (done_tr + done) * steps, message=message)


def lyapunov_spectrum_ode(rhs: Callable[[np.ndarray], np.ndarray],
                          jac: Callable[[np.ndarray], np.ndarray], x0: np.ndarray,
                          k: int | None = None, *, t_max: float = 1000.0, dt: float = 0.01,
                          method: str = "rk4", t_ons: float | None = None,
                          t_transient: float = 100.0, t_transient_tangent: float | None = None,
                          seed: int = 0, n_history: int = 100,
                          progress: bool = False) -> LyapunovResult:
    """Lyapunov exponents of any autonomous ODE dx/dt = rhs(x) given its Jacobian jac(x).

    Same QR method, options and result as :func:`lyapunov_spectrum`, with a Python step loop
    (``rhs``/``jac`` may be plain Python or numba-compiled functions). The RK4 step integrates
    the augmented system (x, Y) with dY/dt = jac(x) Y; ``method="euler"`` uses the map
    x -> x + dt rhs(x), Y -> (I + dt jac(x)) Y. ``mean_trace`` is the time average of tr jac(x).
    A state that becomes non-finite (checked at the end of every t_ons interval) is flagged as
    in :func:`lyapunov_spectrum`, not raised.
    """
    if not callable(rhs) or not callable(jac):
        raise _v.ParameterTypeError("rhs and jac must be callables x -> f(x) and x -> J(x)")
    x = _v.real_array("x0", x0, ndim=1, nonempty=True).copy()
    n = x.shape[0]
    seed = _v.seed("seed", seed)
    n_history = _v.integer("n_history", n_history, low=1, high=100_000)
    sched = QRSchedule.create(n if k is None else k, n, method, t_max, dt, t_ons, t_transient,
                              t_transient_tangent)
    rng = np.random.default_rng(seed)
    Y, _ = np.linalg.qr(rng.standard_normal((n, sched.k)))
    stepper = OdeStepper(rhs, jac, x, Y, sched)
    run = run_qr(stepper, sched, n_history=n_history, progress=progress,
                 desc=f"Lyapunov ODE n={n} k={sched.k}")
    return _result(run, sched, stepper)
