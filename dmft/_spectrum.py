"""The Lyapunov spectrum from the mean-field theory: F(s), D_KY/N, h_KS/N (docs/theory.md 9).

The cumulative distribution F(s) of the Lyapunov exponents of a random leaky nODE is the
equal-time response of the regularized tangent operator K_s = d/dt + s - A(t) (the bounded
solution's Green's function at equal times is the projector on the directions that grow slower
than s, eq. 9.2); its average over the weights reduces, at large N, to a chain of single-site
problems, one per kind of unit (the state and each hidden layer), driven by gain paths sampled
from the stationary DMFT (eqs. 9.3-9.10).  This module is the driver: the DMFT state, the gain
paths, the thresholds, the regulator continuation and its extrapolation eta -> 0, the summaries
and their numerical errors.  The single-site solver is :mod:`dmft._site`, the paths
:mod:`dmft._gain_paths`, the summaries :mod:`dmft._functionals`.

References
----------
D. G. Clark, "Lyapunov spectrum of random neural networks" (one-layer tanh network; the method:
single-site cavity theory, regulator eta -> 0).  The multi-layer chain, the calibrated gain
paths and the Euler-map edge are this project's (docs/theory.md 9.5-9.13).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from . import _validate as _v
from ._functionals import SpectrumSummary, summarize_cdf
from ._gain_paths import (
    calibration_weights,
    gain_statistics,
    layer_gains,
    periodic_relaxation,
    ring_lags,
    ring_paths,
    shifted_statistics,
    stationary_map,
)
from ._site import Input, Ring, SiteType, readout, solve_chain
from .ensemble import Ensemble
from .errors import ConvergenceError
from .kernels import flow_kernel, get_activation
from .results import Phase, short_repr

__all__ = ["SpectrumResult", "spectrum", "lyapunov_max_map"]

#: regulators eta (continuum units: eta = delta x eps for the map); the last three are read
#: out and extrapolated linearly to eta = 0 (eq. 9.13)
REGULATORS = (0.1, 0.03, 0.01, 0.003, 0.001)


@dataclass(frozen=True, kw_only=True)
class SpectrumResult:
    """Result of :func:`spectrum` (rates per unit time, the ensemble's tau included).

    Attributes
    ----------
    s : ndarray, shape (n,)
        Thresholds, increasing.
    cdf, cdf_err : ndarray, shape (n,)
        F(s) extrapolated to eta -> 0 (eq. 9.13) and its total numerical error (regulator,
        Monte Carlo and grid errors in quadrature).
    density : ndarray, shape (n,)
        dF/ds by finite differences on the thresholds.
    lyapunov_max : float
        The upper edge s* of the distribution: the maximal exponent (the Schroedinger problem,
        eq. 4.4, in continuous time; eq. 10.2 for the map; (rho - 1) G* / tau at a fixed point).
    dimension_fraction, entropy_rate, unstable_fraction : float
        D_KY / N, h_KS / N (per unit time) and 1 - F(0) (eq. 9.12).
    errors : dict
        For each of the three summaries: {"regulator", "monte_carlo", "grid"} (None where not
        estimated), each a one-standard-error estimate.
    cdf_by_regulator : ndarray, shape (n, 3)
        F at the three smallest regulators (columns ordered as ``regulators[-3:]``).
    summary : SpectrumSummary
    phase : Phase
        CHAOTIC, DRIVEN_STABLE (noise-driven, lambda_max <= 0) or FIXED_POINT (then F is the
        exact spectrum of the fixed point's Jacobian from time-constant gains, eq. 9.14).
    dt, window, spacing, n_paths, n_replicas, seed : settings used
    n_iter : int
        Single-site sweeps in all.
    converged, message
    """

    ensemble: Ensemble
    s: np.ndarray = field(repr=False)
    cdf: np.ndarray = field(repr=False)
    cdf_err: np.ndarray = field(repr=False)
    density: np.ndarray = field(repr=False)
    lyapunov_max: float
    dimension_fraction: float
    entropy_rate: float
    unstable_fraction: float
    errors: dict
    cdf_by_regulator: np.ndarray = field(repr=False)
    summary: SpectrumSummary = field(repr=False)
    phase: Phase
    dt: float | None
    window: float
    spacing: float
    n_paths: int
    n_replicas: int
    seed: int
    n_iter: int
    elapsed: float
    converged: bool
    message: str

    __repr__ = short_repr

    def as_dict(self, *, arrays: bool = False) -> dict:
        out = {k: getattr(self, k) for k in (
            "lyapunov_max", "dimension_fraction", "entropy_rate", "unstable_fraction",
            "errors", "phase", "dt", "window", "spacing", "n_paths", "n_replicas", "seed",
            "n_iter", "elapsed", "converged", "message")}
        out["ensemble"] = self.ensemble.describe()
        if arrays:
            out.update(s=self.s.tolist(), cdf=self.cdf.tolist(), cdf_err=self.cdf_err.tolist())
        return out


# ----------------------------------------------------------------------------- validation
def _number(name, v, low=None, low_open=False, high=None):
    return _v.real(name, v, low=low, low_open=low_open, high=high)


def _count(name, v, low):
    return _v.integer(name, v, low=low, high=_MAX_COUNT)


#: the largest path / replica / threshold count accepted (each path is a ring of window/spacing
#: sites; memory is checked separately)
_MAX_COUNT = 10_000_000


def _scope(ens: Ensemble) -> float:
    """Validate; return the constant gate value gamma (1 without a gate)."""
    _v.instance("ens", ens, Ensemble)
    if not ens.leak:
        raise ValueError(
            "dmft.spectrum needs a leaky ensemble: a non-leaky flow has no stationary state, "
            "its |h| grows without bound (ballistically or exponentially, docs/theory.md 5), "
            "so its exponents are finite-time quantities of a transient; the single-site theory "
            "of section 9 needs time-translation invariance (a periodic window)")
    if ens.input_dim > 0 and ens.input_gain > 0:
        raise ValueError("dmft.spectrum: input-driven ensembles are not supported (input_gain "
                         "must be 0)")
    if ens.gate is None or not ens.gate.is_constant:
        return 1.0
    return ens.gate.constant_value


# ----------------------------------------------------------------------------- DMFT state
@dataclass(frozen=True)
class _State:
    """What the single-site theory needs from the DMFT (time unit: tau / gamma)."""

    phase: Phase
    edge: float                       # upper edge s*, per unit of tau / gamma
    delta0: float
    delta_of: object                  # callable: lags (time units) -> Delta(lag)


def lyapunov_max_map(ens: Ensemble, delta: float, C: np.ndarray, *, tol: float = 1e-10
                     ) -> float:
    """Largest exponent (per tau) of the Euler map with stationary Delta(k) = ``C`` (eq. 10.2).

    The replica difference y obeys y(n+1) = a y(n) + delta xi(n), a = 1 - delta, with xi of
    covariance A(k) D(n, m), A = dK_F/dc (C(0), C(0), C(k)).  In the growing stationary state
    D(n, m) = e^{mu (n + m)} D~(n - m), D~ is the Perron eigenvector of
    T_mu: D~ -> IFFT[ delta^2 e^{-2 mu} FFT(A D~) / |1 - a e^{-mu} e^{-iw}|^2 ], and mu solves
    nu(mu) = 1 for its leading eigenvalue nu (decreasing in mu).  delta = 1 gives
    mu = log(g sqrt(E phi'^2)) (Molgedey, Schuchhardt, Schuster 1992).
    """
    n = C.size
    A = np.broadcast_to(flow_kernel(ens, C[0], C[0], C).dk, C.shape).astype(float)
    w = 2.0 * np.pi * np.fft.fftfreq(n)
    a = 1.0 - delta

    def nu(mu):
        filt = delta * delta * math.exp(-2.0 * mu) / np.abs(1.0 - a * math.exp(-mu)
                                                           * np.exp(-1j * w)) ** 2
        v = np.ones(n)
        lam = 0.0
        for _ in range(2000):
            new = np.fft.ifft(filt * np.fft.fft(A * v)).real
            lam_new = float(new[0] / v[0])
            v = new / new[0]
            if abs(lam_new - lam) < 1e-13 * abs(lam_new):
                break
            lam = lam_new
        return lam_new

    from scipy import optimize
    # the damped difference e^{-mu n} y(n) is stationary only for a e^{-mu} < 1: mu > log a
    floor = math.log(a) if a > 0 else -math.inf
    lo = max(-1.0, floor + 1e-6) if a > 0 else -1.0
    hi = 1.0
    while nu(lo) < 1.0:
        if a > 0:
            raise ConvergenceError("lyapunov_max_map: no exponent above the uncoupled one "
                                   "log(1 - delta) / delta", delta=delta)
        lo -= 1.0
    while nu(hi) > 1.0:
        hi += 1.0
    mu = optimize.brentq(lambda x: nu(x) - 1.0, lo, hi, xtol=tol)
    return mu / delta


def _gated_state(ens: Ensemble, n_paths: int, seed: int, delta: float | None = None
                 ) -> tuple[_State, float]:
    """Delta(s) and lambda_max of a gated ensemble from the sampled DMFT (section 6; of the
    Euler map of step ``delta``, eq. 10.3); also tau_eff = tau / E[G], the gated
    ensemble's time unit."""
    from ._sampled import sampled

    r = sampled(ens, n_paths=n_paths, seed=seed, map_step=delta)
    if r.phase == Phase.EXPLOSIVE:
        raise ValueError("dmft.spectrum: the ensemble is explosive (the sampled DMFT's paths "
                         "diverge): no stationary state, no spectrum")
    lags, ac = r.lags, r.autocorrelation
    state = _State(Phase(r.phase), float(r.lyapunov_max), float(ac[0]),
                   lambda lag: np.interp(lag, lags, ac))
    return state, float(r.tau_eff)


def _dmft_state(ens: Ensemble, delta: float | None) -> _State:
    """Stationary Delta and the upper edge, for a non-gated leaky ensemble with tau = 1."""
    from ._stationary import stationary
    from .static import fixed_point

    fp = fixed_point(ens)
    if fp.phase == Phase.EXPLOSIVE:
        raise ValueError("dmft.spectrum: the ensemble is explosive (an unbounded flow beyond "
                         "rho = 1, or q* = inf): no stationary state, no spectrum")
    if ens.noise_std == 0 and (fp.stable or fp.phase == Phase.CRITICAL):
        q = fp.q
        edge = fp.rho - 1.0 if delta is None else \
            math.log(max(1.0 - delta + delta * fp.rho, 1e-300)) / delta
        return _State(Phase.FIXED_POINT, edge, q, lambda lag: np.full(np.shape(lag), q))
    if delta is None:
        st = stationary(ens)
        lags, ac = st.lags, st.autocorrelation
        return _State(Phase(st.phase), st.lyapunov_max, st.delta0,
                      lambda lag: np.interp(lag, lags, ac))
    C = stationary_map(ens, delta)
    edge = lyapunov_max_map(ens, delta, C)
    k = np.arange(C.size)

    def at(lag):
        return np.interp(np.asarray(lag) / delta, k, C)
    return _State(Phase.CHAOTIC if edge > 0 else Phase.FIXED_POINT, edge, float(C[0]), at)


# ----------------------------------------------------------------------------- paths, chain
def _site_paths(ens, state, ring, n_paths, rng, calibrate, static):
    """Gain paths and weights of each site type: state (layer L), then hidden layers 1..L-1."""
    lags = ring_lags(ring.m, ring.spacing if ring.delta is None else ring.delta)
    layers = layer_gains(ens, state.delta0, state.delta_of(lags))
    out = []
    for j in range(ens.depth):
        layer = ens.depth - 1 if j == 0 else j - 1          # u^L for the state, u^j hidden
        q, c = layers[layer]
        act = get_activation(ens.flow[layer].activation)
        if static:   # a fixed point: time-constant gains, u ~ N(0, q) per unit
            u = np.sqrt(max(q, 0.0)) * rng.standard_normal((n_paths, 1)) * np.ones((1, ring.m))
        else:
            u = ring_paths(c, n_paths, rng)
        d = act.deriv(u)
        w = np.full(n_paths, 1.0 / n_paths)
        if calibrate and not static:
            mean, acf = gain_statistics(act.name, q, c)
            w = calibration_weights(d, mean, acf)
        out.append((np.ascontiguousarray(d), w))
    return out


def _gated_paths(ens, state, ring, n_paths, rng, calibrate, n_sub=4):
    """Paths of the gated chain (eq. 9.16): the state's G, G phi'(u^L) and
    G' (phi(u^L) - h) from u^L and z sampled on a ring n_sub times finer and h the periodic
    solution of dh/dt = G (phi(u^L) - h); the hidden layers' gains as without a gate.
    The map (eq. 10.3): u^L, z on the map's lattice itself and h the periodic orbit of
    h <- h + delta G (phi(u^L) - h)."""
    euler = ring.delta is not None
    if euler:
        n_sub = 1
    mf = ring.m * n_sub
    lags_f = ring_lags(mf, ring.spacing / n_sub)
    q_l, c_l = layer_gains(ens, state.delta0, state.delta_of(lags_f))[-1]
    gate = ens.gate
    u = ring_paths(c_l, n_paths, rng)
    cz = gate.gain ** 2 * state.delta_of(lags_f) + gate.bias_std ** 2
    z = gate.bias_mean + ring_paths(cz, n_paths, rng)
    act = get_activation(ens.flow[-1].activation)
    phi, dphi = act.values(u)
    G = get_activation("sigmoid").fn(z)
    h = periodic_relaxation(G, phi, ring.spacing / n_sub, euler=euler)
    sub = np.s_[:, ::n_sub]
    G, phi, dphi, h = G[sub], phi[sub], dphi[sub], h[sub]
    w = np.full(n_paths, 1.0 / n_paths)
    if calibrate:   # the exact statistics of phi'(u^L) and of G (Gaussian inputs, eq. 9.11)
        lags = ring_lags(ring.m, ring.spacing)
        c_c = layer_gains(ens, state.delta0, state.delta_of(lags))[-1][1]
        m_d, a_d = gain_statistics(act.name, q_l, c_c)
        czc = gate.gain ** 2 * state.delta_of(lags) + gate.bias_std ** 2
        m_g, a_g = shifted_statistics(get_activation("sigmoid").fn, gate.bias_mean,
                                      float(czc[0]), czc)
        w = calibration_weights(dphi, m_d, a_d, G, m_g, a_g)
    state_paths = {"leak": np.ascontiguousarray(G), "w": w,
                   "r_flow": np.ascontiguousarray(G * dphi),
                   "r_gate": np.ascontiguousarray(G * (1.0 - G) * (phi - h))}
    hidden = _site_paths(ens, state, ring, n_paths, rng, calibrate, False)[1:] \
        if ens.depth > 1 else []
    return [state_paths, *hidden]


def _gated_chain(ens, ring, paths, s):
    """Site types of the gated chain (eq. 9.15): the state's bare operator d/dt + s + G(t),
    fed by W^{L-1} (rows G phi'(u^L)) and W_z (rows G' (phi - h)).  The map (eq. 10.4):
    K0 = 1 - e^{-s delta} (1 - delta G(n - 1)) shift, with the map's coupling on both inputs."""
    L = ens.depth
    n = [1.0] + [la.width for la in ens.flow[:-1]]
    st = paths[0]
    cpl = ring.coupling(s)
    inputs = [Input((L - 1) % L, ens.flow[-1].gain ** 2 * cpl, st["r_flow"])]
    if ens.gate.gain > 0:
        inputs.append(Input(0, ens.gate.gain ** 2 * cpl, st["r_gate"]))
    W = ring.frequencies
    if ring.delta is None:
        c0, c1 = s + 1j * W, np.ones(ring.m, complex)
    else:   # C0 = 1 - e^{-s delta} S, C1 = delta e^{-s delta} S, S the one-step delay
        shift = math.exp(-s * ring.delta) * np.exp(-1j * W)
        c0, c1 = 1.0 - shift, ring.delta * shift
    sites = [SiteType(inputs=tuple(inputs), w=st["w"], k2=np.ones(ring.m), re_k=np.ones(ring.m),
                      n=1.0, leak=st["leak"], c0=c0, c1=c1)]
    for j in range(1, L):
        d, w = paths[j]
        sites.append(SiteType(inputs=(Input(j - 1, ens.flow[j - 1].gain ** 2, d),), w=w,
                              k2=np.ones(ring.m), re_k=np.ones(ring.m), n=n[j]))
    return sites


def _chain(ens, ring, paths, s):
    """The site types of the chain at threshold s (docs/theory.md eq. 9.7): site j is fed by
    W^{j-1} from site j - 1 (mod L), rows scaled by its own gain path."""
    L = ens.depth
    n = [1.0] + [la.width for la in ens.flow[:-1]]
    cpl = ring.coupling(s)
    sites = []
    for j in range(L):
        k2, rek = ring.state_symbol(s) if j == 0 else (np.ones(ring.m), np.ones(ring.m))
        g2 = ens.flow[(j - 1) % L].gain ** 2 * (cpl if j == 0 else 1.0)
        d, w = paths[j]
        sites.append(SiteType(inputs=(Input((j - 1) % L, g2, d),), w=w, k2=k2, re_k=rek,
                              n=n[j]))
    return sites


def _threshold_F(ring, sites, s, warm, regulators, scale):
    """F at the last three regulators for threshold s: from a warm start (the neighbouring
    thresholds' solutions) at the three smallest regulators, or, without one or where it
    fails to converge, by continuation through every regulator from the largest."""
    etas = [e * scale for e in regulators]
    sols, F, n_iter = {}, [], 0
    prev = None
    todo = etas if warm is None else etas[-3:]
    for eta in todo:
        init = warm.get(eta) if warm is not None else prev
        try:
            sol = solve_chain(sites, eta, init)
        except ConvergenceError:
            if warm is None:
                raise
            return _threshold_F(ring, sites, s, None, regulators, scale)
        n_iter += sol.n_iter
        sols[eta] = prev = sol
        if eta in etas[-3:]:
            st = sites[0]
            a = s + (float(st.w @ st.leak.mean(axis=1)) if st.leak is not None else 1.0)
            F.append(readout(ring, st, sol, a))
    return np.array(F), sols, n_iter


def _extrapolate(F3, etas3):
    """Linear extrapolation in eta from the two smallest regulators, and its error: the
    difference from the extrapolation of the next pair (the neglected O(eta^2) term)."""
    e1, e2, e3 = etas3[2], etas3[1], etas3[0]          # ascending: e1 < e2 < e3
    f1, f2, f3 = F3[..., 2], F3[..., 1], F3[..., 0]
    x12 = f1 - (f2 - f1) * e1 / (e2 - e1)
    x23 = f2 - (f3 - f2) * e2 / (e3 - e2)
    return x12, np.abs(x12 - x23) * (e1 / e2)


# ----------------------------------------------------------------------------- driver
def spectrum(ens: Ensemble, *, dt: float | None = None, s=None, window: float = 32.0,
             spacing: float = 0.5, n_paths: int = 256, n_replicas: int = 2,
             calibrate: bool = True, regulators=REGULATORS, n_above: int = 8,
             ds_below: float = 0.05, grid_error: bool = True, seed: int = 0,
             progress: bool = False) -> SpectrumResult:
    """The distribution F(s) of Lyapunov exponents of a random leaky nODE (docs/theory.md 9).

    Solves the single-site chain (eqs. 9.6-9.10) at each threshold s for decreasing regulators,
    extrapolates F to eta -> 0 (eq. 9.13) and returns D_KY/N, h_KS/N and 1 - F(0) (eq. 9.12)
    with their errors.

    Parameters
    ----------
    ens : Ensemble
        Leaky, any MLP flow (depth, activations, biases, widths), autonomous or noise-driven
        (continuous time); no gate, a constant gate (which rescales every exponent by its
        value) or a one-layer sigmoid gate (its state from the sampled DMFT, eqs. 9.15-9.16;
        the map's, eqs. 10.3-10.4).
    dt : float, optional
        None: continuous time.  dt > 0: the Euler map h <- h + (dt/tau) G (-h + F) that the
        torch models run (exponents still per unit time); dt / tau must be in (0, 1].
    s : array_like, optional
        Thresholds (per unit time).  Default: ``n_above`` uniform on [0, s*) and steps of
        ``ds_below`` below 0 until the Kaplan-Yorke sum has turned negative (the range D_KY and
        h_KS need).
    window, spacing : float
        Periodic window T and time-grid spacing (units of tau, continuous time; the map's
        spacing is dt / tau).  The grid error is O(spacing^2); the window must exceed the
        decay of the kernels (exp(-|s + 1| T) artifacts near the uncoupled exponent -1).
    grid_error : bool
        Continuous time: also solve on a grid twice as coarse (1/8 of the cost) for the grid
        error |F_h - F_2h| / 3.
    n_paths : int
        Gain paths per replica.  n_replicas : int independent replicas (different paths); the
        results are their means, the Monte Carlo error their spread (None for one replica).
    calibrate : bool
        Calibrated path weights (eq. 9.11): positive weights, closest to uniform in relative
        entropy, with which the paths reproduce the exact gain mean and autocorrelation; this
        removes most of the sampling noise.
    regulators : sequence of float
        Decreasing regulators (continuum units); at least three.
    seed : int
    progress : bool
        tqdm progress bar over thresholds.

    Returns
    -------
    SpectrumResult

    Raises
    ------
    ValueError, TypeError
        Non-leaky, input-driven or explosive ensembles, noise with ``dt``; bad options.
    ConvergenceError
        A single-site solve or a DMFT solve did not converge.

    Examples
    --------
    The trivial fixed point of the Elman network (g < 1): exponents -1 + Re z, z uniform in a
    disk of radius g (a semicircle law); F(-1) = 1/2 exactly.

    >>> from dmft import Ensemble, spectrum
    >>> r = spectrum(Ensemble.elman(0.5), s=[-1.25, -0.75])
    >>> r.phase, [round(float(x), 4) for x in r.cdf]
    ('fixed point', [0.1955, 0.8045])
    """
    gamma = _scope(ens)
    if isinstance(regulators, str) or not hasattr(regulators, "__iter__"):
        raise _v.ParameterTypeError(f"regulators must be a sequence of at least three strictly "
                                    f"decreasing numbers > 0, got {_v._shown(regulators)}")
    regulators = tuple(_number(f"regulators[{i}]", e, 0.0, True)
                       for i, e in enumerate(regulators))
    if len(regulators) < 3 or any(b >= a for a, b in zip(regulators, regulators[1:], strict=False)):
        raise ValueError("regulators must hold at least three strictly decreasing values > 0")
    window = _number("window", window, 0.0, True)
    n_paths = _count("n_paths", n_paths, 16)
    n_replicas = _count("n_replicas", n_replicas, 1)
    n_above = _count("n_above", n_above, 2)
    ds_below = _number("ds_below", ds_below, 0.0, True)
    spacing = _number("spacing", spacing, 0.0, True)
    seed = _v.seed("seed", seed)
    for name, value in (("calibrate", calibrate), ("grid_error", grid_error),
                        ("progress", progress)):
        _v.flag(name, value)
    # ring sites per path: window / spacing (continuous time); each replica holds its paths
    sites = window / (spacing if dt is None else _number("dt", dt, 0.0, True) / ens.tau)
    _v.check_memory(8.0 * 8 * n_paths * max(sites, 1.0) + 8.0 * 4 * max(sites, 1.0) ** 2,
                    f"dmft.spectrum with {n_paths} paths on rings of {sites:.0f} sites")
    tau = ens.tau / gamma                       # the constant gate slows time: tau -> tau/G*
    gated = ens.gated and not ens.gate.is_constant
    base = (ens.replace(tau=1.0) if gated else
            ens.replace(gate=None, tau=1.0, noise_std=ens.noise_std / math.sqrt(gamma)))
    delta = None
    if dt is not None:
        delta = _number("dt", dt, 0.0, True) / tau
        if delta > 1.0:
            raise ValueError(f"dt / tau_eff = {delta:g} must be <= 1 for the Euler map "
                             f"(tau_eff = tau / G* = {tau:g})")
        if base.noise_std > 0:
            raise ValueError("dmft.spectrum: noise-driven ensembles are supported in "
                             "continuous time only (dt=None)")
    t0 = time.perf_counter()
    unit = 1.0
    if gated:   # the gated ensemble's own time unit tau_eff = tau / E[G] sets window, spacing
        state, unit = _gated_state(base, max(4 * n_paths, 1000), int(seed), delta)
    else:
        state = _dmft_state(base, delta)
    if delta is not None:   # the map's ring: its lattice, window / delta sites
        m = int(round(window * unit / delta))
        ring = Ring(m, m * delta, delta)
    else:   # odd m: every frequency has its partner, d/dt is real antisymmetric
        ring = Ring(2 * max(4, int(round(0.5 * window / spacing))) + 1, window * unit)
    static = state.phase == Phase.FIXED_POINT and base.noise_std == 0
    if static:
        # time-constant gains: every matrix is circulant, a long fine ring costs little and
        # makes the frequency sum of the readout converge (eq. 9.14)
        ring = Ring(819, 409.6) if delta is None else Ring(1024, 1024 * delta, delta)
    scale = (1.0 / unit) if delta is None else delta   # regulators in units of the rates
    if s is not None:
        s_user = np.sort(np.atleast_1d(np.asarray(s, dtype=float)) * tau)
        if s_user.ndim != 1 or s_user.size < 1 or not np.all(np.isfinite(s_user)):
            raise ValueError("s must be a non-empty 1-D array of finite thresholds")
        su = _uncoupled(ring)
        if np.any(np.abs(s_user - su) * ring.T < 1e-6):
            raise ValueError(f"a threshold sits on the uncoupled exponent {su / tau:g}, where "
                             "the periodic window is singular: shift it")
    else:
        s_user = None
    seqs = np.random.SeedSequence(int(seed)).spawn(n_replicas)
    reps = [_replica(base, state, ring, n_paths, np.random.default_rng(ss), calibrate, static,
                     s_user, regulators, scale, n_above, ds_below, progress) for ss in seqs]
    coarse = None
    if grid_error and delta is None and not static:
        # the same paths' law on a grid twice as coarse, at the same thresholds: the O(h^2)
        # grid error of the fine solution is |F_h - F_2h| / 3 (Richardson)
        ring2 = Ring(2 * (ring.m // 4) + 1, ring.T)
        coarse = _replica(base, state, ring2, n_paths, np.random.default_rng(seqs[0]),
                          calibrate, static, reps[0][0], regulators, scale, n_above, ds_below,
                          progress)
    return _assemble(ens, reps, state, regulators, scale, tau, dt, ring, n_paths, n_replicas,
                     seed, time.perf_counter() - t0, coarse)


def _fixed_point_range(state, ring):
    """Thresholds spanning a fixed point's exponents: Re z - 1, |z| <= rho (continuous), or
    log|1 - delta + delta z| / delta (map); the uncoupled point itself is left out."""
    rho = state.edge + 1.0 if ring.delta is None else \
        (math.exp(state.edge * ring.delta) - 1.0 + ring.delta) / ring.delta
    x = rho * np.cos(np.pi * (np.arange(16) + 0.5) / 16)[::-1]
    if ring.delta is None:
        return list(x - 1.0)
    return list(np.log(np.abs(1.0 - ring.delta + ring.delta * x)) / ring.delta)


def _replica(ens, state, ring, n_paths, rng, calibrate, static, s_user, regulators, scale,
             n_above, ds_below, progress):
    """F at the three smallest regulators on every threshold, for one set of gain paths."""
    gated = ens.gated
    paths = (_gated_paths(ens, state, ring, n_paths, rng, calibrate) if gated
             else _site_paths(ens, state, ring, n_paths, rng, calibrate, static))
    chain = _gated_chain if gated else _chain
    results: dict[float, np.ndarray] = {}
    warms: dict[float, dict] = {}
    n_iter = 0
    edge = state.edge
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(desc="spectrum thresholds", unit="s", leave=False)

    def run(s):
        nonlocal n_iter
        F3, warms[float(s)], k = _threshold_F(ring, chain(ens, ring, paths, s), s,
                                              _predict(warms, s), regulators, scale)
        results[float(s)] = F3
        n_iter += k
        if bar is not None:
            bar.update(1)

    if s_user is not None:   # outward from s = 0: deep tails warm-start from their neighbours
        for s in sorted(s_user, key=abs):
            run(s)
    elif static:
        for s in sorted(_fixed_point_range(state, ring)):
            run(s)
    else:
        for s in np.linspace(0.0, max(edge, 1e-3), n_above + 1)[:-1]:
            run(s)
        s_floor = _uncoupled(ring) + ds_below
        s = 0.0
        while s - ds_below > s_floor:
            s -= ds_below
            run(s)
            ss = np.array(sorted(results))
            F = _extrapolate(np.array([results[x] for x in ss]), _etas3(regulators, scale))[0]
            summ = _summaries(ss, F, edge)
            if summ.dimension_reached and summ.kaplan_yorke_threshold > s + 0.5 * ds_below:
                break
    if bar is not None:
        bar.close()
    ss = np.array(sorted(results))
    return ss, np.array([results[x] for x in ss]), n_iter


def _predict(warms: dict, s: float) -> dict | None:
    """Warm start for threshold s: the log-symbols of the two nearest solved thresholds,
    extrapolated linearly in s (the nearest alone when only one is known)."""
    if not warms:
        return None
    near = sorted(warms, key=lambda x: abs(x - s))[:2]
    if len(near) == 1:
        return warms[near[0]]
    (s1, w1), (s2, w2) = ((x, warms[x]) for x in near)
    t = (s - s1) / (s2 - s1)
    out = {}
    for eta, a in w1.items():
        b = w2.get(eta)
        if b is None:
            out[eta] = a
            continue
        mix = [tuple(np.exp((1 - t) * np.log(x) + t * np.log(y)) for x, y in zip(xa, xb,
                                                                                  strict=True))
               for xa, xb in ((a.S, b.S), (a.V, b.V))]
        out[eta] = replace(a, S=mix[0], V=mix[1])
    return out


def _uncoupled(ring) -> float:
    """The uncoupled exponent s_u: -1 (continuous) or log(1 - delta) / delta (map)."""
    if ring.delta is None:
        return -1.0
    return math.log(1.0 - ring.delta) / ring.delta if ring.delta < 1.0 else -math.inf


def _etas3(regulators, scale):
    return [e * scale for e in regulators[-3:]]


def _summaries(s, F, edge):
    """Eq. 9.12 from the thresholds below the edge (those above it only check F = 1)."""
    F = np.clip(np.maximum.accumulate(np.asarray(F, dtype=float)), 0.0, 1.0)
    below = np.asarray(s) < edge
    if not np.any(below):
        return summarize_cdf(np.array([edge - 1.0]), np.array([1.0]), edge=edge)
    return summarize_cdf(np.asarray(s)[below], F[below], edge=edge)


def _assemble(ens, reps, state, regulators, scale, tau, dt, ring, n_paths, n_replicas, seed,
              elapsed, coarse=None):
    s = reps[0][0]
    if any(r[0].shape != s.shape or np.any(r[0] != s) for r in reps):
        # adaptive thresholds may differ between replicas: use the common ones
        common = sorted(set.intersection(*(set(r[0].tolist()) for r in reps)))
        s = np.array(common)
        reps = [(s, np.array([r[1][list(r[0]).index(x)] for x in s]), r[2]) for r in reps]
    etas3 = _etas3(regulators, scale)
    F3 = np.mean([r[1] for r in reps], axis=0)               # (n, 3)
    F0, reg_err = _extrapolate(F3, etas3)
    per_rep = [_extrapolate(r[1], etas3)[0] for r in reps]
    edge = state.edge
    summ = _summaries(s, F0, edge)
    keys = ("dimension_fraction", "entropy_rate", "unstable_fraction")
    vals = {k: getattr(summ, k) for k in keys}
    mc_F = None
    errors = {k: {"regulator": None, "monte_carlo": None, "grid": None} for k in keys}
    if n_replicas > 1:
        mc_F = np.std(per_rep, axis=0, ddof=1) / math.sqrt(n_replicas)
        rs = [_summaries(s, f, edge) for f in per_rep]
        for k in keys:
            errors[k]["monte_carlo"] = float(np.std([getattr(r, k) for r in rs], ddof=1)
                                             / math.sqrt(n_replicas))
    alt = _summaries(s, F0 + reg_err, edge)
    for k in keys:
        errors[k]["regulator"] = abs(getattr(alt, k) - vals[k])
    grid_F = None
    if coarse is not None:
        # the coarse ring ran at the first replica's thresholds; keep those common to all
        on = np.isin(coarse[0], s)
        fine = per_rep[0][np.isin(s, coarse[0])]
        grid_F = np.abs(fine - _extrapolate(coarse[1][on], etas3)[0]) / 3.0
        alt = _summaries(s, F0 + grid_F, edge)
        for k in keys:
            errors[k]["grid"] = abs(getattr(alt, k) - vals[k])
    err_F = np.sqrt(reg_err ** 2 + (mc_F ** 2 if mc_F is not None else 0.0)
                    + (grid_F ** 2 if grid_F is not None else 0.0))
    dens = np.gradient(F0, s) if s.size > 1 else np.zeros_like(s)
    n_iter = sum(r[2] for r in reps) + (coarse[2] if coarse is not None else 0)
    # per unit time: divide rates by tau_eff, thresholds too
    rate = 1.0 / tau
    for k in ("entropy_rate",):
        vals[k] *= rate
        for e in errors[k]:
            if errors[k][e] is not None:
                errors[k][e] *= rate
    summ = SpectrumSummary(lyapunov_max=edge * rate, unstable_fraction=summ.unstable_fraction,
                           entropy_rate=summ.entropy_rate * rate,
                           dimension_fraction=summ.dimension_fraction,
                           kaplan_yorke_threshold=summ.kaplan_yorke_threshold * rate,
                           dimension_reached=summ.dimension_reached)
    msg = (f"{s.size} thresholds x {len(regulators)} regulators, {n_replicas} replica(s) of "
           f"{n_paths} paths, ring m = {ring.m} over T = {ring.T:g}; {n_iter} sweeps")
    if not summ.dimension_reached:
        msg += "; D_KY/N is a lower bound (extend the thresholds below s[0])"
    return SpectrumResult(
        ensemble=ens, s=s * rate, cdf=F0, cdf_err=err_F, density=dens / rate,
        lyapunov_max=edge * rate, dimension_fraction=vals["dimension_fraction"],
        entropy_rate=vals["entropy_rate"], unstable_fraction=vals["unstable_fraction"],
        errors=errors, cdf_by_regulator=F3, summary=summ, phase=state.phase, dt=dt,
        window=ring.T * tau, spacing=ring.spacing * tau, n_paths=n_paths,
        n_replicas=n_replicas, seed=int(seed), n_iter=n_iter, elapsed=elapsed, converged=True,
        message=msg)
