"""Driver of the two-time sampled DMFT: :func:`sampled_two_time` (causal construction).

Contract
--------
:func:`sampled_two_time` validates its arguments, runs ``n_replicas`` independent causal
constructions (:class:`CausalRun`, seeds from SeedSequence(seed).spawn) and returns their means
as a :class:`~.results.SampledTwoTimeResult`.  There is no global iteration and nothing to
converge.  Paths that diverge (|h| or |y| > 1e8, or non-finite) end that replica's construction
at that grid time; the result then covers the window before the earliest divergence, with
``phase = EXPLOSIVE``, ``diverged = True``, ``diverged_at``, ``reason`` and
``converged = False`` (the divergence policy of :mod:`simulate`): nothing is raised for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validate as _v
from ..ensemble import Ensemble
from ..kernels import get_activation
from ..results import Phase
from .fields import EXPLOSION_BOUND, gate, gate_params, is_explosive, two_time_row
from .gp import CausalGP
from .options import check_int, check_positive, check_seed
from .results import SampledTwoTimeResult

__all__ = ["sampled_two_time", "CausalRun"]


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
    Cholesky factor, see :class:`~dmft._sampled.gp.CausalGP`), with the new row
    C(t_{k+1}, t_m) = <h_{k+1} h_m> taken from the paths themselves.  This is implicit in
    h_{k+1}; ``n_corrector`` fixed-point passes with the same random numbers solve it (each
    pass gains one order of dt).  The replica difference (eq. 6.3) is carried along the same
    way with y(0) ~ N(0, 1), du ~ GP(0, A D), dz ~ GP(0, g_z^2 D), D(t, s) = <y(t) y(s)>,
    A = dSigma_L/dC.  Cost O(n_paths n^2) for n = t_max/dt + 1 grid times.  The distance
    D(t, t) is the geometric mean over the replicas, the exponent the mean of their log-slopes.

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
        from their spread (n_replicas - 1 degrees of freedom).  When paths diverge: the window
        before the divergence, ``phase = EXPLOSIVE``, lambda_max = +inf (module docstring).

    References
    ----------
    docs/theory.md sections 5 and 6; Eissfeller & Opper, PRL 68, 2094 (1992).
    """
    n, dt, q0, n_corrector, n_replicas, seed = _validate(ens, t_max, dt, q0, n_paths,
                                                         n_corrector, n_replicas, seed)
    P = n_paths // n_replicas
    runs = [CausalRun(ens, n, dt, q0, P, ss).run(n_corrector)
            for ss in np.random.SeedSequence(seed).spawn(n_replicas)]
    m = min(r.n_valid for r in runs)
    times = np.arange(m) * dt
    Cs = np.array([r.C[:m, :m] for r in runs])
    dds = np.array([np.diag(r.D)[:m] / r.D[0, 0] for r in runs])
    change = np.max([r.corrector_change[:m] for r in runs], axis=0)
    resid = float(change.max())
    diverged_at = min(r.diverged_at for r in runs)
    common = dict(
        ensemble=ens, times=times, correlation=Cs.mean(axis=0),
        correlation_err=Cs.std(axis=0, ddof=1) / math.sqrt(n_replicas),
        distance=np.exp(np.log(dds).mean(axis=0)),
        gate_mean=np.mean([r.gate_mean[:m] for r in runs], axis=0),
        history={"corrector_change": change}, seed=seed, n_paths=n_paths, residual=resid,
        n_iter=m - 1)
    if diverged_at < math.inf:
        reason = (f"sampled paths diverged (|h| or |y| > {EXPLOSION_BOUND:.0e}, or non-finite) "
                  f"at t = {diverged_at:.4g}: explosive ensemble; the result covers the "
                  f"{m} grid times before")
        return SampledTwoTimeResult(**common, lyapunov_max=math.inf, lyapunov_err=0.0,
                                    phase=Phase.EXPLOSIVE, diverged=True,
                                    diverged_at=diverged_at, reason=reason, converged=False,
                                    message=reason)
    lyap, lyap_err = _slopes(times, dds)
    return SampledTwoTimeResult(
        **common, lyapunov_max=lyap, lyapunov_err=lyap_err, converged=True,
        message=f"causal construction, {n} grid times, {n_replicas} independent replicas of "
                f"{P} paths, {n_corrector} corrector passes; last pass changed h by <= "
                f"{resid:.1e}")


def _validate(ens, t_max, dt, q0, n_paths, n_corrector, n_replicas, seed):
    _v.instance("ens", ens, Ensemble)
    if ens.input_dim > 0:
        raise ValueError("sampled_two_time: inputs (input_dim > 0) are not supported")
    t_max, dt, q0 = check_positive("t_max", t_max), check_positive("dt", dt), \
        check_positive("q0", q0)
    n_paths = check_int("n_paths", n_paths, 8)
    n_corrector = check_int("n_corrector", n_corrector, 0)
    n_replicas = check_int("n_replicas", n_replicas, 2)
    seed = check_seed(seed)
    n = int(round(t_max / dt)) + 1
    if n < 3:
        raise ValueError(f"t_max / dt must be >= 2 (got t_max={t_max}, dt={dt})")
    if n > 3000:
        raise ValueError(f"t_max / dt gives {n} grid points; at most 3000 are supported")
    if n_paths // n_replicas < 8:
        raise ValueError(f"n_paths / n_replicas must be >= 8, got {n_paths} / {n_replicas}")
    # the paths (h, u, z, G, the replica differences) over the grid, and the n x n covariances
    _v.check_memory(8.0 * (10 * n_paths * n + 6 * n * n),
                    f"sampled_two_time with {n_paths} paths on {n} grid times")
    return n, dt, q0, n_corrector, n_replicas, seed


def _slopes(times, dds) -> tuple[float, float]:
    """Mean and standard error over replicas of the slope of (1/2) log D(t, t), second half."""
    n = times.size
    half = n // 2
    if n - half <= 3:
        return math.nan, math.nan
    sl = np.array([np.polyfit(times[half:], 0.5 * np.log(np.clip(d[half:], 1e-300, None)),
                              1)[0] for d in dds])
    return float(sl.mean()), float(sl.std(ddof=1) / math.sqrt(dds.shape[0]))


@dataclass(frozen=True, kw_only=True, eq=False)
class CausalOutcome:
    """One causal construction: C, D on the grid, E[G](t), corrector changes; rows and
    columns beyond ``n_valid`` are not filled when the paths diverged at ``diverged_at``."""

    C: np.ndarray
    D: np.ndarray
    gate_mean: np.ndarray
    corrector_change: np.ndarray
    n_valid: int
    diverged_at: float


class CausalRun:
    """One causal construction with P paths (the state of :func:`sampled_two_time`'s loop).

    The random numbers are drawn at construction in a fixed order (h(0), y(0), noise, the
    standard normals of the u, du, z, dz processes).
    """

    def __init__(self, ens: Ensemble, n: int, dt: float, q0: float, P: int, seedseq):
        self.ens, self.n, self.dt, self.P = ens, n, dt, P
        self.lam = 1.0 if ens.leak else 0.0
        self.gp = gate_params(ens)
        self.act = get_activation(ens.flow[-1].activation)
        rng = np.random.default_rng(seedseq)
        gp = self.gp
        self.gz = gp[0] if gp is not None else 0.0
        self.z_random = gp is not None and (gp[0] > 0 or gp[2] > 0)
        self.H = np.empty((n, P))
        self.Y = np.empty((n, P))
        self.H[0] = math.sqrt(q0) * rng.standard_normal(P)
        self.Y[0] = rng.standard_normal(P)
        self.noise = None
        if ens.noise_std > 0:
            self.noise = (ens.noise_std * math.sqrt(dt / ens.tau)) * rng.standard_normal(
                (n - 1, P))
        self.gu = CausalGP(n, rng.standard_normal((n, P)))
        self.gdu = CausalGP(n, rng.standard_normal((n, P)))
        self.gzz = CausalGP(n, rng.standard_normal((n, P))) if self.z_random else None
        self.gdz = CausalGP(n, rng.standard_normal((n, P))) if self.gz > 0 else None
        self.C = np.zeros((n, n))
        self.D = np.zeros((n, n))
        self.U = np.empty((n, P))
        self.G = np.ones((n, P))
        self.DU = np.empty((n, P))
        self.DZ = np.zeros((n, P))
        self.corr_change = np.zeros(n)

    def fields(self, k: int) -> None:
        """Rows k of C, D from the paths; then the fields at t_k (conditional on the past)."""
        H, Y, C, D = self.H, self.Y, self.C, self.D
        C[k, :k + 1] = H[:k + 1] @ H[k] / self.P
        C[:k + 1, k] = C[k, :k + 1]
        D[k, :k + 1] = Y[:k + 1] @ Y[k] / self.P
        D[:k + 1, k] = D[k, :k + 1]
        su, a = two_time_row(self.ens, C, k)
        self.U[k] = self.gu.row(k, su)
        self.DU[k] = self.gdu.row(k, a * D[k, :k + 1])
        gp, gz = self.gp, self.gz
        if gp is not None:
            zk = gp[1] + (self.gzz.row(k, gz * gz * C[k, :k + 1] + gp[2] ** 2)
                          if self.z_random else 0.0)
            self.G[k] = gate(zk)
            if self.gdz is not None:
                self.DZ[k] = self.gdz.row(k, gz * gz * D[k, :k + 1])

    def drifts(self, k: int, h: np.ndarray, y: np.ndarray):
        """Right-hand sides of (6.1) and (6.3) at grid time k for states h, y."""
        lam, G = self.lam, self.G[k]
        phi, dphi = self.act.values(self.U[k])
        fh = G * (-lam * h + phi) / self.ens.tau
        fy = G * (-lam * y + dphi * self.DU[k])
        if self.gdz is not None:
            fy = fy + G * (1 - G) * (-lam * h + phi) * self.DZ[k]
        return fh, fy / self.ens.tau

    def step(self, k: int, n_corrector: int) -> None:
        """Heun step k -> k + 1 with ``n_corrector`` passes for the implicit fields."""
        H, Y, dt = self.H, self.Y, self.dt
        w = self.noise[k] if self.noise is not None else 0.0
        fh0, fy0 = self.drifts(k, H[k], Y[k])
        hp = H[k] + dt * fh0 + w
        yp = Y[k] + dt * fy0
        H[k + 1], Y[k + 1] = hp, yp
        prev = None
        for _ in range(n_corrector + 1):
            self.fields(k + 1)
            fh1, fy1 = self.drifts(k + 1, hp, yp)
            H[k + 1] = H[k] + 0.5 * dt * (fh0 + fh1) + w
            Y[k + 1] = Y[k] + 0.5 * dt * (fy0 + fy1)
            if prev is not None:
                self.corr_change[k + 1] = float(np.max(np.abs(H[k + 1] - prev)))
            prev = H[k + 1].copy()

    def run(self, n_corrector: int) -> CausalOutcome:
        """The whole construction; stops at the first grid time where the paths diverge."""
        self.fields(0)
        n_valid, diverged_at = self.n, math.inf
        for k in range(self.n - 1):
            self.step(k, n_corrector)
            if is_explosive(self.H[k + 1]) or is_explosive(self.Y[k + 1]):
                n_valid, diverged_at = k + 1, (k + 1) * self.dt
                break
            self.fields(k + 1)   # rows k + 1 of C, D from the final paths
        return CausalOutcome(C=self.C, D=self.D, gate_mean=self.G.mean(axis=1),
                             corrector_change=self.corr_change, n_valid=n_valid,
                             diverged_at=diverged_at)
