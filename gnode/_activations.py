"""One table from activation names (those of :mod:`dmft.kernels`) to torch functions.

The names are the ones an ``dmft.Layer`` carries, so a model and its ensemble describe the
same phi: ``identity, tanh, relu, erf, sigmoid, softplus``.  (torch's softplus switches to the
identity above 20, where it differs from log(1 + e^x) by less than e^-20.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = ["TORCH_ACTIVATIONS", "torch_activation", "check_activation"]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": _identity,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "erf": torch.erf,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
}


def check_activation(name: str, argname: str = "activation") -> str:
    """Validate an activation name; raises TypeError/ValueError naming ``argname``."""
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be a str, one of {sorted(TORCH_ACTIVATIONS)}; "
                        f"got {type(name).__name__}")
    if name not in TORCH_ACTIVATIONS:
        raise ValueError(f"{argname} must be one of {sorted(TORCH_ACTIVATIONS)}, got {name!r}")
    return name


def torch_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torch function for a registered activation name."""
    return TORCH_ACTIVATIONS[check_activation(name)]
