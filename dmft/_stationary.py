"""Stationary chaos of leaky non-gated nODEs: the generalized SCS theory (docs/theory.md section 4).

With s the lag in units of tau, the autocorrelation Delta(s) = <h_i(t) h_i(t + s)> obeys

    Delta''(s) = Delta(s) - K(Delta(s); Delta_0),   Delta(0) = Delta_0,
    Delta'(0+) = -sigma^2 / 2                                                        (4.1)

(sigma = ``noise_std``; the white noise adds sigma^2 delta(s) to the right-hand side of
(1 - d_s^2) Delta = K), where K(Delta; Delta_0) is the flow kernel with input variances Delta_0
and covariance Delta.  This is a particle in the potential

    V(Delta) = -Delta^2 / 2 + int_0^Delta K(D; Delta_0) dD                           (4.2)

with conserved energy; the decaying solution ends on the maximum Delta_inf of V, so

    V(Delta_inf) - V(Delta_0) = sigma^4 / 8,   Delta_inf = K(Delta_inf; Delta_0),
    K'(Delta_inf) < 1                                                                (4.3)

(Sompolinsky, Crisanti, Sommers 1988 eq. 9-10 for sigma = 0; Schuecker, Goedeke, Helias 2018,
Phys. Rev. X 8, 041029, eq. 6-8 with noise).  The maximal Lyapunov exponent is

    lambda_max = (sqrt(1 - E_0) - 1) / tau,   H = -d_s^2 + 1 - K'(Delta(|s|); Delta_0)  (4.4)

E_0 the ground-state energy of H (SCS 1988 eq. 13; Schuecker et al. 2018 eq. 12-13).  Without
noise Delta'(s) is an exact E = 0 eigenfunction (odd, one node), checked at every solve.

Method (the pieces are separate functions):

1. :class:`_Curve`: for one Delta_0, K and K' on Chebyshev nodes of w in [0, 1] with
   Delta = Delta_0 (1 - w^2).  The substitution makes the endpoint singularities of
   piecewise-smooth activations at Delta = Delta_0 (terms (Delta_0 - Delta)^(k + 1/2), e.g. the
   arc-cosine kernel) polynomial in w, so the interpolant converges spectrally; the potential
   (4.2) is its exact antiderivative.
2. :func:`_delta_inf`: K is absolutely monotone in Delta >= 0 (positive Mehler coefficients,
   kept under composition), so f = Delta - K is concave: its maximum is the root of K' = 1 and
   Delta_inf is the lower root of f, both by bracketed root finds (no scan to miss it).
3. Delta_0 from (4.3): bracket expansion and Brent's method on coarse tables (12 nodes,
   quadrature error ~1e-6), then Brent on the fine tables from a bracket of relative width
   ~1e-5 around the coarse root (3-5 fine tables per solve).
4. Delta(s) by quadrature of ds = -dDelta / P(Delta), P^2 = 2 (V(Delta_inf) - V(Delta)), in the
   variable t with Delta = Delta_inf + (Delta_0 - Delta_inf) exp(-t^2): the integrand is smooth at
   both the turning point (t = 0) and the approach to Delta_inf (t -> inf).
5. (4.4) by second-order finite differences on a symmetric lag grid with a tridiagonal eigensolver,
   Richardson-extrapolated from two grids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import chebyshev as cheb
from scipy import integrate, interpolate, linalg, optimize

from . import _validate as _v
from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import flow_kernel, flow_variances, get_activation
from .results import Phase, short_repr
from .static import fixed_point, flow_is_bounded

__all__ = ["StationaryResult", "stationary"]


@dataclass(frozen=True, kw_only=True)
class StationaryResult:
    """Result of :func:`stationary` (time unit: tau included, i.e. lags and rates are physical).

    Attributes
    ----------
    delta0 : float
        Delta_0 = <h_i^2>, the variance of h (``inf`` when explosive).
    delta_inf : float
        Delta_inf = lim Delta(s): the static (quenched) part; 0 for odd flows without biases.
    delta0_preactivation : float
        Variance of u = W^0 h + b^0, g_0^2 Delta_0 + sigma_0^2 (the SCS "current" variable).
    lags : ndarray, shape (m,)
        Lags s >= 0 (in the units of ``ens.tau``).
    autocorrelation : ndarray, shape (m,)
        Delta(s) on ``lags``.
    half_decay_time : float
        Lag where Delta - Delta_inf has fallen to half its initial value (``inf`` at a fixed
        point).
    lyapunov_max : float
        lambda_max = (sqrt(1 - E_0) - 1) / tau (eq. 4.4); (rho - 1) / tau at a stable fixed point.
    ground_energy, first_excited_energy : float
        E_0 and E_1 of H (eq. 4.4); at a fixed point the flat potential gives both = 1 - rho^2
        (the continuum edge).
    zero_mode_energy : float or None
        Rayleigh quotient <Delta'|H|Delta'> / <Delta'|Delta'> (exactly 0 in the continuum
        limit); None where not applicable (fixed point, noise-driven: Delta' jumps at s = 0).
    phase : Phase
        CHAOTIC (lambda_max > 0), FIXED_POINT (stable, rho < 1), CRITICAL (rho = 1: Delta(s)
        = q*, lambda_max = 0), DRIVEN_STABLE (noise-driven, lambda_max <= 0) or EXPLOSIVE
        (unbounded flow beyond rho = 1); see :class:`dmft.Phase`.
    rho : float
        Spectral radius of the flow Jacobian at the fixed point (docs/theory.md section 3).
    converged, residual, n_iter, message
        residual = |V(Delta_inf) - V(Delta_0) - sigma^4/8| / Delta_0^2 (eq. 4.3).
    """

    ensemble: Ensemble
    delta0: float
    delta_inf: float
    delta0_preactivation: float
    lags: np.ndarray = field(repr=False)
    autocorrelation: np.ndarray = field(repr=False)
    half_decay_time: float
    lyapunov_max: float
    ground_energy: float
    first_excited_energy: float
    zero_mode_energy: float | None
    phase: Phase
    rho: float
    noise_std: float
    converged: bool
    residual: float
    n_iter: int
    message: str

    def as_dict(self, *, arrays: bool = False) -> dict:
        """Plain-Python summary (for JSON); ``arrays=True`` adds the lags and Delta(s)."""
        out = {k: getattr(self, k) for k in (
            "delta0", "delta_inf", "delta0_preactivation", "half_decay_time", "lyapunov_max",
            "ground_energy", "first_excited_energy", "zero_mode_energy", "phase", "rho",
            "noise_std", "converged", "residual", "n_iter", "message")}
        out["ensemble"] = self.ensemble.describe()
        out["phase"] = self.phase.value
        if arrays:
            out["lags"] = self.lags.tolist()
            out["autocorrelation"] = self.autocorrelation.tolist()
        return out

    __repr__ = short_repr


# ---------------------------------------------------------------------------------- scope
def _scope(ens: Ensemble) -> tuple[float, float]:
    """Validate the ensemble; return (tau_eff, sigma_eff) in the gate-free form.

    A constant gate gamma = sigmoid(mu_z) (g_z = sigma_z = g_xz = 0) is a change of time unit:
    tau dh = gamma (-h + F) dt + sigma sqrt(tau) dW is tau' dh = (-h + F) dt + sigma' sqrt(tau') dW
    with tau' = tau / gamma and sigma' = sigma / sqrt(gamma) (docs/theory.md §6, exact check).
    """
    if not isinstance(ens, Ensemble):
        raise _v.ParameterTypeError(f"ens must be a dmft.Ensemble, got {type(ens).__name__}")
    if ens.gate is not None and not ens.gate.is_constant:
        raise ValueError(
            "dmft.stationary handles non-gated ensembles only (h is not Gaussian with a gate); "
            "use the sampling-based solver dmft.sampled for gated ensembles")
    if not ens.leak:
        raise ValueError("dmft.stationary needs a leaky ensemble (leak=True): a non-leaky flow has "
                         "no stationary state; use dmft.two_time for its growth law")
    if ens.input_dim > 0 and ens.input_gain > 0:
        raise ValueError("dmft.stationary handles autonomous or white-noise-driven ensembles; "
                         "input_gain must be 0 (use dmft.two_time for driven transients)")
    gamma = 1.0 if ens.gate is None else ens.gate.constant_value
    return ens.tau / gamma, ens.noise_std / math.sqrt(gamma)


def _odd_unbiased(layers) -> bool:
    """K(0; Delta_0) = 0 exactly (odd activations, zero biases): then Delta_inf = 0."""
    return all(la.bias_std == 0.0 and get_activation(la.activation).odd for la in layers)


# ---------------------------------------------------------------------------------- kernel curve
def _cheb_nodes(n: int) -> np.ndarray:
    """Chebyshev points of the first kind on [-1, 1]."""
    return np.cos(np.pi * (np.arange(n) + 0.5) / n)


def _cheb_coefficients(values: np.ndarray) -> np.ndarray:
    """Interpolating Chebyshev coefficients from values at :func:`_cheb_nodes` (a DCT-II)."""
    n = values.shape[-1]
    k = np.arange(n)
    m = np.cos(np.pi * np.outer(k, np.arange(n) + 0.5) / n) * (2.0 / n)
    c = m @ values
    c[0] *= 0.5
    return c


# Quadrature spacing for activations without closed-form kernels.  dmft.kernels integrates on
# |z| <= 8.5 with a trapezoid rule whose error for tanh-like integrands (poles at distance
# d = pi / (2 sqrt q) from the real axis) is ~ exp(-2 pi d / h) = exp(-pi^2 / (h sqrt q)).
# Its default h sqrt q = 0.33 (error ~ 1e-13) is more than Delta_0 and lambda_max need:
# h sqrt q = 0.45 gives ~ 3e-10 (fine tables) and 0.7 gives ~ 1e-6 (the coarse tables that only
# locate Delta_0 before the fine polish, see :func:`_solve_delta0`).
_Z_MAX = 8.5
_H_FINE = 0.45
_H_COARSE = 0.7


def _n_quad(layers, delta0: float, h_sqrt_q: float) -> int | None:
    """Trapezoid nodes per axis for the largest preactivation variance of a quadrature layer."""
    quad = [not get_activation(la.activation).has_closed_form for la in layers]
    if not any(quad):
        return None
    qs = flow_variances(layers, delta0)
    q_max = max(float(q) for q, use in zip(qs, quad, strict=True) if use)
    n = int(math.ceil(2.0 * _Z_MAX * math.sqrt(max(q_max, 0.0)) / h_sqrt_q)) + 1
    return int(min(max(69, n | 1), 601))


class _Curve:
    """K(Delta; Delta_0), K'(Delta; Delta_0) and the potential (4.2) for one Delta_0.

    Chebyshev interpolants in w in [0, 1], Delta = Delta_0 (1 - w^2) (so w = 0 is Delta_0).
    """

    def __init__(self, layers, delta0: float, n: int, h_quad: float | None = None) -> None:
        self.delta0 = d0 = float(delta0)
        self.x = _cheb_nodes(n)
        w = 0.5 * (self.x + 1.0)
        delta = d0 * (1.0 - w * w)
        h_quad = _H_FINE if h_quad is None else h_quad
        fk = flow_kernel(layers, d0, d0, delta, n_quad=_n_quad(layers, d0, h_quad))
        k, dk = fk.k, fk.dk
        self.kc = _cheb_coefficients(k)
        self.dkc = _cheb_coefficients(dk)
        self.ddkc = cheb.chebder(self.dkc) * 2.0          # d/dw of K'
        # A(w) = int K(w) w dw; int_0^Delta(w) K dD = 2 Delta_0 (A(1) - A(w)).
        kw = cheb.chebmul(self.kc, [0.5, 0.5])           # K(w) * w, w = (x + 1) / 2
        self.ac = cheb.chebint(kw) * 0.5                 # d/dw = 2 d/dx
        self.a1 = float(cheb.chebval(1.0, self.ac))
        self.n_kernel_points = n

    # all functions of w in [0, 1]
    def delta(self, w):
        return self.delta0 * (1.0 - np.square(w))

    def k(self, w):
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.kc)

    def dk(self, w):
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.dkc)

    def ddk(self, w):
        """K''(Delta) = (dK'/dw) / (dDelta/dw), dDelta/dw = -2 Delta_0 w (w > 0)."""
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.ddkc) / (-2.0 * self.delta0
                                                                    * np.asarray(w))

    def g(self, w):
        """G(Delta) = Delta^2 / 2 - int_0^Delta K = -V(Delta)."""
        d = self.delta(w)
        integral = 2.0 * self.delta0 * (self.a1 - cheb.chebval(2.0 * np.asarray(w) - 1.0,
                                                                self.ac))
        return 0.5 * d * d - integral


@dataclass(frozen=True)
class _Branch:
    """The decaying solution's anchor for one Delta_0: Delta_inf and the energy mismatch."""

    curve: _Curve
    w_inf: float           # w at Delta_inf
    delta_inf: float
    f1: float              # 1 - K'(Delta_inf) > 0: the squared decay rate of Delta - Delta_inf
    p2_top: float          # P^2(Delta_0) = 2 (V(Delta_inf) - V(Delta_0))


def _delta_inf(curve: _Curve, odd_unbiased: bool) -> tuple[float, float] | None:
    """(w_inf, Delta_inf): lower root of the concave f = Delta - K with f' > 0, or None."""
    if odd_unbiased:
        f1 = 1.0 - float(curve.dk(1.0))
        return (1.0, 0.0) if f1 > 0.0 else None

    def f(w):
        return float(curve.delta(w) - curve.k(w))

    def kp1(w):
        return float(curve.dk(w)) - 1.0

    # K' increases with Delta, i.e. decreases with w.  The maximum of f is where K' = 1.
    if kp1(1.0) >= 0.0:           # K'(0) >= 1: f decreasing from f(0) = -K(0) <= 0
        return None
    w_star = 0.0 if kp1(0.0) <= 0.0 else optimize.brentq(kp1, 0.0, 1.0, xtol=1e-15)
    if f(w_star) <= 0.0:
        return None
    if f(1.0) >= 0.0:             # K(0) = 0 to rounding
        return 1.0, 0.0
    w_inf = optimize.brentq(f, w_star, 1.0, xtol=1e-15, rtol=1e-15)
    return w_inf, float(curve.delta(w_inf))


def _branch(layers, delta0: float, n: int, odd_unbiased: bool,
            h_quad: float | None = None) -> _Branch | None:
    curve = _Curve(layers, delta0, n, h_quad)
    root = _delta_inf(curve, odd_unbiased)
    if root is None:
        return None
    w_inf, d_inf = root
    f1 = 1.0 - float(curve.dk(w_inf))
    p2_top = 2.0 * (float(curve.g(0.0)) - float(curve.g(w_inf)))
    return _Branch(curve, w_inf, d_inf, f1, p2_top)


def _p2(br: _Branch, delta: np.ndarray) -> np.ndarray:
    """P^2(Delta) = 2 (V(Delta_inf) - V(Delta)) = 2 int_{Delta_inf}^{Delta} (D - K(D)) dD.

    Near Delta_inf the difference of antiderivatives loses digits; there the Taylor form
    f1 d^2 + f2 d^3 / 3 (f2 = -K''(Delta_inf), d = Delta - Delta_inf) is used.
    """
    c = br.curve
    w = np.sqrt(np.clip(1.0 - delta / c.delta0, 0.0, 1.0))
    out = 2.0 * (c.g(w) - float(c.g(br.w_inf)))
    d = delta - br.delta_inf
    near = d < 1e-3 * (c.delta0 - br.delta_inf)
    if np.any(near):
        f2 = -float(c.ddk(br.w_inf)) if br.w_inf > 0 else 0.0
        out = np.where(near, br.f1 * d * d + f2 * d ** 3 / 3.0, out)
    return np.maximum(out, 0.0)


# ---------------------------------------------------------------------------------- Delta_0
def _energy(layers, delta0, n, odd_unbiased, sigma,
            h_quad: float | None = None) -> tuple[float, _Branch | None]:
    """e(Delta_0) = P^2(Delta_0)/2 - sigma^4/8, scaled by Delta_0^2; -1 where no branch."""
    br = _branch(layers, delta0, n, odd_unbiased, h_quad)
    if br is None:
        return -1.0, None
    return (0.5 * br.p2_top - sigma ** 4 / 8.0) / delta0 ** 2, br


def _bracket(e, x0: float, factor: float, n_max: int = 80):
    """Expand geometrically from x0 until e(lo) < 0 <= e(hi); e increases through the root."""
    lo = hi = x0
    flo = fhi = e(x0)
    for _ in range(n_max):
        if flo < 0.0 <= fhi:
            break
        if fhi < 0.0:
            lo, flo = hi, fhi
            hi *= factor
            fhi = e(hi)
        else:
            hi, fhi = lo, flo
            lo /= factor
            flo = e(lo)
            if lo < 1e-14:
                break
    return lo, hi, flo, fhi


_N_COARSE = 12      # Chebyshev nodes of the coarse tables (K error ~ 1e-6, see _H_COARSE)
_RTOL_COARSE = 1e-6


def _solve_delta0(layers, guess: float, n: int, odd_unbiased: bool, sigma: float,
                  rtol: float) -> tuple[_Branch, float, int]:
    """Root of e(Delta_0) (eq. 4.3): negative below, positive above the physical Delta_0.

    Two stages, because each evaluation of e needs a fresh kernel table: (1) bracket and Brent
    on coarse tables (``_N_COARSE`` Chebyshev nodes, quadrature spacing ``_H_COARSE``), which
    locate Delta_0 to ~1e-6; (2) on the fine tables, a bracket of relative width ~1e-5 around
    that root (expanded if the coarse root was further off) and Brent to ``rtol``: its first
    secant step from a near-root bracket already lands within ~1e-10, so the fine stage costs
    3-5 tables instead of the ~15 a single fine-table Brent from a factor-2 bracket needs.
    """
    n_eval = 0

    def e_coarse(x):
        nonlocal n_eval
        n_eval += 1
        return _energy(layers, x, min(n, _N_COARSE), odd_unbiased, sigma, _H_COARSE)[0]

    fine: dict[float, tuple[float, _Branch | None]] = {}

    def e_fine(x):
        nonlocal n_eval
        if x not in fine:         # brentq re-evaluates the bracket ends: reuse the tables
            n_eval += 1
            fine[x] = _energy(layers, x, n, odd_unbiased, sigma)
        return fine[x][0]

    lo, hi, flo, fhi = _bracket(e_coarse, max(guess, 1e-12), 2.0)
    if not (flo < 0.0 <= fhi):
        raise ConvergenceError(
            "stationary: could not bracket Delta_0 from the energy condition (eq. 4.3); the flow "
            "may have no bounded chaotic state (unbounded kernel?)",
            last_bracket=(lo, hi), e_lo=flo, e_hi=fhi, n_eval=n_eval)
    x1 = optimize.brentq(e_coarse, lo, hi, xtol=1e-300, rtol=_RTOL_COARSE)
    # fine stage: a tight bracket around the coarse root
    lo, hi, flo, fhi = _bracket(e_fine, x1, 1.0 + 1e-5)
    if not (flo < 0.0 <= fhi):
        lo, hi, flo, fhi = _bracket(e_fine, x1, 2.0)
    if not (flo < 0.0 <= fhi):
        raise ConvergenceError(
            "stationary: could not bracket Delta_0 on the fine kernel tables (eq. 4.3)",
            last_bracket=(lo, hi), e_lo=flo, e_hi=fhi, coarse_root=x1, n_eval=n_eval)
    x, info = optimize.brentq(e_fine, lo, hi, xtol=1e-300, rtol=rtol, full_output=True)
    if not info.converged:  # pragma: no cover - brentq on a valid bracket converges
        raise ConvergenceError("stationary: Brent iteration for Delta_0 did not converge",
                               n_iter=info.iterations, delta0=x)
    e_fine(x)
    res, br = fine[x]
    if br is None:
        # the root sits at the appearance point of Delta_inf; step to the defined side
        x = x * (1.0 + 4 * rtol)
        e_fine(x)
        res, br = fine[x]
    if br is None:
        raise ConvergenceError("stationary: no decaying solution at the energy root",
                               delta0=x, n_eval=n_eval)
    return br, abs(res), n_eval


# ---------------------------------------------------------------------------------- Delta(s)
_Y_MIN = 1e-13


def _autocorrelation_path(br: _Branch, sigma: float, n_t: int = 4001):
    """s(t) for Delta(t) = Delta_inf + (Delta_0 - Delta_inf) exp(-t^2) (step 4).

    s(t) = int_0^t 2 t' y A / P dt',  y = exp(-t'^2), A = Delta_0 - Delta_inf, P = sqrt(P^2).
    At t = 0 without noise P ~ sqrt(-2 f(Delta_0) A) t, whose limit is used.
    """
    c = br.curve
    amp = c.delta0 - br.delta_inf
    t = np.linspace(0.0, math.sqrt(-math.log(_Y_MIN)), n_t)
    y = np.exp(-t * t)
    delta = br.delta_inf + amp * y
    p = np.sqrt(_p2(br, delta))
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = 2.0 * t * y * amp / p
    if sigma == 0.0:
        f_top = float(c.delta0 - c.k(0.0))              # Delta''(0) = f(Delta_0) < 0
        jac[0] = 2.0 * amp / math.sqrt(max(-2.0 * f_top * amp, 1e-300))
    else:
        jac[0] = 0.0
    if not np.all(np.isfinite(jac)):
        raise ConvergenceError("stationary: the quadrature of ds = dDelta / P failed (P = 0 "
                               "inside the branch)", delta0=c.delta0, delta_inf=br.delta_inf)
    s = integrate.cumulative_simpson(jac, x=t, initial=0.0)
    return t, s, delta


def _delta_on_grid(br: _Branch, t, s, lags):
    """Delta(s) on ``lags`` (units of tau), with the exponential tail exp(-sqrt(f1) s) beyond."""
    amp = br.curve.delta0 - br.delta_inf
    spline = interpolate.CubicSpline(s, t)
    inside = lags <= s[-1]
    tt = spline(np.where(inside, lags, s[-1]))
    y = np.exp(-tt * tt)
    kappa = math.sqrt(br.f1)
    y = np.where(inside, y, _Y_MIN * np.exp(-kappa * (lags - s[-1])))
    return br.delta_inf + amp * y


# ---------------------------------------------------------------------------------- Schrodinger
def _hamiltonian_levels(potential_half: np.ndarray, h: float, psi_half: np.ndarray | None):
    """Two lowest eigenvalues of -d^2/ds^2 + U(|s|) (Dirichlet, step h) and <psi|H|psi>/<psi|psi>.

    ``potential_half`` is U on s = 0, h, ..., S; the symmetric grid is s = -S..S.
    """
    u = np.concatenate([potential_half[:0:-1], potential_half])
    d = 2.0 / (h * h) + u
    e = np.full(u.size - 1, -1.0 / (h * h))
    ev = linalg.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(0, 1))
    rq = None
    if psi_half is not None:
        psi = np.concatenate([-psi_half[:0:-1], psi_half])
        hpsi = d * psi
        hpsi[:-1] += e * psi[1:]
        hpsi[1:] += e * psi[:-1]
        rq = float(psi @ hpsi / (psi @ psi))
    return float(ev[0]), float(ev[1]), rq


def _schrodinger(br: _Branch, t, s, sigma: float, m: int):
    """E_0, E_1, zero-mode energy (Richardson-extrapolated from steps h and 2h), lag grid."""
    c = br.curve
    kappa = math.sqrt(br.f1)
    # the bound state decays faster than exp(-kappa s); Delta - Delta_inf as exp(-kappa s).
    s_max = max(30.0 / kappa, 8.0 * float(np.interp(math.sqrt(math.log(2.0)), t, s)), 10.0)
    lags = np.linspace(0.0, s_max, m + 1)
    h = lags[1]
    delta = _delta_on_grid(br, t, s, lags)
    w = np.sqrt(np.clip(1.0 - delta / c.delta0, 0.0, 1.0))
    pot = 1.0 - c.dk(w)
    psi = -np.sqrt(_p2(br, delta)) if sigma == 0.0 else None
    if psi is not None:
        psi[0] = 0.0
    fine = _hamiltonian_levels(pot, h, psi)
    coarse = _hamiltonian_levels(pot[::2], 2 * h, None if psi is None else psi[::2])
    e0 = (4 * fine[0] - coarse[0]) / 3
    e1 = (4 * fine[1] - coarse[1]) / 3
    zm = None if psi is None else (4 * fine[2] - coarse[2]) / 3
    err = abs(fine[0] - coarse[0]) / 3 + abs(fine[1] - coarse[1]) / 3
    return e0, e1, zm, err, lags, delta


# ---------------------------------------------------------------------------------- driver
def stationary(ens: Ensemble, *, n_kernel: int = 24, n_lags: int = 2000, rtol: float = 1e-11,
               zero_mode_tol: float = 1e-5) -> StationaryResult:
    """Stationary state of a leaky, non-gated nODE: Delta_0, Delta(s), lambda_max (section 4).

    Solves eqs. 4.1-4.4 of the module docstring (docs/theory.md section 4): the energy condition
    V(Delta_inf) - V(Delta_0) = sigma^4 / 8 for Delta_0, the quadrature of the particle's
    trajectory for Delta(s), and the ground state of H = -d_s^2 + 1 - K'(Delta(s)) for
    lambda_max = (sqrt(1 - E_0) - 1) / tau.

    Parameters
    ----------
    ens : Ensemble
        Leaky, non-gated (or constant gate), autonomous or driven by white noise
        (``ens.noise_std``; tau dh = (-h + F) dt + noise_std sqrt(tau) dW).
    n_kernel : int
        Chebyshev nodes for K(Delta; Delta_0) and K' on [0, Delta_0] (>= 8).
    n_lags : int
        Lag-grid intervals on [0, S] for the Schrodinger problem (>= 200, even).
    rtol : float
        Relative tolerance of Delta_0.
    zero_mode_tol : float
        Largest |E| accepted for the odd zero mode Delta'(s) (self-check, noise-free only).

    Returns
    -------
    StationaryResult

    Raises
    ------
    ValueError
        Gated (use ``dmft.sampled``), non-leaky (use ``dmft.two_time``) or input-driven
        ensembles; bad options.
    ConvergenceError
        If Delta_0 cannot be bracketed or the zero-mode check fails (then raise ``n_kernel`` or
        ``n_lags``).

    References
    ----------
    H. Sompolinsky, A. Crisanti, H.-J. Sommers, Phys. Rev. Lett. 61, 259 (1988).
    J. Schuecker, S. Goedeke, M. Helias, Phys. Rev. X 8, 041029 (2018).

    Examples
    --------
    >>> from dmft import Ensemble, stationary
    >>> r = stationary(Ensemble.elman(2.0))
    >>> r.phase, round(r.lyapunov_max, 2)
    ('chaotic', 0.11)
    """
    tau, sigma = _scope(ens)
    n_kernel = _v.integer("n_kernel", n_kernel, low=8, high=4096)
    n_lags = _v.integer("n_lags", n_lags, low=200, high=10_000_000)
    if n_lags % 2:
        raise ValueError(f"n_lags must be an even int >= 200, got {n_lags!r}")
    rtol = _v.real("rtol", rtol, low=0.0, high=1e-3, low_open=True, high_open=True)
    zero_mode_tol = _v.real("zero_mode_tol", zero_mode_tol, low=0.0, low_open=True)
    # the lag grid and its tridiagonal problem: a few arrays of 2 n_lags + 1 entries
    _v.check_memory(8.0 * 16 * (2 * n_lags + 1), f"stationary with n_lags = {n_lags}")
    layers = ens.flow
    fp = fixed_point(ens.replace(gate=None, noise_std=0.0))
    rho = fp.rho
    g0 = layers[0]
    pre = lambda d: g0.gain ** 2 * d + g0.bias_std ** 2  # noqa: E731
    empty = np.zeros(0)

    if sigma == 0.0 and fp.phase in (Phase.FIXED_POINT, Phase.CRITICAL):
        q = fp.q
        e0 = 1.0 - rho * rho
        lags = np.array([0.0])
        return StationaryResult(
            ensemble=ens, delta0=q, delta_inf=q, delta0_preactivation=pre(q), lags=lags,
            autocorrelation=np.array([q]), half_decay_time=math.inf,
            lyapunov_max=(rho - 1.0) / tau, ground_energy=e0, first_excited_energy=e0,
            zero_mode_energy=None, phase=fp.phase, rho=rho, noise_std=0.0, converged=True,
            residual=fp.residual, n_iter=fp.n_iter,
            message="stable fixed point (rho <= 1): Delta(s) = q*, lambda_max = (rho - 1)/tau")
    if fp.phase == Phase.EXPLOSIVE or (rho > 1.0 and not flow_is_bounded(ens)):
        return StationaryResult(
            ensemble=ens, delta0=math.inf, delta_inf=math.inf, delta0_preactivation=math.inf,
            lags=empty, autocorrelation=empty, half_decay_time=math.inf,
            lyapunov_max=(rho - 1.0) / tau, ground_energy=-math.inf,
            first_excited_energy=-math.inf, zero_mode_energy=None, phase=Phase.EXPLOSIVE,
            rho=rho, noise_std=sigma, converged=True, residual=0.0, n_iter=0,
            message="unbounded flow beyond rho = 1: |h| grows without bound; lambda_max is the "
                    "linear growth rate (rho - 1)/tau at the fixed point")

    odd = _odd_unbiased(layers)
    guess = max(fp.q if math.isfinite(fp.q) else 1.0, 0.5 * sigma * sigma, 0.1)
    br, residual, n_eval = _solve_delta0(layers, guess, n_kernel, odd, sigma, rtol)
    t, s, _ = _autocorrelation_path(br, sigma)
    e0, e1, zm, err, lags, delta = _schrodinger(br, t, s, sigma, n_lags)
    if zm is not None and abs(zm) > zero_mode_tol + 10 * err:
        raise ConvergenceError(
            "stationary: the zero mode Delta'(s) is not an E = 0 eigenfunction of H within the "
            "discretization error; increase n_kernel or n_lags",
            zero_mode_energy=zm, discretization_error=err, delta0=br.curve.delta0)
    lam = (math.sqrt(max(1.0 - e0, 0.0)) - 1.0) / tau
    half = float(np.interp(math.sqrt(math.log(2.0)), t, s)) * tau
    d0 = br.curve.delta0
    if lam > 0.0:
        phase = Phase.CHAOTIC
    else:
        phase = Phase.DRIVEN_STABLE if sigma > 0 else Phase.FIXED_POINT
    msg = (f"energy condition solved with {n_eval} kernel tables of {n_kernel} points; "
           f"E_0 = {e0:.3e} (+- {err:.1e})")
    if sigma > 0:
        msg += "; noise-driven" + ("" if lam > 0 else ", not chaotic (lambda_max <= 0)")
    return StationaryResult(
        ensemble=ens, delta0=d0, delta_inf=br.delta_inf, delta0_preactivation=pre(d0),
        lags=lags * tau, autocorrelation=delta, half_decay_time=half, lyapunov_max=lam,
        ground_energy=e0, first_excited_energy=e1, zero_mode_energy=zm, phase=phase, rho=rho,
        noise_std=sigma, converged=True, residual=residual, n_iter=n_eval, message=msg)
