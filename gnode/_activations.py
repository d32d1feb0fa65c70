"""The torch form of the activations of :mod:`dmft.activations` (the one activation table).

Names are the ones a ``dmft.Layer`` carries, so a model and its ensemble describe the same phi.
Each registry record names its torch function (a dotted path such as ``"torch.tanh"``, or a
callable); it is resolved here, on first use, so that dmft never imports torch. An activation
registered without ``torch=`` is refused with a ValueError saying so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch

from dmft.activations import activations, get_activation

__all__ = ["torch_activation", "check_activation", "torch_activations"]


def torch_activations() -> tuple[str, ...]:
    """Names of the registered activations that have a torch form."""
    return tuple(a for a in activations() if get_activation(a).torch is not None)


def check_activation(name: str, argname: str = "activation") -> str:
    """Validate an activation name; raises TypeError/ValueError naming ``argname``."""
    if not isinstance(name, str):
        raise TypeError(f"{argname} must be a str, one of {list(torch_activations())}; "
                        f"got {type(name).__name__}")
    if name not in activations():
        raise ValueError(f"{argname} must be one of {list(torch_activations())}, got {name!r}")
    if get_activation(name).torch is None:
        raise ValueError(
            f"{argname} {name!r} has no torch form; register it with "
            f"dmft.kernels.register_activation({name!r}, fn, deriv, ..., torch=<function on "
            "tensors>, overwrite=True)")
    return name


def _resolve(form: str | Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(form):
        return form
    module, _, attr = form.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def torch_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The torch function of a registered activation name (``sigmoid``: also the gate's)."""
    return _resolve(get_activation(check_activation(name)).torch)
