"""The trainability suite: tasks x models x initializations at fixed optimizer budgets.

Tasks (:func:`make_task`): ``copy-T`` (delayed recall over T steps), ``adding-T`` (the adding
problem of length T), ``flipflop`` (the paper's 3-bit flip-flop, 100 bins, loss at every step),
``digits`` (sequential 8x8 digits, 64 steps), ``JapaneseVowels`` and ``BasicMotions`` (the UEA
sets of :mod:`gnode.tasks.datasets`).  Every model runs one Euler step per sample (dt = tau =
1, the discrete-time form).

Models (:data:`MODELS`): GNODE (two-layer ReLU flow, one-layer gate), NODE (the same without the
gate), MGRU (tanh flow, gate), Elman (tanh), GRU (``torch.nn.GRU``).

Initializations (:func:`initialize_`, :data:`INITS`):

==============  ==============================================================================
``default``     PyTorch's (drawn under ``torch.manual_seed(seed)`` in a forked generator)
``orthogonal``  every square recurrent matrix orthogonal (``torch.nn.init.orthogonal_``), the
                rest default
``identity``    IRNN (Le, Jaitly, Hinton 2015): every square flow matrix the identity, flow
                biases 0 (gnode models only)
``our_normal``  the gnODE authors' numeric rescale (Kim, Can, Krishnamurthy 2023; their
                RNNTools.jl, option ``init_type="our_normal"``): every weight ~ N(0, 1/fan_in),
                biases ~ N(0, 1e-6); eta = max Re eig of the Jacobian of -h + F at the initial
                state and the mean input; every parameter of the vector field (flow, gate,
                input weights and biases) times (1 / (eta + 1))^(1/L) (gnode models only)
``rho1``        :func:`gnode.critical_` at rho = 1 (gnode models only)
``task``        :func:`gnode.task_init_` with the task's horizon and a batch of its inputs
==============  ==============================================================================

:func:`run_suite` trains every configuration with Adam (fixed number of steps, batch, learning
rate, gradient clipping 1) and records the final test loss normalized by the task's chance
loss (1 = chance), the accuracy (classification), the measured squared norm of the
backpropagated gradient dL/dh(t) through time at initialization and, where the theory applies
(gnode models whose weights are Gaussian: default, rho1, task), the prediction of
:func:`dmft.gradient_growth` for it.  Runs are cached in a JSON-lines file keyed by their
configuration, so a long suite resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MODELS", "INITS", "TaskSpec", "make_task", "build_model", "initialize_",
           "gradient_profile", "predicted_profile", "fit", "run_one", "run_suite",
           "load_runs", "applicable"]

MODELS = ("gnode", "node", "mgru", "elman", "gru")
INITS = ("default", "orthogonal", "identity", "our_normal", "rho1", "task")
#: the inits defined for the GRU (not a gnODE field)
GRU_INITS = ("default", "orthogonal")
_TEST_SEED = 10_000


def applicable(model: str, init: str) -> bool:
    """Whether ``init`` is defined for ``model`` (the GRU takes the first two only)."""
    return init in GRU_INITS if model == "gru" else init in INITS


# ----------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskSpec:
    """A task of the suite: batches for training, a fixed test set, its chance loss.

    ``kind``: "classification" (cross-entropy at the last valid step, ``n_labels`` labels of
    ``n_classes`` classes), "regression" (MSE at the last step) or "sequence" (MSE at every
    step).  ``horizon``: the steps over which information must be kept (the sequence length).
    """

    name: str
    kind: str
    horizon: int
    input_dim: int
    output_dim: int
    n_classes: int
    n_labels: int
    baseline: float
    generator: object     # (rng, n) -> (x, y, lengths); None for a fixed training set
    train: tuple | None   # (x, y, lengths) of a fixed training set
    test: tuple           # (x, y, lengths)

    def batch(self, rng: np.random.Generator, n: int) -> tuple:
        if self.generator is not None:
            return self.generator(rng, n)
        x, y, ln = self.train
        idx = rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=False)
        return x[idx], y[idx], None if ln is None else ln[idx]

    def input_sample(self, n: int = 256) -> tuple:
        """Inputs (and lengths) from which the task-aware initializer estimates C_x."""
        x, _, ln = self.batch(np.random.default_rng(_TEST_SEED + 1), n)
        return x, ln


def make_task(name: str, *, n_test: int = 512) -> TaskSpec:
    """The task ``name``: "copy-T", "adding-T", "flipflop", "digits", "JapaneseVowels",
    "BasicMotions" (module docstring)."""
    from . import long_horizon as lh
    if name.startswith(("copy-", "adding-")):
        kind, _, t = name.partition("-")
        if not t.isdigit() or int(t) < 2:
            raise ValueError(f"task {name!r}: the length after '-' must be an int >= 2")
        t = int(t)
        if kind == "copy":
            def gen(rng, n):
                s = lh.delayed_recall(n, t, seed=int(rng.integers(2 ** 63)))
                return s.inputs, s.targets, None
            x, y, _ = gen(np.random.default_rng(_TEST_SEED), n_test)
            return TaskSpec(name, "classification", t, x.shape[2], 8, 8, 1, math.log(8), gen,
                            None, (x, y, None))

        def gen(rng, n):
            s = lh.adding(n, t, seed=int(rng.integers(2 ** 63)))
            return s.inputs, s.targets, None
        x, y, _ = gen(np.random.default_rng(_TEST_SEED), n_test)
        return TaskSpec(name, "regression", t, 2, 1, 0, 1, 1.0 / 6.0, gen, None, (x, y, None))
    if name == "flipflop":
        from ._flipflop import flipflop

        def gen(rng, n):
            f = flipflop(3, n, seed=int(rng.integers(2 ** 63)))
            return f.inputs, f.targets, None
        x, y, _ = gen(np.random.default_rng(_TEST_SEED), n_test)
        return TaskSpec(name, "sequence", x.shape[1], 3, 3, 0, 1, float(y.var()), gen, None,
                        (x, y, None))
    if name == "digits":
        tr, te = lh.digits()
        return TaskSpec(name, "classification", 64, 1, 10, 10, 1, math.log(10), None,
                        (tr.inputs, tr.targets, None), (te.inputs, te.targets, None))
    if name in ("JapaneseVowels", "BasicMotions"):
        from .datasets import load_dataset
        d = load_dataset(name)
        return TaskSpec(name, "classification", int(d.x_train.shape[1]), d.n_channels,
                        d.n_classes, d.n_classes, 1, math.log(d.n_classes), None,
                        (d.x_train, d.y_train, d.len_train), (d.x_test, d.y_test, d.len_test))
    raise ValueError(f"unknown task {name!r}: copy-T, adding-T, flipflop, digits, "
                     "JapaneseVowels, BasicMotions")


# ----------------------------------------------------------------------------- models
def build_model(kind: str, task: TaskSpec, *, width: int = 64, seed: int = 0, dtype=None):
    """A model of ``kind`` for ``task`` with PyTorch's default weights for ``seed``.

    The default draw uses a forked torch generator seeded with ``seed``: the global generator
    is left as it was and the weights depend on ``seed`` only.
    """
    import torch

    from ..models import GNODE, GRU, MGRU, NODE, Elman
    if kind not in MODELS:
        raise ValueError(f"kind must be one of {MODELS}, got {kind!r}")
    dtype = torch.float32 if dtype is None else dtype
    d, o = task.input_dim, task.output_dim * task.n_labels
    kw = dict(initial_state="zero", dtype=dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "gru":
            return GRU(width, d, o, **kw)
        if kind == "gnode":
            return GNODE(width, d, o, flow_hidden=(width,), **kw)
        if kind == "node":
            return NODE(width, d, o, flow_hidden=(width,), **kw)
        if kind == "mgru":
            return MGRU(width, d, o, **kw)
        return Elman(width, d, o, **kw)


def _square_recurrent(model):
    """The square recurrent weight matrices (flow layers, one-layer gate, GRU blocks)."""
    if hasattr(model, "gru"):
        w = model.gru.weight_hh_l0
        n = w.shape[1]
        return [w[i * n:(i + 1) * n] for i in range(3)]
    f = model.field
    mats = [lin.weight for lin in f.flow if lin.weight.shape[0] == lin.weight.shape[1]]
    if f.gated:
        mats += [g.weight for g in f.gate if g.weight.shape[0] == g.weight.shape[1]]
    return mats


def _our_normal_(model, x_mean, seed: int) -> dict:
    """The gnODE authors' our_normal initialization (module docstring), in place."""
    import torch

    from .._jacobian import jacobian
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.weight.normal_(0.0, 1.0 / math.sqrt(mod.in_features), generator=gen)
                if mod.bias is not None:
                    mod.bias.normal_(0.0, 1e-3, generator=gen)
        f = model.field
        h0 = torch.zeros(f.state_dim, dtype=f.dtype)
        x = torch.as_tensor(x_mean, dtype=f.dtype) if f.input_dim else None
        j = jacobian(f, h0, x).double()   # dF/dh at the initial state and the mean input
        eta = float(torch.linalg.eigvals(j - torch.eye(f.state_dim, dtype=j.dtype)).real.max())
        if not eta > -1:
            raise ValueError(f"our_normal: max Re eig of -I + dF/dh is {eta}, <= -1")
        scale = (1.0 / (eta + 1.0)) ** (1.0 / f.depth)
        for p in f.parameters():
            p.mul_(scale)
    return {"eta": eta, "scale": scale}


def initialize_(model, init: str, task: TaskSpec, *, seed: int,
                horizon: float | None = None, gate_spread: bool = True,
                gate_input_gain: float = 0.0) -> dict:
    """Apply ``init`` (module docstring) to a freshly built model; return what it chose.

    ``horizon``: the memory span the task-aware rule is given (default the task's length);
    ``gate_spread``: its gate clause with a spread of time scales or one closed gate;
    ``gate_input_gain``: g_xz of the gate's input weights it draws (:func:`gnode.task_init_`).
    """
    import torch

    from ..init import critical_, ensemble_of, task_init_
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    gru = hasattr(model, "gru")
    if gru and init not in GRU_INITS:
        raise ValueError(f"init={init!r} is not defined for the GRU (not a gnODE field)")
    info: dict = {}
    if init == "orthogonal":
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for w in _square_recurrent(model):
                torch.nn.init.orthogonal_(w, generator=gen)
    elif init == "identity":
        with torch.no_grad():
            for lin in model.field.flow:
                if lin.weight.shape[0] == lin.weight.shape[1]:
                    lin.weight.copy_(torch.eye(lin.weight.shape[0]))
                if lin.bias is not None:
                    lin.bias.zero_()
    elif init == "our_normal":
        x, ln = task.input_sample()
        info = _our_normal_(model, x.reshape(-1, x.shape[-1]).mean(axis=0), seed)
    elif init == "rho1":
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ens = critical_(model, 1.0, seed=seed)
        info = {"ensemble": ens.describe(), "warnings": [str(w.message)[:200] for w in caught]}
    elif init == "task":
        x, ln = task.input_sample()
        r = task_init_(model, horizon=task.horizon if horizon is None else horizon, inputs=x,
                       lengths=ln, seed=seed, gate_spread=gate_spread,
                       gate_input_gain=gate_input_gain)
        info = r.as_dict()
    if not gru and init in ("default", "rho1", "task") and "ensemble" not in info:
        info["ensemble"] = ensemble_of(model).describe()
    return info


# ----------------------------------------------------------------------------- gradients
def _readout_loss(task: TaskSpec, out, y, lengths):
    """The task's loss from the readout sequence ``out`` (B, T, O)."""
    import torch
    from torch.nn import functional as nnf
    if task.kind == "sequence":
        return ((out - y) ** 2).mean()
    b = out.shape[0]
    last = out[:, -1] if lengths is None else out[torch.arange(b), lengths - 1]
    if task.kind == "regression":
        return ((last - y) ** 2).mean()
    logits = last.reshape(b * task.n_labels, task.n_classes) if task.n_labels > 1 else last
    return nnf.cross_entropy(logits, y.reshape(-1))


def _to_torch(task: TaskSpec, x, y, ln, dtype):
    import torch
    xt = torch.as_tensor(x, dtype=dtype)
    yt = torch.as_tensor(y, dtype=dtype if task.kind != "classification" else torch.long)
    lt = None if ln is None else torch.as_tensor(ln, dtype=torch.long)
    return xt, yt, lt


def _probed_states(model, x, lengths, h0=None):
    """States h(k) of the model's forward pass (from ``h0``, default 0) with a zero probe added
    after every step, so that probe.grad = dL/dh(k) for any loss of the states (B, T, N)."""
    import torch
    b, t, _ = x.shape
    n = model.state_dim
    probe = torch.zeros(t, b, n, dtype=x.dtype, requires_grad=True)
    h = x.new_zeros(b, n) if h0 is None else h0
    out = []
    if hasattr(model, "gru"):
        g = model.gru
        cell = torch.nn.GRUCell(g.input_size, g.hidden_size, dtype=x.dtype)
        cell.load_state_dict({"weight_ih": g.weight_ih_l0, "weight_hh": g.weight_hh_l0,
                              "bias_ih": g.bias_ih_l0, "bias_hh": g.bias_hh_l0})
        step = lambda h, k: cell(x[:, k], h)  # noqa: E731
    else:
        f = model.field
        drives = f.drive(x)
        first = f.prepare()
        hstep = model.dt / model.substeps

        def step(h, k):
            d = None if drives is None else drives[:, k]
            for _ in range(model.substeps):
                h = h + hstep * f.rhs(h, d, first)
            return h
    for k in range(t):
        new = step(h, k) + probe[k]
        if lengths is not None:
            new = torch.where((lengths > k)[:, None], new, h)
        h = new
        out.append(h)
    return torch.stack(out, 1), probe


def gradient_profile(model, task: TaskSpec, *, n: int = 64, seed: int = 0) -> np.ndarray:
    """Measured E|dL/dh(T - k)|^2 / E|dL/dh(T)|^2 for k = 0..T-1 at the current weights.

    L is the task's loss at the last step of ``n`` test sequences of full length (for
    sequence tasks: the loss at the last step only, so that every gradient comes from time T).
    The mean over the batch of |dL/dh|^2 at each step, relative to the last step.
    """
    x, y, ln = task.test
    keep = np.arange(min(n, x.shape[0]))
    if ln is not None:
        full = np.flatnonzero(ln == x.shape[1])
        keep = full[:n] if full.size else keep
    dtype = model.readout.weight.dtype
    xt, yt, _ = _to_torch(task, x[keep], y[keep], None, dtype)
    states, probe = _probed_states(model, xt, None)
    out = model.readout(states)
    if task.kind == "sequence":
        loss = ((out[:, -1] - yt[:, -1]) ** 2).mean()
    else:
        loss = _readout_loss(task, out, yt, None)
    loss.backward()
    g = (probe.grad.double() ** 2).sum(-1).mean(-1).numpy()     # (T,)
    return (g / g[-1])[::-1].copy() if g[-1] > 0 else np.full(g.shape, math.nan)


def predicted_profile(model, task: TaskSpec, init_info: dict) -> np.ndarray | None:
    """The theory's G(k), k = 0..T-1 (eq. 11.7) for a gnode model whose weights are Gaussian,
    from its ensemble; None where the theory does not apply.  A gate without weights on the
    state or the input (the task-aware initialization's) is exact: constant, or a quenched
    spread of biases (eqs. 11.14-11.15); a gate moved by the input only is its time average
    (:func:`gnode.input_averaged_gate`), and a gate with state weights (PyTorch's
    default) a constant one of its mean E[G] (approximations)."""
    import dmft

    from ..init import ensemble_of
    if hasattr(model, "gru"):
        return None
    ens = ensemble_of(model)
    x, ln = task.input_sample()
    stats = dmft.InputStatistics.from_batch(x, model.dt, lengths=ln)
    if ens.gate is not None and ens.gate.gain == 0 and ens.gate.input_gain > 0:
        from ..init import input_averaged_gate
        ens = ens.replace(gate=input_averaged_gate(
            ens.gate, ens.gate.input_gain ** 2 * stats.second_moment))
    elif ens.gate is not None and ens.gate.gain > 0:
        from dmft.kernels import gaussian_mean
        sig = dmft.activations.get_activation("sigmoid").fn
        fp = dmft.fixed_point(ens.replace(gate=None))
        q = fp.q if math.isfinite(fp.q) else 0.0
        g = ens.gate
        var = g.gain ** 2 * q + g.bias_std ** 2 + g.input_gain ** 2 * stats.second_moment
        gamma = float(gaussian_mean(sig, g.bias_mean, var))
        ens = ens.replace(gate=dmft.Gate(0.0, math.log(gamma / (1 - gamma)), 0.0, 0.0))
    step = model.dt / model.substeps
    try:
        r = dmft.driven(ens, stats, dt=step, lyapunov=False, tol=1e-9,
                        window=step * max(4 * task.horizon, 512))
    except (ValueError, dmft.ConvergenceError):
        return None
    if r.phase == dmft.Phase.EXPLOSIVE:
        return None
    return dmft.gradient_growth(r, task.horizon - 1)


# ----------------------------------------------------------------------------- training
def fit(model, task: TaskSpec, *, steps: int, batch_size: int = 32, lr: float = 3e-3,
        seed: int = 0, clip: float = 1.0) -> dict:
    """Adam for ``steps`` steps on fresh (synthetic) or sampled (data) batches; final test
    loss.  A non-finite loss stops the run (``diverged``; the test loss is then chance)."""
    import torch
    rng = np.random.default_rng(seed)
    dtype = model.readout.weight.dtype
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve, diverged = [], False
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y, ln = _to_torch(task, *task.batch(rng, batch_size), dtype)
        opt.zero_grad(set_to_none=True)
        loss = _readout_loss(task, model(x, lengths=ln).output, y, ln)
        if not torch.isfinite(loss):
            diverged = True
            break
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        curve.append(float(loss.detach()))
    seconds = time.perf_counter() - t0
    test_loss, acc = _evaluate(model, task)
    if diverged or not math.isfinite(test_loss):
        diverged, test_loss, acc = True, task.baseline, None
    return {"test_loss": test_loss, "normalized_loss": test_loss / task.baseline,
            "accuracy": acc, "diverged": diverged, "seconds": seconds,
            "train_curve": [float(np.mean(curve[i:i + 10])) for i in range(0, len(curve), 10)]}


def _evaluate(model, task: TaskSpec, chunk: int = 256):
    import torch
    x, y, ln = task.test
    dtype = model.readout.weight.dtype
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            sl = slice(i, i + chunk)
            xt, yt, lt = _to_torch(task, x[sl], y[sl], None if ln is None else ln[sl], dtype)
            out = model(xt, lengths=lt).output
            total += float(_readout_loss(task, out, yt, lt)) * xt.shape[0]
            count += xt.shape[0]
            if task.kind == "classification":
                b = out.shape[0]
                last = out[:, -1] if lt is None else out[torch.arange(b), lt - 1]
                pred = last.reshape(b, task.n_labels, task.n_classes).argmax(-1)
                correct += int((pred == yt.reshape(b, task.n_labels)).all(-1).sum())
    return total / count, (correct / count if task.kind == "classification" else None)


# ----------------------------------------------------------------------------- runs
def _key(cfg: dict) -> str:
    return json.dumps({k: cfg[k] for k in sorted(cfg)}, sort_keys=True)


def run_one(cfg: dict, task: TaskSpec) -> dict:
    """One configuration: build, initialize (or set a sweep point), measure the gradient
    profile at initialization and the theory's, train, evaluate.

    ``cfg``: task, model, init, seed, width, steps, batch, lr; a sweep point has init "sweep"
    and ``rho`` (the flow's autonomous spectral radius) and ``gate_timescale`` (1 / E[G]); an
    optional ``horizon`` is the memory span given to the task-aware rule (default the task's
    length), optional ``gate_spread`` (default True) and ``gate_input_gain`` (default 0) its
    gate clause and the gate's input gain.
    """
    import torch
    model = build_model(cfg["model"], task, width=cfg["width"], seed=cfg["seed"])
    t0 = time.perf_counter()
    if cfg["init"] == "sweep":
        info = _sweep_point_(model, task, cfg["rho"], cfg.get("gate_timescale"), cfg["seed"])
    else:
        info = initialize_(model, cfg["init"], task, seed=cfg["seed"], horizon=cfg.get("horizon"),
                           gate_spread=cfg.get("gate_spread", True),
                           gate_input_gain=cfg.get("gate_input_gain", 0.0))
    init_seconds = time.perf_counter() - t0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        measured = gradient_profile(model, task)
    predicted = None
    if cfg["init"] in ("default", "rho1", "task", "sweep"):
        predicted = predicted_profile(model, task, info)
    model.zero_grad(set_to_none=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        res = fit(model, task, steps=cfg["steps"], batch_size=cfg["batch"], lr=cfg["lr"],
                  seed=cfg["seed"])
    lags = sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 999) if k < task.horizon}
                  | {task.horizon - 1})
    res.update(cfg=cfg, init_info=info, init_seconds=init_seconds, lags=lags,
               grad_measured=[float(measured[k]) for k in lags],
               grad_predicted=None if predicted is None else [float(predicted[k])
                                                              for k in lags])
    return res


def _sweep_point_(model, task: TaskSpec, rho: float, gate_timescale, seed: int) -> dict:
    """Weights from the architecture's ensemble at flow radius ``rho`` and (gated) a constant
    gate E[G] = 1 / gate_timescale (the sweep's axes; docs/theory.md eqs. 3.2, 6.7)."""
    import dmft

    from ..init import ensemble_of, from_ensemble_
    f = model.field
    kw = {}
    if f.gated:
        g = 1.0 / gate_timescale
        kw = dict(gate_gain=0.0, gate_bias_std=0.0, gate_input_gain=0.0,
                  gate_bias_mean=math.log(g) - math.log1p(-g))
    ens = ensemble_of(model, scales="architecture", **kw)
    ens = ens.scaled(dmft.critical_gain(ens, rho=rho))
    from_ensemble_(model, ens, seed)
    return {"ensemble": ens.describe(), "rho": rho, "gate_timescale": gate_timescale}


def load_runs(path) -> dict:
    """{key: run} of a JSON-lines cache (missing file: empty)."""
    out = {}
    p = Path(path)
    if p.is_file():
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[_key(r["cfg"])] = r
    return out


def run_suite(configs: Iterable[dict], *, cache: str | os.PathLike,
              progress: bool = True) -> list[dict]:
    """Run every configuration not yet in ``cache`` (JSON lines, appended after each run) and
    return all runs of ``configs`` in order."""
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    done = load_runs(cache)
    tasks: dict[str, TaskSpec] = {}
    out = []
    configs = list(configs)
    for i, cfg in enumerate(configs):
        key = _key(cfg)
        if key not in done:
            task = tasks.get(cfg["task"]) or tasks.setdefault(cfg["task"], make_task(cfg["task"]))
            t0 = time.perf_counter()
            r = run_one(cfg, task)
            with open(cache, "a") as fh:
                fh.write(json.dumps(r, default=float) + "\n")
            done[key] = r
            if progress:
                print(f"[{i + 1}/{len(configs)}] {cfg['task']} {cfg['model']} {cfg['init']} "
                      f"{cfg.get('rho', '')} {cfg.get('gate_timescale', '')} s{cfg['seed']}: "
                      f"loss {r['normalized_loss']:.3f} ({time.perf_counter() - t0:.0f} s)",
                      flush=True)
        out.append(done[key])
    return out


def summarize(runs: Sequence[dict], fields=("task", "model", "init")) -> list[dict]:
    """Mean and std over seeds of the normalized loss and the accuracy, per (task, model,
    init) (or the given fields)."""
    groups: dict = {}
    for r in runs:
        k = tuple(r["cfg"].get(f) for f in fields)
        groups.setdefault(k, []).append(r)
    rows = []
    for k, rs in groups.items():
        loss = np.array([r["normalized_loss"] for r in rs])
        acc = [r["accuracy"] for r in rs if r["accuracy"] is not None]
        rows.append({**dict(zip(fields, k, strict=True)), "n": len(rs),
                     "loss": float(loss.mean()), "loss_std": float(loss.std()),
                     "accuracy": float(np.mean(acc)) if acc else None,
                     "accuracy_std": float(np.std(acc)) if acc else None,
                     "diverged": int(sum(r["diverged"] for r in rs)),
                     "seconds": float(np.mean([r["seconds"] for r in rs]))})
    return rows
