"""Fixed-step integration of finite-N networks (Euler / Euler-Maruyama and RK4).

Equation (docs/theory.md section 1, the ensemble's noise convention)::

    tau dh = G(h) (-lam h + F(h)) dt + noise_std sqrt(tau) dW

so one step of length dt adds ``noise_std * sqrt(dt / tau) * xi`` (xi ~ N(0, I)) to the
deterministic update. ``method="euler"`` is Euler(-Maruyama), strong order 1/2 (order 1 for this
additive noise), deterministic order 1; ``method="rk4"`` is the classical Runge-Kutta step
followed by the noise increment (deterministic order 4; with noise the scheme keeps the
Euler-Maruyama strong order 1 of additive noise, Kloeden & Platen 1992, section 10.4).

Divergence (a non-finite state, or rms(h) = |h| / sqrt(N) above ``bound``) stops the run; the
result says so (``diverged=True``, ``diverged_at``, ``reason``, ``converged=False``) and holds only
the finite part (the divergence policy of :mod:`simulate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from dmft import _validate as _v
from dmft.results import short_repr

from . import _checks
from ._network import Network, _alloc_work, _phi_block

__all__ = ["Trajectory", "integrate", "integrate_batch", "random_state", "METHODS"]

METHODS = {"euler": 0, "rk4": 1}


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    """Result of :func:`integrate` (one realization) or :func:`integrate_batch` (leading axis).

    Attributes
    ----------
    t : ndarray, shape (n_rec,)
        Recorded times (0 = end of the transient).
    h : ndarray, shape (n_rec, N) or (R, n_rec, N), or None
        Recorded states (None with ``record=False``); rows after a divergence are not filled
        and are cut (single run) or set to the last finite state and flagged (batch).
    final : ndarray, shape (N,) or (R, N)
        State at the end (the last finite state when diverged).
    diverged : bool or ndarray of bool
    diverged_at : float or ndarray of float
        Time since the start (transient included) of the step that left the bound; ``inf``
        for a run that did not diverge.
    reason : str
        Why the run(s) diverged ("" when none did).
    n_steps : int or ndarray of int
        Steps completed (transient included).
    converged : bool
        True when no run diverged and dt is within the stability estimate of the method
        (:mod:`simulate._checks`; otherwise ``message`` says why, and a StepSizeWarning is
        issued).
    residual : float
        Largest rms |f(h_final)| (0 at a fixed point; a diagnostic, not a tolerance).
    n_iter : int
        Total number of steps over all realizations.
    message : str
    """

    t: np.ndarray
    h: np.ndarray | None
    final: np.ndarray
    diverged: bool | np.ndarray
    diverged_at: float | np.ndarray
    reason: str
    n_steps: int | np.ndarray
    converged: bool
    residual: float
    n_iter: int
    message: str

    __repr__ = short_repr


def random_state(n: int, *, seed: int | np.random.Generator, std: float = 1.0) -> np.ndarray:
    """h ~ N(0, std^2 I), shape (n,), from an explicit seed."""
    n = _v.integer("n", n, low=1)
    std = _v.real("std", std, low=0.0)
    _v.check_memory(8.0 * n, f"a random state of n = {n}")
    return std * _v.rng("seed", seed).standard_normal(n)


# --------------------------------------------------------------------------- kernels
@njit(cache=True)
def _step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt, want_tr=False):
    """One Euler or RK4 step of the block Z = [h | V] in place (state and tangents together).

    Euler: Z <- Z + dt f_Z(Z). RK4 (classical tableau): the stage slopes are summed into k1 as
    they come (k1 + 2 k2 + 2 k3, then + k4), so three (N, c) buffers suffice; each stage is one
    :func:`_phi_block` (one pass over each weight matrix for the whole block). No allocation.
    Returns tr J at the starting state when ``want_tr`` (NaN for deeper flows, or without
    ``want_tr``: the trace's serial sum is skipped).
    """
    if method == 0:  # the Euler update written by the block pass itself
        return _phi_block(Z, r, p, Z, work, xt, yt, want_tr, dt)
    tr = _phi_block(Z, r, p, k1, work, xt, yt, want_tr)
    m = Z.shape[0] * Z.shape[1]
    # flat views of the C-contiguous blocks: the stage updates are single vectorizable loops
    z = Z.reshape(m)
    a = k1.reshape(m)
    b = k2.reshape(m)
    t = tmp.reshape(m)
    h2 = 0.5 * dt
    for i in range(m):
        t[i] = z[i] + h2 * a[i]
    _phi_block(tmp, r, p, k2, work, xt, yt, False)
    for i in range(m):
        a[i] += 2.0 * b[i]
        t[i] = z[i] + h2 * b[i]
    _phi_block(tmp, r, p, k2, work, xt, yt, False)
    for i in range(m):
        a[i] += 2.0 * b[i]
        t[i] = z[i] + dt * b[i]
    _phi_block(tmp, r, p, k2, work, xt, yt, False)
    w = dt / 6.0
    for i in range(m):
        z[i] += w * (a[i] + b[i])
    return tr


@njit(cache=True)
def _state_ok(Z, bound2):
    n = Z.shape[0]
    s = 0.0
    for i in range(n):
        v = Z[i, 0]
        s += v * v
    return np.isfinite(s) and s <= bound2 * n


@njit(cache=True)
def _integrate_span(first, last, total, n_transient, dt, method, record_every, noise_amp, seed,
                    bound, r, p, rec, m, final):
    """Steps ``first`` ... ``last - 1`` of a run of ``total`` steps, from the state ``final``.

    ``final`` is the state (the last finite one: it is updated after every step that stays
    within the bound); ``rec[m] = h(m * record_every * dt)`` for the records of this span, and
    after the run's last step the final state is recorded too.  The noise stream is seeded
    with ``seed`` at the span's start.  Buffers are allocated once per span; the time loop
    allocates nothing.  Returns (steps done in the run, 1 if diverged else 0, records written).
    """
    n = final.shape[0]
    Z = np.empty((n, 1))
    for i in range(n):
        Z[i, 0] = final[i]
    k1 = np.empty((n, 1))
    k2 = np.empty((n, 1))
    tmp = np.empty((n, 1))
    work, xt, yt = _alloc_work(p, 1)
    if noise_amp > 0.0:
        np.random.seed(seed)
    bound2 = bound * bound
    n_rec = rec.shape[0]
    for step in range(first, last):
        if step >= n_transient and (step - n_transient) % record_every == 0 and m < n_rec:
            for i in range(n):
                rec[m, i] = Z[i, 0]
            m += 1
        _step(Z, method, dt, r, p, k1, k2, tmp, work, xt, yt)
        if noise_amp > 0.0:
            for i in range(n):
                Z[i, 0] += noise_amp * np.random.standard_normal()
        if not _state_ok(Z, bound2):
            return step + 1, 1, m
        for i in range(n):
            final[i] = Z[i, 0]
    if last == total and m < n_rec:
        for i in range(n):
            rec[m, i] = Z[i, 0]
        m += 1
    return last, 0, m


@njit(cache=True, parallel=True)
def _integrate_many(first, last, total, n_transient, dt, method, record_every, noise_amp,
                    seeds, bound, flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau,
                    diag0, gate_diag, rec, final, done, status, n_written):
    """:func:`_integrate_span` for every realization still running (numba ``prange``)."""
    # the parameter tuple is built inside the loop body: parfor gufuncs take no nested tuples
    for r in prange(final.shape[0]):
        if status[r] != 0:
            continue
        a, b, c = _integrate_span(first, last, total, n_transient, dt, method, record_every,
                                  noise_amp, seeds[r], bound, r,
                                  (flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau,
                                   diag0, gate_diag), rec[r], n_written[r], final[r])
        done[r] = a
        status[r] = b
        n_written[r] = c


# --------------------------------------------------------------------------- drivers
def _check_time(t_max, dt, t_transient):
    t_max = _v.real("t_max", t_max, low=0.0, low_open=True)
    dt = _v.real("dt", dt, low=0.0, low_open=True)
    t_transient = _v.real("t_transient", t_transient, low=0.0)
    if t_max / dt > _MAX_STEPS or t_transient / dt > _MAX_STEPS:
        raise ValueError(f"(t_max + t_transient) / dt must be at most {_MAX_STEPS:.0e} steps, got "
                         f"t_max={t_max:g}, t_transient={t_transient:g}, dt={dt:g}")
    n_steps = int(round(t_max / dt))
    if n_steps < 1:
        raise ValueError(f"t_max / dt must be >= 1 step, got t_max={t_max}, dt={dt}")
    return n_steps, int(round(t_transient / dt))


#: the most steps of one run (1e12 steps would take years; a typo, not a request)
_MAX_STEPS = 1e10


def _noise_seeds(noise_std, seed, count, n_spans: int = 1):
    """Noise seeds (count, n_spans): span j of run r draws from ``SeedSequence(seed).spawn(
    count)[r]``'s word j (span 0: its first word, as before the runs were split into spans)."""
    if noise_std <= 0:
        return np.zeros((count, n_spans), dtype=np.int64)
    if seed is None:
        raise TypeError("seed is required when the ensemble has noise_std > 0 "
                        "(seeds are explicit in this project)")
    ss = np.random.SeedSequence(_v.seed("seed", seed))
    return np.array([c.generate_state(n_spans, dtype=np.uint32) for c in ss.spawn(count)],
                    dtype=np.int64).reshape(count, n_spans)


def _method_code(method: str) -> int:
    return METHODS[_v.choice("method", method, tuple(METHODS))]


def integrate(net: Network, h0: np.ndarray, t_max: float, dt: float, *, method: str = "rk4",
              record_every: int = 1, record: bool = True, t_transient: float = 0.0,
              seed: int | None = None, bound: float = 1e6, backend: str = "numba",
              device=None) -> Trajectory:
    """Integrate one network from ``h0`` with fixed steps (Euler(-Maruyama) or RK4).

    Parameters
    ----------
    net : Network
        From :func:`simulate.sample`; its ``noise_std`` sets the white noise.
    h0 : ndarray, shape (N,)
    t_max : float
        Recorded duration after the transient.
    dt : float
        Step.
    method : {"rk4", "euler"}
    record_every : int
        Record every this many steps (``t`` spacing ``record_every * dt``).
    record : bool
        False keeps only the final state (no trajectory in memory).
    t_transient : float
        Time integrated before recording starts.
    seed : int, optional
        Noise seed (required when ``noise_std > 0``).
    bound : float
        rms(h) above which the run counts as diverged.
    backend : {"numba", "torch"}
        "torch": the same run on a torch device (:mod:`simulate._torch`), float64, the same
        noise stream; agrees with the numba path to round-off.
    device : str or torch.device, optional
        The torch device (``backend="torch"`` only); default "cuda" where torch sees a GPU,
        else "cpu".

    Returns
    -------
    Trajectory
        A run that diverged is returned, not raised: ``diverged=True``, ``diverged_at`` (time
        since the start, transient included), ``reason``, ``converged=False``; the records stop
        at the last finite state (the divergence policy of :mod:`simulate`).
    """
    if not isinstance(net, Network):
        raise _v.ParameterTypeError(f"net must be a simulate.Network, got {type(net).__name__}")
    h0 = np.ascontiguousarray(_v.real_array("h0", h0, shape=(net.n,)))
    if backend != "numba" or device is not None:
        from ._torch import integrate_torch
        return integrate_torch(net, h0, t_max, dt, method=method, record_every=record_every,
                               record=record, t_transient=t_transient, seed=seed, bound=bound,
                               backend=backend, device=device)
    res, written = _run_batch([net], h0[None], t_max, dt, method=method,
                              record_every=record_every, record=record,
                              t_transient=t_transient, seed=seed, bound=bound, parallel=False)
    diverged = bool(res.diverged[0])
    h = None
    if res.h is not None:
        h = res.h[0][: int(written[0])] if diverged else res.h[0]
    t = res.t[: len(h)] if h is not None else res.t
    return Trajectory(t=t, h=h, final=res.final[0], diverged=diverged,
                      diverged_at=float(res.diverged_at[0]), reason=res.reason,
                      n_steps=int(res.n_steps[0]), converged=res.converged,
                      residual=res.residual, n_iter=res.n_iter, message=res.message)


def integrate_batch(nets: Sequence[Network], h0: np.ndarray, t_max: float, dt: float, *,
                    method: str = "rk4", record_every: int = 1, record: bool = True,
                    t_transient: float = 0.0, seed: int | None = None, bound: float = 1e6,
                    parallel: bool = True) -> Trajectory:
    """Integrate R realizations of one ensemble in parallel (numba ``prange`` over them).

    Parameters not listed are as in :func:`integrate`. Arrays of the result have a leading
    axis R (``diverged`` and ``diverged_at`` too: ``inf`` for the realizations that did not
    diverge).

    Parameters
    ----------
    nets : sequence of Network
        Realizations of the same ensemble at the same N (e.g. ``[sample(ens, n, seed=s) ...]``).
    h0 : ndarray, shape (R, N)
    seed : int, optional
        Noise seed; realization r uses ``SeedSequence(seed).spawn(R)[r]``.
    parallel : bool
        Run realizations on all cores (numba threads).
    """
    return _run_batch(nets, h0, t_max, dt, method=method, record_every=record_every,
                      record=record, t_transient=t_transient, seed=seed, bound=bound,
                      parallel=parallel)[0]


def _check_batch(nets, h0, record_every, bound):
    """Validated (nets, h0, record_every, bound) of a batch run."""
    if isinstance(nets, Network) or isinstance(nets, str) or not hasattr(nets, "__iter__"):
        raise _v.ParameterTypeError("nets must be a non-empty sequence of simulate.Network, got "
                                    f"{type(nets).__name__}")
    nets = list(nets)
    if not nets or not all(isinstance(x, Network) for x in nets):
        raise _v.ParameterTypeError("nets must be a non-empty sequence of simulate.Network")
    ens, n = nets[0].ensemble, nets[0].n
    if any(x.ensemble != ens or x.n != n for x in nets):
        raise ValueError("nets must all come from the same ensemble at the same n")
    h0 = np.ascontiguousarray(_v.real_array("h0", h0, shape=(len(nets), n)))
    if isinstance(record_every, float | np.floating) and float(record_every).is_integer():
        record_every = int(record_every)          # 2.0 was accepted before: still is
    record_every = _v.integer("record_every", record_every, low=1)
    bound = _v.real("bound", bound, low=0.0, low_open=True)
    return nets, h0, record_every, bound


def _stacked_params(nets):
    """The kernel parameter tuple of R realizations stacked along the first axis."""
    if len(nets) == 1:
        return nets[0].kernel_args()
    p0 = nets[0].kernel_args()

    def stack(arrs):
        return np.ascontiguousarray(np.concatenate(arrs))

    return (tuple(stack([x.flow_w[i] for x in nets]) for i in range(len(nets[0].flow_w))),
            tuple(stack([x.flow_b[i] for x in nets]) for i in range(len(nets[0].flow_b))),
            p0[2], stack([x.gate_w for x in nets]), stack([x.gate_b for x in nets]), p0[5],
            p0[6], p0[7], stack([x._diag for x in nets]), stack([x._gate_diag for x in nets]))


def _run_batch(nets, h0, t_max, dt, *, method, record_every, record, t_transient, seed, bound,
               parallel):
    """:func:`integrate_batch`; also returns the number of records each run wrote.

    The run is split into spans of :func:`simulate._checks.span_steps` steps (one compiled
    call each, so that Ctrl-C stops it within a fraction of a second); span j of run r seeds
    its noise with word j of the run's seed sequence, so the numbers depend on the seed and the
    problem only (not on threads or timing).
    """
    nets, h0, record_every, bound = _check_batch(nets, h0, record_every, bound)
    record = _v.flag("record", record)
    parallel = _v.flag("parallel", parallel)
    R, n = h0.shape
    n_steps, n_tr = _check_time(t_max, dt, t_transient)
    dt = float(dt)
    code = _method_code(method)
    n_rec = n_steps // record_every + 1 if record else 0
    _v.check_memory(8.0 * R * (n_rec + 8) * n, f"the records of {R} run(s) ({n_rec} x N = {n})")
    unstable = _checks.step_problem(nets[0].ensemble, dt, method)
    rec = np.zeros((R, n_rec, n)) if record else np.zeros((R, 0, n))
    final = h0.copy()
    p = _stacked_params(nets)
    total = n_tr + n_steps
    span = _checks.span_steps(R * (4 if code == 1 else 1) * (nets[0].ensemble.n_weights(n) + n))
    starts = list(range(0, total, span))
    noise_amp = float(nets[0].noise_std * np.sqrt(dt / nets[0].tau))
    seeds = _noise_seeds(nets[0].noise_std, seed, R, len(starts))
    done, status, written = (np.zeros(R, dtype=np.int64) for _ in range(3))
    for j, first in enumerate(starts):
        last = min(first + span, total)
        if parallel and R > 1:
            _integrate_many(first, last, total, n_tr, dt, code, record_every, noise_amp,
                            np.ascontiguousarray(seeds[:, j]), float(bound), *p, rec, final,
                            done, status, written)
        else:
            for r in np.flatnonzero(status == 0):
                done[r], status[r], written[r] = _integrate_span(
                    first, last, total, n_tr, dt, code, record_every, noise_amp,
                    int(seeds[r, j]), float(bound), r, p, rec[r], int(written[r]), final[r])
        if status.all():
            break
    diverged = status.astype(bool)
    if record:
        for r in np.flatnonzero(diverged):  # hold the last finite record instead of zeros
            w = written[r]
            if 0 < w < n_rec:
                rec[r, w:] = rec[r, w - 1]
    resid = 0.0
    for r in range(R):
        f = nets[r].rhs(final[r])
        resid = max(resid, float(np.sqrt(np.mean(f * f))))
    t = np.arange(n_rec) * record_every * dt if record else np.zeros(0)
    diverged_at = np.where(diverged, done * dt, np.inf)
    reason = _divergence_reason(diverged, diverged_at, bound)
    msg = reason or f"integrated {R} run(s) for {total} steps of dt={dt:g} ({method})"
    if unstable:
        msg += ("; " if reason else "; NOT CONVERGED: ") + unstable
    out = Trajectory(t=t, h=rec if record else None, final=final, diverged=diverged,
                     diverged_at=diverged_at, reason=reason, n_steps=done,
                     converged=not diverged.any() and not unstable, residual=resid,
                     n_iter=int(done.sum()), message=msg)
    return out, written


def _divergence_reason(diverged, diverged_at, bound) -> str:
    if not diverged.any():
        return ""
    R = diverged.size
    first = float(diverged_at.min())
    return (f"{int(diverged.sum())} of {R} runs diverged (non-finite state or rms(h) > "
            f"{bound:g}), the first at t = {first:g} (transient included); their records stop "
            "at the last finite state. Reduce dt or the gain.")
