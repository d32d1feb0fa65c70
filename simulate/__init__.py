"""Finite-N simulation of gated neural ODEs with numba (docs/theory.md sections 1, 7).

==========================  =====================================================================
``sample``                  draw a finite-N realization of a ``dmft.Ensemble`` -> ``Network``
``Network``                 float64 arrays; ``rhs``, ``jvp``, ``jacobian``, ``gate_values``
``integrate``               fixed-step Euler(-Maruyama) / RK4 run of one network -> ``Trajectory``
``integrate_batch``         many realizations in parallel (numba ``prange``)
``random_state``            h ~ N(0, std^2 I) from an explicit seed
``autocorrelation``         population autocorrelation Delta(s) of a trajectory
``population_variance``     Delta_0 = <|h|^2 / N>_t
``jacobian``                J(h) at a state; ``jacobian_eigenvalues`` its spectrum
``find_fixed_point``        fixed / slow points by minimizing |f(h)|^2
``lyapunov_spectrum``       k Lyapunov exponents of a network (QR method, numba fast path;
                            ``backend="torch"``: any torch device, :mod:`simulate._torch`)
``lyapunov_spectrum_ode``   the same for any ODE given rhs(x) and jac(x)
``lyapunov_max_two``        lambda_max from two nearby trajectories -> ``TwoTrajectoryResult``
``kaplan_yorke``            Kaplan-Yorke dimension of a spectrum
``spectrum_summary``        D_KY/N, h_KS/N, 1 - F(0) of a spectrum (the theory's definitions)
``spectrum_cdf``            F(s) of a finite-N spectrum
``finite_size_extrapolation``  a + b / N fit over realizations at several N
``sweep``                   resumable grid of (parameters, seed) tasks, embedded or dask
``load_sweep``              the labelled dataset of a sweep store
``SimulationTask``          picklable task: lambda_max, Delta_0, mean gate of one realization
``disorder_mean``           mean +- standard error over realizations (seeds) of a sweep
==========================  =====================================================================

Divergence policy (one for the whole package, and for ``dmft.sampled`` / ``dmft.sampled_two_time``)
---------------------------------------------------------------------------------------------------
A state that leaves its bound (non-finite, or rms(h) = |h| / sqrt(N) above ``bound``; sampled
DMFT paths: |h| > 1e8) is an outcome, never an exception.  The run stops there and its result
carries

- ``diverged`` (bool; an array of bools for a batch),
- ``diverged_at``: the time since the start of the run, transients included, at which the state
  was found beyond the bound (the step that left it, or the end of the interval where it was
  checked); ``inf`` when the run did not diverge,
- ``reason``: one sentence saying what diverged, when, and what to change ("" otherwise),
- ``converged = False``, and the explosive phase ``dmft.Phase.EXPLOSIVE`` where a result has a
  phase,

and keeps what was computed before: the finite part of a trajectory, the exponents of the
observed time (+inf when none was observed).  This holds for ``integrate``,
``integrate_batch``, ``lyapunov_spectrum``, ``lyapunov_spectrum_ode``, ``lyapunov_max_two``,
``SimulationTask`` (``diverged`` and ``diverged_at`` in its output) and the sampled DMFT.  Bad
input still raises ValueError/TypeError, and a solver that fails to converge still raises
``dmft.ConvergenceError``.
"""

from ._checks import StepSizeWarning as StepSizeWarning
from ._disorder import disorder_mean as disorder_mean
from ._integrate import Trajectory as Trajectory
from ._integrate import integrate as integrate
from ._integrate import integrate_batch as integrate_batch
from ._integrate import random_state as random_state
from ._lyapunov import LyapunovResult as LyapunovResult
from ._lyapunov import TwoTrajectoryResult as TwoTrajectoryResult
from ._lyapunov import kaplan_yorke as kaplan_yorke
from ._lyapunov import lyapunov_max_two as lyapunov_max_two
from ._lyapunov import lyapunov_spectrum as lyapunov_spectrum
from ._lyapunov import lyapunov_spectrum_ode as lyapunov_spectrum_ode
from ._network import Network as Network
from ._network import from_weights as from_weights
from ._network import sample as sample
from ._observables import FixedPointSearch as FixedPointSearch
from ._observables import autocorrelation as autocorrelation
from ._observables import find_fixed_point as find_fixed_point
from ._observables import jacobian as jacobian
from ._observables import jacobian_eigenvalues as jacobian_eigenvalues
from ._observables import population_variance as population_variance
from ._spectral import FiniteSizeFit as FiniteSizeFit
from ._spectral import finite_size_extrapolation as finite_size_extrapolation
from ._spectral import spectrum_cdf as spectrum_cdf
from ._spectral import spectrum_summary as spectrum_summary
from ._sweep import SimulationTask as SimulationTask
from ._sweep import load_sweep as load_sweep
from ._sweep import sweep as sweep
