"""Sampling-based DMFT for gated (and noise-driven, and non-leaky) ensembles (THEORY.md section 6).

A gated unit is not Gaussian, so the theory does not close on a kernel; instead the single-unit
equation is solved for many sampled paths of its Gaussian fields::

    tau dh/dt = G(z(t)) ( -lam h + phi_out(u(t)) ) + noise_std sqrt(tau) xi(t)          (6.1)
    u ~ GP(0, Sigma_L[C]),     z ~ GP(mu_z, g_z^2 C + sigma_z^2),   G = sigmoid        (6.2)

with Sigma_L[C] the covariance of the flow's last preactivation obtained from C by the layer maps
(THEORY.md section 2) and u, z independent.  C is re-estimated from the paths and mixed with
damping until the change is below the Monte Carlo error (Eissfeller & Opper 1992; Roy, Biroli,
Bunin, Cammarota 2019).

Maximal Lyapunov exponent.  Two replicas a, b with the same weights, sampled jointly; in the
limit of infinitesimal separation the difference dh = h_a - h_b is driven by the difference
fields du, dz, which are Gaussian, independent of (u, z) (by the a <-> b symmetry), with
covariances A(t,t') D(t,t') and g_z^2 D(t,t'), D = <dh dh>, A = dSigma_L/dC (Price's theorem):

    tau d(dh)/dt = G (-lam dh + phi'(u) du) + G (1 - G) (-lam h + phi(u)) dz            (6.3)

In the stationary state D(t, t') = exp(lam_max (t + t')) Dt(t - t'); y = exp(-lam_max t) dh then
obeys (6.3) with the extra damping -tau lam_max y and stationary fields of covariance A Dt,
g_z^2 Dt.  For a trial lam the map Dt -> <y y> is linear with leading eigenvalue mu(lam),
decreasing in lam; lam_max is the root of log mu(lam) = 0, found by damped power iteration on Dt
and a regression of log mu on lam.  For the non-gated leaky flow this is exactly the
Schroedinger problem of THEORY.md section 4 (mu = 1 <=> E_0 = 1 - (1 + lam)^2).

Time is measured in units of tau_eff = tau / E[G] (E[G] at the fixed point), so that a constant
gate gamma rescales time exactly: lam_max(gamma) = gamma lam_max(1), Delta_gamma(s) =
Delta_1(gamma s) hold to rounding for a common seed (THEORY.md section 6, exact check).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy import fft as sfft
from scipy import special

from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import flow_kernel, get_activation

__all__ = ["SampledResult", "SampledTwoTimeResult", "sampled", "sampled_two_time",
           "sample_stationary_gp"]


# ----------------------------------------------------------------------------- numba kernel
@numba.njit(cache=True, nogil=True)
def _heun_path(p, a, b, noise, has_noise, dt, y0, out):  # pragma: no cover - compiled
    """Path p of :func:`_heun_linear` (shared by the parallel and the serial kernel)."""
    n = a.shape[1]
    y = y0[p]
    out[p, 0] = y
    for k in range(n - 1):
        f0 = -a[p, k] * y + b[p, k]
        w = noise[p, k] if has_noise else 0.0
        yp = y + dt * f0 + w
        f1 = -a[p, k + 1] * yp + b[p, k + 1]
        y = y + 0.5 * dt * (f0 + f1) + w
        out[p, k + 1] = y


@numba.njit(cache=True, parallel=True)
def _heun_linear(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """Stochastic Heun for dy/dt = -a_k y + b_k + noise, drives given on the grid.

    a, b : (P, n); noise : (P, n-1) increments (already times sqrt(dt)) or shape (0, 0);
    out : (P, n) written in place.  Prange over independent paths.
    """
    has_noise = noise.shape[0] > 0
    for p in numba.prange(a.shape[0]):
        _heun_path(p, a, b, noise, has_noise, dt, y0, out)


@numba.njit(cache=True, nogil=True)
def _heun_linear_serial(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """:func:`_heun_linear` without prange and without the GIL, for replicas run on threads
    (numba's parallel layers must not be entered from several Python threads at once)."""
    has_noise = noise.shape[0] > 0
    for p in range(a.shape[0]):
        _heun_path(p, a, b, noise, has_noise, dt, y0, out)


@numba.njit(cache=True, nogil=True)
def _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt,
                  out):  # pragma: no cover - compiled
    """Path p of :func:`_tangent_heun`."""
    n = G.shape[1]
    y = 0.0
    out[p, 0] = 0.0
    g = G[p, 0]
    a0 = lam + lam_leak * inv_tau * g
    b0 = g * dphi[p, 0] * du[p, 0]
    if has_dz:
        b0 += g * (1.0 - g) * (phi[p, 0] - lam_leak * h[p, 0]) * dz[p, 0]
    b0 *= inv_tau
    for k in range(n - 1):
        g = G[p, k + 1]
        a1 = lam + lam_leak * inv_tau * g
        b1 = g * dphi[p, k + 1] * du[p, k + 1]
        if has_dz:
            b1 += g * (1.0 - g) * (phi[p, k + 1] - lam_leak * h[p, k + 1]) * dz[p, k + 1]
        b1 *= inv_tau
        f0 = -a0 * y + b0
        f1 = -a1 * (y + dt * f0) + b1
        y = y + 0.5 * dt * (f0 + f1)
        out[p, k + 1] = y
        a0 = a1
        b0 = b1


@numba.njit(cache=True, parallel=True)
def _tangent_heun(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                  out):  # pragma: no cover - compiled
    """Heun for the damped replica difference y of eq. (6.3), y(0) = 0, drive fused in::

        dy/dt = -(lam + lam_leak G / tau) y
                + [G phi'(u) du + G (1 - G) (-lam_leak h + phi(u)) dz] / tau

    all arrays (P, n) on the grid; ``dz`` of shape (0, 0) drops the gate term.  Same scheme as
    :func:`_heun_linear` with a = lam + lam_leak G / tau and b the bracket (no temporaries).
    """
    has_dz = dz.shape[0] > 0
    for p in numba.prange(G.shape[0]):
        _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


@numba.njit(cache=True, nogil=True)
def _tangent_heun_serial(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                         out):  # pragma: no cover - compiled
    """:func:`_tangent_heun` without prange and without the GIL (replicas on threads)."""
    has_dz = dz.shape[0] > 0
    for p in range(G.shape[0]):
        _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


def heun_linear_reference(a, b, noise, dt, y0):
    """Pure-numpy reference of the compiled kernel (used by the tests)."""
    P, n = a.shape
    out = np.empty((P, n))
    y = np.array(y0, dtype=float)
    out[:, 0] = y
    for k in range(n - 1):
        f0 = -a[:, k] * y + b[:, k]
        w = noise[:, k] if noise.shape[0] else 0.0
        yp = y + dt * f0 + w
        f1 = -a[:, k + 1] * yp + b[:, k + 1]
        y = y + 0.5 * dt * (f0 + f1) + w
        out[:, k + 1] = y
    return out


#: set per thread: True inside replicas run on a thread pool (serial, GIL-free kernel)
_THREAD = threading.local()


def _integrate(a, b, noise, dt, y0):
    out = np.empty(a.shape)
    nz = noise if noise is not None else np.zeros((0, 0))
    kernel = _heun_linear_serial if getattr(_THREAD, "serial", False) else _heun_linear
    kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(nz),
           float(dt), np.ascontiguousarray(y0, dtype=float), out)
    return out


# ----------------------------------------------------------------------------- GP sampling
def sample_stationary_gp(cov: np.ndarray, n_steps: int, n_paths: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Paths of a zero-mean stationary Gaussian process with covariance ``cov`` at lags 0, 1, ...

    Circulant embedding (Dietrich & Newsam 1997): the covariance is split into a static part
    c_inf (the mean of the last tenth of the lags, one N(0, c_inf) offset per path) and a decaying
    part, tapered to 0 over the last tenth, embedded in a circulant of period
    M >= n_steps + n_lag whose eigenvalues are the FFT of its first row (negative ones, from
    truncation, clipped to 0); the real and imaginary parts of FFT(sqrt(lambda / M) xi), xi
    complex standard normal, are two independent paths.

    Parameters
    ----------
    cov : ndarray, shape (n_lag,)
    n_steps, n_paths : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_paths, n_steps)
    """
    cov = np.asarray(cov, dtype=float)
    n_lag = cov.size
    tail = max(1, n_lag // 10)
    c_inf = float(np.clip(cov[-tail:].mean(), 0.0, max(cov[0], 0.0)))
    dec = cov - c_inf
    if n_lag > 2:
        taper = np.ones(n_lag)
        taper[-tail:] = 0.5 * (1 + np.cos(np.linspace(0, np.pi, tail)))
        dec = dec * taper
    # a period m >= n_steps + n_lag suffices: the tapered decaying part vanishes beyond n_lag,
    # so the circulant's wrapped-around lags m - s > n_lag add nothing within a path
    m = sfft.next_fast_len(max(n_steps + n_lag, 2 * n_lag), real=False)
    row = np.zeros(m)
    k = min(n_lag, m // 2)
    row[:k] = dec[:k]
    row[m - k + 1:] = dec[1:k][::-1]
    lam = np.clip(sfft.fft(row).real, 0.0, None)
    n_c = (n_paths + 1) // 2
    # complex standard normals drawn as (re, im) pairs in place: no complex temporaries
    xi = rng.standard_normal((n_c, 2 * m)).view(np.complex128)
    xi *= np.sqrt(lam / m)
    y = sfft.fft(xi, axis=1, overwrite_x=True)
    paths = np.empty((n_paths, n_steps))
    paths[:n_c] = y.real[:, :n_steps]                  # rows: real parts, then imaginary parts
    paths[n_c:] = y.imag[:n_paths - n_c, :n_steps]
    if c_inf > 0:
        paths += math.sqrt(c_inf) * rng.standard_normal((n_paths, 1))
    return paths


def _acf(x: np.ndarray, n_lag: int) -> np.ndarray:
    """Per-path unbiased autocorrelation (1/(n-s)) sum_t x_t x_{t+s}, shape (P, n_lag)."""
    n = x.shape[1]
    m = sfft.next_fast_len(2 * n, real=True)
    f = sfft.rfft(x, m, axis=1)
    r = sfft.irfft(f * f.conj(), m, axis=1)[:, :n_lag]
    return r / (n - np.arange(n_lag))


# ----------------------------------------------------------------------------- kernel maps
def _last_preactivation(ens: Ensemble, c0: float, c: np.ndarray):
    """Sigma_L at (C(0), C(0), c) and A = dSigma_L/dc (THEORY.md sections 2 and 6)."""
    layers = ens.flow
    last = layers[-1]
    g2, s2 = last.gain ** 2, last.bias_std ** 2
    c = np.asarray(c, dtype=float)
    if len(layers) == 1:
        return g2 * c0 + s2, g2 * c + s2, np.full(c.shape, g2)
    grid = np.linspace(min(float(c.min()), c0), c0, 97) if c.size > 97 else c
    fk = flow_kernel(layers[:-1], c0, c0, grid)
    k = np.broadcast_to(fk.k, grid.shape)
    dk = np.broadcast_to(fk.dk, grid.shape)
    if grid is not c:
        k, dk = np.interp(c, grid, k), np.interp(c, grid, dk)
    var = g2 * float(flow_kernel(layers[:-1], c0, c0, c0, derivative=False).k) + s2
    return var, g2 * k + s2, g2 * dk


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SampledResult:
    """Result of :func:`sampled` (stationary sampled DMFT).

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
        +inf for explosive ensembles.
    gate_mean, gate_mean_err : float
        E[G(z)] over units and time.
    timescale_quantiles : ndarray, shape (3,)
        10 %, 50 %, 90 % quantiles of tau / G(z(t)).
    timescale_edges, timescale_density : ndarray
        Histogram of log10(tau / G).
    phase : str
        "chaotic", "fixed point", "critical" (lambda_max within 2 errors of 0), "explosive".
    history : dict of ndarray
        Per iteration: "residual", "mc_error", "delta0" (C loop); "lyapunov", "log_mu".
    seed : int
        Root seed; iteration k draws from SeedSequence(seed).spawn.
    n_paths, dt, tau_eff : int, float, float
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
    phase: str
    history: dict = field(repr=False)
    seed: int = 0
    n_paths: int = 0
    dt: float = 0.0
    tau_eff: float = 1.0
    converged: bool = True
    residual: float = 0.0
    n_iter: int = 0
    message: str = ""


@dataclass(frozen=True)
class SampledTwoTimeResult:
    """Result of :func:`sampled_two_time` (transient sampled DMFT on a time grid).

    Attributes
    ----------
    times : ndarray, shape (n,)
    correlation, correlation_err : ndarray, shape (n, n)
        C(t, s) = <h(t) h(s)> and its Monte Carlo error.
    distance : ndarray, shape (n,)
        D(t, t) of the replica difference (eq. 6.3), normalized to D(0, 0) = 1 (geometric mean
        over the replicas).
    lyapunov_max, lyapunov_err : float
        Slope of (1/2) log D(t, t) over the second half of the window (finite-time exponent),
        mean over the replicas and its standard error.
    gate_mean : ndarray, shape (n,)
        E[G(z(t))].
    history : dict
        "corrector_change": per grid time, the largest change of h in the last corrector pass.
    converged, residual, n_iter, message
        The construction is causal (no global iteration): ``n_iter`` is the number of steps,
        ``residual`` the largest last-pass corrector change.
    """

    ensemble: Ensemble
    times: np.ndarray
    correlation: np.ndarray
    correlation_err: np.ndarray
    distance: np.ndarray
    lyapunov_max: float
    lyapunov_err: float
    gate_mean: np.ndarray
    history: dict = field(repr=False)
    seed: int = 0
    n_paths: int = 0
    converged: bool = True
    residual: float = 0.0
    n_iter: int = 0
    message: str = ""


# ----------------------------------------------------------------------------- helpers
def _check_positive_int(name, v, low=1):
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
        raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    return int(v)


def _check_positive(name, v):
    if isinstance(v, bool) or not isinstance(v, int | float | np.floating) \
            or not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return float(v)


def _gate_params(ens: Ensemble):
    g = ens.gate
    if g is None or g.bias_mean == math.inf:
        return None
    return g.gain, g.bias_mean, g.bias_std


def _tau_eff(ens: Ensemble) -> float:
    """tau / E[G] at the fixed point (the natural time unit of a gated ensemble)."""
    gp = _gate_params(ens)
    if gp is None:
        return ens.tau
    from .static import fixed_point
    fp = fixed_point(ens)
    gm = fp.gate_mean if fp.gate_mean is not None else 1.0
    return ens.tau / gm


class _Fields:
    """One sample of the single-unit fields and the resulting paths (internal)."""

    def __init__(self, u, z, h, G, phi):
        self.u, self.z, self.h, self.G, self.phi = u, z, h, G, phi


def _sample_paths(ens, C, n_steps, n_paths, dt, rng, h0=None):
    """Sample u, z for the stationary correlation C (lags grid) and integrate eq. (6.1)."""
    lam = 1.0 if ens.leak else 0.0
    c0 = float(C[0])
    _, cu, _ = _last_preactivation(ens, c0, C)
    u = sample_stationary_gp(cu, n_steps, n_paths, rng)
    gp = _gate_params(ens)
    if gp is None:
        G = np.ones_like(u) if ens.gate is None or ens.gate.bias_mean == math.inf else None
        z = None
    else:
        gz, mu, sz = gp
        if gz == 0 and sz == 0:   # constant gate: no random numbers drawn (exact rescaling)
            z = np.full(u.shape, mu)
        else:
            z = mu + sample_stationary_gp(gz * gz * C + sz * sz, n_steps, n_paths, rng)
        G = special.expit(z)
    phi = get_activation(ens.flow[-1].activation).fn(u)
    a = (lam / ens.tau) * G
    b = G * phi / ens.tau
    noise = None
    if ens.noise_std > 0:
        noise = (ens.noise_std * math.sqrt(dt / ens.tau)) * rng.standard_normal(
            (n_paths, n_steps - 1))
    if h0 is None:
        h0 = math.sqrt(max(c0, 0.0)) * rng.standard_normal(n_paths)
    with np.errstate(over="ignore", invalid="ignore"):
        h = _integrate(a, b, noise, dt, h0)
    return _Fields(u, z, h, G, phi)


def _no_drift(values, se: float) -> bool:
    """Trend test: the fitted drift of Delta(0) over the last iterations is below its error.

    A damped iteration that contracts slowly can change by less than the Monte Carlo error per
    step while still drifting; the drift over the window (slope x length) must stay below
    2 standard errors of one estimate.
    """
    v = np.asarray(values, dtype=float)
    x = np.arange(v.size)
    slope = np.polyfit(x, v, 1)[0]
    return abs(slope) * v.size <= 2.0 * se + 1e-12 * max(1.0, abs(v[-1]))


def _explosive(h) -> bool:
    return (not np.all(np.isfinite(h))) or float(np.max(np.abs(h))) > 1e8


# ----------------------------------------------------------------------------- stationary
def sampled(ens: Ensemble, *, n_paths: int = 1000, dt: float = 0.05, lag_window: float = 30.0,
            burn_in: float = 20.0, measure: float = 60.0, damping: float = 1.0,
            max_iter: int = 80, tol: float = 3.0, n_average: int = 4, lyapunov: bool = True,
            lyapunov_iter: int = 16, lyapunov_burn: int | None = None, n_replicas: int = 4,
            workers: int | None = None, seed: int = 0) -> SampledResult:
    """Stationary sampling-based DMFT of a leaky, possibly gated and noise-driven ensemble.

    Iterates eqs. (6.1)-(6.2) of the module docstring: sample ``n_paths`` paths of (u, z) from the
    current Delta(s), integrate the single unit (stochastic Heun, exact drives on the grid),
    re-estimate Delta(s), mix ``Delta <- (1 - damping) Delta + damping Delta_new`` until
    max_s |Delta_new - Delta| <= ``tol`` x its Monte Carlo standard error (twice in a row).
    Then lambda_max by the replica-difference power iteration (eq. 6.3).

    Parameters
    ----------
    ens : Ensemble
        Leaky (``leak=True``), no inputs.  Use :func:`sampled_two_time` for non-leaky flows.
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

    Returns
    -------
    SampledResult

    Raises
    ------
    ValueError, TypeError
        Bad parameters, a non-leaky ensemble, or inputs (input_dim > 0).
    ConvergenceError
        The Delta loop did not reach the Monte Carlo error in ``max_iter`` iterations.

    References
    ----------
    THEORY.md section 6; Eissfeller & Opper, PRL 68, 2094 (1992); Roy, Biroli, Bunin,
    Cammarota, J. Phys. A 52, 484001 (2019).
    """
    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    if not ens.leak:
        raise ValueError("sampled: a non-leaky ensemble has no stationary state; use "
                         "dmft.sampled_two_time")
    if ens.input_dim > 0:
        raise ValueError("sampled: ensembles with inputs (input_dim > 0) are not supported; "
                         "use input_dim=0 (noise-driven ensembles are supported)")
    n_paths = _check_positive_int("n_paths", n_paths, 8)
    n_replicas = _check_positive_int("n_replicas", n_replicas, 4)
    P = n_paths // n_replicas
    if P < 8:
        raise ValueError(f"n_paths / n_replicas must be >= 8, got {n_paths} / {n_replicas}")
    for name, v in (("dt", dt), ("lag_window", lag_window), ("burn_in", burn_in),
                    ("measure", measure), ("tol", tol)):
        _check_positive(name, v)
    if not (0 < damping <= 1):
        raise ValueError(f"damping must be in (0, 1], got {damping!r}")
    max_iter = _check_positive_int("max_iter", max_iter)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if measure <= lag_window:
        raise ValueError(f"measure ({measure}) must exceed lag_window ({lag_window})")
    lyapunov_iter = _check_positive_int("lyapunov_iter", lyapunov_iter, 2)
    if lyapunov_burn is None:
        lyapunov_burn = min(4, lyapunov_iter // 2)
    elif isinstance(lyapunov_burn, bool) or not isinstance(lyapunov_burn, int | np.integer) \
            or not 0 <= lyapunov_burn <= lyapunov_iter - 2:
        raise ValueError(f"lyapunov_burn must be an int in [0, lyapunov_iter - 2 = "
                         f"{lyapunov_iter - 2}], got {lyapunov_burn!r}")
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        workers = min(cores, n_replicas)
    workers = _check_positive_int("workers", workers)

    from .static import fixed_point
    fp = fixed_point(ens)
    te = _tau_eff(ens)
    h_dt = dt * te
    n_lag = int(round(lag_window / dt)) + 1
    n_burn = int(round(burn_in / dt))
    n_meas = int(round(measure / dt))
    n_steps = n_burn + n_meas
    lags = np.arange(n_lag) * h_dt
    # initial Delta: the fixed point when it is stable and nothing drives the unit
    lam_start = 0.0
    if fp.stable and ens.noise_std == 0 and math.isfinite(fp.q):
        C = np.full(n_lag, fp.q)
    else:
        warm = _warm_start(ens, lags, te)
        if warm is None:
            q0 = fp.q if math.isfinite(fp.q) and fp.q > 0 else 0.0
            C = q0 + 0.5 * np.exp(-0.5 * (lags / (2.0 * te)) ** 2)
        else:
            C, lam_start = warm
    C_start = C
    threaded = workers > 1

    def run(ss):
        _THREAD.serial = threaded
        try:
            return _chain(ens, fp, te, h_dt, n_lag, n_burn, n_steps, lags, P, ss, damping,
                          max_iter, tol, n_average, lyapunov, lyapunov_iter, lyapunov_burn,
                          C_start, lam_start)
        finally:
            _THREAD.serial = False

    seqs = np.random.SeedSequence(int(seed)).spawn(n_replicas)
    if threaded:
        with ThreadPoolExecutor(min(workers, n_replicas)) as ex:
            replicas = list(ex.map(run, seqs))
    else:
        replicas = [run(ss) for ss in seqs]
    for rep in replicas:
        if isinstance(rep, SampledResult):
            return rep
    B = n_replicas

    def comb(key, err_key):
        """Mean over replicas; error max(spread / sqrt(B), pooled within-replica error / B)."""
        v = np.array([r[key] for r in replicas], dtype=float)
        e = np.array([r[err_key] for r in replicas], dtype=float)
        spread = v.std(axis=0, ddof=1) / math.sqrt(B)
        within = np.sqrt((e ** 2).sum(axis=0)) / B
        return v.mean(axis=0), np.maximum(spread, within)

    C_fin, C_err = comb("C", "C_err")
    d_inf, d_inf_err = (float(x) for x in comb("d_inf", "d_inf_err"))
    gate_mean, gate_err = (float(x) for x in comb("gate_mean", "gate_err"))
    G = np.concatenate([r["G"] for r in replicas], axis=0)
    ts = ens.tau / G
    tq = np.quantile(ts, [0.1, 0.5, 0.9])
    dens, edges = np.histogram(np.log10(ts).ravel(), bins=40, density=True)
    lyap, lyap_err = math.nan, math.nan
    if lyapunov:
        lyap, lyap_err = (float(x) for x in comb("lyap", "lyap_err"))
    # history of the slowest replica (n_iter is the largest iteration count of the replicas)
    hist = dict(max(replicas, key=lambda r: r["it"])["hist"])
    hist["replica_delta0"] = [float(r["C"][0]) for r in replicas]
    hist["replica_lyapunov"] = [float(r["lyap"]) for r in replicas]
    if lyapunov:
        hist["replica_lyapunov_history"] = [r["hist"]["lyapunov"] for r in replicas]
    it = max(r["it"] for r in replicas)
    residual = max(r["residual"] for r in replicas)
    if not lyapunov:
        phase = "unknown"
    elif lyap > 2 * lyap_err:
        phase = "chaotic"
    elif lyap < -2 * lyap_err:
        phase = "fixed point" if ens.noise_std == 0 else "stable (driven)"
    else:
        phase = "critical"
    return SampledResult(
        ens, lags, C_fin, C_err, float(C_fin[0]), float(C_err[0]), d_inf, d_inf_err,
        float(lyap), float(lyap_err), gate_mean, gate_err, tq, edges, dens, phase,
        {k: np.asarray(v) for k, v in hist.items()}, int(seed), n_paths, h_dt, te,
        True, residual, it, f"converged in {it} iterations (residual {residual:.2e} <= "
        f"{tol:g} x MC error {hist['mc_error'][-1]:.2e})")


def _chain(ens, fp, te, h_dt, n_lag, n_burn, n_steps, lags, n_paths, seedseq, damping,
           max_iter, tol, n_average, lyapunov, lyapunov_iter, lyapunov_burn, C_start, lam_start):
    """One independent replica of the damped iteration and the power iteration (internal).

    Returns a dict of its estimates and naive (within-replica) errors, or the explosive
    SampledResult; raises ConvergenceError.
    """
    seed = int(seedseq.entropy) if isinstance(seedseq.entropy, int) else 0
    seeds = iter(seedseq.spawn(max_iter + lyapunov_iter + 4))

    C = C_start.copy()
    hist = {"residual": [], "mc_error": [], "delta0": []}
    ok_streak, converged, residual = 0, False, math.inf
    fields = None
    it = 0
    finals = []
    n_trend = 8
    for it in range(1, max_iter + 1):
        rng = np.random.default_rng(next(seeds))
        fields = _sample_paths(ens, C, n_steps, n_paths, h_dt, rng)
        if _explosive(fields.h):
            return _explosive_result(ens, lags, fp, te, h_dt, n_paths, seed, hist, it)
        per = _acf(fields.h[:, n_burn:], n_lag)
        C_new = per.mean(axis=0)
        se = per.std(axis=0, ddof=1) / math.sqrt(n_paths)
        diff = np.abs(C_new - C)
        residual = float(diff.max())
        mc = float(se.max())
        hist["residual"].append(residual)
        hist["mc_error"].append(mc)
        hist["delta0"].append(float(C_new[0]))
        ok = residual <= tol * mc + 1e-12 * max(1.0, float(C_new[0]))
        ok_streak = ok_streak + 1 if ok else 0
        C = (1 - damping) * C + damping * C_new
        finals.append((C_new, per))
        if ok_streak >= 1 and it >= n_trend and _no_drift(hist["delta0"][-n_trend:],
                                                         float(se[0])):
            converged = True
            break
    if not converged:
        raise ConvergenceError(
            "sampled: Delta(s) did not converge to the Monte Carlo error; increase max_iter or "
            "damping, or lengthen lag_window near criticality",
            n_iter=it, residual=residual, mc_error=hist["mc_error"][-1],
            delta0=hist["delta0"][-1])
    # final estimate: the unmixed samples of the last n_average iterations (no drift left
    # among them, by the trend test), with the Monte Carlo error of their pooled paths
    per = np.concatenate([p for _, p in finals[-n_average:]], axis=0)
    n_pool = per.shape[0]
    C_fin = per.mean(axis=0)
    C_err = per.std(axis=0, ddof=1) / math.sqrt(n_pool)
    tail = max(1, n_lag // 10)
    d_inf = float(C_fin[-tail:].mean())
    d_inf_err = float(per[:, -tail:].mean(axis=1).std(ddof=1) / math.sqrt(n_pool))
    G = fields.G[:, n_burn:]
    gm_path = G.mean(axis=1)
    gate_mean, gate_err = float(gm_path.mean()), float(gm_path.std(ddof=1) / math.sqrt(n_paths))

    lyap, lyap_err = math.nan, math.nan
    hist["lyapunov"], hist["log_mu"] = [], []
    if lyapunov:
        lyap, lyap_err = _lyapunov(ens, C, fields, n_burn, n_lag, h_dt, te, n_paths, seeds,
                                   lyapunov_iter, lyapunov_burn, damping, hist,
                                   static=fp.stable and ens.noise_std == 0, lam0=lam_start)
    return {"C": C_fin, "C_err": C_err, "d_inf": d_inf, "d_inf_err": d_inf_err,
            "gate_mean": gate_mean, "gate_err": gate_err, "G": G[:, ::10],
            "lyap": lyap, "lyap_err": lyap_err, "hist": hist, "it": it, "residual": residual}


def _warm_start(ens, lags, te):
    """Delta(s) of the non-gated flow (closed theory, THEORY.md section 4) with time rescaled by
    the gate, Delta_1(s tau / tau_eff), and its lambda_max tau / tau_eff: exact without a gate,
    a close start with one.  Returns (Delta on ``lags``, lam) or None.

    The damped iteration has a slow mode (Delta_0 creeps by ~0.2 % per iteration for Elman
    g = 2 from a Gaussian guess, below what a trend test over a few iterations resolves), so the
    start matters; None when the closed theory does not apply (noise, no chaotic solution).
    """
    if ens.noise_std > 0:
        return None
    from ._stationary import stationary
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


def _explosive_result(ens, lags, fp, te, h_dt, n_paths, seed, hist, it):
    inf = np.full(lags.shape, math.inf)
    return SampledResult(
        ens, lags, inf, np.zeros_like(lags), math.inf, 0.0, math.inf, 0.0, math.inf, 0.0,
        fp.gate_mean if fp.gate_mean is not None else 1.0, 0.0, np.full(3, math.nan),
        np.zeros(1), np.zeros(0), "explosive", {k: np.asarray(v) for k, v in hist.items()},
        int(seed), n_paths, h_dt, te, True, 0.0, it,
        "paths diverged (|h| > 1e8): explosive ensemble")


def _lyapunov(ens, C, fields, n_burn, n_lag, h_dt, te, n_paths, seeds, n_iter, n_discard,
              damping, hist, static, lam0=0.0):
    """Power iteration on the replica difference (eq. 6.3); returns (lambda_max, error)."""
    lam_leak = 1.0 if ens.leak else 0.0
    c0 = float(C[0])
    _, _, A = _last_preactivation(ens, c0, C)
    gp = _gate_params(ens)
    act = ens.flow[-1].activation
    dphi = get_activation(act).deriv
    tail = max(1, n_lag // 10)
    if static:
        Dt = np.ones(n_lag)
    else:
        dec = C - C[-tail:].mean()
        Dt = np.clip(dec / dec[0], 0.0, None) if dec[0] > 0 else np.ones(n_lag)
    lam = float(lam0)
    gbar = float(fields.G.mean())
    ests = []
    for k in range(n_iter):
        rng = np.random.default_rng(next(seeds))
        f = fields if k == 0 else _sample_paths(ens, C, fields.h.shape[1], n_paths, h_dt, rng)
        du = sample_stationary_gp(A * Dt, f.h.shape[1], n_paths, rng)
        if gp is not None and gp[0] > 0:
            dz = sample_stationary_gp(gp[0] ** 2 * Dt, f.h.shape[1], n_paths, rng)
        else:
            dz = np.zeros((0, 0))
        # phi' from the stored phi where the activation allows it (tanh: 1 - phi^2)
        d_u = 1.0 - f.phi * f.phi if act == "tanh" else dphi(f.u)
        y = np.empty(f.G.shape)
        kernel = _tangent_heun_serial if getattr(_THREAD, "serial", False) else _tangent_heun
        kernel(f.G, d_u, f.h, f.phi, du, dz, lam, lam_leak, 1.0 / ens.tau, h_dt, y)
        per = _acf(y[:, n_burn:], n_lag)
        Dn = per.mean(axis=0)
        mu = float(Dn[0])
        if not (mu > 0 and math.isfinite(mu)):
            raise ConvergenceError("sampled: replica-difference power iteration failed",
                                   lam=lam, mu=mu)
        se_mu = float(per[:, 0].std(ddof=1) / math.sqrt(n_paths)) / mu
        logmu = math.log(mu)
        # slope d log mu / d lam of the filter 1/(lam + lam_leak G/tau): about -2/(lam + G/tau)
        rate = lam + lam_leak * gbar / ens.tau
        slope = -2.0 / max(rate, 0.05 / te)
        est = lam - logmu / slope
        hist["lyapunov"].append(est)
        hist["log_mu"].append(logmu)
        ests.append((est, se_mu / abs(slope)))
        lam_new = est
        floor = -0.9 * lam_leak * float(np.quantile(f.G, 0.01)) / ens.tau
        lam = max(lam_new, floor) if lam_leak else max(lam_new, 0.02 / te)
        Dt = (1 - damping) * Dt + damping * np.clip(Dn / mu, 0.0, None)
        Dt = Dt / Dt[0]
    # the estimates after the first n_discard, once lam has settled, are averaged
    tail_est = np.array([e for e, _ in ests[n_discard:]])
    err = float(np.sqrt(np.mean([s * s for _, s in ests[n_discard:]]) / tail_est.size))
    spread = float(tail_est.std(ddof=1) / math.sqrt(tail_est.size)) if tail_est.size > 1 else err
    return float(tail_est.mean()), max(err, spread)


# ----------------------------------------------------------------------------- two-time
_NUGGET = 1e-8


class _CausalGP:
    """Paths of a zero-mean Gaussian process built one grid time at a time (internal).

    The covariance is only known up to the current time (it depends on the paths), so the
    Cholesky factor L of Sigma(t_0..t_k) is extended row by row: for a new time, l solves
    L l = Sigma(t_0..t_k, t_{k+1}) and the pivot is sqrt(Sigma_{k+1,k+1} - l.l); the value of
    each path is l . xi_{0..k} + pivot xi_{k+1} with the path's own standard normals xi, so a
    row can be recomputed (corrector passes) with the same random numbers.  The factor is that
    of Sigma + diag(_NUGGET Sigma_kk): the Gram matrices of smooth paths are nearly singular at
    small dt, and a consistent nugget (white noise of relative variance 1e-8 added to the field)
    bounds the condition number where flooring the pivots would make the triangular solves
    amplify rounding errors without bound.
    """

    def __init__(self, n: int, xi: np.ndarray):
        self.L = np.zeros((n, n))
        self.xi = xi            # shape (n, P)

    def row(self, k: int, cov_row: np.ndarray) -> np.ndarray:
        """Set row k from Sigma(t_k, t_0..t_k) (length k + 1); return the values, shape (P,)."""
        from scipy.linalg import solve_triangular
        var = float(cov_row[k])
        if k > 0:
            lr = solve_triangular(self.L[:k, :k], cov_row[:k], lower=True, check_finite=False)
        else:
            lr = np.zeros(0)
        piv = math.sqrt(max(var * (1.0 + _NUGGET) - float(lr @ lr), 1e-300))
        self.L[k, :k] = lr
        self.L[k, k] = piv
        return self.L[k, :k + 1] @ self.xi[:k + 1]


def sampled_two_time(ens: Ensemble, t_max: float, *, dt: float = 0.1, q0: float = 1.0,
                     n_paths: int = 4000, n_corrector: int = 2, n_replicas: int = 8,
                     seed: int = 0) -> SampledTwoTimeResult:
    """Two-time sampling-based DMFT: transients from h(0) ~ N(0, q0), leaky or non-leaky.

    Causal forward construction on the grid t_k = k dt.  C(t, s) for t, s <= t_k depends only
    on the paths up to t_k, so no global iteration is needed: at each step the single-unit
    equation (6.1) advances every path by one stochastic Heun step

        h_{k+1} = h_k + dt/2 (f_k + f_{k+1}(h_k + dt f_k + w_k)) + w_k,
        f_k(h) = G(z_k) (-lam h + phi_out(u_k)) / tau,

    and the fields at t_{k+1} are drawn from their Gaussian law conditional on each path's
    past: u ~ GP(0, Sigma_L[C]) and z ~ GP(mu_z, g_z^2 C + sigma_z^2) (row k+1 of a growing
    Cholesky factor, see ``_CausalGP``), with the new row C(t_{k+1}, t_m) = <h_{k+1} h_m>
    taken from the paths themselves.  This is implicit in h_{k+1}; ``n_corrector`` fixed-point
    passes with the same random numbers solve it (each pass gains one order of dt).
    The replica difference (eq. 6.3) is carried along the same way with y(0) ~ N(0, 1),
    du ~ GP(0, A D), dz ~ GP(0, g_z^2 D), D(t, s) = <y(t) y(s)>, A = dSigma_L/dC.
    Cost O(n_paths n^2) for n = t_max/dt + 1 grid times.  The distance D(t, t) is the
    geometric mean over the replicas, the exponent the mean of their log-slopes.

    Parameters
    ----------
    ens : Ensemble
        Gated or not, leaky or not, noise-driven or autonomous; no inputs.
    t_max, dt : float
        Window and step, in the ensemble's time units.
    q0 : float
        Initial variance, h(0) ~ N(0, q0).
    n_paths : int
        Sampled single-unit paths (Monte Carlo error ~ n_paths^-1/2).
    n_corrector : int
        Fixed-point passes per step for the implicit fields at t_{k+1}.
    n_replicas : int
        Independent constructions of ``n_paths / n_replicas`` paths each (SeedSequence.spawn);
        the results are their means and the errors their spreads.  The noise of earlier rows of
        C feeds back into later ones through the field covariance, which makes the true error
        about twice the per-entry sampling error of one construction (measured, Elman g = 2):
        only the spread over independent replicas measures it.
    seed : int

    Returns
    -------
    SampledTwoTimeResult
        Means over the replicas; ``correlation_err`` and ``lyapunov_err`` are standard errors
        from their spread (n_replicas - 1 degrees of freedom).

    References
    ----------
    THEORY.md sections 5 and 6; Eissfeller & Opper, PRL 68, 2094 (1992).
    """
    if not isinstance(ens, Ensemble):
        raise TypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    if ens.input_dim > 0:
        raise ValueError("sampled_two_time: inputs (input_dim > 0) are not supported")
    t_max, dt, q0 = _check_positive("t_max", t_max), _check_positive("dt", dt), \
        _check_positive("q0", q0)
    n_paths = _check_positive_int("n_paths", n_paths, 8)
    n_corrector = _check_positive_int("n_corrector", n_corrector, 0)
    n_replicas = _check_positive_int("n_replicas", n_replicas, 2)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    n = int(round(t_max / dt)) + 1
    if n < 3:
        raise ValueError(f"t_max / dt must be >= 2 (got t_max={t_max}, dt={dt})")
    if n > 3000:
        raise ValueError(f"t_max / dt gives {n} grid points; at most 3000 are supported")
    if n_paths // n_replicas < 8:
        raise ValueError(f"n_paths / n_replicas must be >= 8, got {n_paths} / {n_replicas}")
    times = np.arange(n) * dt
    runs = [_causal_run(ens, n, dt, q0, n_paths // n_replicas, n_corrector, ss)
            for ss in np.random.SeedSequence(int(seed)).spawn(n_replicas)]
    Cs = np.array([r[0] for r in runs])
    C = Cs.mean(axis=0)
    C_err = Cs.std(axis=0, ddof=1) / math.sqrt(n_replicas)
    dds = np.array([np.diag(r[1]) / r[1][0, 0] for r in runs])
    dd = np.exp(np.log(dds).mean(axis=0))
    half = n // 2
    lyap, lyap_err = math.nan, math.nan
    if n - half > 3:
        sl = np.array([np.polyfit(times[half:], 0.5 * np.log(np.clip(d[half:], 1e-300, None)),
                                  1)[0] for d in dds])
        lyap = float(sl.mean())
        lyap_err = float(sl.std(ddof=1) / math.sqrt(n_replicas))
    change = np.max([r[3] for r in runs], axis=0)
    resid = float(change.max())
    return SampledTwoTimeResult(
        ens, times, C, C_err, dd, lyap, lyap_err, np.mean([r[2] for r in runs], axis=0),
        {"corrector_change": change}, int(seed), n_paths, True, resid, n - 1,
        f"causal construction, {n} grid times, {n_replicas} independent replicas of "
        f"{n_paths // n_replicas} paths, {n_corrector} corrector passes; last pass changed h "
        f"by <= {resid:.1e}")


def _causal_run(ens, n, dt, q0, P, n_corrector, seedseq):
    """One causal construction with P paths; returns C, D, E[G](t), corrector changes."""
    lam = 1.0 if ens.leak else 0.0
    tau = ens.tau
    gp = _gate_params(ens)
    act = get_activation(ens.flow[-1].activation)
    rng = np.random.default_rng(seedseq)
    gz = gp[0] if gp is not None else 0.0
    z_random = gp is not None and (gp[0] > 0 or gp[2] > 0)
    H = np.empty((n, P))
    Y = np.empty((n, P))
    H[0] = math.sqrt(q0) * rng.standard_normal(P)
    Y[0] = rng.standard_normal(P)
    noise = None
    if ens.noise_std > 0:
        noise = (ens.noise_std * math.sqrt(dt / tau)) * rng.standard_normal((n - 1, P))
    gu = _CausalGP(n, rng.standard_normal((n, P)))
    gdu = _CausalGP(n, rng.standard_normal((n, P)))
    gzz = _CausalGP(n, rng.standard_normal((n, P))) if z_random else None
    gdz = _CausalGP(n, rng.standard_normal((n, P))) if gz > 0 else None
    C = np.zeros((n, n))
    D = np.zeros((n, n))
    U = np.empty((n, P))
    G = np.ones((n, P))
    DU = np.empty((n, P))
    DZ = np.zeros((n, P))
    corr_change = np.zeros(n)

    def fields(k):
        """Rows k of C, D from the paths; then the fields at t_k (conditional on the past)."""
        C[k, :k + 1] = H[:k + 1] @ H[k] / P
        C[:k + 1, k] = C[k, :k + 1]
        D[k, :k + 1] = Y[:k + 1] @ Y[k] / P
        D[:k + 1, k] = D[k, :k + 1]
        su, a = _two_time_row(ens, C, k)
        U[k] = gu.row(k, su)
        DU[k] = gdu.row(k, a * D[k, :k + 1])
        if gp is not None:
            zk = gp[1] + (gzz.row(k, gz * gz * C[k, :k + 1] + gp[2] ** 2) if z_random else 0.0)
            G[k] = special.expit(zk)
            if gdz is not None:
                DZ[k] = gdz.row(k, gz * gz * D[k, :k + 1])

    def drifts(k, h, y):
        phi = act.fn(U[k])
        fh = G[k] * (-lam * h + phi) / tau
        fy = G[k] * (-lam * y + act.deriv(U[k]) * DU[k])
        if gdz is not None:
            fy = fy + G[k] * (1 - G[k]) * (-lam * h + phi) * DZ[k]
        return fh, fy / tau

    fields(0)
    for k in range(n - 1):
        w = noise[k] if noise is not None else 0.0
        fh0, fy0 = drifts(k, H[k], Y[k])
        hp = H[k] + dt * fh0 + w
        yp = Y[k] + dt * fy0
        H[k + 1], Y[k + 1] = hp, yp
        prev = None
        for _ in range(n_corrector + 1):
            fields(k + 1)
            fh1, fy1 = drifts(k + 1, hp, yp)
            H[k + 1] = H[k] + 0.5 * dt * (fh0 + fh1) + w
            Y[k + 1] = Y[k] + 0.5 * dt * (fy0 + fy1)
            if prev is not None:
                corr_change[k + 1] = float(np.max(np.abs(H[k + 1] - prev)))
            prev = H[k + 1].copy()
        if _explosive(H[k + 1]) or _explosive(Y[k + 1]):
            raise ConvergenceError("sampled_two_time: paths diverged (explosive ensemble); "
                                   "shorten t_max", time=float((k + 1) * dt))
        fields(k + 1)   # rows k + 1 of C, D from the final paths
    return C, D, G.mean(axis=1), corr_change


def _two_time_row(ens, C, k):
    """Row k of Sigma_L[C](t_k, t_m) and of A = dSigma_L/dC, m = 0..k (THEORY.md section 2)."""
    last = ens.flow[-1]
    g2, s2 = last.gain ** 2, last.bias_std ** 2
    row = C[k, :k + 1]
    if len(ens.flow) == 1:
        return g2 * row + s2, np.full(k + 1, g2)
    d = np.diag(C)[:k + 1]
    fk = flow_kernel(ens.flow[:-1], C[k, k], d, row)
    return g2 * np.broadcast_to(fk.k, row.shape) + s2, g2 * np.broadcast_to(fk.dk, row.shape)
