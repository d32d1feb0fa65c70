"""The single-site integrator of the sampled DMFT: compiled Heun steps for eqs. (6.1) and (6.3).

Contract
--------
Takes the drives of one linear equation per path on a uniform grid (arrays of shape (P, n)) and
the step; returns the paths, shape (P, n).  Deterministic (no random numbers are drawn here:
the noise increments come in), float64, no allocation besides the output.

- :func:`integrate_site` solves dy/dt = -a_k y + b_k + noise by the stochastic Heun scheme
  (6.1 once the fields are sampled: a = lam G / tau, b = G phi(u) / tau).
- :func:`integrate_tangent` solves the damped replica difference (6.3) from y(0) = 0 with its
  drive fused in (no (P, n) temporaries).
- :data:`MAP_PARALLEL`, :data:`MAP_SERIAL`: the same two equations as the Euler map with the
  grid step (docs/theory.md eq. 10.3), the dynamics the torch models run, instead of the flow.

The kernel set is chosen explicitly by the caller, :data:`PARALLEL` (numba ``prange`` over the
paths; for a single caller thread) or :data:`SERIAL` (no ``prange`` and no GIL, for replicas run
concurrently on Python threads: numba's parallel layers must not be entered from several Python
threads at once).  Both give identical numbers: the paths are independent and each is
integrated by the same per-path function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["SiteKernels", "PARALLEL", "SERIAL", "MAP_PARALLEL", "MAP_SERIAL", "integrate_site",
           "integrate_tangent", "heun_linear", "heun_linear_serial", "tangent_heun",
           "tangent_heun_serial", "euler_linear", "euler_linear_serial", "tangent_euler",
           "tangent_euler_serial"]


# ----------------------------------------------------------------------------- (6.1)
@numba.njit(cache=True, nogil=True)
def _heun_path(p, a, b, noise, has_noise, dt, y0, out):  # pragma: no cover - compiled
    """Path p of :func:`heun_linear` (shared by the parallel and the serial kernel)."""
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
def heun_linear(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """Stochastic Heun for dy/dt = -a_k y + b_k + noise, drives given on the grid.

    a, b : (P, n); noise : (P, n-1) increments (already times sqrt(dt)) or shape (0, 0);
    out : (P, n) written in place.  Prange over independent paths.
    """
    has_noise = noise.shape[0] > 0
    for p in numba.prange(a.shape[0]):
        _heun_path(p, a, b, noise, has_noise, dt, y0, out)


@numba.njit(cache=True, nogil=True)
def heun_linear_serial(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """:func:`heun_linear` without prange and without the GIL (replicas on threads)."""
    has_noise = noise.shape[0] > 0
    for p in range(a.shape[0]):
        _heun_path(p, a, b, noise, has_noise, dt, y0, out)


# ----------------------------------------------------------------------------- (6.3)
@numba.njit(cache=True, nogil=True)
def _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt,
                  out):  # pragma: no cover - compiled
    """Path p of :func:`tangent_heun`."""
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
def tangent_heun(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                 out):  # pragma: no cover - compiled
    """Heun for the damped replica difference y of eq. (6.3), y(0) = 0, drive fused in::

        dy/dt = -(lam + lam_leak G / tau) y
                + [G phi'(u) du + G (1 - G) (-lam_leak h + phi(u)) dz] / tau

    all arrays (P, n) on the grid; ``dz`` of shape (0, 0) drops the gate term.  Same scheme as
    :func:`heun_linear` with a = lam + lam_leak G / tau and b the bracket (no temporaries).
    """
    has_dz = dz.shape[0] > 0
    for p in numba.prange(G.shape[0]):
        _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


@numba.njit(cache=True, nogil=True)
def tangent_heun_serial(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                        out):  # pragma: no cover - compiled
    """:func:`tangent_heun` without prange and without the GIL (replicas on threads)."""
    has_dz = dz.shape[0] > 0
    for p in range(G.shape[0]):
        _tangent_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


# ----------------------------------------------------------------------------- the map
@numba.njit(cache=True, nogil=True)
def _euler_path(p, a, b, noise, has_noise, dt, y0, out):  # pragma: no cover - compiled
    """Path p of :func:`euler_linear`: y(k+1) = y(k) + dt (-a_k y(k) + b_k) + noise_k."""
    n = a.shape[1]
    y = y0[p]
    out[p, 0] = y
    for k in range(n - 1):
        y = y + dt * (-a[p, k] * y + b[p, k])
        if has_noise:
            y += noise[p, k]
        out[p, k + 1] = y


@numba.njit(cache=True, parallel=True)
def euler_linear(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """The Euler map of dy/dt = -a_k y + b_k + noise (section 10: the map itself, not an
    approximation of the flow); same arguments as :func:`heun_linear`."""
    has_noise = noise.shape[0] > 0
    for p in numba.prange(a.shape[0]):
        _euler_path(p, a, b, noise, has_noise, dt, y0, out)


@numba.njit(cache=True, nogil=True)
def euler_linear_serial(a, b, noise, dt, y0, out):  # pragma: no cover - compiled
    """:func:`euler_linear` without prange and without the GIL (replicas on threads)."""
    has_noise = noise.shape[0] > 0
    for p in range(a.shape[0]):
        _euler_path(p, a, b, noise, has_noise, dt, y0, out)


@numba.njit(cache=True, nogil=True)
def _tangent_euler_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt,
                        out):  # pragma: no cover - compiled
    """Path p of :func:`tangent_euler`."""
    n = G.shape[1]
    y = 0.0
    out[p, 0] = 0.0
    damp = np.exp(-lam * dt)
    for k in range(n - 1):
        g = G[p, k]
        b = g * dphi[p, k] * du[p, k]
        if has_dz:
            b += g * (1.0 - g) * (phi[p, k] - lam_leak * h[p, k]) * dz[p, k]
        y = damp * (y + dt * inv_tau * (b - lam_leak * g * y))
        out[p, k + 1] = y


@numba.njit(cache=True, parallel=True)
def tangent_euler(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                  out):  # pragma: no cover - compiled
    """The replica difference of the Euler map, damped by e^{-lam dt} per step::

        y(k+1) = e^{-lam dt} [ y(k) + (dt / tau) (-lam_leak G y(k) + G phi'(u) du
                                + G (1 - G) (-lam_leak h + phi(u)) dz) ]

    (the tangent of h <- h + (dt / tau) G (-lam_leak h + phi(u)), eq. 6.3 on the map's
    lattice); arguments as :func:`tangent_heun`.
    """
    has_dz = dz.shape[0] > 0
    for p in numba.prange(G.shape[0]):
        _tangent_euler_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


@numba.njit(cache=True, nogil=True)
def tangent_euler_serial(G, dphi, h, phi, du, dz, lam, lam_leak, inv_tau, dt,
                         out):  # pragma: no cover - compiled
    """:func:`tangent_euler` without prange and without the GIL (replicas on threads)."""
    has_dz = dz.shape[0] > 0
    for p in range(G.shape[0]):
        _tangent_euler_path(p, G, dphi, h, phi, du, dz, has_dz, lam, lam_leak, inv_tau, dt, out)


# ----------------------------------------------------------------------------- choice
@dataclass(frozen=True)
class SiteKernels:
    """A matched pair of compiled kernels: (6.1) and (6.3), both parallel or both serial,
    both the flow's Heun scheme or both the Euler map."""

    name: str
    heun: object
    tangent: object


PARALLEL = SiteKernels("parallel", heun_linear, tangent_heun)
SERIAL = SiteKernels("serial", heun_linear_serial, tangent_heun_serial)
MAP_PARALLEL = SiteKernels("map, parallel", euler_linear, tangent_euler)
MAP_SERIAL = SiteKernels("map, serial", euler_linear_serial, tangent_euler_serial)


def integrate_site(a: np.ndarray, b: np.ndarray, noise: np.ndarray | None, dt: float,
                   y0: np.ndarray, kernels: SiteKernels) -> np.ndarray:
    """Paths of dy/dt = -a y + b (+ noise increments), y(0) = y0; shape (P, n)."""
    out = np.empty(a.shape)
    nz = noise if noise is not None else np.zeros((0, 0))
    kernels.heun(np.ascontiguousarray(a), np.ascontiguousarray(b), np.ascontiguousarray(nz),
                 float(dt), np.ascontiguousarray(y0, dtype=float), out)
    return out


def integrate_tangent(G, dphi, h, phi, du, dz, *, lam: float, lam_leak: float, tau: float,
                      dt: float, kernels: SiteKernels) -> np.ndarray:
    """The replica difference y of (6.3) with damping ``lam``, y(0) = 0; shape (P, n).

    ``dz`` of shape (0, 0) drops the gate term (no gate, or g_z = 0).
    """
    y = np.empty(G.shape)
    kernels.tangent(G, dphi, h, phi, du, dz, lam, lam_leak, 1.0 / tau, dt, y)
    return y
