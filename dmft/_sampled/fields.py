"""The Gaussian fields of the single site and its sampled paths (docs/theory.md eqs. 6.1-6.2).

Contract
--------
Takes an :class:`~dmft.Ensemble` and the current correlation C of h; returns the laws of the
fields that drive one unit and, with a random generator, one sample of them with the unit's
paths:

- :func:`last_preactivation`: Sigma_L[C] (covariance of the flow's last preactivation u) and
  A = dSigma_L/dC (Price's theorem) for a stationary C on a lag grid, with the input's
  covariance C_x (``cx``) added to the first layer as g_x^2 C_x (docs/theory.md eq. 11.2);
  :func:`two_time_row` the same for one row C(t_k, t_0..t_k) of a two-time correlation.
- :func:`gate_params`, :func:`tau_eff`: the gate's (g_z, mu_z, sigma_z), or None when there is
  no gate; the time unit tau / E[G] at the fixed point.
- :func:`sample_site_paths`: u ~ GP(0, Sigma_L[C]), z ~ GP(mu_z, g_z^2 C + sigma_z^2
  + g_xz^2 C_x) (independent), G = sigmoid(z), and the paths h of (6.1) integrated by
  :mod:`dmft._sampled.site` with the kernels the caller names.  The random numbers are drawn
  in a fixed order (u, z, noise, h(0)), so a generator state fixes the sample.
- :func:`is_explosive` / :func:`divergence_time`: the divergence test (a non-finite value or
  |h| > 1e8) used by both drivers.

Nothing here iterates or raises for non-convergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ensemble import Ensemble, Layer
from ..kernels import flow_kernel, get_activation
from .gp import sample_stationary_gp
from .site import SiteKernels, integrate_site

__all__ = ["SiteFields", "sample_site_paths", "last_preactivation", "two_time_row",
           "gate_params", "tau_eff", "is_explosive", "divergence_time", "EXPLOSION_BOUND"]

#: |h| above which sampled paths count as diverged (explosive ensemble)
EXPLOSION_BOUND = 1e8

_SIGMOID = get_activation("sigmoid")


def gate(z: np.ndarray) -> np.ndarray:
    """G = sigmoid(z), the registry's sigmoid."""
    return _SIGMOID.fn(z)


def gate_params(ens: Ensemble) -> tuple[float, float, float] | None:
    """(g_z, mu_z, sigma_z) of the gate, None without a gate or with an always-open one."""
    g = ens.gate
    if g is None or g.bias_mean == math.inf:
        return None
    return g.gain, g.bias_mean, g.bias_std


def tau_eff(ens: Ensemble) -> float:
    """tau / E[G] at the fixed point (the natural time unit of a gated ensemble)."""
    gp = gate_params(ens)
    if gp is None:
        return ens.tau
    from ..static import fixed_point
    fp = fixed_point(ens)
    gm = fp.gate_mean if fp.gate_mean is not None else 1.0
    return ens.tau / gm


def last_preactivation(ens: Ensemble, c0: float, c: np.ndarray, cx: np.ndarray | None = None):
    """Sigma_L at (C(0), C(0), c) and A = dSigma_L/dc (docs/theory.md sections 2 and 6).

    Returns (Var u, Sigma_L on ``c``, A on ``c``).  Deep flows evaluate the kernel on at most
    97 points between min(c) and c0 and interpolate; there ``c`` (a Monte Carlo estimate of
    C(s)) is first projected onto |c| <= c0, the kernel's domain (Cauchy-Schwarz): sampling
    error can put an estimate of C(s) above C(0).  ``cx``: the input covariance C_x on the
    same lags (eq. 11.1); the first preactivation then has the covariance
    c_1 = g_0^2 c + g_x^2 C_x + sigma_0^2 (eq. 11.2) and A stays the derivative with respect to
    the state's covariance (the input is the same for two replicas).
    """
    if cx is not None and ens.input_gain > 0:
        return _driven_last_preactivation(ens, c0, np.asarray(c, dtype=float),
                                          np.asarray(cx, dtype=float))
    layers = ens.flow
    last = layers[-1]
    g2, s2 = last.gain ** 2, last.bias_std ** 2
    c = np.asarray(c, dtype=float)
    if len(layers) == 1:
        return g2 * c0 + s2, g2 * c + s2, np.full(c.shape, g2)
    c = np.clip(c, -c0, c0)
    grid = np.linspace(min(float(c.min()), c0), c0, 97) if c.size > 97 else c
    fk = flow_kernel(layers[:-1], c0, c0, grid)
    k = np.broadcast_to(fk.k, grid.shape)
    dk = np.broadcast_to(fk.dk, grid.shape)
    if grid is not c:
        k, dk = np.interp(c, grid, k), np.interp(c, grid, dk)
    var = g2 * float(flow_kernel(layers[:-1], c0, c0, c0, derivative=False).k) + s2
    return var, g2 * k + s2, g2 * dk


def _driven_last_preactivation(ens: Ensemble, c0: float, c: np.ndarray, cx: np.ndarray):
    """:func:`last_preactivation` with the input term in the first layer (eq. 11.2)."""
    first, last = ens.flow[0], ens.flow[-1]
    g02, gx2, s02 = first.gain ** 2, ens.input_gain ** 2, first.bias_std ** 2
    c1 = g02 * c + gx2 * cx + s02
    q1 = g02 * c0 + gx2 * float(cx[0]) + s02
    if len(ens.flow) == 1:
        return q1, c1, np.full(c.shape, g02)
    c1 = np.clip(c1, -q1, q1)   # the kernel's domain, as in last_preactivation
    g2, s2 = last.gain ** 2, last.bias_std ** 2
    layers = (Layer(1.0, first.activation, 0.0, first.width), *ens.flow[1:-1])
    grid = np.linspace(min(float(c1.min()), q1), q1, 97) if c1.size > 97 else c1
    fk = flow_kernel(layers, q1, q1, grid)
    k = np.broadcast_to(fk.k, grid.shape)
    dk = np.broadcast_to(fk.dk, grid.shape)
    if grid is not c1:
        k, dk = np.interp(c1, grid, k), np.interp(c1, grid, dk)
    var = g2 * float(flow_kernel(layers, q1, q1, q1, derivative=False).k) + s2
    return var, g2 * k + s2, g2 * g02 * dk


def two_time_row(ens: Ensemble, C: np.ndarray, k: int):
    """Row k of Sigma_L[C](t_k, t_m) and of A = dSigma_L/dC, m = 0..k (docs/theory.md section 2)."""
    last = ens.flow[-1]
    g2, s2 = last.gain ** 2, last.bias_std ** 2
    row = C[k, :k + 1]
    if len(ens.flow) == 1:
        return g2 * row + s2, np.full(k + 1, g2)
    d = np.diag(C)[:k + 1]
    fk = flow_kernel(ens.flow[:-1], C[k, k], d, row)
    return g2 * np.broadcast_to(fk.k, row.shape) + s2, g2 * np.broadcast_to(fk.dk, row.shape)


@dataclass(frozen=True, eq=False)
class SiteFields:
    """One sample of the single-site fields and the resulting paths, all shape (P, n).

    ``z`` is None without a gate (then ``G`` is all ones); ``phi`` = phi_out(u).
    """

    u: np.ndarray
    z: np.ndarray | None
    h: np.ndarray
    G: np.ndarray
    phi: np.ndarray


def _sample_gate(ens: Ensemble, C: np.ndarray, shape, rng, cx: np.ndarray | None = None):
    """(z, G) for the sample; no random numbers for a constant gate (exact rescaling).
    ``cx``: the input covariance, entering z as g_xz^2 C_x (through U_z)."""
    gp = gate_params(ens)
    if gp is None:
        return None, np.ones(shape)
    gz, mu, sz = gp
    gxz2 = ens.gate.input_gain ** 2 if cx is not None else 0.0
    if gz == 0 and sz == 0 and gxz2 == 0:
        z = np.full(shape, mu)
    else:
        cz = gz * gz * C + sz * sz + (gxz2 * cx if gxz2 else 0.0)
        z = mu + sample_stationary_gp(cz, shape[1], shape[0], rng)
    return z, gate(z)


def sample_site_paths(ens: Ensemble, C: np.ndarray, n_steps: int, n_paths: int, dt: float,
                      rng: np.random.Generator, kernels: SiteKernels,
                      cx: np.ndarray | None = None) -> SiteFields:
    """Sample u, z for the stationary correlation C (lag grid) and integrate eq. (6.1).

    h(0) ~ N(0, C(0)); the noise increments are noise_std sqrt(dt / tau) xi.  ``cx``: the
    covariance C_x of a stationary input on the same lags (eqs. 11.1-11.2), or None.
    """
    lam = 1.0 if ens.leak else 0.0
    c0 = float(C[0])
    _, cu, _ = last_preactivation(ens, c0, C, cx)
    u = sample_stationary_gp(cu, n_steps, n_paths, rng)
    z, G = _sample_gate(ens, C, u.shape, rng, cx)
    phi = get_activation(ens.flow[-1].activation).fn(u)
    a = (lam / ens.tau) * G
    b = G * phi / ens.tau
    noise = None
    if ens.noise_std > 0:
        noise = (ens.noise_std * math.sqrt(dt / ens.tau)) * rng.standard_normal(
            (n_paths, n_steps - 1))
    h0 = math.sqrt(max(c0, 0.0)) * rng.standard_normal(n_paths)
    with np.errstate(over="ignore", invalid="ignore"):
        h = integrate_site(a, b, noise, dt, h0, kernels)
    return SiteFields(u=u, z=z, h=h, G=G, phi=phi)


def is_explosive(h: np.ndarray) -> bool:
    """A non-finite value or max |h| > :data:`EXPLOSION_BOUND`."""
    return (not np.all(np.isfinite(h))) or float(np.max(np.abs(h))) > EXPLOSION_BOUND


def divergence_time(h: np.ndarray, dt: float) -> float:
    """The first grid time (column index times dt) at which some path of ``h`` (P, n) is
    non-finite or beyond :data:`EXPLOSION_BOUND`; ``math.inf`` when none is."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(h) <= EXPLOSION_BOUND)      # NaN compares False: counted as bad
    cols = np.flatnonzero(bad.any(axis=0))
    return float(cols[0] * dt) if cols.size else math.inf
