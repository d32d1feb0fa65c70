"""lambda_max of the stationary sampled DMFT: power iteration on the replica difference (6.3).

Contract
--------
:func:`power_iteration` takes the converged Delta(s) of one replica (and that iteration's
sample of the fields), the options and grid, the replica's seed iterator (one seed per step)
and the site kernels; it returns a :class:`LyapunovEstimate` (lambda_max, its error, and the
per-step history).  It raises :class:`dmft.ConvergenceError` when the replica difference
vanishes or is not finite (mu <= 0 or non-finite).

Method.  In the stationary state D(t, t') = exp(lam_max (t + t')) Dt(t - t'); y = e^{-lam t} dh
obeys (6.3) with the extra damping -lam y and difference fields du ~ GP(0, A Dt),
dz ~ GP(0, g_z^2 Dt).  For a trial lam the map Dt -> <y y> is linear with leading eigenvalue
mu(lam), decreasing in lam; each step estimates mu from one sample, moves lam along the slope
d log mu / d lam ~ -2 / (lam + lam_leak E[G] / tau) of the filter (a Newton step on
log mu = 0), floors it, and mixes the normalized <y y> into Dt with the options' damping.
The estimates after the first ``lyapunov_burn`` steps are averaged; the error is the larger of
their spread and their pooled per-step sampling error.

phi'(u) comes from the activation's joint value/derivative (``Activation.values``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..ensemble import Ensemble
from ..errors import ConvergenceError
from ..kernels import get_activation
from .covariance import acf
from .fields import SiteFields, gate, gate_params, last_preactivation, sample_site_paths
from .gp import sample_stationary_gp
from .options import SampledGrid, SampledOptions
from .site import SiteKernels, integrate_tangent

__all__ = ["LyapunovEstimate", "power_iteration", "fixed_point_lyapunov"]


@dataclass(frozen=True, kw_only=True)
class LyapunovEstimate:
    """lambda_max of one replica, its error and the per-step "lyapunov" / "log_mu" history."""

    lyapunov_max: float
    lyapunov_err: float
    history: dict = field(default_factory=dict)


def _initial_shape(C: np.ndarray, n_lag: int, static: bool) -> np.ndarray:
    """Dt at the start: flat at a fixed point, else the normalized decaying part of Delta."""
    if static:
        return np.ones(n_lag)
    tail = max(1, n_lag // 10)
    dec = C - C[-tail:].mean()
    return np.clip(dec / dec[0], 0.0, None) if dec[0] > 0 else np.ones(n_lag)


def _difference_fields(ens: Ensemble, A: np.ndarray, Dt: np.ndarray, shape, rng):
    """du ~ GP(0, A Dt) and dz ~ GP(0, g_z^2 Dt) (shape (0, 0) without a random gate)."""
    du = sample_stationary_gp(A * Dt, shape[1], shape[0], rng)
    gp = gate_params(ens)
    if gp is not None and gp[0] > 0:
        return du, sample_stationary_gp(gp[0] ** 2 * Dt, shape[1], shape[0], rng)
    return du, np.zeros((0, 0))


def power_iteration(ens: Ensemble, C: np.ndarray, fields: SiteFields, grid: SampledGrid,
                    options: SampledOptions, seeds: Iterator, kernels: SiteKernels, *,
                    static: bool, lam0: float = 0.0,
                    cx: np.ndarray | None = None) -> LyapunovEstimate:
    """Power iteration for lambda_max (module docstring); ``static``: start from a flat Dt;
    ``cx``: the input covariance (the fields' law; the input is common to both replicas)."""
    lam_leak = 1.0 if ens.leak else 0.0
    te, P, n_lag = grid.tau_eff, grid.n_paths, grid.n_lag
    _, _, A = last_preactivation(ens, float(C[0]), C, cx)
    act = get_activation(ens.flow[-1].activation)
    Dt = _initial_shape(C, n_lag, static)
    lam = float(lam0)
    gbar = float(fields.G.mean())
    hist = {"lyapunov": [], "log_mu": []}
    ests = []
    for k in range(options.lyapunov_iter):
        rng = np.random.default_rng(next(seeds))
        f = fields if k == 0 else sample_site_paths(ens, C, fields.h.shape[1], P, grid.dt,
                                                    rng, kernels, cx)
        du, dz = _difference_fields(ens, A, Dt, f.h.shape, rng)
        _, d_u = act.values(f.u)
        y = integrate_tangent(f.G, d_u, f.h, f.phi, du, dz, lam=lam, lam_leak=lam_leak,
                              tau=ens.tau, dt=grid.dt, kernels=kernels)
        per = acf(y[:, grid.n_burn:], n_lag)
        Dn = per.mean(axis=0)
        mu = float(Dn[0])
        if not (mu > 0 and math.isfinite(mu)):
            raise ConvergenceError("sampled: replica-difference power iteration failed",
                                   lam=lam, mu=mu)
        se_mu = float(per[:, 0].std(ddof=1) / math.sqrt(P)) / mu
        logmu = math.log(mu)
        # slope d log mu / d lam of the filter 1/(lam + lam_leak G/tau): about -2/(lam + G/tau)
        rate = lam + lam_leak * gbar / ens.tau
        slope = -2.0 / max(rate, 0.05 / te)
        est = lam - logmu / slope
        hist["lyapunov"].append(est)
        hist["log_mu"].append(logmu)
        ests.append((est, se_mu / abs(slope)))
        floor = -0.9 * lam_leak * float(np.quantile(f.G, 0.01)) / ens.tau
        lam = max(est, floor) if lam_leak else max(est, 0.02 / te)
        Dt = (1 - options.damping) * Dt + options.damping * np.clip(Dn / mu, 0.0, None)
        Dt = Dt / Dt[0]
    lam_max, err = _average(ests[options.lyapunov_burn:])
    return LyapunovEstimate(lyapunov_max=lam_max, lyapunov_err=err, history=hist)


def fixed_point_lyapunov(ens: Ensemble, fp, n_steps: int,
                         map_step: float | None = None) -> LyapunovEstimate:
    """lambda_max at a stable (or marginal) fixed point without noise, from the static theory.

    At the fixed point every unit is frozen at its G* and the linearization is
    diag(G*) (-lam_leak + J_F) / tau, J_F of spectral radius rho (docs/theory.md section 3).
    For a circular J_F its right edge lambda solves Girko's deformed circular law

        E[G*^2 / (G* + lambda tau)^2] = 1 / rho^2,                                   (3.8)

    i.e. lambda = G* (rho - 1) / tau for a gate that is the same for every unit (no gate,
    g_z^2 q* + sigma_z^2 = 0); otherwise with the law of z* ~ N(mu_z, g_z^2 q* + sigma_z^2) on
    48 Gauss-Hermite nodes.  Used where the power iteration has nothing to act on: at q* = 0
    the preactivations are exactly 0, where a ReLU's sampled phi'(0) = 0 differs from the
    theory's limit E[phi'(u)^2] -> 1/2 that rho uses.  The value is exact up to rounding
    (error 0), and repeated over the ``n_steps`` steps of the history.  For the Euler map of
    step delta = ``map_step`` the multipliers are 1 + delta tau x (those of the flow): the edge
    is log(1 + delta tau lambda) / (delta tau) (exact for a gate the same for every unit, the
    disk's rightmost point being its largest modulus while G delta <= 1).
    """
    rho = fp.rho
    g = ens.gate
    sd = 0.0 if g is None or g.bias_mean == math.inf else math.hypot(g.gain * math.sqrt(
        max(fp.q, 0.0)), g.bias_std)
    if g is None or g.bias_mean == math.inf:
        G, w = np.ones(1), np.ones(1)
    elif sd == 0.0:
        G, w = gate(np.array([g.bias_mean])), np.ones(1)
    else:
        x, w = np.polynomial.hermite_e.hermegauss(48)
        G, w = gate(g.bias_mean + sd * x), w / w.sum()
    if G.size == 1 or rho == 0.0:
        lam = float(G.min()) * (rho - 1.0) if rho > 0.0 else -float(G.min())
    else:
        def excess(lt):
            return float(np.sum(w * G * G / (G + lt) ** 2)) - 1.0 / rho ** 2
        lo = -float(G.min()) * (1.0 - 1e-12)
        lam = optimize.brentq(excess, lo, 1.0, xtol=1e-15) if excess(1.0) < 0.0 else 1.0
    lam /= ens.tau
    if map_step is not None:
        lam = math.log(max(1.0 + map_step * ens.tau * lam, 1e-300)) / (map_step * ens.tau)
    hist = {"lyapunov": [lam] * n_steps, "log_mu": [0.0] * n_steps}
    return LyapunovEstimate(lyapunov_max=lam, lyapunov_err=0.0, history=hist)


def _average(ests) -> tuple[float, float]:
    """Mean of the settled estimates; error max(pooled per-step error, spread)."""
    tail_est = np.array([e for e, _ in ests])
    err = float(np.sqrt(np.mean([s * s for _, s in ests]) / tail_est.size))
    spread = float(tail_est.std(ddof=1) / math.sqrt(tail_est.size)) if tail_est.size > 1 else err
    return float(tail_est.mean()), max(err, spread)
