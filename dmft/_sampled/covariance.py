"""The self-consistent covariance of the stationary sampled DMFT: damped update and its test.

Contract
--------
:func:`iterate_covariance` takes an ensemble, the validated options and grid, a starting
Delta(s) on the lag grid, an iterator of seeds (one is consumed per iteration) and the site
kernels; it iterates

    Delta <- (1 - damping) Delta + damping Delta_new,     Delta_new = <h(t) h(t + s)>

(Delta_new from paths sampled with the current Delta, :func:`~.fields.sample_site_paths`) and
returns a :class:`CovarianceEstimate`.  Convergence test (:func:`converged`): the largest change
max_s |Delta_new - Delta| is below ``tol`` Monte Carlo standard errors, and a linear fit of
Delta(0) over the last 8 iterations drifts by less than 2 standard errors across them
(:func:`no_drift`), since a slowly contracting iteration can move by less than the error per step
and still drift.  The estimate is then the unmixed mean of the last ``n_average`` iterations'
samples, with the standard error of their pooled paths.

Divergence is not an error: paths beyond 1e8 (explosive ensemble) end the loop with
``diverged_at`` set (the estimates are then None).  Non-convergence within ``max_iter``
raises :class:`dmft.ConvergenceError` with the residual, the Monte Carlo error and Delta(0).

:func:`initial_covariance` chooses the starting Delta(s) and lambda (fixed point, closed
non-gated theory rescaled by the gate, or a Gaussian guess).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from ..ensemble import Ensemble
from ..errors import ConvergenceError
from ..results import Phase
from .fields import SiteFields, divergence_time, is_explosive, sample_site_paths
from .options import SampledGrid, SampledOptions
from .site import SiteKernels

__all__ = ["CovarianceEstimate", "iterate_covariance", "initial_covariance", "driven_start",
           "acf",
           "no_drift", "converged", "N_TREND"]

#: iterations over which the drift of Delta(0) is tested
N_TREND = 8


def acf(x: np.ndarray, n_lag: int) -> np.ndarray:
    """Per-path unbiased autocorrelation (1/(n-s)) sum_t x_t x_{t+s}, shape (P, n_lag)."""
    n = x.shape[1]
    m = sfft.next_fast_len(2 * n, real=True)
    f = sfft.rfft(x, m, axis=1)
    r = sfft.irfft(f * f.conj(), m, axis=1)[:, :n_lag]
    return r / (n - np.arange(n_lag))


def no_drift(values, se: float) -> bool:
    """Trend test: the fitted drift of Delta(0) over the last iterations is below its error.

    A damped iteration that contracts slowly can change by less than the Monte Carlo error per
    step while still drifting; the drift over the window (slope x length) must stay below
    2 standard errors of one estimate.
    """
    v = np.asarray(values, dtype=float)
    x = np.arange(v.size)
    slope = np.polyfit(x, v, 1)[0]
    return abs(slope) * v.size <= 2.0 * se + 1e-12 * max(1.0, abs(v[-1]))


def converged(residual: float, mc: float, delta0_history, se0: float, it: int,
              tol: float) -> bool:
    """The convergence test of the module docstring at iteration ``it`` (1-based)."""
    small = residual <= tol * mc + 1e-12 * max(1.0, float(delta0_history[-1]))
    return small and it >= N_TREND and no_drift(delta0_history[-N_TREND:], se0)


@dataclass(frozen=True, kw_only=True, eq=False)
class CovarianceEstimate:
    """Outcome of :func:`iterate_covariance` for one replica.

    Attributes
    ----------
    C : ndarray or None
        The mixed Delta(s) of the last iteration (the power iteration starts from it).
    delta, delta_err : ndarray or None
        The final estimate of Delta(s) and its Monte Carlo standard error.
    delta_inf, delta_inf_err : float or None
        Mean of the last tenth of the lags and its error.
    gate_mean, gate_err : float or None
        E[G] over paths and measured time, and its error.
    fields : SiteFields or None
        The last iteration's sample (reused by the power iteration).
    history : dict of list
        "residual", "mc_error", "delta0" per iteration.
    n_iter : int
    residual : float
    diverged_at : float
        Time along the paths at which they diverged (``inf``: they did not).
    """

    C: np.ndarray | None
    delta: np.ndarray | None
    delta_err: np.ndarray | None
    delta_inf: float | None
    delta_inf_err: float | None
    gate_mean: float | None
    gate_err: float | None
    fields: SiteFields | None
    history: dict
    n_iter: int
    residual: float
    diverged_at: float = math.inf

    @property
    def diverged(self) -> bool:
        return self.diverged_at != math.inf


def iterate_covariance(ens: Ensemble, options: SampledOptions, grid: SampledGrid,
                       C_start: np.ndarray, seeds: Iterator, kernels: SiteKernels,
                       cx: np.ndarray | None = None) -> CovarianceEstimate:
    """Damped iteration of Delta(s) to self-consistency (module docstring); ``cx`` the input
    covariance on the lag grid (None: no input)."""
    P, n_burn = grid.n_paths, grid.n_burn
    C = C_start.copy()
    hist = {"residual": [], "mc_error": [], "delta0": []}
    done, residual, fields, se, it = False, math.inf, None, None, 0
    finals = []
    for it in range(1, options.max_iter + 1):
        rng = np.random.default_rng(next(seeds))
        fields = sample_site_paths(ens, C, grid.n_steps, P, grid.dt, rng, kernels, cx)
        if is_explosive(fields.h):
            return CovarianceEstimate(
                C=None, delta=None, delta_err=None, delta_inf=None, delta_inf_err=None,
                gate_mean=None, gate_err=None, fields=None, history=hist, n_iter=it,
                residual=math.inf, diverged_at=divergence_time(fields.h, grid.dt))
        per = acf(fields.h[:, n_burn:], grid.n_lag)
        C_new = per.mean(axis=0)
        se = per.std(axis=0, ddof=1) / math.sqrt(P)
        residual = float(np.abs(C_new - C).max())
        hist["residual"].append(residual)
        hist["mc_error"].append(float(se.max()))
        hist["delta0"].append(float(C_new[0]))
        C = (1 - options.damping) * C + options.damping * C_new
        finals.append(per)
        if converged(residual, hist["mc_error"][-1], hist["delta0"], float(se[0]), it,
                     options.tol):
            done = True
            break
    if not done:
        raise ConvergenceError(
            "sampled: Delta(s) did not converge to the Monte Carlo error; increase max_iter or "
            "damping, or lengthen lag_window near criticality",
            n_iter=it, residual=residual, mc_error=hist["mc_error"][-1],
            delta0=hist["delta0"][-1])
    return _final_estimate(C, finals[-options.n_average:], fields, grid, hist, it, residual)


def _final_estimate(C, pers, fields, grid, hist, it, residual) -> CovarianceEstimate:
    """The unmixed samples of the last iterations (no drift left among them, by the trend
    test), with the Monte Carlo error of their pooled paths."""
    per = np.concatenate(pers, axis=0)
    n_pool = per.shape[0]
    delta = per.mean(axis=0)
    tail = max(1, grid.n_lag // 10)
    G = fields.G[:, grid.n_burn:]
    gm_path = G.mean(axis=1)
    return CovarianceEstimate(
        C=C, delta=delta, delta_err=per.std(axis=0, ddof=1) / math.sqrt(n_pool),
        delta_inf=float(delta[-tail:].mean()),
        delta_inf_err=float(per[:, -tail:].mean(axis=1).std(ddof=1) / math.sqrt(n_pool)),
        gate_mean=float(gm_path.mean()),
        gate_err=float(gm_path.std(ddof=1) / math.sqrt(grid.n_paths)),
        fields=fields, history=hist, n_iter=it, residual=residual)


def initial_covariance(ens: Ensemble, fp, grid: SampledGrid) -> tuple[np.ndarray, float]:
    """Starting Delta(s) on the lag grid and starting lambda of the power iteration.

    The fixed point q* when it is stable or marginal (rho = 1) and nothing drives the unit;
    else the closed non-gated theory rescaled by the gate (:func:`_warm_start`); else q* + a
    Gaussian bump.
    """
    lags, te = grid.lags, grid.tau_eff
    if fp.phase in (Phase.FIXED_POINT, Phase.CRITICAL) and ens.noise_std == 0 \
            and math.isfinite(fp.q):
        return np.full(grid.n_lag, fp.q), 0.0
    warm = _warm_start(ens, lags, te) if grid.map_step is None else \
        _map_warm_start(ens, grid, None)
    if warm is not None:
        return warm
    q0 = fp.q if math.isfinite(fp.q) and fp.q > 0 else 0.0
    return q0 + 0.5 * np.exp(-0.5 * (lags / (2.0 * te)) ** 2), 0.0


def _warm_start(ens, lags, te):
    """Delta(s) of the non-gated flow (closed theory, docs/theory.md §4) with time rescaled by
    the gate, Delta_1(s tau / tau_eff), and its lambda_max tau / tau_eff: exact without a gate,
    a close start with one.  Returns (Delta on ``lags``, lam) or None.

    The damped iteration has a slow mode (Delta_0 creeps by ~0.2 % per iteration for Elman
    g = 2 from a Gaussian guess, below what a trend test over a few iterations resolves), so the
    start matters; None when the closed theory does not apply (noise, no chaotic solution).
    """
    if ens.noise_std > 0:
        return None
    from .._stationary import stationary
    try:
        st = stationary(ens.replace(gate=None))
    except (ValueError, TypeError, ConvergenceError):
        return None
    if not (st.delta0 > 0 and math.isfinite(st.delta0)) or st.lags.size < 2:
        return None
    c = np.interp(lags * ens.tau / te, st.lags, st.autocorrelation)
    lam = float(st.lyapunov_max) * ens.tau / te
    if not (np.all(np.isfinite(c)) and math.isfinite(lam)):
        return None
    return c, lam


def _map_warm_start(ens: Ensemble, grid: SampledGrid, drive):
    """Delta(k) and lambda_max of the Euler map with the gate replaced by the constant
    gamma = tau / tau_eff = E[G] at the fixed point (exact for a constant gate: delta ->
    gamma delta, docs/theory.md eq. 10.3) from the closed theory of the map
    (:func:`dmft.driven` with ``dt``), on the map's lags.  The flow's Delta is not a usable
    start: it is smoother at lag delta than the map's, the first sweep from it lands at
    Delta_0 = 0.496, and the iteration's slow mode (above) relaxes back towards the map's
    0.481 (Elman g = 2, delta = 0.5) so slowly that the trend test stops it at 0.489
    (measured).  None where the closed theory does not apply."""
    from .._driven import constant_gate, driven
    gamma = min(ens.tau / grid.tau_eff, 1.0)
    e = ens.replace(gate=None) if ens.gate is None else constant_gate(ens, gamma)
    try:
        r = driven(e, drive, dt=grid.map_step * ens.tau)
    except (ValueError, TypeError, ConvergenceError):
        return None
    if not (math.isfinite(r.delta0) and r.delta0 > 0 and r.lags.size > 1
            and math.isfinite(r.lyapunov_max)):
        return None
    return np.interp(grid.lags, r.lags, r.autocorrelation), float(r.lyapunov_max)


def driven_start(ens: Ensemble, drive, fp, grid: SampledGrid) -> tuple[np.ndarray, float]:
    """Starting Delta(s) and lambda under an input: the driven closed theory
    (:func:`dmft.driven`, docs/theory.md section 11) with the gate replaced by the constant
    E[G] at the fixed point (exact for a constant gate); :func:`initial_covariance` where the
    closed theory fails."""
    from .._driven import constant_gate, driven
    from ..errors import ConvergenceError
    if grid.map_step is not None:
        warm = _map_warm_start(ens, grid, drive)
        return warm if warm is not None else initial_covariance(ens, fp, grid)
    e = ens.replace(gate=None) if ens.gate is None else constant_gate(
        ens, min(fp.gate_mean if fp.gate_mean is not None else 1.0, 1.0))
    try:
        r = driven(e, drive)
    except (ValueError, ConvergenceError):
        return initial_covariance(ens, fp, grid)
    if not (math.isfinite(r.delta0) and r.lags.size > 1):
        return initial_covariance(ens, fp, grid)
    c = np.interp(grid.lags, r.lags, r.autocorrelation)
    return c, float(r.lyapunov_max)
