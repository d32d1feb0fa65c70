"""Dynamical mean-field theory of gated neural ODEs.

==========================  =====================================================================
``Ensemble``, ``Layer``,    the random-network ensemble and its finite-N sampler
``Gate``, ``Weights``
``activations``             the activation table: numpy, closed-form, numba and torch forms
``kernels``                 Gaussian kernels K(q, q', c), dK/dc of the activations
``fixed_point``             fixed-point variance q*, spectral radius rho, phase
``spectral_radius``         rho of the flow Jacobian at the fixed point
``critical_gain``           gain factor that puts rho at 1 (or any target)
``critical``                the critically rescaled ensemble
``critical_line``           critical gain factor against the bias spread
``ConvergenceError``        raised by solvers that do not converge, with diagnostics
``Phase``                   the one phase vocabulary of every solver (str enum with codes)
``SampledOptions``          the validated options of ``sampled`` (frozen dataclass)
``spectrum``                Lyapunov spectrum F(s), D_KY/N, h_KS/N from the single-site theory
``summarize_cdf``           D_KY/N, h_KS/N, 1 - F(0) of a tabulated F(s)
``summarize_exponents``     the same for finite-N exponents (``empirical_cdf``: their F(s))
``driven``                  the theory under a stationary input: state, memory, lambda_max
``InputStatistics``         a stationary input process by its covariance (white, OU, data)
``gradient_growth``         predicted squared gradient norm over a horizon (Euler map)
==========================  =====================================================================
"""

from . import activations as activations
from . import kernels as kernels
from ._driven import DrivenResult as DrivenResult
from ._driven import driven as driven
from ._driven import gradient_growth as gradient_growth
from ._functionals import SpectrumSummary as SpectrumSummary
from ._functionals import empirical_cdf as empirical_cdf
from ._functionals import summarize_cdf as summarize_cdf
from ._functionals import summarize_exponents as summarize_exponents
from ._inputs import InputStatistics as InputStatistics
from ._phase import phase_diagram as phase_diagram
from ._sampled import SampledOptions as SampledOptions
from ._sampled import SampledResult as SampledResult
from ._sampled import SampledTwoTimeResult as SampledTwoTimeResult
from ._sampled import sampled as sampled
from ._sampled import sampled_two_time as sampled_two_time
from ._spectrum import SpectrumResult as SpectrumResult
from ._spectrum import spectrum as spectrum
from ._stationary import StationaryResult as StationaryResult
from ._stationary import stationary as stationary
from ._two_time import TwoReplicaResult as TwoReplicaResult
from ._two_time import TwoTimeResult as TwoTimeResult
from ._two_time import lyapunov_two_replica as lyapunov_two_replica
from ._two_time import two_time as two_time
from .ensemble import Ensemble as Ensemble
from .ensemble import Gate as Gate
from .ensemble import Layer as Layer
from .ensemble import Weights as Weights
from .errors import ConvergenceError as ConvergenceError
from .results import Phase as Phase
from .static import CriticalLine as CriticalLine
from .static import FixedPoint as FixedPoint
from .static import critical as critical
from .static import critical_gain as critical_gain
from .static import critical_line as critical_line
from .static import fixed_point as fixed_point
from .static import spectral_radius as spectral_radius
