"""Lyapunov spectra by the QR (Benettin-Geist) method, THEORY.md section 7.

The state h and k tangent vectors Q = [q_1 ... q_k] are evolved together,

    dh/dt = f(h),      dQ/dt = J(h) Q                 (method="rk4": continuous time)
    h' = h + dt f(h),  Q' = (I + dt J(h)) Q            (method="euler": the Euler map)

and every t_ons the tangent block is re-orthonormalized, Q R = qr(Q), accumulating log|R_jj|.
After a state transient (``t_transient``) and a tangent transient (``t_transient_tangent``, which
aligns Q with the covariant directions), lambda_j = (1/T) sum log|R_jj| over the observation time
T (Benettin, Galgani, Giorgilli, Strelcyn 1980; Geist, Parlitz, Lauterborn 1990; Engelken, Wolf,
Abbott 2023, arXiv:2006.02427, Algorithm 1). For the Euler map the exponents are reported per unit
time, log|R_jj| / (n dt).

Network fast path (:func:`lyapunov_spectrum`): one block Z = [h | Q] of shape (N, 1 + k) is
propagated by :func:`simulate._network._phi_block`, which applies each weight matrix once per
evaluation to the whole block: a BLAS-3 product for k ~ N, a single pass over the couplings for
k = 1 (RK4: one pass per stage, W @ [h_s | v_s]). The whole time loop runs in one numba function
on buffers allocated once per run (no allocation or Python call per step); Python only sees
chunks (progress bar, history). For a one-layer flow tr J comes out of the first stage's pass.

Outputs besides the exponents: Kaplan-Yorke dimension D_KY = j + sum_{i<=j} lambda_i /
|lambda_{j+1}| (j the largest index with a non-negative partial sum), entropy rate (sum of the
positive exponents, Pesin's bound on the KS entropy), the time average of tr J (equal to the sum of
all N exponents in continuous time, Liouville's formula), and block standard errors.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from dmft.errors import ConvergenceError

from ._integrate import _method_code, _state_ok, _step
from ._network import Network, _alloc_work, _phi_block, _trace_jacobian

__all__ = ["LyapunovResult", "lyapunov_spectrum", "lyapunov_spectrum_ode", "lyapunov_max_two",
           "kaplan_yorke"]


@dataclass(frozen=True)
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
    diverged : bool
    converged : bool
        False when the run diverged (then the exponents cover the time before).
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
    diverged: bool
    converged: bool
    residual: float
    n_iter: int
    message: str

    @property
    def k(self) -> int:
        return int(self.exponents.shape[0])

    @property
    def lambda_max(self) -> float:
        return float(self.exponents[0])

    @property
    def sum(self) -> float:
        return float(self.exponents.sum())


def kaplan_yorke(exponents: np.ndarray) -> tuple[float, bool]:
    """Kaplan-Yorke dimension of descending exponents; returns (D_KY, is_lower_bound)."""
    lam = np.sort(np.asarray(exponents, dtype=float))[::-1]
    cs = np.cumsum(lam)
    if lam.size == 0 or cs[0] < 0:
        return 0.0, False
    nonneg = np.flatnonzero(cs >= 0)
    j = int(nonneg[-1]) + 1  # number of exponents in the non-negative partial sum
    if j >= lam.size:
        return float(lam.size), True
    return float(j + cs[j - 1] / abs(lam[j])), False


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


@njit(cache=True)
def _reorthonormalize(Z, logsum, accumulate):
    """QR of the tangent block Z[:, 1:]; Z[:, 1:] <- Q diag(sign R_jj); logsum += log|R_jj|."""
    n, c = Z.shape
    V = np.ascontiguousarray(Z[:, 1:])
    Q, R = np.linalg.qr(V)
    for j in range(c - 1):
        rjj = R[j, j]
        sgn = 1.0 if rjj >= 0.0 else -1.0
        if accumulate:
            logsum[j] += math.log(abs(rjj)) if rjj != 0.0 else -745.0
        for i in range(n):
            Z[i, j + 1] = sgn * Q[i, j]


@njit(cache=True)
def _lyap_chunk(Z, n_ons, steps_per_ons, dt, method, accumulate, noise_amp, seed, bound, r, p,
                trace_mode, logsum, trace_acc, k1, k2, tmp, work, xt, yt, hbuf):
    """Propagate Z = [h | Q] over n_ons re-orthonormalization intervals (whole loop in numba).

    ``k1, k2, tmp`` (shape of Z) and ``work, xt, yt`` (:func:`_alloc_work`) are preallocated by
    the caller: the step loop allocates nothing. Returns the number of intervals completed
    (< n_ons when the state diverged).

    Trace bookkeeping (only when ``accumulate``), ``tr_n`` = tr J at the start of step n (free
    from the first stage for a one-layer flow, :func:`_trace_jacobian` otherwise):
    ``trace_mode`` 2 adds dt * tr_n to trace_acc[0] and dt to trace_acc[1] every step and keeps
    the very first tr_n in trace_acc[2] (flag trace_acc[3]); the caller turns the left sum into
    the trapezoid rule with the final state's trace. ``trace_mode`` 1 samples tr_n once per
    interval (weight t_ons); 0 never.
    """
    n, c = Z.shape
    if noise_amp > 0.0:
        np.random.seed(seed)
    bound2 = bound * bound
    one_layer = len(p[0]) == 1
    for o in range(n_ons):
        for s in range(steps_per_ons):
            want = accumulate and (trace_mode == 2 or (trace_mode == 1 and s == 0))
            tr_pre = 0.0
            if want and not one_layer:
                for i in range(n):
                    hbuf[i] = Z[i, 0]
                tr_pre = _trace_jacobian(hbuf, r, p)
            tr = _step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt, want and one_layer)
            if want:
                if not one_layer:
                    tr = tr_pre
                if trace_mode == 2:
                    trace_acc[0] += dt * tr
                    trace_acc[1] += dt
                    if trace_acc[3] == 0.0:
                        trace_acc[2] = tr
                        trace_acc[3] = 1.0
                else:
                    trace_acc[0] += dt * steps_per_ons * tr
                    trace_acc[1] += dt * steps_per_ons
            if noise_amp > 0.0:
                for i in range(n):
                    Z[i, 0] += noise_amp * np.random.standard_normal()
            if not _state_ok(Z, bound2):
                return o
        if c > 1:
            _reorthonormalize(Z, logsum, accumulate)
    return n_ons


@njit(cache=True)
def _two_traj_chunk(Z1, Z2, n_ons, steps_per_ons, dt, method, d0, bound, r, p, acc):
    """Two nearby trajectories renormalized to distance d0 every interval; acc[0] += log(d/d0)."""
    n = Z1.shape[0]
    k1 = np.empty((n, 1))
    k2 = np.empty((n, 1))
    tmp = np.empty((n, 1))
    work, xt, yt = _alloc_work(p, 1)
    bound2 = bound * bound
    for o in range(n_ons):
        for _ in range(steps_per_ons):
            _step(Z1, method, dt, r, p, k1, k2, tmp, work, xt, yt)
            _step(Z2, method, dt, r, p, k1, k2, tmp, work, xt, yt)
        if not (_state_ok(Z1, bound2) and _state_ok(Z2, bound2)):
            return o
        d = 0.0
        for i in range(n):
            e = Z2[i, 0] - Z1[i, 0]
            d += e * e
        d = math.sqrt(d)
        if d == 0.0:
            d = 1e-300
        acc[0] += math.log(d / d0)
        for i in range(n):
            Z2[i, 0] = Z1[i, 0] + (Z2[i, 0] - Z1[i, 0]) * (d0 / d)
    return n_ons


# --------------------------------------------------------------------------- drivers
def _buffers(p, Z):
    """Preallocated work arrays of :func:`_lyap_chunk` for the block Z."""
    return (np.empty_like(Z), np.empty_like(Z), np.empty_like(Z), *_alloc_work(p, Z.shape[1]),
            np.empty(Z.shape[0]))


def _trace_at(h, p):
    """tr J(h) through the kernels (one-layer: the fused pass; deeper: the O(N^3) chain)."""
    h = np.ascontiguousarray(h, dtype=np.float64)
    if len(p[0]) == 1:
        out = np.empty((h.shape[0], 1))
        return float(_phi_block(h.reshape(-1, 1), 0, p, out, *_alloc_work(p, 1)))
    return float(_trace_jacobian(h, 0, p))


def _intervals(t, t_ons, dt, name):
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {t!r}")
    return int(round(t / t_ons))


def _check_common(t_max, dt, t_ons):
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a finite number > 0, got {dt!r}")
    if t_ons is None:
        t_ons = dt * max(1, int(round(1.0 / dt)))
    if not np.isfinite(t_ons) or t_ons <= 0:
        raise ValueError(f"t_ons must be a finite number > 0, got {t_ons!r}")
    steps = int(round(t_ons / dt))
    if steps < 1 or abs(steps * dt - t_ons) > 1e-9 * t_ons:
        raise ValueError(f"t_ons must be a positive multiple of dt, got t_ons={t_ons}, dt={dt}")
    if not np.isfinite(t_max) or t_max <= 0:
        raise ValueError(f"t_max must be a finite number > 0, got {t_max!r}")
    n_ons = int(round(t_max / t_ons))
    if n_ons < 2:
        raise ValueError(f"t_max must cover at least 2 intervals t_ons={t_ons}, got {t_max}")
    return float(t_ons), steps, n_ons


def _spectrum_schedule(k, n, method, t_max, dt, t_ons, t_transient, t_transient_tangent):
    """Validate the shared arguments of the spectrum routines and turn times into step counts:
    (k, method code, t_ons, steps per t_ons, observation intervals, state-transient intervals,
    tangent-transient intervals); the tangent transient defaults to min(t_max / 10, 50)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n:
        raise ValueError(f"k must be an int with 1 <= k <= N = {n}, got {k!r}")
    code = _method_code(method)
    t_ons, steps, n_ons = _check_common(t_max, dt, t_ons)
    if t_transient_tangent is None:
        t_transient_tangent = min(t_max / 10.0, 50.0)
    n_tr = _intervals(t_transient, t_ons, dt, "t_transient")
    n_trt = _intervals(t_transient_tangent, t_ons, dt, "t_transient_tangent")
    return int(k), code, t_ons, steps, n_ons, n_tr, n_trt


def _progress(total, enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="t_ons", file=sys.stderr, leave=False)


def _finish(blocks, block_len, cum_hist, hist_t, mean_trace, T, t_max, dt, t_ons, method,
            elapsed, two, final, diverged, n_iter, msg):
    """Assemble a LyapunovResult from per-block log sums."""
    total = blocks.sum(axis=0)
    exps_unsorted = total / T
    order = np.argsort(-exps_unsorted, kind="stable")
    exps = exps_unsorted[order]
    block_exps = (blocks / block_len[:, None])[:, order]
    nb = block_exps.shape[0]
    if nb >= 2:
        w = block_len / block_len.sum()
        mean = (w[:, None] * block_exps).sum(axis=0)
        var = (w[:, None] * (block_exps - mean) ** 2).sum(axis=0) / (1 - (w**2).sum())
        stderr = np.sqrt(var * (w**2).sum())
    else:
        stderr = np.full(exps.shape, np.inf)
    hist = -np.sort(-cum_hist, axis=1)
    half = hist[len(hist) // 2 - 1] if len(hist) >= 2 else hist[-1]
    residual = float(np.max(np.abs(hist[-1] - half)))
    dky, lb = kaplan_yorke(exps)
    return LyapunovResult(
        exponents=exps, stderr=stderr, history_t=hist_t, history=hist, block_exponents=block_exps,
        kaplan_yorke=dky, kaplan_yorke_lower_bound=lb,
        entropy_rate=float(exps[exps > 0].sum()),
        mean_trace=None if mean_trace is None else float(mean_trace), t_max=float(T),
        dt=float(dt), t_ons=float(t_ons), method=method, elapsed=elapsed,
        lambda_max_two_trajectory=two, final_state=final, diverged=diverged,
        converged=not diverged, residual=residual, n_iter=int(n_iter), message=msg)


def _chunks(n_ons, n_history):
    nb = max(1, min(int(n_history), n_ons))
    edges = np.linspace(0, n_ons, nb + 1).round().astype(int)
    return np.diff(edges)


def lyapunov_spectrum(net: Network, k: int | None = None, *, t_max: float = 100.0,
                      dt: float = 0.1, method: str = "rk4", t_ons: float | None = None,
                      t_transient: float = 100.0, t_transient_tangent: float | None = None,
                      seed: int = 0, h0: np.ndarray | None = None, n_history: int = 100,
                      trace: str = "auto", two_trajectory: bool = False,
                      bound: float = 1e6, progress: bool = False) -> LyapunovResult:
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

    Returns
    -------
    LyapunovResult

    Raises
    ------
    ConvergenceError
        When the state diverges before any observation time was accumulated.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a simulate.Network, got {type(net).__name__}")
    n = net.n
    if k is None:
        k = n
    k, code, t_ons, steps, n_ons, n_tr, n_trt = _spectrum_schedule(
        k, n, method, t_max, dt, t_ons, t_transient, t_transient_tangent)
    if trace not in ("auto", "step", "ons", "none"):
        raise ValueError(f"trace must be 'auto', 'step', 'ons' or 'none', got {trace!r}")
    one_layer = net.depth == 1
    # one-layer flows get tr J for free from the first RK stage: every step; deeper flows pay
    # an O(N^3) trace, worth it only next to k >= 2 tangents
    trace_mode = {"none": 0, "ons": 1, "step": 2}.get(trace, 2 if (one_layer or k > 1) else 1)
    rng = np.random.default_rng(seed)
    if h0 is None:
        h0 = rng.standard_normal(n)
    h0 = np.asarray(h0, dtype=np.float64)
    if h0.shape != (n,) or not np.all(np.isfinite(h0)):
        raise ValueError(f"h0 must be a finite array of shape ({n},), got {h0.shape}")
    q0 = _orthonormal_frame(rng.standard_normal((n, k)))
    noise_amp = float(net.noise_std * math.sqrt(dt / net.tau))
    seed_seq = np.random.SeedSequence(seed)
    chunk_seeds = iter(int(s.generate_state(1, dtype=np.uint32)[0])
                       for s in seed_seq.spawn(4 + n_history + 2))
    p = net.kernel_args()
    start = time.perf_counter()
    bar = _progress(n_tr + n_trt + n_ons, progress, f"Lyapunov N={n} k={k}")
    n_iter = 0
    # 1. state transient (block with no tangent column)
    Zs = np.array(h0.reshape(n, 1), order="C")  # a copy: the caller's h0 is not touched
    dummy = np.zeros(1)
    tr_acc = np.zeros(4)
    if n_tr:
        done = _lyap_chunk(Zs, n_tr, steps, float(dt), code, False, noise_amp, next(chunk_seeds),
                           float(bound), 0, p, 0, dummy, tr_acc, *_buffers(p, Zs))
        n_iter += done * steps
        if bar:
            bar.update(n_tr)
        if done < n_tr:
            raise ConvergenceError(
                "the state diverged during the transient (non-finite or rms(h) > bound); "
                "the network explodes: lower the gain or dt", t=done * t_ons, bound=bound)
    h_start = Zs[:, 0].copy()
    Z = np.ascontiguousarray(np.column_stack([h_start, q0]))
    logsum = np.zeros(k)
    bufs = _buffers(p, Z)  # allocated once for the whole run
    # 2. tangent transient
    if n_trt:
        done = _lyap_chunk(Z, n_trt, steps, float(dt), code, False, noise_amp, next(chunk_seeds),
                           float(bound), 0, p, 0, logsum, tr_acc, *bufs)
        n_iter += done * steps
        if bar:
            bar.update(n_trt)
        if done < n_trt:
            raise ConvergenceError("the state diverged during the tangent transient",
                                   t=(n_tr + done) * t_ons, bound=bound)
    # 3. observation, in chunks (= blocks of the history)
    sizes = _chunks(n_ons, n_history)
    blocks, lens, cum, hist_t = [], [], [], []
    running = np.zeros(k)
    elapsed_obs = 0
    diverged = False
    two_est = None
    Z_two = (Z[:, :1].copy(), None) if two_trajectory else None
    for size in sizes:
        logsum = np.zeros(k)
        done = _lyap_chunk(Z, int(size), steps, float(dt), code, True, noise_amp,
                           next(chunk_seeds), float(bound), 0, p, trace_mode, logsum, tr_acc,
                           *bufs)
        n_iter += done * steps
        if bar:
            bar.update(done)
        if done < size:
            diverged = True
            if done == 0:
                break
        blocks.append(logsum)
        lens.append(done * t_ons)
        elapsed_obs += done
        running = running + logsum
        cum.append(running / (elapsed_obs * t_ons))
        hist_t.append(elapsed_obs * t_ons)
        if diverged:
            break
    if bar:
        bar.close()
    if not blocks:
        raise ConvergenceError("the state diverged before any observation time was accumulated",
                               bound=bound)
    if trace_mode == 2 and tr_acc[3] == 1.0 and not diverged:
        # left sum dt * sum_{n<M} tr_n -> trapezoid rule: + dt/2 (tr_M - tr_0), O(dt^2) error
        tr_acc[0] += 0.5 * dt * (_trace_at(Z[:, 0], p) - tr_acc[2])
    mean_trace = tr_acc[0] / tr_acc[1] if tr_acc[1] > 0 and trace_mode > 0 else None
    if two_trajectory:
        two_est = lyapunov_max_two(net, t_max=t_max, dt=dt, method=method, t_ons=t_ons,
                                   t_transient=0.0, h0=Z_two[0][:, 0], seed=seed)
    T = elapsed_obs * t_ons
    elapsed = time.perf_counter() - start
    msg = (f"{k} exponents over T={T:g} ({method}, dt={dt:g}, t_ons={t_ons:g})"
           + ("; the state DIVERGED, exponents cover the time before" if diverged else ""))
    res = _finish(np.array(blocks), np.array(lens), np.array(cum), np.array(hist_t), mean_trace,
                  T, t_max, dt, t_ons, method, elapsed, two_est, Z[:, 0].copy(), diverged,
                  n_iter, msg)
    return res


def lyapunov_max_two(net: Network, *, t_max: float = 100.0, dt: float = 0.1,
                     method: str = "rk4", t_ons: float | None = None, t_transient: float = 100.0,
                     h0: np.ndarray | None = None, seed: int = 0, d0: float | None = None,
                     bound: float = 1e6) -> float:
    """lambda_max from two nearby trajectories (Benettin et al. 1976), renormalized every t_ons.

    lambda_max = (1/T) sum_m log(d_m / d0), d_m the distance after interval m. Deterministic
    dynamics only (with noise both copies would need the same noise; use the QR method).
    """
    if net.noise_std > 0:
        raise ValueError("lyapunov_max_two needs noise_std = 0 (use lyapunov_spectrum)")
    code = _method_code(method)
    t_ons, steps, n_ons = _check_common(t_max, dt, t_ons)
    n_tr = _intervals(t_transient, t_ons, dt, "t_transient")
    rng = np.random.default_rng(seed)
    n = net.n
    h = rng.standard_normal(n) if h0 is None else np.asarray(h0, dtype=np.float64)
    d0 = 1e-8 * math.sqrt(n) if d0 is None else float(d0)
    args = (net.kernel_args(),)
    Z1 = np.ascontiguousarray(h.reshape(n, 1)).copy()
    acc = np.zeros(1)
    if n_tr:
        Zt = Z1.copy()
        if _two_traj_chunk(Z1, Zt, n_tr, steps, float(dt), code, d0, float(bound), 0, *args,
                           acc) < n_tr:
            raise ConvergenceError("the state diverged during the transient", bound=bound)
    e = rng.standard_normal(n)
    Z2 = Z1 + (d0 / np.linalg.norm(e)) * e.reshape(n, 1)
    acc[0] = 0.0
    done = _two_traj_chunk(Z1, Z2, n_ons, steps, float(dt), code, d0, float(bound), 0, *args, acc)
    if done == 0:
        raise ConvergenceError("the state diverged before any observation time", bound=bound)
    return float(acc[0] / (done * t_ons))


# --------------------------------------------------------------------------- generic ODE path
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
    """
    x = np.array(x0, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("x0 must be a finite 1-D array")
    n = x.shape[0]
    k = n if k is None else k
    k, code, t_ons, steps, n_ons, n_tr, n_trt = _spectrum_schedule(
        k, n, method, t_max, dt, t_ons, t_transient, t_transient_tangent)
    rng = np.random.default_rng(seed)
    Y, _ = np.linalg.qr(rng.standard_normal((n, k)))

    def f(v):
        return np.asarray(rhs(v), dtype=np.float64)

    def J(v):
        return np.asarray(jac(v), dtype=np.float64)

    def step(x, Y, with_tangent):
        if code == 0:
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

    start = time.perf_counter()
    bar = _progress(n_tr + n_trt + n_ons, progress, f"Lyapunov ODE n={n} k={k}")
    n_iter = 0

    def check(x, where):
        if not np.all(np.isfinite(x)):
            raise ConvergenceError(f"the state became non-finite during {where}; reduce dt",
                                   t_steps=n_iter)

    for _ in range(n_tr):
        for _ in range(steps):
            x, Y = step(x, Y, False)
            n_iter += 1
        check(x, "the transient")
        if bar:
            bar.update(1)
    for _ in range(n_trt):
        for _ in range(steps):
            x, Y = step(x, Y, True)
            n_iter += 1
        check(x, "the tangent transient")
        Y, _ = np.linalg.qr(Y)
        if bar:
            bar.update(1)
    sizes = _chunks(n_ons, n_history)
    blocks, lens, cum, hist_t = [], [], [], []
    running = np.zeros(k)
    done = 0
    tr_sum = 0.0
    for size in sizes:
        logsum = np.zeros(k)
        for _ in range(size):
            for _ in range(steps):
                tr_sum += np.trace(J(x)) * dt
                x, Y = step(x, Y, True)
                n_iter += 1
            check(x, "the observation")
            Q, R = np.linalg.qr(Y)
            d = np.diag(R)
            logsum += np.log(np.abs(d))
            Y = Q * np.sign(d)
            if bar:
                bar.update(1)
        done += size
        blocks.append(logsum)
        lens.append(size * t_ons)
        running = running + logsum
        cum.append(running / (done * t_ons))
        hist_t.append(done * t_ons)
    if bar:
        bar.close()
    T = done * t_ons
    elapsed = time.perf_counter() - start
    msg = f"{k} exponents over T={T:g} ({method}, dt={dt:g}, t_ons={t_ons:g})"
    return _finish(np.array(blocks), np.array(lens), np.array(cum), np.array(hist_t), tr_sum / T,
                   T, t_max, dt, t_ons, method, elapsed, None, x, False, n_iter, msg)
