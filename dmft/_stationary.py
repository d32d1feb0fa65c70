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

1. :class:`_Curve`: for one Delta_0, K' and f = Delta - K on Chebyshev nodes of w in [0, 1]
   with Delta = Delta_0 (1 - w^2).  The substitution makes the endpoint singularities of
   piecewise-smooth activations at Delta = Delta_0 (terms (Delta_0 - Delta)^(k + 1/2), e.g. the
   arc-cosine kernel) polynomial in w, so the interpolant converges spectrally; the potential
   (4.2) is the antiderivative of f, re-expanded on the branch [Delta_inf, Delta_0].
2. :func:`_delta_inf`: K is absolutely monotone in Delta >= 0 (positive Mehler coefficients,
   kept under composition), so f = Delta - K is concave: its maximum is the root of K' = 1 and
   Delta_inf is the lower root of f, both by bracketed root finds (no scan to miss it).
3. Delta_0 from (4.3) (the energy route): bracket expansion and Brent's method on coarse tables
   (12 nodes, quadrature error ~1e-6), then Brent on the fine tables from a bracket of relative
   width ~1e-5 around the coarse root (3-5 fine tables per solve).
4. Near onset (the branch thinner than 1e-2 Delta_0, or 1 - K'(Delta_inf) < 1e-3, or the energy
   route failed; no noise) the slope route (docs/theory.md eq. 4.10): the branch from the
   derivative kernel alone, f' = 1 - K' tabulated on a window of a few amplitudes below
   Delta_0, where f = Delta - K would carry a rounding error eps Delta_0 far above its size on
   the branch; Delta_0 from f(Delta_inf) = 0 with f(Delta_0) from the diagonal kernel.  Where
   even this cannot resolve the branch (thinner than the tables' covariances can be told apart),
   the onset limit 0 < lambda_max tau <= sqrt(K'(Delta_0; Delta_0)) - 1 (eq. 4.11) is reported as
   its midpoint with half the interval as error, phase NEAR_CRITICAL.
5. Delta(s) by quadrature of ds = -dDelta / P(Delta), P^2 = 2 (V(Delta_inf) - V(Delta)), in the
   variable t with Delta = Delta_inf + (Delta_0 - Delta_inf) exp(-t^2): the integrand is smooth at
   both the turning point (t = 0) and the approach to Delta_inf (t -> inf).
6. (4.4) by second-order finite differences on a symmetric lag grid with a tridiagonal eigensolver,
   Richardson-extrapolated from two grids; ``lyapunov_err`` from that extrapolation, the kernel
   tables' error and the branch's rounding (:func:`_lyapunov_error`).
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
    lyapunov_err : float
        Its numerical error: the lag grid's (Richardson) error of E_0, the kernel tables' error
        and, on the energy route, the rounding of f = Delta - K on the branch (near onset the
        small-amplitude branch is taken, see :func:`stationary`); 0 for explosive flows.
    ground_energy, first_excited_energy : float
        E_0 and E_1 of H (eq. 4.4); at a fixed point the flat potential gives both = 1 - rho^2
        (the continuum edge).
    zero_mode_energy : float or None
        Rayleigh quotient <Delta'|H|Delta'> / <Delta'|Delta'> (exactly 0 in the continuum
        limit); None where not applicable (fixed point, noise-driven: Delta' jumps at s = 0).
    phase : Phase
        CHAOTIC (lambda_max > 2 ``lyapunov_err``), NEAR_CRITICAL (chaotic branch, lambda_max
        within 2 errors of 0: just above onset), FIXED_POINT (stable, rho < 1), CRITICAL (rho = 1:
        Delta(s) = q*, lambda_max = 0), DRIVEN_STABLE (noise-driven, lambda_max <= 0) or
        EXPLOSIVE (unbounded flow beyond rho = 1); see :class:`dmft.Phase`.
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
    lyapunov_err: float
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
            "lyapunov_err", "ground_energy", "first_excited_energy", "zero_mode_energy", "phase",
            "rho", "noise_std", "converged", "residual", "n_iter", "message")}
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
    _v.instance("ens", ens, Ensemble)
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


_N_QUAD_MAX = 601


def _n_quad(layers, delta0: float, h_sqrt_q: float, *, capped: bool = True) -> int | None:
    """Trapezoid nodes per axis for the largest preactivation variance of a quadrature layer
    (at most ``_N_QUAD_MAX`` unless ``capped=False``, which gives the number needed)."""
    quad = [not get_activation(la.activation).has_closed_form for la in layers]
    if not any(quad):
        return None
    qs = flow_variances(layers, delta0)
    q_max = max(float(q) for q, use in zip(qs, quad, strict=True) if use)
    n = int(math.ceil(2.0 * _Z_MAX * math.sqrt(max(q_max, 0.0)) / h_sqrt_q)) + 1
    return int(min(max(69, n | 1), _N_QUAD_MAX if capped else math.inf))


def _unresolved_quadrature(layers, delta0: float) -> str:
    """Why the kernel tables are unreliable at this Delta_0 ("" when they are not)."""
    need = _n_quad(layers, delta0, _H_FINE, capped=False)
    if need is None or need <= _N_QUAD_MAX:
        return ""
    acts = sorted({la.activation for la in layers
                   if not get_activation(la.activation).has_closed_form})
    q = max(float(v) for v in flow_variances(layers, delta0))
    return (f"the quadrature kernel of {', '.join(acts)} is unresolved at preactivation "
            f"variance {q:.3g} (it needs {need} nodes per axis, at most {_N_QUAD_MAX} are "
            "used): lower the gains, or use an activation with a closed-form kernel (erf "
            "for tanh)")


class _Curve:
    """K(Delta; Delta_0), K'(Delta; Delta_0) and f = Delta - K for one Delta_0.

    Chebyshev interpolants in w in [0, 1], Delta = Delta_0 (1 - w^2) (so w = 0 is Delta_0).
    """

    def __init__(self, layers, delta0: float, n: int, h_quad: float | None = None) -> None:
        self.delta0 = d0 = float(delta0)
        w = 0.5 * (_cheb_nodes(n) + 1.0)
        delta = d0 * (1.0 - w * w)
        h_quad = _H_FINE if h_quad is None else h_quad
        fk = flow_kernel(layers, d0, d0, delta, n_quad=_n_quad(layers, d0, h_quad))
        self.dkc = _cheb_coefficients(fk.dk)
        self.ddkc = cheb.chebder(self.dkc) * 2.0          # d/dw of K'
        # f = Delta - K is formed at the nodes (one rounding of size eps Delta_0 each): near
        # onset the branch's energy P^2 ~ f1 (Delta_0 - Delta_inf)^2 is many orders below
        # Delta_0^2, and a difference of the antiderivatives of Delta and of K would lose it.
        self.fc = _cheb_coefficients(delta - fk.k)

    # all functions of w in [0, 1]
    def delta(self, w):
        return self.delta0 * (1.0 - np.square(w))

    def dk(self, w):
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.dkc)

    def ddk(self, w):
        """K''(Delta) = (dK'/dw) / (dDelta/dw), dDelta/dw = -2 Delta_0 w (w > 0)."""
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.ddkc) / (-2.0 * self.delta0
                                                                    * np.asarray(w))

    def f(self, w):
        """f(Delta) = Delta - K(Delta) = -V'(Delta)."""
        return cheb.chebval(2.0 * np.asarray(w) - 1.0, self.fc)


class _Branch:
    """The decaying solution for one Delta_0: where it ends and the functions along it.

    Every function takes d = Delta - Delta_inf in [0, amp] (near onset Delta_inf + d would
    round d away).  Subclasses set ``delta0``, ``delta_inf``, ``amp`` = Delta_0 - Delta_inf,
    ``f1`` = 1 - K'(Delta_inf) > 0 (the squared decay rate of Delta - Delta_inf), ``f2`` =
    -K''(Delta_inf), ``f_top`` = f(Delta_0) = Delta''(0), ``p2_top`` = P^2(Delta_0) as computed
    and ``p2_target`` = sigma^4 / 4 (its value on the solution, eq. 4.3), and implement
    :meth:`kprime` and :meth:`_p2_raw`.
    """

    route = ""

    def kprime(self, d):
        """K'(Delta_inf + d; Delta_0)."""
        raise NotImplementedError

    def _p2_raw(self, d):
        raise NotImplementedError

    def p2(self, d) -> np.ndarray:
        """P^2(Delta) = 2 (V(Delta_inf) - V(Delta)) = 2 int_{Delta_inf}^{Delta} f dD (eq. 4.7).

        The energy root leaves P^2(Delta_0) - sigma^4/4 at the root tolerance, not 0: that
        mismatch is spread linearly over the branch so that the turning point is exact.  Very
        close to Delta_inf (d < 1e-3 amp), where differences of antiderivatives lose digits, the
        Taylor form f1 d^2 + f2 d^3 / 3 is used.
        """
        d = np.asarray(d, dtype=float)
        out = self._p2_raw(d) - (self.p2_top - self.p2_target) * d / self.amp
        near = d < 1e-3 * self.amp
        if np.any(near):
            out = np.where(near, self.f1 * d * d + self.f2 * d ** 3 / 3.0, out)
        return np.maximum(out, 0.0)


#: Chebyshev nodes of the local antiderivative on [0, w_inf]: f is a polynomial of degree
#: n_kernel - 1 in w, so f(w) w is reproduced exactly (to rounding) for n_kernel <= 63.
_N_LOCAL = 64


class _EnergyBranch(_Branch):
    """The branch of the energy route (kernel tables of K over [0, Delta_0], section 4).

    P^2 = 4 Delta_0 (B(w_inf) - B(w)) with B(w) = int_0^w f w' dw' re-expanded on [0, w_inf]:
    near onset the branch is a sliver w < w_inf << 1 in which f is many orders below its maximum
    on [0, 1], and the global antiderivative's coefficients (of the size of that maximum) would
    swamp the branch's energy with their rounding.
    """

    route = "energy"

    def __init__(self, curve: _Curve, w_inf: float, sigma: float) -> None:
        self.curve, self.w_inf = curve, w_inf
        self.delta0 = curve.delta0
        self.amp = curve.delta0 * w_inf * w_inf
        self.delta_inf = float(curve.delta(w_inf))
        self.f1 = 1.0 - float(curve.dk(w_inf))
        self.f2 = -float(curve.ddk(w_inf)) if w_inf > 0 else 0.0
        self.f_top = float(curve.f(0.0))
        w = 0.5 * w_inf * (_cheb_nodes(_N_LOCAL) + 1.0)
        self.bc = cheb.chebint(_cheb_coefficients(curve.f(w) * w), lbnd=-1.0) * (0.5 * w_inf)
        self.b_inf = float(cheb.chebval(1.0, self.bc))
        self.p2_top = 4.0 * self.delta0 * self.b_inf
        self.p2_target = sigma ** 4 / 4.0

    def _w(self, d):
        """w^2 = (Delta_0 - Delta) / Delta_0 = (amp - d) / Delta_0."""
        return np.sqrt(np.clip((self.amp - d) / self.delta0, 0.0, 1.0))

    def kprime(self, d):
        return self.curve.dk(self._w(d))

    def _p2_raw(self, d):
        x = np.clip(2.0 * self._w(d) / self.w_inf - 1.0, -1.0, 1.0)
        return 4.0 * self.delta0 * (self.b_inf - cheb.chebval(x, self.bc))


def _delta_inf(curve: _Curve, odd_unbiased: bool) -> float | None:
    """w_inf of Delta_inf: lower root of the concave f = Delta - K with f' > 0, or None."""
    if odd_unbiased:
        return 1.0 if 1.0 - float(curve.dk(1.0)) > 0.0 else None

    def f(w):
        return float(curve.f(w))

    def kp1(w):
        return float(curve.dk(w)) - 1.0

    # K' increases with Delta, i.e. decreases with w.  The maximum of f is where K' = 1.
    if kp1(1.0) >= 0.0:           # K'(0) >= 1: f decreasing from f(0) = -K(0) <= 0
        return None
    w_star = 0.0 if kp1(0.0) <= 0.0 else optimize.brentq(kp1, 0.0, 1.0, xtol=1e-15)
    if f(w_star) <= 0.0:
        return None
    if f(1.0) >= 0.0:             # K(0) = 0 to rounding
        return 1.0
    return optimize.brentq(f, w_star, 1.0, xtol=1e-15, rtol=1e-15)


def _branch(layers, delta0: float, n: int, odd_unbiased: bool,
            h_quad: float | None = None, sigma: float = 0.0) -> _EnergyBranch | None:
    curve = _Curve(layers, delta0, n, h_quad)
    w_inf = _delta_inf(curve, odd_unbiased)
    return None if w_inf is None else _EnergyBranch(curve, w_inf, sigma)


# ---------------------------------------------------------------------------------- Delta_0
def _energy(layers, delta0, n, odd_unbiased, sigma,
            h_quad: float | None = None) -> tuple[float, _Branch | None]:
    """e(Delta_0) = P^2(Delta_0)/2 - sigma^4/8, scaled by Delta_0^2; -1 where no branch."""
    br = _branch(layers, delta0, n, odd_unbiased, h_quad, sigma)
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


# ---------------------------------------------------------------------------------- near onset
class _SlopeCurve:
    """f'(Delta) = 1 - K'(Delta; Delta_0) on a window below Delta_0, and its integrals.

    Delta = Delta_0 - W v^2 with v in [0, 1] (the substitution that makes the endpoint
    singularities at Delta_0 polynomial, as in :class:`_Curve`), W <= Delta_0 the window:

        F(v) = int_{Delta(v)}^{Delta_0} f'(D) dD = f(Delta_0) - f(Delta(v))
        E(v) = F(v) W v^2 - int_{Delta(v)}^{Delta_0} F dD

    E(v) is the energy int_{Delta(v)}^{Delta_0} f dD of a branch that ends at Delta(v), where f
    vanishes (f = F(v) - F there).  Only K' enters, and f' = 1 - K' is formed with an error of
    ~eps, where f = Delta - K carries ~eps Delta_0: near onset, where f on the branch is of
    order f1 (Delta_0 - Delta_inf) <<< Delta_0, this is the difference between a resolved and a
    lost branch.
    """

    def __init__(self, layers, delta0: float, window: float, n: int) -> None:
        self.delta0, self.window = float(delta0), float(window)
        v = 0.5 * (_cheb_nodes(n) + 1.0)
        fk = flow_kernel(layers, delta0, delta0, delta0 - window * v * v,
                         n_quad=_n_quad(layers, delta0, _H_FINE))
        self.pc = _cheb_coefficients(1.0 - fk.dk)
        self.dpc = cheb.chebder(self.pc) * 2.0                          # d f' / dv
        # int_0^v p(v') v' dv' = (1/2) chebint(p (x + 1)/2) in x = 2 v - 1; dD = -2 W v dv
        self.Fc = cheb.chebint(cheb.chebmul(self.pc, [0.5, 0.5]), lbnd=-1.0) * window
        self.Hc = cheb.chebint(cheb.chebmul(self.Fc, [0.5, 0.5]), lbnd=-1.0) * window

    def _val(self, coef, v):
        return cheb.chebval(2.0 * np.asarray(v) - 1.0, coef)

    def fp(self, v):
        return self._val(self.pc, v)

    def F(self, v):
        return self._val(self.Fc, v)

    def h(self, v):
        return self._val(self.Hc, v)

    def energy(self, v):
        return self.F(v) * self.window * np.square(v) - self.h(v)

    def end(self, target: float) -> float | None:
        """v_inf: E(v_inf) = target past the minimum of E (f' = 0), or None (none inside)."""
        if not (self.fp(0.0) < 0.0 < self.fp(1.0)):
            return None

        def e(v):
            return float(self.energy(v)) - target

        v_star = optimize.brentq(lambda v: float(self.fp(v)), 0.0, 1.0, xtol=1e-15)
        if not (e(v_star) < 0.0 <= e(1.0)):
            return None
        return optimize.brentq(e, v_star, 1.0, xtol=1e-15, rtol=1e-15)


class _SlopeBranch(_Branch):
    """The branch of the slope route (:class:`_SlopeCurve`); f = F(v_inf) - F(v) on it."""

    route = "slope"

    def __init__(self, curve: _SlopeCurve, v_inf: float, sigma: float) -> None:
        self.curve, self.v_inf = curve, v_inf
        W = curve.window
        self.delta0 = curve.delta0
        self.amp = W * v_inf * v_inf
        self.delta_inf = self.delta0 - self.amp
        self.f1 = float(curve.fp(v_inf))
        self.f2 = float(curve._val(curve.dpc, v_inf)) / (-2.0 * W * v_inf)
        self.f_top = float(curve.F(v_inf))
        self.e_inf = float(curve.energy(v_inf))
        self.h_inf = float(curve.h(v_inf))
        self.p2_top = 2.0 * self.e_inf
        self.p2_target = sigma ** 4 / 4.0

    def _v(self, d):
        return np.sqrt(np.clip((self.amp - d) / self.curve.window, 0.0, 1.0))

    def kprime(self, d):
        return 1.0 - self.curve.fp(self._v(d))

    def _p2_raw(self, d):
        # 2 int_{Delta_inf}^{Delta} (F(v_inf) - F) dD = 2 (F(v_inf) d - H(v_inf) + H(v)),
        # H(v) = int_{Delta(v)}^{Delta_0} F dD
        c = self.curve
        return 2.0 * (self.f_top * d - self.h_inf + c.h(self._v(d)))


def _slope_branch(layers, delta0: float, n: int, odd_unbiased: bool, sigma: float,
                  window: float) -> _SlopeBranch | None:
    """The branch at this Delta_0: the window is widened until it holds Delta_inf and narrowed
    to ~4 amplitudes (so that the tables resolve the branch); Delta_inf = 0 when odd."""
    target = sigma ** 4 / 8.0
    if odd_unbiased:
        c = _SlopeCurve(layers, delta0, delta0, n)
        return _SlopeBranch(c, 1.0, sigma) if c.fp(0.0) < 0.0 < c.fp(1.0) else None
    w = min(window, delta0)
    for _ in range(12):
        c = _SlopeCurve(layers, delta0, w, n)
        v = c.end(target)
        if v is None:
            if w >= delta0:
                return None
            w = min(delta0, 8.0 * w)
        elif v * v < 1.0 / 16.0 and w * v * v > 1e-300:
            w = 4.0 * w * v * v
        else:
            return _SlopeBranch(c, v, sigma)
    return _SlopeBranch(c, v, sigma) if v is not None else None


def _slope_equation(layers, n, odd_unbiased, sigma, memo):
    """The equation for Delta_0 on the slope route and its memo {Delta_0: branch}.

    Odd, unbiased flows (Delta_inf = 0): the energy E(1) - sigma^4/8 of the branch [0, Delta_0],
    scaled by Delta_0^2.  Otherwise f(Delta_inf) = f(Delta_0) - F(v_inf), with f(Delta_0) =
    Delta_0 - K(Delta_0; Delta_0) from the diagonal kernel: its slope in Delta_0 is of order 1,
    so Delta_0 is fixed to ~eps Delta_0 while the branch's energy alone would not fix it.
    """
    state = {"window": math.inf}

    def eq(d0):
        if d0 not in memo:
            memo[d0] = _slope_branch(layers, d0, n, odd_unbiased, sigma, state["window"])
        br = memo[d0]
        if br is None:
            return None
        if odd_unbiased:
            return (br.e_inf - sigma ** 4 / 8.0) / d0 ** 2
        state["window"] = 4.0 * br.amp
        top = d0 - float(flow_kernel(layers, d0, d0, d0, derivative=False).k)
        return (top - br.f_top) / d0
    return eq


def _sign_bracket(eq, x0: float, max_factor: float = 1e3):
    """A bracket [lo, hi] of a sign change of ``eq`` around x0 (relative steps 1e-12 .. x1e3)."""
    f0 = eq(x0)
    step = 1e-12
    while step < max_factor:
        for x in (x0 * (1.0 + step), x0 / (1.0 + step)):
            fx = eq(x)
            if f0 is not None and fx is not None and (f0 < 0.0) != (fx < 0.0):
                return (x0, x) if x > x0 else (x, x0)
            if f0 is None and fx is not None:
                x0, f0 = x, fx
        step *= 10.0
    return None


def _solve_slope(layers, guess: float, n: int, odd_unbiased: bool, sigma: float
                 ) -> tuple[_SlopeBranch, float, int]:
    """Delta_0 and its branch on the slope route (near onset)."""
    memo: dict[float, _SlopeBranch | None] = {}
    eq = _slope_equation(layers, n, odd_unbiased, sigma, memo)
    bracket = _sign_bracket(eq, guess)
    if bracket is None:
        raise ConvergenceError("stationary: no near-onset branch around the energy route's "
                               "Delta_0 (slope route)", delta0=guess, n_eval=len(memo))

    def defined(x):
        v = eq(x)
        if v is None:
            raise ConvergenceError("stationary: the near-onset branch vanishes inside the "
                                   "bracket of Delta_0 (slope route)", delta0=x,
                                   n_eval=len(memo))
        return v

    x = optimize.brentq(defined, *bracket, xtol=1e-300, rtol=1e-15)
    return memo[x], abs(eq(x)), len(memo)


@dataclass(frozen=True)
class _OnsetLimit:
    """A branch too thin for double precision: only 0 < lambda_max tau <= ``bound`` is known.

    ``bound`` = sqrt(K'(Delta_0; Delta_0)) - 1: the potential of (4.4) is at least
    1 - K'(Delta_0; Delta_0) (K' increases with Delta <= Delta_0), so E_0 >= 1 - K'(Delta_0;
    Delta_0); and E_0 < 0 on a chaotic branch (Delta' is the E = 0 first excited state).
    """

    delta0: float
    bound: float
    n_eval: int
    reason: str


def _onset_limit(layers, delta0: float, n_eval: int, reason: str) -> _OnsetLimit:
    kp = float(flow_kernel(layers, delta0, delta0, delta0).dk)
    return _OnsetLimit(delta0, math.sqrt(max(kp, 1.0)) - 1.0, n_eval, reason)


# ---------------------------------------------------------------------------------- Delta(s)
_Y_MIN = 1e-13


def _autocorrelation_path(br: _Branch, sigma: float, n_t: int = 4001):
    """s(t) for Delta(t) = Delta_inf + (Delta_0 - Delta_inf) exp(-t^2) (step 4).

    s(t) = int_0^t 2 t' y A / P dt',  y = exp(-t'^2), A = Delta_0 - Delta_inf, P = sqrt(P^2).
    At t = 0 without noise P ~ sqrt(-2 f(Delta_0) A) t, whose limit is used.
    """
    amp = br.amp
    t = np.linspace(0.0, math.sqrt(-math.log(_Y_MIN)), n_t)
    y = np.exp(-t * t)
    delta = br.delta_inf + amp * y
    p = np.sqrt(br.p2(amp * y))
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = 2.0 * t * y * amp / p
    if sigma == 0.0:                                    # Delta''(0) = f(Delta_0) < 0
        jac[0] = 2.0 * amp / math.sqrt(max(-2.0 * br.f_top * amp, 1e-300))
    else:
        jac[0] = 0.0
    if not np.all(np.isfinite(jac)):
        raise ConvergenceError("stationary: the quadrature of ds = dDelta / P failed (P = 0 "
                               "inside the branch)", delta0=br.delta0, delta_inf=br.delta_inf,
                               route=br.route)
    s = integrate.cumulative_simpson(jac, x=t, initial=0.0)
    return t, s, delta


def _delta_on_grid(br: _Branch, t, s, lags):
    """d(s) = Delta(s) - Delta_inf on ``lags`` (units of tau), with the exponential tail
    exp(-sqrt(f1) s) beyond the quadrature's last point."""
    amp = br.amp
    spline = interpolate.CubicSpline(s, t)
    inside = lags <= s[-1]
    tt = spline(np.where(inside, lags, s[-1]))
    y = np.exp(-tt * tt)
    kappa = math.sqrt(br.f1)
    y = np.where(inside, y, _Y_MIN * np.exp(-kappa * (lags - s[-1])))
    return amp * y


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


_N_LAGS_MAX = 512_000
_E_RTOL = 1e-3      # refine the lag grid while the Richardson error of E_0 exceeds this


def _schrodinger(br: _Branch, t, s, sigma: float, m: int):
    """E_0, E_1, zero-mode energy (Richardson-extrapolated from steps h and 2h), their error,
    and Delta on a lag grid of ``m`` intervals.

    The grid starts at ``m`` intervals and is refined 4-fold while the Richardson error exceeds
    ``_E_RTOL`` |E_0| (up to ``_N_LAGS_MAX``): at large gains the well of U = 1 - K' is much
    narrower than Delta's decay (erf, g = 100: depth ~ g, width ~ 1 / g).
    """
    kappa = math.sqrt(br.f1)
    # the bound state decays faster than exp(-kappa s); Delta - Delta_inf as exp(-kappa s).
    s_max = max(30.0 / kappa, 8.0 * float(np.interp(math.sqrt(math.log(2.0)), t, s)), 10.0)
    m_out = m
    while True:
        lags = np.linspace(0.0, s_max, m + 1)
        d = _delta_on_grid(br, t, s, lags)
        e0, e1, zm, err = _levels(br, lags[1], d, sigma)
        if err <= _E_RTOL * abs(e0) or 4 * m > _N_LAGS_MAX:
            break
        m *= 4
    step = m // m_out
    return e0, e1, zm, err, lags[::step], br.delta_inf + d[::step]


def _levels(br: _Branch, h: float, d: np.ndarray, sigma: float):
    pot = 1.0 - br.kprime(d)
    psi = -np.sqrt(br.p2(d)) if sigma == 0.0 else None
    if psi is not None:
        psi[0] = 0.0
    fine = _hamiltonian_levels(pot, h, psi)
    coarse = _hamiltonian_levels(pot[::2], 2 * h, None if psi is None else psi[::2])
    e0 = (4 * fine[0] - coarse[0]) / 3
    e1 = (4 * fine[1] - coarse[1]) / 3
    zm = None if psi is None else (4 * fine[2] - coarse[2]) / 3
    err = abs(fine[0] - coarse[0]) / 3 + abs(fine[1] - coarse[1]) / 3
    return e0, e1, zm, err


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

    Near onset (g -> g_c+, the decaying part of Delta(s) small against Delta_0) the solver takes
    the small-amplitude branch from the derivative kernel (module docstring, step 4; docs/theory.md
    eq. 4.10), and where the branch is thinner than double precision resolves, the onset limit
    (eq. 4.11): lambda_max -> 0+, Delta_0 -> Delta_inf, phase NEAR_CRITICAL with the bound as
    ``lyapunov_err``.  ``message`` names the route taken.

    Raises
    ------
    ValueError
        Gated (use ``dmft.sampled``), non-leaky (use ``dmft.two_time``) or input-driven
        ensembles; bad options.
    ConvergenceError
        If Delta_0 cannot be bracketed away from onset or the zero-mode check fails (then raise
        ``n_kernel`` or ``n_lags``).

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
            lyapunov_max=(rho - 1.0) / tau,
            lyapunov_err=0.5 * _kernel_error(layers, q if math.isfinite(q) else 1.0) / tau,
            ground_energy=e0, first_excited_energy=e0,
            zero_mode_energy=None, phase=fp.phase, rho=rho, noise_std=0.0, converged=True,
            residual=fp.residual, n_iter=fp.n_iter,
            message="stable fixed point (rho <= 1): Delta(s) = q*, lambda_max = (rho - 1)/tau")
    if fp.phase == Phase.EXPLOSIVE or (rho > 1.0 and not flow_is_bounded(ens)):
        return StationaryResult(
            ensemble=ens, delta0=math.inf, delta_inf=math.inf, delta0_preactivation=math.inf,
            lags=empty, autocorrelation=empty, half_decay_time=math.inf,
            lyapunov_max=(rho - 1.0) / tau, lyapunov_err=0.0, ground_energy=-math.inf,
            first_excited_energy=-math.inf, zero_mode_energy=None, phase=Phase.EXPLOSIVE,
            rho=rho, noise_std=sigma, converged=True, residual=0.0, n_iter=0,
            message="unbounded flow beyond rho = 1: |h| grows without bound; lambda_max is the "
                    "linear growth rate (rho - 1)/tau at the fixed point")

    odd = _odd_unbiased(layers)
    guess = max(fp.q if math.isfinite(fp.q) else 1.0, 0.5 * sigma * sigma, 0.1)
    sol = _solve_branch(layers, guess, n_kernel, odd, sigma, rtol)
    if isinstance(sol, _OnsetLimit):
        return _limit_result(ens, sol, rho, tau, pre(sol.delta0), n_kernel)
    br, t, s, residual, n_eval = sol
    e0, e1, zm, err, lags, delta = _schrodinger(br, t, s, sigma, n_lags)
    if zm is not None and abs(zm) > zero_mode_tol + 10 * err:
        why = _unresolved_quadrature(layers, br.delta0) or "increase n_kernel or n_lags"
        raise ConvergenceError(
            "stationary: the zero mode Delta'(s) is not an E = 0 eigenfunction of H within the "
            f"discretization error; {why}",
            zero_mode_energy=zm, discretization_error=err, delta0=br.delta0)
    lam = (math.sqrt(max(1.0 - e0, 0.0)) - 1.0) / tau
    lam_err = _lyapunov_error(layers, br, lam * tau, e0, err) / tau
    if br.route == "slope":
        limit = _onset_limit(layers, br.delta0, n_eval, "")
        if lam_err * tau > 0.5 * limit.bound or lam * tau > limit.bound + lam_err * tau:
            why = (f"the branch (Delta_0 - Delta_inf = {br.amp / br.delta0:.1e} Delta_0) is "
                   "too thin for the kernel tables")
            return _limit_result(ens, _OnsetLimit(br.delta0, limit.bound, n_eval, why), rho,
                                 tau, pre(br.delta0), n_kernel)
    half = float(np.interp(math.sqrt(math.log(2.0)), t, s)) * tau
    d0 = br.delta0
    if sigma == 0.0 and lam <= 2.0 * lam_err:
        phase = Phase.NEAR_CRITICAL
    elif lam > 0.0:
        phase = Phase.CHAOTIC
    else:
        phase = Phase.DRIVEN_STABLE if sigma > 0 else Phase.FIXED_POINT
    msg = _ROUTE_MESSAGES[br.route].format(n_eval=n_eval, n=n_kernel, e0=e0, err=err,
                                           amp=br.amp / d0, f1=br.f1)
    if sigma > 0:
        msg += "; noise-driven" + ("" if lam > 0 else ", not chaotic (lambda_max <= 0)")
    return StationaryResult(
        ensemble=ens, delta0=d0, delta_inf=br.delta_inf, delta0_preactivation=pre(d0),
        lags=lags * tau, autocorrelation=delta, half_decay_time=half, lyapunov_max=lam,
        lyapunov_err=lam_err, ground_energy=e0, first_excited_energy=e1, zero_mode_energy=zm,
        phase=phase, rho=rho, noise_std=sigma, converged=True, residual=residual, n_iter=n_eval,
        message=msg)


def _limit_result(ens, lim: _OnsetLimit, rho, tau, pre_d0, n_kernel) -> StationaryResult:
    """The onset limit: lambda_max tau = bound / 2 +- bound / 2 (:class:`_OnsetLimit`),
    Delta = Delta_0 (the decaying part below resolution)."""
    lam = 0.5 * lim.bound
    e0 = 1.0 - (1.0 + lam) ** 2
    return StationaryResult(
        ensemble=ens, delta0=lim.delta0, delta_inf=lim.delta0, delta0_preactivation=pre_d0,
        lags=np.array([0.0]), autocorrelation=np.array([lim.delta0]), half_decay_time=math.inf,
        lyapunov_max=lam / tau, lyapunov_err=lam / tau, ground_energy=e0,
        first_excited_energy=0.0, zero_mode_energy=None, phase=Phase.NEAR_CRITICAL, rho=rho,
        noise_std=0.0, converged=True, residual=0.0, n_iter=lim.n_eval,
        message=f"onset limit: {lim.reason}; only 0 < lambda_max tau <= sqrt(K'(Delta_0; "
                f"Delta_0)) - 1 = {lim.bound:.2e} is resolved (reported: the midpoint, error "
                f"half the interval); Delta(s) = Delta_0, its decaying part below resolution")


_ROUTE_MESSAGES = {
    "energy": "energy condition solved with {n_eval} kernel tables of {n} points; "
              "E_0 = {e0:.3e} (+- {err:.1e})",
    "slope": "near onset (Delta_0 - Delta_inf = {amp:.1e} Delta_0, 1 - K'(Delta_inf) = {f1:.1e}):"
             " small-amplitude branch from the derivative kernel, {n_eval} tables of {n} points;"
             " E_0 = {e0:.3e} (+- {err:.1e})",
}


def _near_onset(br: _Branch) -> bool:
    """The energy route's branch is too thin for its tables (``_solve_branch``)."""
    return br.amp < _ONSET_AMP * br.delta0 or br.f1 < _ONSET_F1


#: switch to the slope route below these: there the energy route's relative error
#: eps Delta_0 / (f1 amp) exceeds ~1e-11 (measured agreement of both routes, tests)
_ONSET_AMP = 1e-2
_ONSET_F1 = 1e-3


def _solve_branch(layers, guess, n, odd, sigma, rtol):
    """Delta_0 and the branch: the energy route, then near onset (thin branch, or the energy
    route failed) without noise the slope route from the energy route's Delta_0, then where
    even that cannot resolve the branch the onset limit (:class:`_OnsetLimit`).

    Returns (branch, t, s, residual, n_eval) or an :class:`_OnsetLimit`."""
    try:
        br, residual, n_eval = _solve_delta0(layers, guess, n, odd, sigma, rtol)
        if sigma > 0.0 or not _near_onset(br):
            return (br, *_autocorrelation_path(br, sigma)[:2], residual, n_eval)
        guess = br.delta0
        first = None
    except ConvergenceError as exc:
        d = exc.diagnostics
        at = d.get("delta0", d.get("coarse_root", (d.get("last_bracket") or (guess, guess))[1]))
        why = _unresolved_quadrature(layers, min(float(at), 1.0))
        if why:
            raise ConvergenceError(f"stationary: {why}", **d) from None
        if sigma > 0.0:
            raise
        first = exc
        guess = exc.diagnostics.get("delta0", exc.diagnostics.get("coarse_root", guess))
        n_eval = int(exc.diagnostics.get("n_eval", 0))
    try:
        br, residual, n_more = _solve_slope(layers, float(guess), n, odd, sigma)
        return (br, *_autocorrelation_path(br, sigma)[:2], residual, n_eval + n_more)
    except ConvergenceError as exc:
        lim = _onset_limit(layers, float(exc.diagnostics.get("delta0", guess)),
                           n_eval + int(exc.diagnostics.get("n_eval", 0)), str(exc))
        if lim.bound < _ONSET_LIMIT:
            return lim
        raise (first or exc) from None


#: the onset limit is taken only where it bounds lambda_max tau below this
_ONSET_LIMIT = 1e-6


def _kernel_error(layers, delta0: float) -> float:
    """Error of K' on the tables: rounding (64 eps over the layers' products) plus, for
    activations without closed forms, the trapezoid error exp(-pi^2 / (h sqrt q)) (see _H_FINE)."""
    quad = [not get_activation(la.activation).has_closed_form for la in layers]
    floor = 64.0 * np.finfo(float).eps
    if any(quad):
        qs = flow_variances(layers, delta0)
        q = max(float(qi) for qi, use in zip(qs, quad, strict=True) if use)
        n = _n_quad(layers, delta0, _H_FINE)
        h_sqrt_q = 2.0 * _Z_MAX * math.sqrt(max(q, 0.0)) / (n - 1)
        floor += math.exp(-math.pi ** 2 / h_sqrt_q) if h_sqrt_q > 0 else 0.0
    return floor


def _lyapunov_error(layers, br: _Branch, lam: float, e0: float, err_e: float) -> float:
    """Numerical error of lambda_max tau: the lag grid's (Richardson) error of E_0, the
    kernel's error (U = 1 - K' moves E_0 by as much), and the rounding of what defines the
    branch relative to its size there: on the energy route f = Delta - K (eps Delta_0 against
    f1 amp), on the slope route the covariances Delta_0 - W v^2 of the tables (eps Delta_0,
    which moves K' by |K''| eps Delta_0, against f1)."""
    eps = 64.0 * np.finfo(float).eps
    slope = 0.5 / math.sqrt(max(1.0 - e0, 1e-300))       # d lambda / d(-E_0)
    out = slope * (err_e + _kernel_error(layers, br.delta0))
    if br.route == "energy":
        out += abs(lam) * eps * br.delta0 / max(br.f1 * br.amp, 1e-300)
    else:
        out += abs(lam) * eps * br.delta0 * abs(br.f2) / max(br.f1, 1e-300)
    return float(out)
