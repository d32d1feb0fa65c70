"""Fixed point, stability and critical initialization (docs/theory.md section 3).

Leaky ensembles: the fixed point h* = F(h*) has variance q* = |h*|^2/N solving

    q* = K_F(q*, q*, q*)                                                    (3.1)

(the flow kernel on the diagonal, :func:`dmft.kernels.flow_kernel`); we take the smallest root,
which is q* = 0 when F(0) = 0 (odd activations, zero biases).  The Jacobian there is
J = diag(G*) (-I + J_F), J_F = D_L W^{L-1} ... D_1 W^0, whose flow part has, as N -> infinity,
eigenvalues in a disk of radius

    rho^2 = prod_l g_l^2 E[phi_l'(u^l)^2],   u^l ~ N(0, q_l)                 (3.2)

with q_l the preactivation variances at the fixed point, independent of the width ratios.
The fixed point is stable iff rho < 1; the critical initialization is rho = 1.  Gates
(0 < G* < 1) do not move the boundary (det J = det diag(G*) det(-I + J_F)) but stretch the time
constants to tau / G*_i.

Non-leaky ensembles (J = diag(G*) J_F): the spectrum is a disk centred at 0, so half of the
eigenvalues have positive real part for any nonzero gain: never stable.  Their fixed point solves
F(h*) = 0; its statistics are evaluated at h* = 0, which is exact when F(0) = 0 (zero biases,
phi(0) = 0) and is otherwise the linearization around the origin.

Unbounded flows (every activation unbounded: relu, identity, softplus) with rho > 1, or with no
finite solution of (3.1), do not become chaotic: they explode (phase ``Phase.EXPLOSIVE``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from . import _validate as _v
from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import _flow_kernel, dsecond_moment, flow_kernel, gaussian_mean, get_activation
from .results import Phase, short_repr

__all__ = ["FixedPoint", "CriticalLine", "fixed_point", "spectral_radius", "critical_gain",
           "critical", "critical_line", "flow_is_bounded"]

_Q_SCAN = np.concatenate([[0.0], np.logspace(-10, 10, 81)])


@dataclass(frozen=True, kw_only=True)
class FixedPoint:
    """Result of :func:`fixed_point`.

    Attributes
    ----------
    q : float
        q* = |h*|^2 / N (eq. 3.1); ``inf`` when no finite fixed point exists (explosive).
    preactivation_variances : tuple of float
        q_1 ... q_L, variances of u^1 ... u^L at the fixed point.
    derivative_moments : tuple of float
        E[phi_l'(u^l)^2] for each layer.
    rho : float
        Radius of the flow Jacobian's eigenvalue disk (eq. 3.2).
    stable : bool
        Leaky: rho < 1.  Non-leaky: always False.
    phase : Phase
        FIXED_POINT (stable), CRITICAL (rho = 1 to 1e-12), CHAOTIC (bounded flow, rho > 1),
        EXPLOSIVE (unbounded flow with rho > 1 or no finite fixed point), UNSTABLE (non-leaky,
        rho > 0: a saddle), MARGINAL (non-leaky, rho = 0); see :class:`dmft.Phase`.
    unstable_fraction : float or None
        Expected fraction of Jacobian eigenvalues with positive real part: 1/2 non-leaky,
        0 for a stable leaky fixed point, None where the disk's density is not uniform.
    gate_mean : float or None
        E[G*], G* = sigmoid(z), z ~ N(mu_z, g_z^2 q* + sigma_z^2).
    timescales : tuple of float or None
        Quantiles (10 %, 50 %, 90 %) of the units' effective time constants tau / G*.
    converged, residual, n_iter, message
        Solver diagnostics; residual = |K_F(q*) - q*|.
    """

    ensemble: Ensemble
    q: float
    preactivation_variances: tuple[float, ...]
    derivative_moments: tuple[float, ...]
    rho: float
    stable: bool
    phase: Phase
    unstable_fraction: float | None
    gate_mean: float | None
    timescales: tuple[float, float, float] | None
    converged: bool
    residual: float
    n_iter: int
    message: str

    def as_dict(self) -> dict:
        """Plain-Python summary (for JSON)."""
        return {
            "ensemble": self.ensemble.describe(), "q": self.q,
            "preactivation_variances": list(self.preactivation_variances),
            "derivative_moments": list(self.derivative_moments), "rho": self.rho,
            "stable": self.stable, "phase": self.phase.value,
            "unstable_fraction": self.unstable_fraction, "gate_mean": self.gate_mean,
            "timescales": None if self.timescales is None else list(self.timescales),
            "converged": self.converged, "residual": self.residual, "n_iter": self.n_iter,
            "message": self.message,
        }

    __repr__ = short_repr


@dataclass(frozen=True, kw_only=True)
class CriticalLine:
    """Result of :func:`critical_line`: the critical gain factor along bias spreads.

    Attributes
    ----------
    bias_std : ndarray, shape (m,)
    factor : ndarray, shape (m,)
        c(sigma_b): multiplying every flow gain by it puts rho at the target.
    gains : ndarray, shape (m, L)
        The critical per-layer gains.
    q : ndarray, shape (m,)
        q* at the critical point.
    converged, message
        Every point solved (a point that cannot be solved raises ConvergenceError).
    """

    bias_std: np.ndarray
    factor: np.ndarray
    gains: np.ndarray
    q: np.ndarray
    converged: bool = True
    message: str = ""

    __repr__ = short_repr


def flow_is_bounded(ens: Ensemble) -> bool:
    """True when some layer's activation is bounded (then |F| is bounded)."""
    return any(get_activation(layer.activation).bounded for layer in ens.flow)


def _flow_vanishes_at_zero(ens: Ensemble) -> bool:
    """F(0) = 0 for every realization: zero biases and phi(0) = 0 in every layer."""
    return all(layer.bias_std == 0.0 and get_activation(layer.activation).zero_is_fixed
               for layer in ens.flow)


def _solve_q(ens: Ensemble, xtol: float) -> tuple[float, float, int, str]:
    """Smallest root of K_F(q) - q (eq. 3.1).  Returns (q, residual, n_iter, message)."""
    if not ens.leak:
        return 0.0, 0.0, 0, "non-leaky: statistics evaluated at h* = 0"
    if _flow_vanishes_at_zero(ens):
        return 0.0, 0.0, 0, "F(0) = 0: h* = 0"
    # The scan only locates the first sign change: a fixed 401-node rule is ample there, and
    # the root is then polished with the adaptive rule.
    with np.errstate(over="ignore", invalid="ignore"):
        f = _flow_kernel(ens.flow, _Q_SCAN, _Q_SCAN, _Q_SCAN, False, "auto", None, 401).k \
            - _Q_SCAN
    if f[0] <= 0.0:   # K_F(0) >= 0 always; equality means q* = 0
        return 0.0, abs(float(f[0])), 0, "q* = 0"
    neg = np.flatnonzero(f <= 0.0)
    nan = np.flatnonzero(np.isnan(f))
    if nan.size and (neg.size == 0 or nan[0] < neg[0]):
        # the moments overflowed before the first sign change: no honest answer in float64
        raise ValueError(
            f"fixed_point: the flow kernel K_F(q) overflows float64 at q = {_Q_SCAN[nan[0]]:.0e} "
            f"before its fixed point is located (gains {list(ens.gains)}, bias spreads "
            f"{[la.bias_std for la in ens.flow]}): beyond the theory's numerical range")
    if neg.size == 0:
        return math.inf, math.inf, 0, (f"no finite fixed point: K_F(q) > q up to q = "
                                       f"{_Q_SCAN[-1]:.0e} (explosive)")
    i = int(neg[0])

    def resid(q: float) -> float:
        return float(flow_kernel(ens, q, q, q, derivative=False).k) - q

    try:
        q, info = optimize.brentq(resid, _Q_SCAN[i - 1], _Q_SCAN[i], xtol=xtol, rtol=1e-15,
                                  full_output=True)
    except (ValueError, RuntimeError) as exc:  # pragma: no cover - bracket guaranteed above
        raise ConvergenceError("fixed-point variance: root finding failed",
                               bracket=(_Q_SCAN[i - 1], _Q_SCAN[i]), error=str(exc)) from exc
    if not info.converged:  # pragma: no cover
        raise ConvergenceError("fixed-point variance did not converge; try a larger xtol",
                               n_iter=info.iterations, q=q)
    return float(q), abs(resid(q)), int(info.iterations), "brentq on K_F(q) - q"


def _rho(ens: Ensemble, q: float) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """Eq. 3.2 at input variance q: (rho, preactivation variances, E[phi'^2] per layer)."""
    log_rho, pre, dm = _log_rho(ens, q)
    return math.exp(log_rho) if log_rho < 709.0 else math.inf, pre, dm


def _log_rho(ens: Ensemble, q: float) -> tuple[float, tuple[float, ...], tuple[float, ...]]:
    """log rho (eq. 3.2) as sum_l [log g_l + log E[phi_l'^2] / 2]: no overflow of the product
    (-inf when a gain or a derivative moment is zero)."""
    if not math.isfinite(q):
        q = float(_Q_SCAN[-1])
    fk = flow_kernel(ens, q, q, q, derivative=False)
    pre = tuple(float(p[0]) for p in fk.pre)
    if not all(math.isfinite(p) for p in pre):
        raise ValueError(f"spectral radius: the preactivation variances {list(pre)} overflow "
                         f"float64 (gains {list(ens.gains)}): beyond the theory's numerical range")
    dm = tuple(float(dsecond_moment(layer.activation, qi)) for layer, qi in zip(ens.flow, pre,
                                                                               strict=True))
    terms = [(math.log(la.gain) if la.gain > 0 else -math.inf)
             + (0.5 * math.log(d) if d > 0 else -math.inf) for la, d in zip(ens.flow, dm,
                                                                           strict=True)]
    return math.fsum(terms) if all(t > -math.inf for t in terms) else -math.inf, pre, dm


def _gate_stats(ens: Ensemble, q: float):
    if ens.gate is None:
        return None, None
    g = ens.gate
    if g.bias_mean == math.inf:
        return 1.0, (ens.tau,) * 3
    qq = q if math.isfinite(q) else float(_Q_SCAN[-1])
    sd = math.sqrt(g.gain ** 2 * qq + g.bias_std ** 2)
    sigmoid = get_activation("sigmoid").fn
    mean = float(gaussian_mean(sigmoid, g.bias_mean, sd * sd))
    # tau / sigmoid(z) = tau (1 + e^-z) is monotone decreasing in z: quantiles map through
    # directly; a gate closed beyond float range (e^-z > 1e308) has an infinite time scale
    zq = g.bias_mean + sd * np.array([1.2815515655446004, 0.0, -1.2815515655446004])
    with np.errstate(over="ignore"):
        ts = tuple(float(ens.tau * (1.0 + np.exp(-z))) for z in zq)
    return mean, ts


def fixed_point(ens: Ensemble, *, xtol: float = 1e-14) -> FixedPoint:
    """Fixed point statistics and stability of an ensemble (docs/theory.md section 3).

    Parameters
    ----------
    ens : Ensemble
    xtol : float
        Absolute tolerance of the root find for q*.

    Returns
    -------
    FixedPoint

    Examples
    --------
    >>> from dmft import Ensemble, fixed_point
    >>> round(fixed_point(Ensemble.elman(0.5)).rho, 12)
    0.5
    """
    _check_ensemble(ens)
    xtol = _v.real("xtol", xtol, low=0.0, low_open=True, high=1.0)
    q, residual, n_iter, msg = _solve_q(ens, xtol)
    rho, pre, dm = _rho(ens, q)
    bounded = flow_is_bounded(ens)
    if ens.leak:
        if abs(rho - 1.0) <= 1e-12:
            phase = Phase.CRITICAL
            if not math.isfinite(q):
                msg += "; at rho = 1 an unbounded flow with biases has q* -> inf (marginal drift)"
        elif not math.isfinite(q):
            phase = Phase.EXPLOSIVE
        elif rho < 1.0:
            phase = Phase.FIXED_POINT
        else:
            phase = Phase.CHAOTIC if bounded else Phase.EXPLOSIVE
        stable = math.isfinite(q) and rho < 1.0
        frac = 0.0 if stable else None
    else:
        stable = False
        phase = Phase.MARGINAL if rho == 0.0 else Phase.UNSTABLE
        frac = 0.5 if rho > 0.0 else 0.0
    gate_mean, ts = _gate_stats(ens, q)
    return FixedPoint(ensemble=ens, q=q, preactivation_variances=pre, derivative_moments=dm,
                      rho=rho, stable=stable, phase=phase, unstable_fraction=frac,
                      gate_mean=gate_mean, timescales=ts,
                      converged=True,   # _solve_q raises ConvergenceError otherwise
                      residual=residual, n_iter=n_iter, message=msg)


def spectral_radius(ens: Ensemble) -> float:
    """rho of eq. 3.2 at the ensemble's fixed point."""
    return fixed_point(ens).rho


def critical_gain(ens: Ensemble, *, rho: float = 1.0, xtol: float = 1e-12) -> float:
    """The factor c > 0 such that multiplying every flow gain by c puts rho (eq. 3.2) at ``rho``.

    Without biases and with F(0) = 0 (or homogeneous activations), q* does not depend on c and
    rho scales as c^L, so c = (rho / rho(1))^(1/L) in closed form; otherwise a 1-D root find on
    log c, each step solving eq. 3.1 for q*.

    Raises
    ------
    ValueError
        If ``rho`` is not a positive finite number, or some flow gain is zero (rho is then 0
        for every c).
    ConvergenceError
        If no bracket or root is found.
    """
    _check_ensemble(ens)
    rho = _v.real("rho", rho, low=0.0, low_open=True)
    xtol = _v.real("xtol", xtol, low=0.0, low_open=True, high=1.0)
    if any(layer.gain == 0.0 for layer in ens.flow):
        raise ValueError("every flow gain must be > 0 to find a critical factor (rho = 0 for "
                         "any scaling of a zero gain)")
    L = ens.depth
    homogeneous = all(get_activation(la.activation).homogeneous for la in ens.flow)
    if homogeneous or _flow_vanishes_at_zero(ens):
        # E[phi_l'^2] does not depend on c: homogeneous activations have constant E[phi'^2],
        # and with F(0) = 0 every preactivation variance at h* = 0 is 0.  So rho = c^L rho(1).
        # in logs: the product of large gains may overflow where the factor does not
        if homogeneous:   # E[phi'^2] is a constant of each layer: no propagation needed
            log_rho1 = math.fsum(math.log(la.gain) + 0.5 * math.log(float(
                dsecond_moment(la.activation, 1.0))) for la in ens.flow)
        else:
            log_rho1 = _log_rho(ens, 0.0)[0]
        return _exp_factor((math.log(rho) - log_rho1) / L)

    def f(logc: float) -> float:
        e = ens.scaled(math.exp(logc))
        q = _solve_q(e, xtol)[0]
        return _log_rho(e, q)[0] - math.log(rho)

    # gains far from 1 (geometric mean beyond e^+-10): start from the factor that puts their
    # geometric mean at 1, which the unit steps of the expansion below would not reach
    c0 = -math.fsum(math.log(la.gain) for la in ens.flow) / L
    c0 = float(round(c0)) if abs(c0) > 10.0 else 0.0
    lo, hi = c0 - 0.5, c0 + 0.5
    flo, fhi = f(lo), f(hi)
    for _ in range(60):
        if flo <= 0.0 <= fhi:
            break
        if flo > 0.0:
            hi, fhi = lo, flo
            lo -= 1.0
            flo = f(lo)
        else:
            lo, flo = hi, fhi
            hi += 1.0
            fhi = f(hi)
    else:
        raise ConvergenceError("critical_gain: could not bracket rho(c) = target",
                               last_bracket=(math.exp(lo), math.exp(hi)), rho_target=rho)
    logc, info = optimize.brentq(f, lo, hi, xtol=xtol, full_output=True)
    if not info.converged:  # pragma: no cover
        raise ConvergenceError("critical_gain: root find did not converge",
                               n_iter=info.iterations, factor=math.exp(logc))
    return _exp_factor(logc)


def _exp_factor(logc: float) -> float:
    """exp(logc), refusing a factor outside float64 (a silent 0 or inf would be wrong)."""
    if not -708.0 < logc < 709.0:
        raise ValueError(f"critical_gain: the critical factor exp({logc:.4g}) is outside the "
                         "range of float64; rescale the gains of the ensemble")
    return math.exp(logc)


def _check_ensemble(ens, name: str = "ens") -> None:
    _v.instance(name, ens, Ensemble)


def critical(ens: Ensemble, *, rho: float = 1.0) -> Ensemble:
    """The ensemble with its flow gains rescaled to put rho at ``rho`` (default: critical)."""
    return ens.scaled(critical_gain(ens, rho=rho))


def critical_line(ens: Ensemble, bias_stds: Sequence[float], *, rho: float = 1.0) -> CriticalLine:
    """Critical gain factor as a function of the bias spread (the same spread in every layer)."""
    _check_ensemble(ens)
    s = _v.real_array("bias_stds", bias_stds, ndim=1, nonempty=True)
    if np.any(s < 0):
        raise ValueError("bias_stds must be finite and >= 0")
    rho = _v.real("rho", rho, low=0.0, low_open=True)
    fac, qs = [], []
    for si in s:
        e = ens.with_bias_std(float(si))
        c = critical_gain(e, rho=rho)
        fac.append(c)
        qs.append(fixed_point(e.scaled(c)).q)
    fac = np.asarray(fac)
    gains = fac[:, None] * np.asarray(ens.gains)[None, :]
    return CriticalLine(bias_std=s, factor=fac, gains=gains, q=np.asarray(qs),
                        message=f"critical gain factor at {s.size} bias spreads (rho = {rho:g})")
