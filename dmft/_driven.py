"""The DMFT of a leaky nODE driven by a stationary input: state, memory, gradient growth.

docs/theory.md section 11.  With a stationary input x(t) of covariance C_x (eq. 11.1) through U
(gain g_x), the first preactivation of a non-gated flow gets the extra covariance g_x^2 C_x, and
the Gaussian closure of section 4 still holds (the input weights are independent of the state),

    c_1(s) = g_0^2 Delta(s) + g_x^2 C_x(s) + sigma_0^2,   K(s) = K_F(c_1(0), c_1(0), c_1(s)),
    (1 - tau^2 d_s^2) Delta = K + sigma^2 tau delta(s)          (continuous time, eq. 11.2)
    Delta(w) = [delta^2 K(w) + sigma^2 delta] / |1 - (1 - delta) e^{-iw}|^2   (Euler map, 11.3)

solved on a periodic lag window by the plain iteration (the self-consistency's own relaxation)
polished by Anderson mixing that is accepted only while the iterate keeps a positive spectrum
(as :func:`dmft._gain_paths.stationary_map`; the potential method of section 4 needs autonomy).
The input is common to two replicas with the same weights, so their difference is driven by
the derivative kernel alone,

    A(s) = g_0^2 dK_F/dc_1 (c_1(0), c_1(0), c_1(s)),                             (11.4)

and the largest exponent (that of the backpropagated gradient norm: the adjoint has the
tangent's exponents) is the root of nu(lambda) = 1 for the Perron eigenvalue of

    T_lambda D = F^-1[ (A D)(w) / ((1 + tau lambda)^2 + tau^2 w^2) ]     (continuous, 11.5)
    T_mu D = F^-1[ delta^2 e^{-2 mu} (A D)(w) / |1 - (1 - delta) e^{-mu} e^{-iw}|^2 ]  (11.6)

(lambda_max = mu / dt for the map).  T is a positive filter times a non-negative multiplication,
so T is similar to the symmetric F^{1/2} A F^{1/2}: its Perron eigenvalue is found by Lanczos.
Over a finite horizon the squared gradient norm, averaged over directions, follows the two-time
replica recursion (eq. 11.7, :func:`gradient_growth`).  A constant gate gamma is exact through
tau -> tau / gamma (continuous) or delta -> gamma delta (map).  A *quenched* gate (g_z = g_xz = 0,
sigma_z > 0: each unit keeps its own constant gate gamma_i = sigmoid(b_i)) is exact too: the
field every unit sees is built from the population average of the states, so each filter above
is replaced by its average over the gate distribution (eq. 11.14, Gauss-Hermite nodes in b).
Gates that move with the state or the input need the sampled theory (:func:`dmft.sampled` with
``drive``).

References
----------
Sompolinsky, Crisanti, Sommers, PRL 61, 259 (1988); Molgedey, Schuchhardt, Schuster, PRL 69,
3717 (1992) (input suppresses chaos); Schuecker, Goedeke, Helias, PRX 8, 041029 (2018).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numba
import numpy as np
from scipy import optimize, special
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from . import _validate as _v
from ._gain_paths import _kernel_table, _start
from ._inputs import InputStatistics
from .ensemble import Ensemble, Layer
from .errors import ConvergenceError
from .kernels import flow_kernel
from .results import Phase, short_repr
from .static import fixed_point

__all__ = ["DrivenResult", "driven", "gradient_growth", "constant_gate", "InputStatistics"]

#: Delta(0) beyond which the iteration counts as diverged (an explosive ensemble)
EXPLOSION_BOUND = 1e12


@dataclass(frozen=True, kw_only=True)
class DrivenResult:
    """Result of :func:`driven` (lags and rates in the units of ``ens.tau``).

    Attributes
    ----------
    inputs : InputStatistics or None
    dt : float or None
        The Euler step (None: continuous time).
    gate : float
        The constant gate gamma (1 without a gate); for a quenched gate its mean E[G].
    gate_classes, gate_weights : ndarray
        The gate values gamma_c of the unit classes and their weights (one class of weight 1
        for a constant gate; Gauss-Hermite nodes of b ~ N(mu_z, sigma_z^2) for a quenched one).
    lags : ndarray, shape (m,)
        Lags 0 .. window / 2 (``dt`` apart for the map).
    autocorrelation : ndarray, shape (m,)
        Delta(s) = <h_i(t) h_i(t + s)>; ``delta0`` = Delta(0) is the state variance.
    delta_inf : float
        The static part (mean of the last tenth of the lags).
    decorrelation_time : float
        Lag where Delta - Delta_inf has fallen to half (inf for a static state).
    replica_kernel : ndarray, shape (m,)
        A(s) of eq. 11.4 (its value at 0 is g_0^2 dK_F/dc at the state's variance).
    lyapunov_max : float or None
        The largest exponent per unit time (eq. 11.5 / 11.6): the growth rate of the gradient
        norm; +inf when explosive; None when not computed (``lyapunov=False``).
    memory_time : float or None
        1 / (-lyapunov_max) when it is negative (the gradient's e-folding time), else inf.
    phase : Phase
        CHAOTIC (lyapunov_max > 0), DRIVEN_STABLE (driven or noisy, <= 0), FIXED_POINT
        (autonomous, stable), EXPLOSIVE (unbounded flow beyond its edge), UNKNOWN
        (lambda_max not computed).
    window, spacing : float
        Periodic window and grid spacing.
    n_iter, residual, converged, message, elapsed
    """

    ensemble: Ensemble
    inputs: InputStatistics | None
    dt: float | None
    gate: float
    gate_classes: np.ndarray = field(repr=False)
    gate_weights: np.ndarray = field(repr=False)
    lags: np.ndarray = field(repr=False)
    autocorrelation: np.ndarray = field(repr=False)
    delta0: float
    delta_inf: float
    decorrelation_time: float
    replica_kernel: np.ndarray = field(repr=False)
    lyapunov_max: float | None
    memory_time: float | None
    phase: Phase
    window: float
    spacing: float
    n_iter: int
    residual: float
    converged: bool
    message: str
    elapsed: float

    __repr__ = short_repr

    def as_dict(self) -> dict:
        """Plain-Python summary (for JSON)."""
        out = {k: getattr(self, k) for k in (
            "dt", "gate", "delta0", "delta_inf", "decorrelation_time", "lyapunov_max",
            "memory_time", "window", "spacing", "n_iter", "residual", "converged", "message")}
        out.update(ensemble=self.ensemble.describe(), phase=self.phase.value,
                   inputs=None if self.inputs is None else self.inputs.describe())
        return out


# ----------------------------------------------------------------------------- scope
#: Gauss-Hermite nodes in b for a quenched gate (eq. 11.14).  The integrand's poles at
#: Im b = +-pi bound their convergence for wide spreads: 48 reproduce 96 nodes in log G(k),
#: k <= 1000, to 2e-8 at sigma_z = 1, 1.5e-3 at 3 and 5e-3 at 4 (mu_z = -5, measured)
GATE_NODES = 48


@dataclass(frozen=True)
class _Setup:
    """The problem in gate-free form: time constant, map step, first layer, input term.

    A quenched gate is a mixture of unit classes (``gammas``, ``weights``); ``tau``, ``delta``
    and ``gamma`` are those of its mean gate, ``tau_slow`` the time constant of its 1e-3
    quantile (the default window), ``tau_fast`` that of its fastest class.
    """

    plain: Ensemble           # no gate, no input, tau = tau_eff (the autonomous flow)
    tau: float                # tau / gamma
    delta: float | None       # gamma dt / tau (map) or None
    gamma: float
    layers: tuple             # the flow with the first layer's gain 1 and no bias: K of c_1
    g0sq: float
    s0sq: float
    gx2: float                # g_x^2 (0 without input)
    tau0: float = 1.0         # the ensemble's tau
    gammas: np.ndarray = field(default_factory=lambda: np.ones(1))
    weights: np.ndarray = field(default_factory=lambda: np.ones(1))
    tau_slow: float = 1.0

    @property
    def quenched(self) -> bool:
        return self.gammas.size > 1

    @property
    def deltas(self) -> np.ndarray:
        return self.gammas * (self.delta / self.gamma)

    @property
    def taus(self) -> np.ndarray:
        return self.tau0 / self.gammas

    @property
    def tau_fast(self) -> float:
        return self.tau0 / float(self.gammas.max())


def gate_classes(gate, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The gate values and weights of the unit classes of a constant or quenched gate.

    A quenched gate (g_z = g_xz = 0) gives unit i the constant gate sigmoid(b_i), b_i ~
    N(mu_z, sigma_z^2); averages over units are Gauss-Hermite sums over ``n`` nodes in b
    (docs/theory.md eq. 11.14).  None or a constant gate: one class.
    """
    if gate is None:
        return np.ones(1), np.ones(1)
    if gate.is_constant:
        return np.full(1, gate.constant_value), np.ones(1)
    x, w = np.polynomial.hermite.hermgauss(GATE_NODES if n is None else n)
    b = gate.bias_mean + math.sqrt(2.0) * gate.bias_std * x
    return special.expit(b), w / math.sqrt(math.pi)


def _scope(ens: Ensemble, inputs, dt) -> _Setup:
    _v.instance("ens", ens, Ensemble)
    if not ens.leak:
        raise ValueError("driven: a non-leaky flow has no stationary state (docs/theory.md "
                         "section 5); use a leaky ensemble")
    _v.instance("inputs", inputs, InputStatistics, optional=True)
    if ens.gate is not None and (ens.gate.gain > 0 or ens.gate.input_gain > 0):
        raise ValueError(
            "driven: a gate that moves with the state or the input (gate.gain or "
            "gate.input_gain > 0) is not Gaussian-closed; use dmft.sampled(ens, drive=...), or "
            "a constant or quenched gate (only gate.bias_std > 0)")
    gammas, weights = gate_classes(ens.gate)
    gamma = float(weights @ gammas)
    delta = None
    if dt is not None:
        dt = _v.real("dt", dt, low=0.0, low_open=True)
        delta = gamma * dt / ens.tau
        top = float(gammas.max()) if gammas.size == 1 else 1.0   # a spread reaches G -> 1
        if top * dt / ens.tau > 1.0:
            raise ValueError(f"dt must satisfy gate * dt / tau <= 1 (the Euler map is a "
                             f"contraction towards F only then; for a gate spread gate -> 1), "
                             f"got {top * dt / ens.tau:g}")
    tau = ens.tau / gamma
    slow = tau
    if gammas.size > 1:
        q = ens.gate.bias_mean - 3.09 * ens.gate.bias_std          # the 1e-3 quantile of b
        slow = ens.tau * (1.0 + math.exp(-q))
    first = ens.flow[0]
    layers = (Layer(1.0, first.activation, 0.0, first.width), *ens.flow[1:])
    gx2 = ens.input_gain ** 2 if (inputs is not None and ens.input_dim > 0) else 0.0
    plain = ens.replace(gate=None, input_dim=0, input_gain=0.0, tau=tau)
    return _Setup(plain, tau, delta, gamma, layers, first.gain ** 2, first.bias_std ** 2, gx2,
                  tau0=ens.tau, gammas=gammas, weights=weights, tau_slow=slow)


# ----------------------------------------------------------------------------- grid
def _grid(setup: _Setup, inputs, spacing, window, t_half):
    """(n, spacing, lag times on the ring, frequencies) of the periodic lag window."""
    corr = 0.0 if inputs is None else inputs.correlation_time
    if setup.delta is not None:
        spacing = setup.delta * setup.tau        # the Euler step in time units
    elif spacing is None:
        spacing = 0.05 * setup.tau_fast
    if window is None:   # >= 40 half-decay times of the flow, 40 tau, 10 input correlations
        window = max(40.0 * t_half, 40.0 * setup.tau_slow, 10.0 * corr, 256 * spacing)
    n = int(2 ** math.ceil(math.log2(max(window / spacing, 64))))
    n = min(n, 2 ** 16)
    k = np.arange(n)
    lag = np.minimum(k, n - k) * spacing
    w = 2.0 * np.pi * np.fft.fftfreq(n, d=spacing)
    return n, float(spacing), lag, w


def _filters(setup: _Setup, w, lag, n, spacing):
    """The state filter of eq. 11.2 / 11.3 and the noise part of Delta on the ring, averaged
    over the gate's unit classes (eq. 11.14)."""
    sig2 = setup.plain.noise_std ** 2
    wts = setup.weights[:, None]
    if setup.delta is None:
        taus = setup.taus[:, None]
        filt = (wts / (1.0 + (taus * w) ** 2)).sum(0)
        W = n * spacing   # the periodized sigma^2 tau G(s), G = e^{-|s|/tau} / (2 tau)
        noise = (wts * 0.5 * sig2 * (np.exp(-lag / taus) + np.exp(-(W - lag) / taus))
                 / -np.expm1(-W / taus)).sum(0)
        return filt, noise
    d = setup.deltas[:, None]
    den = _map_denominator(d, 1.0, w * spacing)
    filt = (wts * d * d / den).sum(0)
    # Euler-Maruyama noise sigma sqrt(dt / tau) per step, outside the gate: variance
    # sigma^2 delta / gamma = sigma^2 dt / tau per step (delta = gamma dt / tau)
    noise = np.fft.ifft(sig2 * (setup.delta / setup.gamma) * (wts / den).sum(0)).real
    return filt, noise


def _map_denominator(d, r, theta):
    """|1 - (1 - d) r e^{-i theta}|^2 = (1 - (1 - d) r)^2 + 4 (1 - d) r sin^2(theta / 2), in a
    form that keeps d^2 at theta = 0, r = 1 when 1 - d rounds to 1 (a nearly closed gate)."""
    a = (1.0 - d) * r
    return (-math.expm1(math.log(r)) + d * r) ** 2 + 4.0 * a * np.sin(0.5 * theta) ** 2


# ----------------------------------------------------------------------------- Delta
def _psd(c: np.ndarray) -> np.ndarray:
    """The nearest positive semi-definite circulant (negative eigenvalues clipped): a C_x
    estimated from finitely many samples need not be a covariance, and the iteration keeps
    Delta positive definite only when its input is."""
    lam = np.fft.fft(c).real
    if lam.min() >= 0:
        return c
    return np.fft.ifft(np.clip(lam, 0.0, None)).real


def _first_preactivation(setup: _Setup, C, cx):
    return setup.g0sq * C + setup.gx2 * cx + setup.s0sq


def _solve_delta(setup, filt, noise, cx, C, tol, max_iter, anderson=5):
    """Delta on the ring: plain iteration, then guarded Anderson mixing (module docstring)."""
    xs, fs = [], []
    change = math.inf
    for it in range(1, max_iter + 1):
        c1 = _first_preactivation(setup, C, cx)
        q1 = float(c1[0])
        lo = min(float(c1.min()), 0.0) - 1e-3 * q1
        K = _kernel_table(setup.layers, q1, lo)(c1)
        fx = np.fft.ifft(filt * np.fft.fft(K)).real + noise - C
        change = float(np.max(np.abs(fx))) / max(float(abs(C[0])), 1e-300)
        if change < tol:
            return C + fx, it, change
        new = C + fx
        if change < 0.1:
            xs, fs = (xs + [C])[-(anderson + 1):], (fs + [fx])[-(anderson + 1):]
            if len(xs) > 1:
                dX = np.stack([xs[i + 1] - xs[i] for i in range(len(xs) - 1)], 1)
                dF = np.stack([fs[i + 1] - fs[i] for i in range(len(fs) - 1)], 1)
                cand = C + fx - (dX + dF) @ np.linalg.lstsq(dF, fx, rcond=None)[0]
                if np.all(np.isfinite(cand)) and float(np.fft.fft(cand).real.min()) \
                        >= -1e-9 * float(np.abs(cand).sum()):
                    new = cand
                else:
                    xs, fs = [], []
        if not np.all(np.isfinite(new)) or new[0] > EXPLOSION_BOUND:
            return None, it, change
        if new[0] <= 0:
            break
        C = new
    raise ConvergenceError("driven: the iteration for Delta(s) did not settle", n_iter=max_iter,
                           change=change, tol=tol)


# ----------------------------------------------------------------------------- lambda_max
def _replica_kernel(setup: _Setup, C, cx, n: int = 40):
    """A(s) of eq. 11.4 on the ring, from dK_F/dc on n Chebyshev nodes of w in [0, 1],
    c = q - (q - lo) w^2 (the substitution of section 4's tables: the endpoint terms
    (q - c)^(k + 1/2) of piecewise-smooth activations become polynomial in w)."""
    c1 = _first_preactivation(setup, C, cx)
    q1 = float(c1[0])
    lo = min(float(c1.min()), 0.0) - 1e-3 * q1
    x = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    c = q1 - (q1 - lo) * (0.5 * (x + 1.0)) ** 2
    dk = np.broadcast_to(flow_kernel(setup.layers, q1, q1, c).dk, c.shape)
    coef = np.polynomial.chebyshev.chebfit(x, dk, n - 1)
    ww = np.sqrt(np.clip((q1 - c1) / (q1 - lo), 0.0, 1.0))
    return setup.g0sq * np.polynomial.chebyshev.chebval(2.0 * ww - 1.0, coef)


def _perron(A, filt, v0):
    """Largest eigenvalue of F^{1/2} diag(A) F^{1/2} (the symmetrized T) and its vector."""
    n = A.size
    sf = np.sqrt(filt)

    def mv(v):
        v = np.ravel(v)
        return np.fft.ifft(sf * np.fft.fft(A * np.fft.ifft(sf * np.fft.fft(v)).real)).real

    op = LinearOperator((n, n), matvec=mv, dtype=float)
    try:
        val, vec = eigsh(op, k=1, which="LA", v0=v0, tol=1e-12, maxiter=20 * n)
    except ArpackNoConvergence as exc:  # pragma: no cover - Lanczos on a symmetric operator
        raise ConvergenceError("driven: Lanczos did not converge for the replica operator",
                               error=str(exc)) from exc
    v = vec[:, 0]
    return float(val[0]), (v if v.sum() >= 0 else -v)


def _lyapunov(setup: _Setup, A, w, spacing) -> float:
    """The root of nu = 1 (eqs. 11.5, 11.6), per unit time."""
    if setup.quenched:
        return _lyapunov_quenched(setup, A, w, spacing)
    n = A.size
    lo_p = 1.0 / math.sqrt(float(A.max()))       # nu lies in [mean A, max A] x filter(0)
    hi_p = 1.0 / math.sqrt(max(float(A.mean()), 1e-300))
    state = {"v": np.ones(n) / math.sqrt(n)}

    def log_nu(filt):
        nu, state["v"] = _perron(A, filt, state["v"])
        return math.log(nu)

    if setup.delta is None:   # x = 1 + tau lambda, filter 1 / (x^2 + tau^2 w^2): p = 1 / x
        t2w2 = (setup.tau * w) ** 2

        def f(logp):
            p = math.exp(logp)
            return log_nu(1.0 / (1.0 / (p * p) + t2w2))
        logp = _bracketed_root(f, math.log(lo_p), math.log(hi_p))
        return (math.exp(-logp) - 1.0) / setup.tau
    d = setup.delta
    a = 1.0 - d
    ew = np.exp(-1j * w * spacing)

    def f(logp):   # p = delta r / (1 - a r), r = e^{-mu}: filter(0) = p^2
        p = math.exp(logp)
        r = p / (d + a * p)
        return log_nu(d * d * r * r / np.abs(1.0 - a * r * ew) ** 2)
    logp = _bracketed_root(f, math.log(lo_p), math.log(hi_p))
    p = math.exp(logp)
    return -math.log(p / (d + a * p)) / spacing


def _lyapunov_quenched(setup: _Setup, A, w, spacing) -> float:
    """lambda_max of a quenched gate (eq. 11.14): the root of nu(lambda) = 1 for the filters
    averaged over the unit classes when the network is chaotic (nu(0) > 1), else 0.

    A Gaussian spread of gate biases has units with gates down to 0, and each keeps its own
    perturbation over its time constant: the gradient norm then decays more slowly than any
    exponential (G(k) >= E[(1 - delta_c)^{2k}]), so the largest exponent is 0 unless the
    network is chaotic.
    """
    wts = setup.weights[:, None]
    state = {"v": np.ones(A.size) / math.sqrt(A.size)}
    if setup.delta is None:
        taus = setup.taus[:, None]

        def filt(lam):
            return (wts / ((1.0 + taus * lam) ** 2 + (taus * w) ** 2)).sum(0)
        unit = setup.tau_fast   # the first bracket: lambda = 0.5 / (fastest time constant)
    else:
        d = setup.deltas[:, None]
        theta = w * spacing

        def filt(mu):
            r = math.exp(-mu)
            return (wts * d * d * r * r / _map_denominator(d, r, theta)).sum(0)
        unit = 1.0              # mu per step: the first bracket 0.5

    def log_nu(x):
        nu, state["v"] = _perron(A, filt(x), state["v"])
        return math.log(nu)
    if log_nu(0.0) <= 0.0:
        return 0.0
    hi = 0.5 / unit
    while log_nu(hi) > 0.0:
        hi *= 2.0
        if hi > 1e6 / unit:   # pragma: no cover - nu is bounded by max A x filter(0)
            raise ConvergenceError("driven: no root of nu = 1 for the quenched gate", hi=hi)
    x = optimize.brentq(log_nu, 0.0, hi, xtol=1e-13, rtol=1e-12)
    return float(x) if setup.delta is None else float(x) / spacing


def _bracketed_root(f, lo, hi, tol: float = 1e-12):
    """Root of the increasing f = log nu on [lo, hi] (log p).

    log nu is close to linear in log p with slope 2 (exactly so for a constant A: nu =
    A p^2), so a Newton step of slope 2 from the lower end and secant steps converge in a few
    Perron solves; every step is kept inside the bracket (bisection when a step leaves it).
    """
    lo, hi = lo - 1e-9, hi + 1e-9
    x, fx = lo, f(lo)
    if fx > 0:
        raise ConvergenceError("driven: no root of nu = 1 in its bracket", f_lo=fx)
    if fx == 0:
        return x
    x_new = min(x - fx / 2.0, hi)
    for _ in range(60):
        f_new = f(x_new)
        if f_new == 0 or abs(x_new - x) <= tol * max(1.0, abs(x_new)):
            return x_new
        if f_new > 0:
            hi = x_new
        else:
            lo = x_new
        slope = (f_new - fx) / (x_new - x)
        x, fx = x_new, f_new
        step = -fx / slope if slope > 0 else math.inf
        x_new = x + step
        if not lo < x_new < hi:
            x_new = 0.5 * (lo + hi)
    raise ConvergenceError("driven: the root of nu = 1 did not converge", bracket=(lo, hi))


# ----------------------------------------------------------------------------- driver
def driven(ens: Ensemble, inputs: InputStatistics | None = None, *, dt: float | None = None,
           spacing: float | None = None, window: float | None = None, tol: float = 1e-10,
           max_iter: int = 5000, lyapunov: bool = True) -> DrivenResult:
    """Stationary statistics and the largest exponent of a leaky nODE under a stationary input.

    Solves eq. 11.2 (continuous time) or 11.3 (the Euler map of step ``dt``) for Delta(s) and
    eq. 11.5 / 11.6 for lambda_max (docs/theory.md section 11).

    Parameters
    ----------
    ens : Ensemble
        Leaky; no gate, a constant one (g_z = sigma_z = g_xz = 0) or a quenched one (g_z =
        g_xz = 0, sigma_z > 0: a spread of constant gates, eq. 11.14); ``input_gain`` g_x and
        ``input_dim`` > 0 for the input to act; noise (``noise_std``) allowed.
    inputs : InputStatistics, optional
        The input process (None: autonomous, the existing theory of sections 4 and 10).
    dt : float, optional
        The Euler step (the map h <- h + dt G (-h + F) / tau); None: continuous time.
        ``gate * dt / tau`` must be <= 1.
    spacing, window : float, optional
        Continuous time: grid spacing (default 0.05 tau / gate) and the periodic window
        (default max(40 half-decay times of the autonomous flow, 40 tau, 10 input correlation
        times)); the map's spacing is ``dt``.
    tol : float
        Relative change of Delta at which the iteration stops.
    max_iter : int
    lyapunov : bool
        Also find lambda_max (eq. 11.5 / 11.6); False leaves ``lyapunov_max`` and
        ``memory_time`` None (the replica kernel, and so :func:`gradient_growth`, is always
        there).

    Returns
    -------
    DrivenResult
        With ``phase = EXPLOSIVE``, ``delta0 = lyapunov_max = inf`` and ``converged = False``
        when the flow is unbounded beyond its edge (rho >= 1, or q* = inf: the input only adds
        variance to an unbounded flow, which cannot saturate).

    Raises
    ------
    ValueError, TypeError
        Bad arguments, a non-leaky ensemble or a gate that moves with the state or input.
    ConvergenceError
        The iteration or the root of nu = 1 failed.

    Examples
    --------
    >>> from dmft import Ensemble, driven
    >>> round(driven(Ensemble.elman(0.5)).lyapunov_max, 10)      # (rho - 1) / tau
    -0.5
    """
    t0 = time.perf_counter()
    setup = _scope(ens, inputs, dt)
    for name, v in (("tol", tol),):
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
            raise ValueError(f"{name} must be a number in (0, 1), got {v!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    fp = fixed_point(setup.plain)
    if not math.isfinite(fp.q) or fp.phase == Phase.EXPLOSIVE:
        return _explosive(ens, inputs, dt, setup, fp.message, t0)
    drive = setup.gx2 > 0 and inputs.second_moment > 0
    if not drive and setup.plain.noise_std == 0 and fp.stable:
        return _static_result(ens, inputs, dt, setup, fp, t0)
    start, t_half = _start(setup.plain)
    n, spacing, lag, w = _grid(setup, inputs, spacing, window, t_half)
    cx = _psd(inputs.covariance(lag)) if drive else np.zeros(n)
    filt, noise = _filters(setup, w, lag, n, spacing)
    C0 = start(lag) + setup.gx2 * cx + fp.q
    C, it, change = _solve_delta(setup, filt, noise, cx, C0, tol, max_iter)
    if C is None:
        return _explosive(ens, inputs, dt, setup, "Delta(0) diverged in the iteration", t0)
    A = _replica_kernel(setup, C, cx)
    lam = _lyapunov(setup, A, w, spacing) if lyapunov else None
    m = n // 2 + 1
    if lam is None:
        phase = Phase.UNKNOWN
    else:
        phase = Phase.CHAOTIC if lam > 1e-9 else (
            Phase.DRIVEN_STABLE if (drive or setup.plain.noise_std > 0) else Phase.FIXED_POINT)
    return _result(ens, inputs, dt, setup, lag[:m], C[:m], A[:m], lam, phase, n * spacing,
                   spacing, it, change, t0,
                   f"converged in {it} iterations (relative change {change:.1e})")


def _half_decay(lags, C):
    tail = max(1, C.size // 10)
    dinf = float(C[-tail:].mean())
    dec = (C - dinf) / max(C[0] - dinf, 1e-300)
    below = np.flatnonzero(dec <= 0.5)
    if C[0] - dinf <= 1e-12 * max(abs(C[0]), 1e-300) or below.size == 0:
        return dinf, math.inf
    i = int(below[0])
    t = lags[i - 1] + (dec[i - 1] - 0.5) / (dec[i - 1] - dec[i]) * (lags[i] - lags[i - 1])
    return dinf, float(t)


def _result(ens, inputs, dt, setup, lags, C, A, lam, phase, window, spacing, it, change, t0,
            message) -> DrivenResult:
    dinf, t_half = _half_decay(lags, C)
    return DrivenResult(
        ensemble=ens, inputs=inputs, dt=dt, gate=setup.gamma, gate_classes=setup.gammas,
        gate_weights=setup.weights, lags=lags, autocorrelation=C,
        delta0=float(C[0]), delta_inf=dinf, decorrelation_time=t_half, replica_kernel=A,
        lyapunov_max=None if lam is None else float(lam),
        memory_time=None if lam is None else (1.0 / -lam if lam < 0 else math.inf),
        phase=phase, window=float(window), spacing=float(spacing), n_iter=it,
        residual=float(change), converged=True, message=message,
        elapsed=time.perf_counter() - t0)


def _static_result(ens, inputs, dt, setup, fp, t0) -> DrivenResult:
    """No drive, no noise, a stable fixed point: Delta = q*, A = rho^2 (eq. 4.6 / 10.2)."""
    spacing = setup.delta * setup.tau if setup.delta is not None else 0.05 * setup.tau
    lags = np.arange(65) * spacing
    rho = fp.rho
    if setup.quenched:   # the slowest units: a spread of gates decays sub-exponentially
        lam = 0.0
    elif setup.delta is None:
        lam = (rho - 1.0) / setup.tau
    else:
        lam = math.log(1.0 - setup.delta + setup.delta * rho) / spacing
    return _result(ens, inputs, dt, setup, lags, np.full(lags.size, fp.q),
                   np.full(lags.size, rho * rho), lam, Phase.FIXED_POINT, lags[-1] * 2,
                   spacing, 0, 0.0, t0, "stable fixed point (no drive): Delta = q*, "
                   "lambda_max from rho" + (" (0 for a quenched gate spread)"
                                                           if setup.quenched else ""))


def _explosive(ens, inputs, dt, setup, why, t0) -> DrivenResult:
    lags = np.zeros(1)
    return DrivenResult(
        ensemble=ens, inputs=inputs, dt=dt, gate=setup.gamma, gate_classes=setup.gammas,
        gate_weights=setup.weights, lags=lags, autocorrelation=np.full(1, math.inf),
        delta0=math.inf, delta_inf=math.inf, decorrelation_time=math.inf,
        replica_kernel=np.full(1, math.inf), lyapunov_max=math.inf, memory_time=math.inf,
        phase=Phase.EXPLOSIVE, window=0.0, spacing=0.0, n_iter=0, residual=math.inf,
        converged=False, message=f"explosive: {why}", elapsed=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- horizon
def gradient_growth(result: DrivenResult, n_steps: int) -> np.ndarray:
    """The predicted squared gradient norm G(k) after k steps, k = 0..n_steps (eq. 11.7).

    For the Euler map of a :class:`DrivenResult`: the squared norm of a tangent vector carried
    k steps, relative to its start, averaged over directions (equivalently the squared norm of
    a gradient backpropagated k steps, (1/N) tr Phi Phi^T), from the two-replica recursion

        D(n, m) = a^{n+m} + S(n, m),
        S(n+1, m+1) = a S(n, m+1) + a S(n+1, m) - a^2 S(n, m) + delta^2 A(n - m) D(n, m),

    a = 1 - delta (delta = gate dt / tau), in the stationary driven state (A from eq. 11.4;
    beyond the window, its static value).  G(k) = D(k, k).  At a static fixed point
    (A = rho^2) it is sum_j binom(k, j)^2 a^{2(k-j)} (delta rho)^{2j}; at delta = 1, A(0)^k.

    Raises
    ------
    ValueError
        A continuous-time or explosive result, or a bad ``n_steps``.
    """
    if not isinstance(result, DrivenResult):
        raise TypeError(f"result must be a DrivenResult, got {type(result).__name__}")
    if result.dt is None:
        raise ValueError("gradient_growth needs an Euler-map result (driven(..., dt=...))")
    if result.phase == Phase.EXPLOSIVE:
        raise ValueError("gradient_growth: the ensemble is explosive (no stationary state)")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 0:
        raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}")
    n_steps = int(n_steps)
    A = result.replica_kernel
    tail = max(1, A.size // 10)
    Afull = np.concatenate([A, np.full(max(0, n_steps + 1 - A.size), A[-tail:].mean())])
    d = result.gate_classes * (result.dt / result.ensemble.tau)
    return _growth_classes(d, result.gate_weights, Afull, n_steps)


def _growth_classes(d: np.ndarray, wts: np.ndarray, Afull: np.ndarray,
                    n_steps: int) -> np.ndarray:
    """Eq. 11.15: eq. 11.7 per unit class c (a_c = 1 - delta_c), every class driven by the
    population average D(n, m) = sum_c w_c D_c(n, m); G(k) = D(k, k) (one class: eq. 11.7).
    O(classes x n_steps^2) in a compiled loop (a numpy reference is in tests/test_driven.py)."""
    return _growth_kernel(np.ascontiguousarray(d, dtype=np.float64),
                          np.ascontiguousarray(wts, dtype=np.float64),
                          np.ascontiguousarray(Afull, dtype=np.float64), int(n_steps))


@numba.njit(cache=True)
def _growth_kernel(d, wts, Afull, n_steps):   # pragma: no cover - compiled
    nc = d.size
    G = np.empty(n_steps + 1)
    G[0] = 1.0
    S = np.zeros((nc, n_steps + 2))       # row c: S_c(n, 0..n)
    new = np.zeros((nc, n_steps + 2))
    pw = np.empty((nc, 2 * n_steps + 2))  # a_c^j
    for c in range(nc):
        a = 1.0 - d[c]
        pw[c, 0] = 1.0
        for j in range(1, 2 * n_steps + 2):
            pw[c, j] = pw[c, j - 1] * a
    dbar = np.empty(n_steps + 1)
    for n in range(n_steps):
        for m in range(n + 1):            # the population average D(n, m)
            acc = 0.0
            for c in range(nc):
                acc += wts[c] * (pw[c, n + m] + S[c, m])
            dbar[m] = acc * Afull[n - m]
        g = 0.0
        for c in range(nc):
            a = 1.0 - d[c]
            b2 = d[c] * d[c]
            new[c, 0] = 0.0
            for m in range(n):            # S_c(n + 1, m + 1)
                new[c, m + 1] = a * new[c, m] + a * S[c, m + 1] - a * a * S[c, m] \
                    + b2 * dbar[m]
            new[c, n + 1] = 2.0 * a * new[c, n] - a * a * S[c, n] + b2 * dbar[n]
            g += wts[c] * (pw[c, 2 * n + 2] + new[c, n + 1])
        G[n + 1] = g
        S, new = new, S
    return G


def constant_gate(ens: Ensemble, gamma: float) -> Ensemble:
    """``ens`` with the constant gate gamma = sigmoid(mu_z) (g_z = sigma_z = g_xz = 0)."""
    from .ensemble import Gate
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
    mu = math.inf if gamma == 1 else math.log(gamma) - math.log1p(-gamma)
    return ens.replace(gate=Gate(0.0, mu, 0.0, 0.0))

