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

from dmft.results import short_repr

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
        True when no run diverged.
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
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return std * rng.standard_normal(int(n))


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
def _integrate_one(h0, n_transient, n_steps, dt, method, record_every, noise_amp, seed, bound,
                   r, p, rec, final):
    """Integrate realization r from h0; writes rec[m] = h(m * record_every * dt) and final.

    All buffers are allocated once here; the time loop allocates nothing.
    Returns (steps done, 1 if diverged else 0, number of records written).
    """
    n = h0.shape[0]
    Z = np.empty((n, 1))
    for i in range(n):
        Z[i, 0] = h0[i]
    k1 = np.empty((n, 1))
    k2 = np.empty((n, 1))
    tmp = np.empty((n, 1))
    work, xt, yt = _alloc_work(p, 1)
    if noise_amp > 0.0:
        np.random.seed(seed)
    bound2 = bound * bound
    n_rec = rec.shape[0]
    m = 0
    total = n_transient + n_steps
    for step in range(total):
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
    if m < n_rec:
        for i in range(n):
            rec[m, i] = Z[i, 0]
        m += 1
    return total, 0, m


@njit(cache=True, parallel=True)
def _integrate_many(h0, n_transient, n_steps, dt, method, record_every, noise_amp, seeds, bound,
                    flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau, diag0, gate_diag,
                    rec, final, done, status, n_written):
    # the parameter tuple is built inside the loop body: parfor gufuncs take no nested tuples
    for r in prange(h0.shape[0]):
        a, b, c = _integrate_one(h0[r], n_transient, n_steps, dt, method, record_every,
                                 noise_amp, seeds[r], bound, r,
                                 (flow_w, flow_b, acts, gate_w, gate_b, gated, lam, inv_tau,
                                  diag0, gate_diag), rec[r], final[r])
        done[r] = a
        status[r] = b
        n_written[r] = c


# --------------------------------------------------------------------------- drivers
def _check_time(t_max, dt, t_transient):
    for name, v in (("t_max", t_max), ("dt", dt)):
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if not np.isfinite(t_transient) or t_transient < 0:
        raise ValueError(f"t_transient must be a finite number >= 0, got {t_transient!r}")
    n_steps = int(round(t_max / dt))
    if n_steps < 1:
        raise ValueError(f"t_max / dt must be >= 1 step, got t_max={t_max}, dt={dt}")
    return n_steps, int(round(t_transient / dt))


def _noise_seeds(noise_std, seed, count):
    if noise_std <= 0:
        return np.zeros(count, dtype=np.int64)
    if seed is None:
        raise TypeError("seed is required when the ensemble has noise_std > 0 "
                        "(seeds are explicit in this project)")
    ss = np.random.SeedSequence(seed)
    return np.array([c.generate_state(1, dtype=np.uint32)[0] for c in ss.spawn(count)],
                    dtype=np.int64)


def _method_code(method: str) -> int:
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    return METHODS[method]


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
        raise TypeError(f"net must be a simulate.Network, got {type(net).__name__}")
    h0 = np.ascontiguousarray(h0, dtype=np.float64)
    if h0.shape != (net.n,) or not np.all(np.isfinite(h0)):
        raise ValueError(f"h0 must be a finite array of shape ({net.n},), got {h0.shape}")
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
    """Validated (nets, h0, record_every) of a batch run."""
    nets = list(nets)
    if not nets or not all(isinstance(x, Network) for x in nets):
        raise TypeError("nets must be a non-empty sequence of simulate.Network")
    ens, n = nets[0].ensemble, nets[0].n
    if any(x.ensemble != ens or x.n != n for x in nets):
        raise ValueError("nets must all come from the same ensemble at the same n")
    h0 = np.ascontiguousarray(h0, dtype=np.float64)
    if h0.shape != (len(nets), n) or not np.all(np.isfinite(h0)):
        raise ValueError(f"h0 must be a finite array of shape ({len(nets)}, {n}), "
                         f"got {h0.shape}")
    if isinstance(record_every, bool) or int(record_every) != record_every or record_every < 1:
        raise ValueError(f"record_every must be an int >= 1, got {record_every!r}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    return nets, h0, int(record_every)


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
    """:func:`integrate_batch`; also returns the number of records each run wrote."""
    nets, h0, record_every = _check_batch(nets, h0, record_every, bound)
    R, n = h0.shape
    n_steps, n_tr = _check_time(t_max, dt, t_transient)
    code = _method_code(method)
    n_rec = n_steps // record_every + 1 if record else 0
    rec = np.zeros((R, n_rec, n)) if record else np.zeros((R, 0, n))
    final = h0.copy()
    p = _stacked_params(nets)
    noise_amp = float(nets[0].noise_std * np.sqrt(dt / nets[0].tau))
    seeds = _noise_seeds(nets[0].noise_std, seed, R)
    done, status, written = (np.zeros(R, dtype=np.int64) for _ in range(3))
    if parallel and R > 1:
        _integrate_many(h0, n_tr, n_steps, float(dt), code, record_every, noise_amp, seeds,
                        float(bound), *p, rec, final, done, status, written)
    else:
        for r in range(R):
            done[r], status[r], written[r] = _integrate_one(
                h0[r], n_tr, n_steps, float(dt), code, record_every, noise_amp, seeds[r],
                float(bound), r, p, rec[r], final[r])
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
    msg = reason or f"integrated {R} run(s) for {n_tr + n_steps} steps of dt={dt:g} ({method})"
    out = Trajectory(t=t, h=rec if record else None, final=final, diverged=diverged,
                     diverged_at=diverged_at, reason=reason, n_steps=done,
                     converged=not diverged.any(), residual=resid, n_iter=int(done.sum()),
                     message=msg)
    return out, written


def _divergence_reason(diverged, diverged_at, bound) -> str:
    if not diverged.any():
        return ""
    R = diverged.size
    first = float(diverged_at.min())
    return (f"{int(diverged.sum())} of {R} runs diverged (non-finite state or rms(h) > "
            f"{bound:g}), the first at t = {first:g} (transient included); their records stop "
            "at the last finite state. Reduce dt or the gain.")
