"""Two-time DMFT of non-gated nODEs: transients, non-leaky flows, noise (docs/theory.md section 5).

C(t, s) = <h_i(t) h_i(s)> closes on itself because F(h) is Gaussian with covariance
K(t, s) = K_F(C(t, t), C(s, s), C(t, s)):

    (tau d_t + lam)(tau d_s + lam) C(t, s) = K(t, s) + sigma^2 tau delta(t - s)        (5.1)

with C(0, 0) = q_0 (h(0) ~ N(0, q_0 I), independent of the weights).  Its solution is

    C(t, s) = e^{-lam (t + s)/tau} q_0 + N(t, s)
              + tau^-2 int_0^t int_0^s e^{-lam (t - t')/tau} e^{-lam (s - s')/tau} K(t', s') dt' ds'

with the noise part N(t, s) = sigma^2 (e^{-lam |t-s|/tau} - e^{-lam (t+s)/tau}) / (2 lam)
(sigma^2 min(t, s)/tau when lam = 0).  On a grid t_n = n dt the double integral S obeys the
exact cell recursion

    S_{n+1,m+1} = a S_{n,m+1} + a S_{n+1,m} - a^2 S_{n,m} + b^2 Kbar_{n,m},
    a = e^{-lam dt/tau},  b = int_0^dt e^{-lam u/tau} du / tau                          (5.2)

with Kbar the e-weighted mean of K over the cell.  ``scheme="heun"`` takes Kbar as the mean of the
four corners (predictor: the lower-left corner), second order in dt; ``scheme="euler"`` is the
network h_{n+1} = a h_n + dt F(h_n)/tau + noise with a = 1 - lam dt/tau, b = dt/tau, Kbar =
K_{n,m} (the exact recursion of docs/theory.md §5 for the Euler-discretized network; first order).

Non-leaky bounded flows grow ballistically, not diffusively.  With lam = 0 and |F| bounded,
(5.1) reads tau^2 d_t d_s C = K(C(t,t), C(s,s), C(t,s)).  As C(t,t) grows the preactivations
saturate, so K depends on the correlation coefficient rho(t,s) = C(t,s)/sqrt(C(t,t) C(s,s)) only,
K -> K_inf(rho) (for odd phi with phi(+-inf) = +-1: (2/pi) arcsin rho, K_inf(1) = 1).  A
diffusive law C(t,s) ~ D min(t,s) would need K ~ delta(t - s); but a bounded F that decorrelates
only as h changes direction keeps K(t,s) = O(1) over |t - s| ~ t, so the self-similar ansatz
C(t, s) = t s f(s/t) / tau^2 closes: with G(x) = x f(x), x = s/t,

    G'(x) - x G''(x) = K_inf(G(x) / (x f(1))),    C(t,t) = f(1) t^2 / tau^2,

of which f = 1 (h(t) ~ t F_frozen, rho = 1, K = K_inf(1) = 1) is a solution: ballistic growth
C(t,t) ~ A t^2/tau^2 with A <= K_inf(1).  The grid solution (checked against a finite-N network,
tests/test_two_time.py) approaches it slowly: for erf(g = 1) from q0 = 1, C(t,t)/t^2 = 0.64 at
t = 20 and 0.70 at t = 160, still rising, with rho(t, t/2) = 0.92-0.93 (a random walk would give
sqrt(1/2)); whether A reaches K_inf(1) = 1 is not settled by these windows, so the reported
``growth_coefficient`` is the finite-time value C(T,T)/(T/tau)^2 at the window's end.
Homogeneous flows (relu / identity output): K is linear in C, and C grows exponentially.

Two replicas a, b with the same weights and noise (section 5): D(t, s) = C_aa - C_ab obeys
(5.1) with the linearized kernel dK_F/dc (C(t,t), C(s,s), C(t,s)) D(t, s) and no noise, and
d(t) = 2 D(t, t); lambda_max = lim (1/2t) log d(t) / d(0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from . import _validate as _v
from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import _flow_kernel
from .results import short_repr

__all__ = ["TwoTimeResult", "TwoReplicaResult", "two_time", "lyapunov_two_replica"]


@dataclass(frozen=True, kw_only=True)
class TwoTimeResult:
    """Result of :func:`two_time`.

    Attributes
    ----------
    times : ndarray, shape (T,)
        t_n = n dt (physical units, tau included).
    C : ndarray, shape (T, T)
        C(t_n, t_m), symmetric.
    K : ndarray, shape (T, T)
        The flow kernel K(t_n, t_m).
    dK : ndarray, shape (T, T) or None
        dK_F/dc on the grid (for the replica problem).
    growth_law : str or None
        Non-leaky flows: "exponential" (unbounded flow, e.g. homogeneous relu/identity) or
        "ballistic" (bounded flow: C(t, t) ~ A t^2 / tau^2, module docstring); None for leaky
        flows.
    growth_coefficient : float or None
        Exponential: the rate r of C(t, t) ~ e^{r t}, fitted on the last third of the window.
        Ballistic: C(T, T) / (T/tau)^2 at the last time T, a finite-time value of A that
        rises slowly with T (0.64 at T = 20, 0.70 at T = 160 for erf, g = 1, q0 = 1).
    converged, residual, n_iter, message
        residual: largest |C - C^T| / max C (0 by construction) or the Heun corrector's
        largest relative change, which estimates the local error.
    """

    ensemble: Ensemble
    times: np.ndarray = field(repr=False)
    C: np.ndarray = field(repr=False)
    K: np.ndarray = field(repr=False)
    dK: np.ndarray | None = field(repr=False)
    growth_law: str | None
    growth_coefficient: float | None
    scheme: str
    converged: bool
    residual: float
    n_iter: int
    message: str

    @property
    def diagonal(self) -> np.ndarray:
        """C(t, t)."""
        return np.diag(self.C).copy()

    __repr__ = short_repr


@dataclass(frozen=True, kw_only=True)
class TwoReplicaResult:
    """Result of :func:`lyapunov_two_replica`.

    Attributes
    ----------
    times : ndarray, shape (T,)
    distance : ndarray, shape (T,)
        d(t) = <|h_a(t) - h_b(t)|^2> / N in the linear (small d_0) regime.
    lyapunov_max : float
        Slope of log(d)/2 against t fitted on [fit_window], physical units.
    fit_window : tuple of float
    single : TwoTimeResult
        The single-replica solution C(t, s).
    """

    times: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    lyapunov_max: float
    fit_window: tuple[float, float]
    single: TwoTimeResult = field(repr=False)
    converged: bool
    residual: float
    n_iter: int
    message: str

    __repr__ = short_repr


def _check(ens, t_max, dt, q0, *, replicas: bool = False):
    """Validated grid size n of a two-time problem (the arguments are checked here)."""
    _v.instance("ens", ens, Ensemble)
    if ens.gated:
        raise ValueError("dmft.two_time handles non-gated ensembles only; use the sampling-based "
                         "solver dmft.sampled for gated ensembles")
    if ens.gate is not None and ens.gate.bias_mean != math.inf:
        raise ValueError("dmft.two_time: a constant gate gamma < 1 rescales time; pass the "
                         "ensemble without the gate and tau / gamma")
    if ens.input_dim > 0 and ens.input_gain > 0:
        raise ValueError("dmft.two_time: deterministic inputs are not supported; use noise_std")
    t_max = _v.real("t_max", t_max, low=0.0, low_open=True)
    dt = _v.real("dt", dt, low=0.0, low_open=True)
    _v.real("q0", q0, low=0.0)
    steps = t_max / dt
    if steps > 20000:
        raise ValueError(f"t_max / dt = {steps:.6g} exceeds 20000 (cost grows as its square)")
    n = int(round(steps)) + 1
    if n < 3:
        raise ValueError(f"t_max / dt must be >= 2 (got t_max={t_max}, dt={dt})")
    # C, K, S, the base and noise terms (and dK, D, S of the replicas): n x n float64 each
    _v.check_memory(8.0 * n * n * (9 if replicas else 6),
                    f"two_time on a {n} x {n} grid (t_max / dt = {n - 1})")
    return n


def _coefficients(ens: Ensemble, dt: float, scheme: str):
    lam = 1.0 if ens.leak else 0.0
    x = dt / ens.tau
    if scheme == "euler":
        return 1.0 - lam * x, x
    a = math.exp(-lam * x)
    b = (-math.expm1(-lam * x)) / lam if lam > 0 else x
    return a, b


def _noise(ens: Ensemble, times: np.ndarray) -> np.ndarray | None:
    """N(t, s) of (5.1)'s solution (exact for white noise)."""
    sig = ens.noise_std
    if sig == 0.0:
        return None
    t = times[:, None] / ens.tau
    s = times[None, :] / ens.tau
    if ens.leak:
        return 0.5 * sig * sig * (np.exp(-np.abs(t - s)) - np.exp(-(t + s)))
    return sig * sig * np.minimum(t, s)


def _kernel_row(layers, cnn, diag, row, derivative):
    """K (and dK/dc) of one grid row; an overflowed C or kernel is the explosive outcome,
    raised as ConvergenceError (never a NaN in the result)."""
    if not (np.all(np.isfinite(row)) and np.all(np.isfinite(diag))):
        raise ConvergenceError("two_time: C(t, s) overflowed (explosive flow); shorten t_max",
                               time_index=len(row) - 1)
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (cnn, diag, row)))
    fk = _flow_kernel(layers, a, b, x, derivative, "auto", None, None)
    if not np.all(np.isfinite(fk.k)) or (derivative and not np.all(np.isfinite(fk.dk))):
        raise ConvergenceError("two_time: the flow kernel overflowed along C(t, s) (explosive "
                               "flow); shorten t_max", time_index=len(row) - 1)
    return fk.k, fk.dk


def _row(S, i, r0, src, a, lf):
    """Row j = i + 1 of S from (5.2): S_{j,m+1} = a S_{j,m} + r0_m + src_m for m < i, S_{j,0} = 0,
    and on the diagonal (S_{i,j} = S_{j,i} by symmetry) S_{j,j} = 2 a S_{j,i} - a^2 S_{i,i} + src_i.
    """
    j = i + 1
    out = np.zeros(j + 1)
    if i > 0:
        out[1:j] = signal.lfilter(*lf, r0[:i] + src[:i])
    out[j] = 2.0 * a * out[i] - a * a * S[i, i] + src[i]
    return out


def _solve(ens: Ensemble, n: int, dt: float, q0: float, scheme: str, derivative: bool):
    """Grid solution of (5.1)-(5.2); returns (C, K, dK, max corrector change)."""
    layers = ens.flow
    a, b = _coefficients(ens, dt, scheme)
    times = np.arange(n) * dt
    noise = _noise(ens, times)
    base = q0 * a ** (np.arange(n)[:, None] + np.arange(n)[None, :]) if scheme == "euler" else \
        q0 * np.exp(-(1.0 if ens.leak else 0.0) * (times[:, None] + times[None, :]) / ens.tau)
    if noise is not None:
        if scheme == "euler":   # Euler-Maruyama noise: sigma^2 (dt/tau) sum_k a^{n-1-k} a^{m-1-k}
            ii = np.arange(n)
            mn = np.minimum(ii[:, None], ii[None, :])
            diff = np.abs(ii[:, None] - ii[None, :])
            a2 = a * a
            geo = mn.astype(float) if a2 == 1.0 else (1 - a2 ** mn) / (1 - a2)
            noise = ens.noise_std ** 2 * (dt / ens.tau) * a ** diff * geo
        base = base + noise
    C = np.zeros((n, n))
    K = np.zeros((n, n))
    dK = np.zeros((n, n)) if derivative else None
    S = np.zeros((n, n))
    C[0, 0] = base[0, 0]
    k, dk = _kernel_row(layers, C[0, 0], C[:1, 0].copy(), C[0, :1], derivative)
    K[0, 0] = k[0]
    if derivative:
        dK[0, 0] = dk[0]
    b2 = b * b
    change = 0.0
    lf = ([1.0], [1.0, -a])
    for i in range(n - 1):
        j = i + 1
        # R_m = a S_{i,m+1} - a^2 S_{i,m} + b^2 Kbar_{i,m}, m = 0..i; S_{j,0} = 0.
        r0 = a * S[i, 1:j + 1] - a * a * S[i, :j]
        kb = K[i, :j].copy()
        s_row = _row(S, i, r0, b2 * kb, a, lf)
        c_row = base[j, :j + 1] + s_row
        diag = np.append(np.diag(C)[:j], c_row[j])
        k, dk = _kernel_row(layers, c_row[j], diag, c_row, derivative)
        if scheme == "heun":
            # K_{i, m+1} for m = i is K_{j, i} (symmetry), taken from the predicted row.
            k_up = np.append(K[i, 1:j], k[i]) if j > 1 else k[i:i + 1]
            kb = 0.25 * (K[i, :j] + k_up + k[:j] + k[1:j + 1])
            s_new = _row(S, i, r0, b2 * kb, a, lf)
            c_new = base[j, :j + 1] + s_new
            scale = max(float(np.max(np.abs(c_new))), 1e-300)
            change = max(change, float(np.max(np.abs(c_new - c_row))) / scale)
            s_row, c_row = s_new, c_new
            diag[-1] = c_row[j]
            k, dk = _kernel_row(layers, c_row[j], diag, c_row, derivative)
        S[j, :j + 1] = s_row
        S[:j + 1, j] = s_row
        C[j, :j + 1] = c_row
        C[:j + 1, j] = c_row
        K[j, :j + 1] = k
        K[:j + 1, j] = k
        if derivative:
            dK[j, :j + 1] = dk
            dK[:j + 1, j] = dk
        if not np.all(np.isfinite(c_row)):
            raise ConvergenceError("two_time: C(t, s) overflowed (explosive flow); shorten t_max",
                                   time=j * dt)
    return times, C, K, dK, change


def _growth(ens: Ensemble, times: np.ndarray, C: np.ndarray):
    if ens.leak:
        return None, None
    from .static import flow_is_bounded
    diag = np.diag(C)
    if flow_is_bounded(ens):
        t = times[-1]
        return "ballistic", float(diag[-1] / (t / ens.tau) ** 2)
    k = len(times) // 3
    slope = np.polyfit(times[-k:], np.log(np.maximum(diag[-k:], 1e-300)), 1)[0]
    return "exponential", float(slope)


def two_time(ens: Ensemble, t_max: float, dt: float, q0: float, *, scheme: str = "heun",
             derivative: bool = False) -> TwoTimeResult:
    """Two-time correlation C(t, s) of a non-gated nODE from h(0) ~ N(0, q0 I) (section 5).

    Solves (tau d_t + lam)(tau d_s + lam) C = K_F(C) + sigma^2 tau delta(t - s) on the grid
    t_n = n dt, n = 0..round(t_max/dt), by the cell recursion (5.2) of the module docstring;
    cost O(T^2) kernel evaluations.

    Parameters
    ----------
    ens : Ensemble
        Non-gated, leaky or non-leaky, autonomous or noise-driven.
    t_max, dt : float
        Window and step (physical units).
    q0 : float
        Initial variance C(0, 0).
    scheme : {"heun", "euler"}
        "heun": exponential integrator with a trapezoidal cell mean, error O(dt^2).
        "euler": the exact recursion of the Euler-discretized network (docs/theory.md section 5).
    derivative : bool
        Also store dK/dc on the grid.

    Returns
    -------
    TwoTimeResult

    Examples
    --------
    >>> from dmft import Ensemble, two_time
    >>> r = two_time(Ensemble.node(1.0, output="identity", leak=False), 1.0, 0.05, 1.0)
    >>> r.growth_law
    'exponential'
    """
    n = _check(ens, t_max, dt, q0)
    scheme = _v.choice("scheme", scheme, ("heun", "euler"))
    derivative = _v.flag("derivative", derivative)
    times, C, K, dK, change = _solve(ens, n, float(dt), float(q0), scheme, derivative)
    law, coef = _growth(ens, times, C)
    msg = f"{scheme} grid recursion, {n} x {n} points"
    if scheme == "heun":
        msg += f"; largest corrector change {change:.1e}"
    return TwoTimeResult(ensemble=ens, times=times, C=C, K=K, dK=dK, growth_law=law,
                         growth_coefficient=coef, scheme=scheme, converged=True, residual=change,
                         n_iter=n - 1, message=msg)


def lyapunov_two_replica(ens: Ensemble, t_max: float, dt: float, q0: float, d0: float = 1e-8,
                         *, fit_window: tuple[float, float] | None = None,
                         scheme: str = "heun") -> TwoReplicaResult:
    """Maximal Lyapunov exponent from two replicas with the same weights and noise (section 5).

    D = C_aa - C_ab obeys (5.1) with kernel dK_F/dc (C(t,t), C(s,s), C(t,s)) D(t, s) and no
    noise, D(0, 0) = d0 / 2 (linear regime of a small initial distance d0).  The distance is
    d(t) = 2 D(t, t) and lambda_max the slope of log(d)/2.

    Parameters
    ----------
    ens : Ensemble
    t_max, dt, q0 : float
        As in :func:`two_time`; start near the stationary variance to shorten the transient.
    d0 : float
        Initial distance (it only sets the scale: the problem is linear in D).
    fit_window : (float, float) or None
        Times between which log d(t) is fitted; default: the last half of the window.
    """
    n = _check(ens, t_max, dt, q0, replicas=True)
    d0 = _v.real("d0", d0, low=0.0, low_open=True)
    scheme = _v.choice("scheme", scheme, ("heun", "euler"))
    if fit_window is not None:
        if not isinstance(fit_window, tuple | list) or len(fit_window) != 2:
            raise _v.ParameterTypeError(f"fit_window must be a pair (t_lo, t_hi) or None, got "
                                        f"{_v._shown(fit_window)}")
        fit_window = (_v.real("fit_window[0]", fit_window[0]),
                      _v.real("fit_window[1]", fit_window[1]))
        if not fit_window[0] < fit_window[1]:
            raise ValueError(f"fit_window must satisfy t_lo < t_hi, got {fit_window}")
    single = two_time(ens, t_max, dt, q0, scheme=scheme, derivative=True)
    a, b = _coefficients(ens, dt, scheme)
    times = single.times
    dK = single.dK
    lam = 1.0 if ens.leak else 0.0
    if scheme == "euler":
        base = 0.5 * d0 * a ** (np.arange(n)[:, None] + np.arange(n)[None, :])
    else:
        base = 0.5 * d0 * np.exp(-lam * (times[:, None] + times[None, :]) / ens.tau)
    D = np.zeros((n, n))
    S = np.zeros((n, n))
    D[0, 0] = base[0, 0]
    b2 = b * b
    lf = ([1.0], [1.0, -a])
    for i in range(n - 1):
        j = i + 1
        r0 = a * S[i, 1:j + 1] - a * a * S[i, :j]
        kd = dK[i, :j] * D[i, :j]
        s_row = _row(S, i, r0, b2 * kd, a, lf)
        d_row = base[j, :j + 1] + s_row
        if scheme == "heun":
            kd_new = dK[j, :j + 1] * d_row
            kd_up = np.append(dK[i, 1:j] * D[i, 1:j], kd_new[i]) if j > 1 else kd_new[i:i + 1]
            kbar = 0.25 * (kd + kd_up + kd_new[:j] + kd_new[1:j + 1])
            s_row = _row(S, i, r0, b2 * kbar, a, lf)
            d_row = base[j, :j + 1] + s_row
        S[j, :j + 1] = s_row
        S[:j + 1, j] = s_row
        D[j, :j + 1] = d_row
        D[:j + 1, j] = d_row
    dist = 2.0 * np.diag(D)
    if fit_window is None:
        fit_window = (0.5 * times[-1], times[-1])
    lo, hi = fit_window
    sel = (times >= lo) & (times <= hi)
    if sel.sum() < 3:
        raise ValueError(f"fit_window {fit_window} holds fewer than 3 grid times")
    if np.any(dist[sel] <= 0) or not np.all(np.isfinite(dist[sel])):
        raise ConvergenceError("lyapunov_two_replica: d(t) left the positive finite range",
                               fit_window=fit_window)
    slope, icpt = np.polyfit(times[sel], np.log(dist[sel]), 1)
    resid = float(np.max(np.abs(np.log(dist[sel]) - (slope * times[sel] + icpt))))
    lyap = 0.5 * float(slope)
    return TwoReplicaResult(times=times, distance=dist, lyapunov_max=lyap,
                            fit_window=(float(lo), float(hi)), single=single, converged=True,
                            residual=resid, n_iter=n - 1,
                            message=f"linear fit of log d(t) on [{lo:g}, {hi:g}], largest "
                                    f"deviation {resid:.1e}")
