"""Sampling-based DMFT for gated (and noise-driven, and non-leaky) ensembles (docs/theory.md §6).

A gated unit is not Gaussian, so the theory does not close on a kernel; instead the single-unit
equation is solved for many sampled paths of its Gaussian fields::

    tau dh/dt = G(z(t)) ( -lam h + phi_out(u(t)) ) + noise_std sqrt(tau) xi(t)          (6.1)
    u ~ GP(0, Sigma_L[C]),     z ~ GP(mu_z, g_z^2 C + sigma_z^2),   G = sigmoid        (6.2)

with Sigma_L[C] the covariance of the flow's last preactivation obtained from C by the layer maps
(docs/theory.md section 2) and u, z independent.  C is re-estimated from the paths and mixed with
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
Schroedinger problem of docs/theory.md section 4 (mu = 1 <=> E_0 = 1 - (1 + lam)^2).

Time is measured in units of tau_eff = tau / E[G] (E[G] at the fixed point), so that a constant
gate gamma rescales time exactly: lam_max(gamma) = gamma lam_max(1), Delta_gamma(s) =
Delta_1(gamma s) hold to rounding for a common seed (docs/theory.md section 6, exact check).

Layout (each module's docstring states what it takes, returns and guarantees):

==============  ===============================================================================
``gp``          Gaussian-process path sampling: stationary (circulant embedding), causal
``site``        the single-site integrator: numba Heun kernels for (6.1) and (6.3), serial or
                parallel, chosen by the caller
``fields``      the laws of the site's fields (Sigma_L, A, gate, tau_eff) and one sampled path set
``covariance``  the damped update of Delta(s), its convergence test, the starting guess
``replica``     the replica power iteration for lambda_max
``options``     :class:`SampledOptions` (validated keywords of ``sampled``) and the time grid
``results``     :class:`SampledResult`, :class:`SampledTwoTimeResult`
``stationary``  the driver :func:`sampled` (replicas on threads, combination, phase)
``two_time``    the driver :func:`sampled_two_time` (causal construction)
==============  ===============================================================================
"""

from .gp import sample_stationary_gp as sample_stationary_gp
from .options import SampledOptions as SampledOptions
from .results import SampledResult as SampledResult
from .results import SampledTwoTimeResult as SampledTwoTimeResult
from .stationary import sampled as sampled
from .two_time import sampled_two_time as sampled_two_time

__all__ = ["SampledResult", "SampledTwoTimeResult", "SampledOptions", "sampled",
           "sampled_two_time", "sample_stationary_gp"]
