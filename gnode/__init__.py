"""PyTorch models of gated neural ODEs with the mean-field critical initialization.

Importing :mod:`gnode` does not import torch: the names below, and the submodules
``gnode.analysis, cli, init, models, solve, tasks``, are loaded on first access (PEP 562), so the
``gnode`` command line stays fast.

=========================  ==================================================================
``GNODE``                  gated neural ODE, MLP flow and gate (Kim, Can, Krishnamurthy 2023)
``NODE``                   neural ODE without gate, leaky or not
``MGRU``                   one-layer tanh flow with a one-layer gate
``Elman``                  tau dh/dt = -h + tanh(W h + U x + b)
``NCODE``                  neural ODE with open/closed-loop controlled flow parameters
``GRU``                    torch.nn.GRU with the same interface (baseline)
``Trajectory``             (output, states, final) returned by every model
``GatedField``             the vector field G (-lam h + F) / tau
``ControlledField``        the N-CODE vector field
``unroll``                 fixed-step Euler / RK4 over an input sequence (masks, lengths)
``odeint``                 adaptive / adjoint solve through torchdiffeq
``ensemble_of``            the dmft.Ensemble describing a model
``from_ensemble_``         copy the weights of ``ens.sample(N, seed)`` into a model
``critical_``              redraw weights at spectral radius rho (theory's critical gains)
``gate_bias_for_timescale``  gate bias mean for an effective time constant tau / G*
``StabilityWarning``       warned by ``critical_`` on non-leaky models
``jacobian``               dF/dh (or of the full field) by autograd
``fixed_point``            fixed point of the flow by Newton
``spectral_radius``        max |eig dF/dh| at the model's fixed point
``flipflop``               n-bit / 2-bit ring, square, disk flip-flop tasks (``gnode.tasks``)
``train``                  AdamW training, validation-best selection, checkpoint / resume
``TrainResult``            loss history and diagnostics returned by ``train``
``find_fixed_points``      fixed and slow points, classified by Jacobian eigenvalues
``FixedPoints``            result of ``find_fixed_points``
``classify``               stable / marginal / saddle / unstable from eigenvalues
``velocity``               dh/dt of a model at given states
``plot_flow``              flow field of a 2-D model with fixed points and trajectories
=========================  ==================================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "GNODE", "NODE", "MGRU", "Elman", "NCODE", "GRU", "Trajectory", "GatedField",
    "ControlledField", "unroll", "odeint", "ensemble_of", "from_ensemble_", "critical_",
    "gate_bias_for_timescale", "StabilityWarning", "task_init_", "TaskInit",
    "max_stable_radius", "input_averaged_gate", "jacobian", "fixed_point",
    "spectral_radius",
    "flipflop", "train", "TrainResult", "find_fixed_points", "FixedPoints", "classify",
    "velocity", "plot_flow",
]

_LAZY = {
    "GNODE": "models", "NODE": "models", "MGRU": "models", "Elman": "models",
    "NCODE": "models", "GRU": "models", "Trajectory": "models",
    "GatedField": "_fields", "ControlledField": "_fields",
    "unroll": "solve", "odeint": "solve",
    "ensemble_of": "init", "from_ensemble_": "init", "critical_": "init",
    "gate_bias_for_timescale": "init", "StabilityWarning": "init",
    "task_init_": "init", "TaskInit": "init", "max_stable_radius": "init",
    "input_averaged_gate": "init",
    "jacobian": "_jacobian", "fixed_point": "_jacobian", "spectral_radius": "_jacobian",
    "flipflop": "tasks", "train": "_train", "TrainResult": "_train",
    "find_fixed_points": "analysis", "FixedPoints": "analysis", "classify": "analysis",
    "velocity": "analysis", "plot_flow": "analysis",
}

if TYPE_CHECKING:  # pragma: no cover
    from ._fields import ControlledField as ControlledField
    from ._fields import GatedField as GatedField
    from ._jacobian import fixed_point as fixed_point
    from ._jacobian import jacobian as jacobian
    from ._jacobian import spectral_radius as spectral_radius
    from ._train import TrainResult as TrainResult
    from ._train import train as train
    from .analysis import FixedPoints as FixedPoints
    from .analysis import classify as classify
    from .analysis import find_fixed_points as find_fixed_points
    from .analysis import plot_flow as plot_flow
    from .analysis import velocity as velocity
    from .init import StabilityWarning as StabilityWarning
    from .init import TaskInit as TaskInit
    from .init import critical_ as critical_
    from .init import ensemble_of as ensemble_of
    from .init import from_ensemble_ as from_ensemble_
    from .init import gate_bias_for_timescale as gate_bias_for_timescale
    from .init import input_averaged_gate as input_averaged_gate
    from .init import max_stable_radius as max_stable_radius
    from .init import task_init_ as task_init_
    from .models import GNODE as GNODE
    from .models import GRU as GRU
    from .models import MGRU as MGRU
    from .models import NCODE as NCODE
    from .models import NODE as NODE
    from .models import Elman as Elman
    from .models import Trajectory as Trajectory
    from .solve import odeint as odeint
    from .solve import unroll as unroll
    from .tasks import flipflop as flipflop


#: public submodules, also imported on first access (``gnode.tasks.flipflop``, ``gnode.init``)
_SUBMODULES = ("analysis", "cli", "init", "models", "solve", "tasks")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # binds gnode.<name> itself
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gnode' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
