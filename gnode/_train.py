"""Training loop for the sequence models of :mod:`gnode.models` (and models of their interface).

``train`` minimizes a loss with AdamW (Loshchilov & Hutter, ICLR 2019) over shuffled
mini-batches, evaluates a held-out validation set after every epoch, keeps the parameters with the
lowest validation loss, and can write a checkpoint after every epoch and resume from it.

Reproducibility contract: the train/validation split and the mini-batch order are drawn from one
``torch.Generator`` seeded by ``seed``; a checkpoint stores the model, the optimizer state, that
generator's state, the best parameters and the loss history, so a run of e1 epochs resumed up to
e2 epochs equals a straight run of e2 epochs (same parameters to the last bit on one machine with
a fixed number of threads; tests/test_gnode_train.py).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as nnf

from dmft import _validate as _v
from dmft._files import atomic_write
from dmft.errors import ConvergenceError

__all__ = ["TrainResult", "train", "LOSSES"]

LOSSES = ("mse", "cross_entropy")
_CKPT_VERSION = 1


@dataclass(frozen=True)
class TrainResult:
    """Result of :func:`train`.

    Attributes
    ----------
    train_loss : ndarray, shape (epochs,)
        Mean training loss of each epoch (averaged over its mini-batches, weighted by size).
    val_loss : ndarray, shape (epochs,)
        Validation loss after each epoch (the training loss over the whole training set after
        the epoch when there is no validation set).
    best_epoch : int
        Epoch (1-based) whose parameters were selected (lowest ``val_loss``).
    best_loss : float
        ``val_loss[best_epoch - 1]``.
    epochs : int
        Epochs trained in total (including those before a resume).
    converged, residual, n_iter, message
        ``converged``: every loss was finite and all epochs ran; ``residual`` = ``best_loss``;
        ``n_iter``: optimizer steps in total.
    seconds : float
        Wall time of this call (not of the epochs before a resume).
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: int
    best_loss: float
    epochs: int
    converged: bool
    residual: float
    n_iter: int
    message: str
    seconds: float


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    dtype = getattr(model, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    for p in model.parameters():
        return p.dtype
    raise TypeError("model has no parameters to train")


def _as_tensor(name: str, a, dtype: torch.dtype | None) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or torch.Tensor, got {type(a).__name__}")
    if dtype is not None:
        from .models import cast_floating
        a = cast_floating(name, a, dtype) if name.endswith("inputs") else a.to(dtype)
    return a


def _check_data(inputs, targets, lengths, loss: str, dtype, tag: str = ""):
    x = _as_tensor(f"{tag}inputs", inputs, dtype)
    if x.dim() != 3:
        raise ValueError(f"{tag}inputs must have shape (batch, time, input_dim), got "
                         f"{tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{tag}inputs is empty: shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{tag}inputs contains non-finite values (nan or inf)")
    if loss == "mse":
        y = _as_tensor(f"{tag}targets", targets, dtype)
        if y.dim() != 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(f"{tag}targets must have shape (batch, time, output_dim) with "
                             f"(batch, time) = {tuple(x.shape[:2])}, got {tuple(y.shape)}")
        if not bool(torch.isfinite(y).all()):
            raise ValueError(f"{tag}targets contains non-finite values (nan or inf)")
    else:
        y = _as_tensor(f"{tag}targets", targets, None)
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.shape != (x.shape[0],):
            raise ValueError(f"{tag}targets for loss='cross_entropy' must be integer class "
                             f"labels of shape ({x.shape[0]},), got dtype {y.dtype}, shape "
                             f"{tuple(y.shape)}")
        if int(y.min()) < 0:
            raise ValueError(f"{tag}targets (class labels) must be >= 0")
        y = y.long()
    if lengths is not None:
        lengths = _as_tensor(f"{tag}lengths", lengths, None)
        if lengths.dtype.is_floating_point or lengths.shape != (x.shape[0],):
            raise ValueError(f"{tag}lengths must be integers of shape ({x.shape[0]},)")
        if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]:
            raise ValueError(f"{tag}lengths must lie in [1, {x.shape[1]}]")
        lengths = lengths.long()
    return x, y, lengths


def _loss(model, x, y, lengths, loss: str) -> torch.Tensor:
    out = model(x, lengths=lengths).output
    if loss == "cross_entropy":
        if lengths is None:
            logits = out[:, -1]
        else:
            logits = out[torch.arange(out.shape[0]), lengths - 1]
        if int(y.max()) >= logits.shape[-1]:
            raise ValueError(f"class labels must be < output_dim = {logits.shape[-1]}")
        return nnf.cross_entropy(logits, y)
    if out.shape != y.shape:
        raise ValueError(f"targets must have the model's output shape {tuple(out.shape)}, "
                         f"got {tuple(y.shape)}")
    err = (out - y) ** 2
    if lengths is None:
        return err.mean()
    mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(err.dtype)
    return (err * mask[..., None]).sum() / (mask.sum() * err.shape[-1])


def _evaluate(model, x, y, lengths, loss: str, batch: int) -> float:
    total = 0.0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            sl = slice(i, i + batch)
            lb = None if lengths is None else lengths[sl]
            total += float(_loss(model, x[sl], y[sl], lb, loss)) * x[sl].shape[0]
    return total / x.shape[0]


def _check_number(name, v, *, low=0.0, strict=False, allow_none=False):
    if v is None and allow_none:
        return None
    return _v.real(name, v, low=low, low_open=strict)


def _check_int(name, v, low):
    return _v.integer(name, v, low=low)


def _fingerprint(*tensors) -> list:
    out = []
    for t in tensors:
        if t is None:
            out.append(None)
        else:
            out.append([list(t.shape), float(t.double().sum()), float((t.double() ** 2).sum())])
    return out


#: a checkpoint file: this magic, the SHA-256 of the payload, then the payload (torch.save)
_MAGIC = b"GNODE-CKPT-2\n"


def _save(path: str, payload: dict) -> None:
    """Write a checkpoint atomically (:func:`dmft._files.atomic_write`) with a digest of its
    payload."""
    import hashlib
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    with atomic_write(path) as tmp:   # a crash never leaves a half-written checkpoint
        tmp.write_bytes(_MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)


_CKPT_KEYS = ("version", "epoch", "n_steps", "model", "optimizer", "generator", "best_state",
              "best_epoch", "best_loss", "train_loss", "val_loss", "config")


def _load(path: str) -> dict:
    """Read and verify a checkpoint (digest, content); a damaged one is reported by name."""
    import hashlib
    import io

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        if raw.startswith(_MAGIC):
            head, _, data = raw[len(_MAGIC):].partition(b"\n")
            if hashlib.sha256(data).hexdigest().encode() != head:
                raise ValueError("its digest does not match its content (truncated or "
                                 "corrupted)")
        else:
            data = raw            # a version-1 checkpoint: no digest to check
        ck = torch.load(io.BytesIO(data), weights_only=True)
        if not isinstance(ck, dict):
            raise ValueError(f"it holds a {type(ck).__name__}, not a checkpoint")
        missing = [k for k in _CKPT_KEYS if k not in ck]
        if missing:
            raise ValueError(f"entries {missing} are missing")
    except Exception as exc:  # noqa: BLE001 - any failure to read back is damage
        raise ValueError(f"checkpoint {path!r} is damaged ({type(exc).__name__}: {exc}); delete "
                         "it to start again, or pass another checkpoint path") from None
    return ck


def _describe_model(model: torch.nn.Module) -> list:
    """The model's class and its parameters' names, shapes and dtypes (keys a checkpoint)."""
    return [type(model).__qualname__] + [[k, list(v.shape), str(v.dtype)]
                                         for k, v in model.state_dict().items()]


@dataclass
class _State:
    """Mutable progress of a run: epochs done, steps, loss history and the best parameters."""

    epoch: int = 0
    n_steps: int = 0
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    best_state: dict | None = None
    best_epoch: int = 0
    best_loss: float = math.inf


def _check_train_args(model, loss, resume, restore_best, progress, checkpoint, epochs,
                      batch_size, seed, lr, weight_decay, grad_clip, val_fraction) -> tuple:
    """Validate :func:`train`'s settings; return the flags and numbers in canonical form."""
    if not isinstance(model, torch.nn.Module):
        raise _v.ParameterTypeError(f"model must be a torch.nn.Module, got "
                                    f"{type(model).__name__}")
    _v.choice("loss", loss, LOSSES)
    resume, restore_best, progress = (_v.flag(n, v) for n, v in (
        ("resume", resume), ("restore_best", restore_best), ("progress", progress)))
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise _v.ParameterTypeError(f"checkpoint must be a file path or None, got "
                                    f"{type(checkpoint).__name__}")
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    lr = _check_number("lr", lr, strict=True)
    weight_decay = _check_number("weight_decay", weight_decay)
    grad_clip = _check_number("grad_clip", grad_clip, strict=True, allow_none=True)
    val_fraction = _check_number("val_fraction", val_fraction)
    if not val_fraction < 1:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    return (resume, restore_best, progress, epochs, batch_size, seed, lr, weight_decay,
            grad_clip, val_fraction)


def _split(x, y, ln, val_data, val_fraction, gen, loss, dtype) -> tuple:
    """The training and validation sets ``(xt, yt, lt, xv, yv, lv)`` (validation ones None
    without a validation set); a random split draws its permutation from ``gen``."""
    if val_data is not None:
        if not isinstance(val_data, tuple | list) or len(val_data) not in (2, 3):
            raise TypeError("val_data must be (inputs, targets) or (inputs, targets, lengths)")
        xv, yv, lv = _check_data(*val_data, *([None] if len(val_data) == 2 else []),
                                 loss=loss, dtype=dtype, tag="val_")
        return x, y, ln, xv, yv, lv
    if val_fraction > 0:
        n = x.shape[0]
        n_val = int(round(val_fraction * n))
        if n_val < 1 or n_val > n - 1:
            raise ValueError(f"val_fraction={val_fraction} leaves {n_val} validation and "
                             f"{n - n_val} training samples of {n}; need at least 1 of each")
        perm = torch.randperm(n, generator=gen)
        iv, it = perm[:n_val], perm[n_val:]
        return (x[it], y[it], None if ln is None else ln[it],
                x[iv], y[iv], None if ln is None else ln[iv])
    return x, y, ln, None, None, None


def _resume(path, config, model, opt, gen) -> _State:
    """Load the checkpoint at ``path`` into model, optimizer and generator; return its progress.

    Raises ValueError when its format version or any entry of ``config`` differs from this run.
    """
    ck = _load(path)
    if ck.get("version") != _CKPT_VERSION:
        raise ValueError(f"checkpoint {path!r} has an unknown format version")
    for key, val in config.items():
        if ck["config"].get(key) != val:
            raise ValueError(f"checkpoint {path!r} was written with {key}="
                             f"{ck['config'].get(key)!r}, this call has {val!r}; resume "
                             "needs the same settings and data")
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    gen.set_state(ck["generator"])
    return _State(epoch=int(ck["epoch"]), n_steps=int(ck["n_steps"]),
                  train_loss=list(ck["train_loss"]), val_loss=list(ck["val_loss"]),
                  best_state=ck["best_state"], best_epoch=int(ck["best_epoch"]),
                  best_loss=float(ck["best_loss"]))


def _train_epoch(model, opt, params, gen, data, batch_size, loss, grad_clip, epoch,
                 st: _State, restore_best) -> float:
    """One epoch of AdamW steps over shuffled mini-batches; return the summed sample loss.

    Counts the steps in ``st.n_steps``. A non-finite loss restores ``st.best_state`` (with
    ``restore_best``) and raises ConvergenceError.
    """
    xt, yt, lt = data
    n_train = xt.shape[0]
    order = torch.randperm(n_train, generator=gen)
    total = 0.0
    for i in range(0, n_train, batch_size):
        idx = order[i:i + batch_size]
        opt.zero_grad(set_to_none=True)
        value = _loss(model, xt[idx], yt[idx], None if lt is None else lt[idx], loss)
        if not torch.isfinite(value):
            if st.best_state is not None and restore_best:
                model.load_state_dict(st.best_state)
            raise ConvergenceError(
                f"training loss became non-finite in epoch {epoch + 1}; lower lr or "
                "set grad_clip", epoch=epoch + 1, best_epoch=st.best_epoch,
                best_loss=st.best_loss, train_loss=st.train_loss)
        value.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        st.n_steps += 1
        total += float(value.detach()) * idx.numel()
    return total


def train(model: torch.nn.Module, inputs, targets, *, epochs: int = 100, batch_size: int = 50,
          lr: float = 1e-3, weight_decay: float = 1e-2, val_fraction: float = 0.1,
          val_data: tuple | None = None, lengths=None, loss: str = "mse",
          grad_clip: float | None = None, seed: int = 0,
          checkpoint: str | os.PathLike | None = None, resume: bool = False,
          restore_best: bool = True, progress: bool = True) -> TrainResult:
    """Train ``model`` with AdamW on (inputs, targets), keeping the best validation parameters.

    Parameters
    ----------
    model : torch.nn.Module
        Called as ``model(x, lengths=...)`` returning an object with ``.output`` (B, T, O):
        every model of :mod:`gnode.models`.
    inputs : ndarray or Tensor, shape (B, T, D)
        Converted to the model's dtype.
    targets : ndarray or Tensor
        ``loss="mse"``: shape (B, T, O), the readout's target at every sample (masked beyond
        ``lengths``).  ``loss="cross_entropy"``: integer labels of shape (B,), compared with the
        readout at each sequence's last valid sample (logits).
    epochs : int
        Total number of epochs (a resumed run continues up to this number).
    batch_size : int
    lr, weight_decay : float
        AdamW's learning rate and decoupled weight decay.
    val_fraction : float
        Fraction of the samples held out for validation, in [0, 1) (ignored with ``val_data``).
        0: no validation set; the selection then uses the training-set loss after each epoch.
    val_data : tuple, optional
        ``(inputs, targets)`` or ``(inputs, targets, lengths)`` of an explicit validation set.
    lengths : ndarray or Tensor of int, shape (B,), optional
        Valid samples per sequence.
    loss : {"mse", "cross_entropy"}
    grad_clip : float, optional
        Clip the global gradient norm to this value.
    seed : int
        Seeds the split and the mini-batch order (not the model's initialization).
    checkpoint : path, optional
        Written after every epoch (atomically).
    resume : bool
        Continue from ``checkpoint`` when it exists (its model, optimizer, generator state and
        history); its settings and data must match this call's.
    restore_best : bool
        Load the best parameters into ``model`` at the end (otherwise it keeps the last ones).
    progress : bool
        Show a tqdm progress bar over epochs.

    Returns
    -------
    TrainResult

    Raises
    ------
    ConvergenceError
        When a training loss becomes non-finite (the best parameters so far are restored into
        the model first); lower ``lr`` or set ``grad_clip``.
    """
    (resume, restore_best, progress, epochs, batch_size, seed, lr, weight_decay, grad_clip,
     val_fraction) = _check_train_args(model, loss, resume, restore_best, progress, checkpoint,
                                       epochs, batch_size, seed, lr, weight_decay, grad_clip,
                                       val_fraction)
    dtype = _model_dtype(model)
    x, y, ln = _check_data(inputs, targets, lengths, loss, dtype)

    gen = torch.Generator().manual_seed(seed)
    xt, yt, lt, xv, yv, lv = _split(x, y, ln, val_data, val_fraction, gen, loss, dtype)
    n_train = xt.shape[0]
    eval_batch = max(batch_size, 256)

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    config = {"lr": lr, "weight_decay": weight_decay, "batch_size": batch_size, "seed": seed,
              "loss": loss, "grad_clip": grad_clip, "val_fraction": val_fraction,
              "data": _fingerprint(xt, yt, lt, xv, yv, lv), "model": _describe_model(model)}

    st = _State()
    path = None if checkpoint is None else os.fspath(checkpoint)
    if resume and path is not None and os.path.exists(path):
        st = _resume(path, config, model, opt, gen)

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=epochs, initial=min(st.epoch, epochs), desc="train", unit="epoch",
               disable=not progress, leave=False)
    try:
        for epoch in range(st.epoch, epochs):
            model.train()
            total = _train_epoch(model, opt, params, gen, (xt, yt, lt), batch_size, loss,
                                 grad_clip, epoch, st, restore_best)
            model.eval()
            st.train_loss.append(total / n_train)
            if xv is not None:
                v = _evaluate(model, xv, yv, lv, loss, eval_batch)
            else:
                v = _evaluate(model, xt, yt, lt, loss, eval_batch)
            st.val_loss.append(v)
            if v < st.best_loss:
                st.best_loss, st.best_epoch = v, epoch + 1
                st.best_state = copy.deepcopy(model.state_dict())
            if path is not None:
                _save(path, {"version": _CKPT_VERSION, "epoch": epoch + 1, "n_steps": st.n_steps,
                             "model": model.state_dict(), "optimizer": opt.state_dict(),
                             "generator": gen.get_state(), "best_state": st.best_state,
                             "best_epoch": st.best_epoch, "best_loss": st.best_loss,
                             "train_loss": st.train_loss, "val_loss": st.val_loss,
                             "config": config})
            bar.update(1)
            bar.set_postfix(train=f"{st.train_loss[-1]:.3g}", val=f"{v:.3g}")
    finally:
        bar.close()
    if st.best_state is None:
        raise ConvergenceError("no finite validation loss in any epoch", epochs=epochs,
                               val_loss=st.val_loss)
    if restore_best:
        model.load_state_dict(st.best_state)
    done = len(st.train_loss)
    return TrainResult(np.asarray(st.train_loss), np.asarray(st.val_loss), st.best_epoch,
                       st.best_loss, done, bool(np.all(np.isfinite(st.val_loss))), st.best_loss,
                       st.n_steps, f"AdamW, {done} epochs, best validation loss "
                       f"{st.best_loss:.4g} at epoch {st.best_epoch}", time.perf_counter() - t0)
