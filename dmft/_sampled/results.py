"""Results of the sampled DMFT: :class:`SampledResult` and :class:`SampledTwoTimeResult`.

Keyword-only frozen dataclasses with the project's ``converged`` / ``message`` diagnostics, the
shared :class:`~dmft.results.Phase` and the divergence fields of the one divergence policy
(:mod:`simulate`): ``diverged``, ``diverged_at`` (``inf`` when the paths stayed finite) and
``reason``; a diverged (explosive) solve has ``phase = Phase.EXPLOSIVE``, lambda_max = +inf and
``converged = False``, and is returned, not raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..ensemble import Ensemble
from ..results import Phase, short_repr

__all__ = ["SampledResult", "SampledTwoTimeResult"]


@dataclass(frozen=True, kw_only=True)
class _SampledOutcome:
    """Fields both sampled results share: the root seed, the path count, the divergence
    policy's flag, time and reason, and the solver diagnostics."""

    seed: int
    n_paths: int
    diverged: bool = False
    diverged_at: float = math.inf
    reason: str = ""
    converged: bool
    residual: float
    n_iter: int
    message: str


@dataclass(frozen=True, kw_only=True)
class SampledResult(_SampledOutcome):
    """Result of :func:`dmft.sampled` (stationary sampled DMFT).

    Attributes
    ----------
    lags : ndarray, shape (n_lag,)
        Time lags s (in the ensemble's time units).
    autocorrelation, autocorrelation_err : ndarray, shape (n_lag,)
        Delta(s) = <h(t) h(t+s)> and its Monte Carlo standard error.
    delta0, delta0_err, delta_inf, delta_inf_err : float
        Delta(0) and the static part Delta(inf) (mean over the last tenth of the lags).
    lyapunov_max, lyapunov_err : float
        lambda_max from the jointly sampled replicas (eq. 6.3) and its Monte Carlo error;
        +inf for explosive ensembles; NaN with ``lyapunov=False`` (phase UNKNOWN).
    gate_mean, gate_mean_err : float
        E[G(z)] over units and time.
    timescale_quantiles : ndarray, shape (3,)
        10 %, 50 %, 90 % quantiles of tau / G(z(t)).
    timescale_edges, timescale_density : ndarray
        Histogram of log10(tau / G).
    phase : Phase
        CHAOTIC (lambda_max > 2 errors), FIXED_POINT (< -2 errors, no noise), DRIVEN_STABLE
        (< -2 errors, noise-driven), NEAR_CRITICAL (within 2 errors of 0), EXPLOSIVE (paths
        diverged), UNKNOWN (``lyapunov=False``).
    history : dict of ndarray
        Per iteration: "residual", "mc_error", "delta0" (C loop); "lyapunov", "log_mu".
    seed : int
        Root seed; iteration k draws from SeedSequence(seed).spawn.
    n_paths, dt, tau_eff : int, float, float
    diverged, diverged_at, reason : bool, float, str
        Whether the sampled paths diverged (|h| > 1e8 or non-finite), the time along the paths
        at which they did (``inf`` otherwise) and why.
    converged, residual, n_iter, message
    """

    ensemble: Ensemble
    lags: np.ndarray
    autocorrelation: np.ndarray
    autocorrelation_err: np.ndarray
    delta0: float
    delta0_err: float
    delta_inf: float
    delta_inf_err: float
    lyapunov_max: float
    lyapunov_err: float
    gate_mean: float
    gate_mean_err: float
    timescale_quantiles: np.ndarray
    timescale_edges: np.ndarray
    timescale_density: np.ndarray
    phase: Phase
    history: dict = field(repr=False)
    dt: float
    tau_eff: float

    __repr__ = short_repr


@dataclass(frozen=True, kw_only=True)
class SampledTwoTimeResult(_SampledOutcome):
    """Result of :func:`dmft.sampled_two_time` (transient sampled DMFT on a time grid).

    Attributes
    ----------
    times : ndarray, shape (n,)
        The grid; when the paths diverged, only the times before the divergence.
    correlation, correlation_err : ndarray, shape (n, n)
        C(t, s) = <h(t) h(s)> and its Monte Carlo error.
    distance : ndarray, shape (n,)
        D(t, t) of the replica difference (eq. 6.3), normalized to D(0, 0) = 1 (geometric mean
        over the replicas).
    lyapunov_max, lyapunov_err : float
        Slope of (1/2) log D(t, t) over the second half of the window (finite-time exponent),
        mean over the replicas and its standard error; +inf (error 0) when the paths diverged.
    gate_mean : ndarray, shape (n,)
        E[G(z(t))].
    phase : Phase
        EXPLOSIVE when the paths diverged, else UNKNOWN (a transient is not classified).
    history : dict
        "corrector_change": per grid time, the largest change of h in the last corrector pass.
    diverged, diverged_at, reason : bool, float, str
        Whether some replica's paths diverged, the grid time at which the first did (``inf``
        otherwise) and why.
    converged, residual, n_iter, message
        The construction is causal (no global iteration): ``n_iter`` is the number of steps,
        ``residual`` the largest last-pass corrector change; ``converged`` is False only when
        the paths diverged.
    """

    ensemble: Ensemble
    times: np.ndarray
    correlation: np.ndarray
    correlation_err: np.ndarray
    distance: np.ndarray
    lyapunov_max: float
    lyapunov_err: float
    gate_mean: np.ndarray
    phase: Phase = Phase.UNKNOWN
    history: dict = field(repr=False)

    __repr__ = short_repr
