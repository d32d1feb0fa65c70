"""Driver of the stationary sampled DMFT: :func:`sampled`.

Contract
--------
:func:`sampled` validates the ensemble and the options (:class:`~.options.SampledOptions`),
runs ``n_replicas`` independent replicas (each: :func:`~.covariance.iterate_covariance`, then
:func:`~.replica.power_iteration`), on threads with the serial kernels when ``workers > 1`` and
in this thread with the parallel kernels otherwise, and combines them into one
:class:`~.results.SampledResult`.  The replicas draw from SeedSequence(seed).spawn(n_replicas),
so the numbers depend on the seed only (not on ``workers``).  Divergent (explosive) paths give a
result with ``phase = EXPLOSIVE``; non-convergence raises :class:`dmft.ConvergenceError`.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from .. import _validate as _v
from ..ensemble import Ensemble
from ..errors import ConvergenceError
from ..results import Phase
from .covariance import (
    CovarianceEstimate,
    driven_start,
    initial_covariance,
    iterate_covariance,
)
from .fields import EXPLOSION_BOUND, tau_eff
from .options import SampledGrid, SampledOptions
from .replica import LyapunovEstimate, fixed_point_lyapunov, power_iteration
from .results import SampledResult
from .site import MAP_PARALLEL, MAP_SERIAL, PARALLEL, SERIAL, SiteKernels

__all__ = ["sampled"]


def sampled(ens: Ensemble, drive=None, *, n_paths: int = 1000, dt: float = 0.05,
            lag_window: float = 30.0,
            burn_in: float = 20.0, measure: float = 60.0, damping: float = 1.0,
            max_iter: int = 80, tol: float = 3.0, n_average: int = 4, lyapunov: bool = True,
            lyapunov_iter: int = 16, lyapunov_burn: int | None = None, n_replicas: int = 4,
            workers: int | None = None, seed: int = 0,
            map_step: float | None = None) -> SampledResult:
    """Stationary sampling-based DMFT of a leaky, possibly gated and noise-driven ensemble.

    Iterates eqs. (6.1)-(6.2) (docs/theory.md section 6): sample ``n_paths`` paths of (u, z) from
    the current Delta(s), integrate the single unit (stochastic Heun, exact drives on the grid),
    re-estimate Delta(s), mix ``Delta <- (1 - damping) Delta + damping Delta_new`` until
    max_s |Delta_new - Delta| <= ``tol`` x its Monte Carlo standard error and the fitted drift
    of Delta(0) over the last 8 iterations is below 2 standard errors (at least 8 iterations).
    The estimate is the unmixed mean of the last ``n_average`` iterations.  Then lambda_max by
    the replica-difference power iteration (eq. 6.3).

    Parameters
    ----------
    ens : Ensemble
        Leaky (``leak=True``).  Use :func:`sampled_two_time` for non-leaky flows.  Input
        weights (``input_dim > 0``) need ``drive``.
    drive : InputStatistics, optional
        A stationary input x(t) through U (``ens.input_gain``) and U_z
        (``ens.gate.input_gain``): the fields' covariances get g_x^2 C_x (first layer) and
        g_xz^2 C_x (gate), docs/theory.md section 11.  The iteration then starts from the
        driven closed theory with the gate's mean as a constant gate (:func:`dmft.driven`).
        The phase of a driven state that is not chaotic is DRIVEN_STABLE.
    n_paths : int
        Sampled single-unit paths per iteration (Monte Carlo error ~ n_paths^-1/2).
    dt, lag_window, burn_in, measure : float
        Step, longest lag, discarded transient and measured window, in units of
        tau_eff = tau / E[G].
    damping : float in (0, 1]
    max_iter : int
        Iterations of the Delta loop; ConvergenceError beyond.
    tol : float
        Convergence threshold in Monte Carlo standard errors.
    n_average : int >= 1
        Final iterations whose samples are pooled into the estimate.
    lyapunov : bool
        Also compute lambda_max (``lyapunov_iter`` power-iteration steps).
    lyapunov_burn : int, optional
        Power-iteration steps discarded before the estimates are averaged (default
        min(4, lyapunov_iter // 2)).  The iteration starts from lam = (tau / tau_eff) x
        lambda_max of the flow without its gate (closed theory, exact when there is no gate)
        and from Dt = the normalized decaying part of Delta; the shape Dt then needs a few
        steps.  Measured (mGRU g = 2, g_z = 1, mu_z = 0 and -2; 16 chains of 500 paths): the
        chain-averaged estimate moves by 0.4 of its per-step noise between steps 4 and 5 and
        stays flat afterwards, so 4 steps are discarded by default
        (``history["replica_lyapunov_history"]`` shows each replica's transient).
    n_replicas : int >= 4
        The ``n_paths`` paths are split into ``n_replicas`` independent replicas
        (SeedSequence.spawn), each running the whole iteration with its own fields and its own
        estimate of Delta(s) and lambda_max.  Results are the means over replicas; each error is

            err = max( std_b(x_b) / sqrt(B),  sqrt(sum_b e_b^2) / B )

        the spread of the B replica estimates x_b (B - 1 degrees of freedom) floored by the
        within-replica sampling errors e_b (a strict lower bound of the true error).  Pooling the
        paths of successive iterations of ONE chain is not an honest error: the estimate of
        Delta feeds back into the next iteration's fields, so the iterations are correlated
        (measured, Elman g = 2, 16 seeds x 1500 paths, dt = 0.1: the seed-to-seed spread of
        Delta_0 was 1.43 x the pooled error).  With independent replicas the error is, by
        construction, an estimate of the seed-to-seed spread.
    workers : int, optional
        Threads running the replicas concurrently (default: the available cores, at most
        ``n_replicas``).  The replicas draw from their own seeds, so the result does not depend
        on ``workers``; the random draws, FFTs and the integration kernel release the GIL.
    seed : int
    map_step : float, optional
        The Euler map h <- h + delta G (-h + F), delta = ``map_step`` in (0, 1] (the step over
        tau, as the torch models run it; docs/theory.md eq. 10.3) instead of the flow: the single
        unit and the replica difference are iterated as that map on its lattice (lags
        delta tau apart), and lambda_max is the map's exponent per unit time.  ``dt`` is then
        unused; the windows stay in units of tau_eff.

    Returns
    -------
    SampledResult
        With ``phase = EXPLOSIVE``, ``diverged = True`` (time and reason in ``diverged_at``,
        ``reason``), lambda_max = Delta_0 = +inf and ``converged = False`` when the paths of
        some replica diverge (|h| > 1e8): the one divergence policy of :mod:`simulate`.

    Raises
    ------
    ValueError, TypeError
        Bad parameters, a non-leaky ensemble, or inputs (input_dim > 0).
    ConvergenceError
        The Delta loop did not reach the Monte Carlo error in ``max_iter`` iterations, or the
        power iteration failed.

    References
    ----------
    docs/theory.md section 6; Eissfeller & Opper, PRL 68, 2094 (1992); Roy, Biroli, Bunin,
    Cammarota, J. Phys. A 52, 484001 (2019).
    """
    _check_scope(ens, drive)
    options = SampledOptions(
        n_paths=n_paths, dt=dt, lag_window=lag_window, burn_in=burn_in, measure=measure,
        damping=damping, max_iter=max_iter, tol=tol, n_average=n_average, lyapunov=lyapunov,
        lyapunov_iter=lyapunov_iter, lyapunov_burn=lyapunov_burn, n_replicas=n_replicas,
        workers=workers, seed=seed, map_step=map_step)
    return solve(ens, options, drive)


def _check_scope(ens, drive=None) -> None:
    from .._inputs import InputStatistics
    _v.instance("ens", ens, Ensemble)
    if not ens.leak:
        raise ValueError("sampled: a non-leaky ensemble has no stationary state; use "
                         "dmft.sampled_two_time")
    _v.instance("drive", drive, InputStatistics, optional=True)
    if ens.input_dim > 0 and drive is None:
        raise ValueError("sampled: an ensemble with inputs (input_dim > 0) needs the input's "
                         "statistics: pass drive=dmft.InputStatistics(...) (or input_dim=0)")
    if drive is not None and ens.input_dim == 0:
        raise ValueError("sampled: drive given but the ensemble has no input (input_dim = 0)")


@dataclass(frozen=True, kw_only=True, eq=False)
class ReplicaEstimate:
    """One replica: its covariance estimate, lambda_max (None without) and gate subsample."""

    covariance: CovarianceEstimate
    lyapunov: LyapunovEstimate | None
    gate_sample: np.ndarray | None

    @property
    def history(self) -> dict:
        hist = dict(self.covariance.history)
        hist.update(self.lyapunov.history if self.lyapunov is not None
                    else {"lyapunov": [], "log_mu": []})
        return hist

    @property
    def lyapunov_max(self) -> float:
        return self.lyapunov.lyapunov_max if self.lyapunov is not None else math.nan


def run_replica(ens: Ensemble, fp, grid: SampledGrid, options: SampledOptions,
                start: tuple[np.ndarray, float], kernels: SiteKernels,
                seedseq: np.random.SeedSequence, cx: np.ndarray | None = None
                ) -> ReplicaEstimate:
    """One independent replica: the covariance loop, then the power iteration (``cx``: the
    input covariance on the lag grid, None without input)."""
    seeds = iter(seedseq.spawn(options.max_iter + options.lyapunov_iter + 4))
    cov = iterate_covariance(ens, options, grid, start[0], seeds, kernels, cx)
    if cov.diverged:
        return ReplicaEstimate(covariance=cov, lyapunov=None, gate_sample=None)
    lyap = None
    static = _at_fixed_point(ens, fp, cx)
    if options.lyapunov:
        try:
            lyap = power_iteration(ens, cov.C, cov.fields, grid, options, seeds, kernels,
                                   static=static, lam0=start[1], cx=cx)
        except ConvergenceError:
            if not static:
                raise
            lyap = fixed_point_lyapunov(ens, fp, options.lyapunov_iter, options.map_step)
    # the measured part of the gate, every 10th step (the time-scale histogram)
    gate_sample = cov.fields.G[:, grid.n_burn:][:, ::10]
    return ReplicaEstimate(covariance=cov, lyapunov=lyap, gate_sample=gate_sample)


def _at_fixed_point(ens: Ensemble, fp, cx=None) -> bool:
    """The state settles on the fixed point: stable or marginal (rho = 1), finite q*, no noise
    and no input drive (``cx``)."""
    return (fp.phase in (Phase.FIXED_POINT, Phase.CRITICAL) and math.isfinite(fp.q)
            and ens.noise_std == 0 and cx is None)


def solve(ens: Ensemble, options: SampledOptions, drive=None) -> SampledResult:
    """:func:`sampled` with validated options (the module's contract)."""
    from ..static import fixed_point
    fp = fixed_point(ens)
    grid = SampledGrid.create(options, tau_eff(ens), ens.tau)
    cx = None if drive is None else drive.covariance(grid.lags)
    start = initial_covariance(ens, fp, grid) if drive is None else \
        driven_start(ens, drive, fp, grid)
    threaded = options.workers > 1
    kernels = (SERIAL if threaded else PARALLEL) if options.map_step is None else \
        (MAP_SERIAL if threaded else MAP_PARALLEL)
    run = partial(run_replica, ens, fp, grid, options, start, kernels, cx=cx)
    seqs = np.random.SeedSequence(options.seed).spawn(options.n_replicas)
    if threaded:
        with ThreadPoolExecutor(min(options.workers, options.n_replicas)) as ex:
            replicas = list(ex.map(run, seqs))
    else:
        replicas = [run(ss) for ss in seqs]
    for b, rep in enumerate(replicas):
        if rep.covariance.diverged:
            return _explosive_result(ens, fp, grid, options, rep, b)
    return _combine(ens, grid, options, replicas, driven=drive is not None)


def _combine_values(values, errors) -> tuple[np.ndarray, np.ndarray]:
    """Mean over replicas; error max(spread / sqrt(B), pooled within-replica error / B)."""
    v = np.array(values, dtype=float)
    e = np.array(errors, dtype=float)
    B = v.shape[0]
    spread = v.std(axis=0, ddof=1) / math.sqrt(B)
    within = np.sqrt((e ** 2).sum(axis=0)) / B
    return v.mean(axis=0), np.maximum(spread, within)


def _history(replicas, lyapunov: bool) -> dict:
    """History of the slowest replica (the largest iteration count) and per-replica values."""
    hist = max(replicas, key=lambda r: r.covariance.n_iter).history
    hist["replica_delta0"] = [float(r.covariance.delta[0]) for r in replicas]
    hist["replica_lyapunov"] = [float(r.lyapunov_max) for r in replicas]
    if lyapunov:
        hist["replica_lyapunov_history"] = [r.lyapunov.history["lyapunov"] for r in replicas]
    return {k: np.asarray(v) for k, v in hist.items()}


def _combine(ens, grid, options, replicas, driven: bool = False) -> SampledResult:
    covs = [r.covariance for r in replicas]
    C, C_err = _combine_values([c.delta for c in covs], [c.delta_err for c in covs])
    d_inf, d_inf_err = (float(x) for x in _combine_values([c.delta_inf for c in covs],
                                                          [c.delta_inf_err for c in covs]))
    gate_mean, gate_err = (float(x) for x in _combine_values([c.gate_mean for c in covs],
                                                             [c.gate_err for c in covs]))
    dens, edges, ts, frozen = _timescales(ens, replicas)
    lyap, lyap_err = math.nan, math.nan
    phase = Phase.UNKNOWN
    if options.lyapunov:
        lyap, lyap_err = (float(x) for x in _combine_values(
            [r.lyapunov.lyapunov_max for r in replicas],
            [r.lyapunov.lyapunov_err for r in replicas]))
        phase = Phase.from_lyapunov(lyap, lyap_err, noise=ens.noise_std > 0 or driven)
    hist = _history(replicas, options.lyapunov)
    it = max(c.n_iter for c in covs)
    residual = max(c.residual for c in covs)
    return SampledResult(
        ensemble=ens, lags=grid.lags, autocorrelation=C, autocorrelation_err=C_err,
        delta0=float(C[0]), delta0_err=float(C_err[0]), delta_inf=d_inf,
        delta_inf_err=d_inf_err, lyapunov_max=float(lyap), lyapunov_err=float(lyap_err),
        gate_mean=gate_mean, gate_mean_err=gate_err,
        timescale_quantiles=ts, timescale_edges=edges,
        timescale_density=dens, phase=phase, history=hist, seed=options.seed,
        n_paths=options.n_paths, dt=grid.dt, tau_eff=grid.tau_eff, converged=True,
        residual=residual, n_iter=it,
        message=f"converged in {it} iterations (residual {residual:.2e} <= {options.tol:g} x "
                f"MC error {hist['mc_error'][-1]:.2e})" + (
                    f"; {frozen:.3g} of the gate samples underflowed to G = 0 (frozen units: "
                    "infinite time constants, left out of the time-scale histogram)"
                    if frozen else ""))


def _timescales(ens, replicas):
    """Histogram of log10(tau / G) over the gate samples, and their quantiles.

    A gate that underflows to 0 (a strongly negative gate bias, or a huge noise) freezes its
    unit: its time constant is +inf.  Such samples are counted (``frozen``, a fraction) and left
    out of the histogram, which takes the finite ones (none: an empty histogram).
    """
    g = np.concatenate([r.gate_sample for r in replicas], axis=0).ravel()
    with np.errstate(divide="ignore"):
        ts = ens.tau / g
    finite = np.isfinite(ts)
    frozen = float(1.0 - finite.mean()) if ts.size else 0.0
    if finite.any():
        dens, edges = np.histogram(np.log10(ts[finite]), bins=40, density=True)
    else:
        dens, edges = np.zeros(0), np.zeros(1)
    # tau / G decreases with G: its quantiles are tau over those of G (inf for a frozen unit,
    # never the NaN of interpolating between infinities)
    if finite.all():
        quantiles = np.quantile(ts, [0.1, 0.5, 0.9])
    else:
        with np.errstate(divide="ignore"):
            quantiles = ens.tau / np.quantile(g, [0.9, 0.5, 0.1])
    return dens, edges, quantiles, frozen


def _explosive_result(ens, fp, grid, options, rep: ReplicaEstimate, b: int) -> SampledResult:
    """The EXPLOSIVE result of a replica whose paths diverged (divergence policy)."""
    cov = rep.covariance
    lags = grid.lags
    reason = (f"sampled paths of replica {b} diverged (|h| > {EXPLOSION_BOUND:.0e} or "
              f"non-finite) at t = {cov.diverged_at:.4g} along the paths of iteration "
              f"{cov.n_iter}: explosive ensemble")
    return SampledResult(
        ensemble=ens, lags=lags, autocorrelation=np.full(lags.shape, math.inf),
        autocorrelation_err=np.zeros_like(lags), delta0=math.inf, delta0_err=0.0,
        delta_inf=math.inf, delta_inf_err=0.0, lyapunov_max=math.inf, lyapunov_err=0.0,
        gate_mean=fp.gate_mean if fp.gate_mean is not None else 1.0, gate_mean_err=0.0,
        timescale_quantiles=np.full(3, math.nan), timescale_edges=np.zeros(1),
        timescale_density=np.zeros(0), phase=Phase.EXPLOSIVE,
        history={k: np.asarray(v) for k, v in cov.history.items()}, seed=options.seed,
        n_paths=options.n_paths, dt=grid.dt, tau_eff=grid.tau_eff, diverged=True,
        diverged_at=cov.diverged_at, reason=reason, converged=False, residual=math.inf,
        n_iter=cov.n_iter, message=reason)
