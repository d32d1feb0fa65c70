"""Real multivariate time-series classification data, offline, and a model-comparison table.

The UEA archive sets JapaneseVowels (Kudo, Toyama, Shimbo 1999: 9 speakers, 12 LPC cepstrum
channels, 7-29 samples, 270 train / 370 test) and BasicMotions (4 activities, 6 accelerometer
and gyroscope channels, 100 samples, 40 / 40) ship as ``.ts`` files inside the ``sktime`` and
``aeon`` wheels (``<package>/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``).  :func:`data_path`
finds them in an installed ``sktime`` or ``aeon`` *without importing it* (only the files are
read; neither package's dependencies are needed), or in the folder named by the environment
variable ``GNODE_DATA_DIR``; :func:`read_ts` parses the format.

:func:`classification_table` trains nODE, gnODE, GRU and Elman models, default (PyTorch) versus
critical initialization (:func:`gnode.critical_`, rho = 1; docs/theory.md §3), over seeds, with
:func:`gnode.train` (cross-entropy on the readout at each sequence's last valid sample), and
reports test accuracy and training time.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "SequenceDataset", "data_path", "read_ts", "load_dataset",
           "CLASSIFIERS", "INITS", "make_classifier", "ClassificationRow",
           "classification_table", "format_table"]

DATASETS = ("JapaneseVowels", "BasicMotions")
CLASSIFIERS = ("node", "gnode", "gru", "elman")
INITS = ("default", "critical")
_PACKAGES = ("sktime", "aeon")


@dataclass(frozen=True)
class SequenceDataset:
    """A train/test split of variable-length multivariate sequences with class labels.

    Attributes
    ----------
    name : str
    x_train, x_test : ndarray, shape (n, T_max, D)
        Zero-padded after each sequence's length (standardized when loaded with
        ``standardize=True``: per channel, with the training set's mean and std over valid
        samples).
    len_train, len_test : ndarray of int, shape (n,)
    y_train, y_test : ndarray of int, shape (n,)
        Indices into ``classes``.
    classes : tuple of str
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    len_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    len_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    classes: tuple[str, ...]

    @property
    def n_channels(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def subset(self, n_train: int | None = None, n_test: int | None = None,
               seed: int = 0) -> SequenceDataset:
        """A random subset (without replacement) of the training and test sets."""
        rng = np.random.default_rng(seed)

        def pick(n, total):
            if n is None or n >= total:
                return np.arange(total)
            if n < 1:
                raise ValueError(f"subset sizes must be >= 1, got {n}")
            return np.sort(rng.choice(total, n, replace=False))

        i, j = pick(n_train, len(self.y_train)), pick(n_test, len(self.y_test))
        return SequenceDataset(self.name, self.x_train[i], self.len_train[i], self.y_train[i],
                               self.x_test[j], self.len_test[j], self.y_test[j], self.classes)


def data_path(name: str, split: str) -> Path:
    """Path of ``<name>_<split>.ts`` (split "TRAIN" or "TEST").

    Looked up in ``$GNODE_DATA_DIR/<name>/``, ``$GNODE_DATA_DIR/``, then inside an installed
    ``sktime`` or ``aeon`` (``datasets/data/<name>/``), located with
    ``importlib.util.find_spec`` (the package is not imported).

    Raises
    ------
    FileNotFoundError
        With the install command, when no copy is found.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    if split not in ("TRAIN", "TEST"):
        raise ValueError(f"split must be 'TRAIN' or 'TEST', got {split!r}")
    fname = f"{name}_{split}.ts"
    candidates = []
    env = os.environ.get("GNODE_DATA_DIR")
    if env:
        candidates += [Path(env) / name / fname, Path(env) / fname]
    for pkg in _PACKAGES:
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                candidates.append(Path(loc) / "datasets" / "data" / name / fname)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"{fname} not found (looked in: {', '.join(str(c) for c in candidates) or 'nothing'}). "
        "Install the data extra (pip install 'gnode-dmft[data]', which brings sktime; only its "
        "data files are used: 'pip install --no-deps sktime' suffices) or set GNODE_DATA_DIR "
        "to a folder holding the UEA .ts files.")


def read_ts(path: str | os.PathLike) -> tuple[list[np.ndarray], list[str], dict]:
    """Parse a ``.ts`` file (sktime/aeon time-series format, no time stamps, no missing
    values).

    Returns
    -------
    series : list of ndarray, each shape (T_i, D)
    labels : list of str
    header : dict
        The ``@key value`` lines (keys lower-case), ``classlabel`` as a list of class names.
    """
    header: dict = {}
    series, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower() == "@data":
                    in_data = True
                    continue
                if line.startswith("@"):
                    key, _, value = line[1:].partition(" ")
                    header[key.lower()] = value.strip()
                continue
            parts = line.split(":")
            if header.get("classlabel", "false").split()[0] == "true":
                *dims, label = parts
            else:
                dims, label = parts, ""
            try:
                arr = [np.array([float(v) for v in d.split(",")]) for d in dims]
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: cannot parse ({exc}); missing values and "
                                 "time stamps are not supported") from None
            if len({a.size for a in arr}) != 1:
                raise ValueError(f"{path}:{lineno}: channels of unequal length")
            s = np.stack(arr, axis=1)
            if not np.all(np.isfinite(s)):
                raise ValueError(f"{path}:{lineno}: non-finite values")
            series.append(s)
            labels.append(label.strip())
    if not series:
        raise ValueError(f"{path}: no data")
    cl = header.get("classlabel", "false").split()
    header["classlabel"] = cl[1:] if cl and cl[0] == "true" else []
    if "dimensions" in header and int(header["dimensions"]) != series[0].shape[1]:
        raise ValueError(f"{path}: @dimensions {header['dimensions']} but the data have "
                         f"{series[0].shape[1]} channels")
    return series, labels, header


def _pad(series: list[np.ndarray], t_max: int) -> tuple[np.ndarray, np.ndarray]:
    d = series[0].shape[1]
    x = np.zeros((len(series), t_max, d))
    lengths = np.array([s.shape[0] for s in series], dtype=np.int64)
    for i, s in enumerate(series):
        x[i, :s.shape[0]] = s
    return x, lengths


def load_dataset(name: str, *, standardize: bool = True) -> SequenceDataset:
    """Load JapaneseVowels or BasicMotions (:data:`DATASETS`) from the installed files.

    Parameters
    ----------
    name : str
    standardize : bool
        Per-channel z-score with the training set's statistics over valid samples.

    Returns
    -------
    SequenceDataset
    """
    s_tr, l_tr, h_tr = read_ts(data_path(name, "TRAIN"))
    s_te, l_te, _ = read_ts(data_path(name, "TEST"))
    classes = tuple(h_tr["classlabel"]) or tuple(sorted(set(l_tr)))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(l_tr + l_te) - set(index))
    if unknown:
        raise ValueError(f"{name}: labels {unknown} not among the declared classes {classes}")
    t_max = max(s.shape[0] for s in s_tr + s_te)
    x_tr, len_tr = _pad(s_tr, t_max)
    x_te, len_te = _pad(s_te, t_max)
    if standardize:
        valid = np.concatenate(s_tr, axis=0)
        mu, sd = valid.mean(axis=0), valid.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        for x, lens in ((x_tr, len_tr), (x_te, len_te)):
            mask = np.arange(t_max)[None, :] < lens[:, None]
            x[:] = np.where(mask[..., None], (x - mu) / sd, 0.0)
    y_tr = np.array([index[c] for c in l_tr], dtype=np.int64)
    y_te = np.array([index[c] for c in l_te], dtype=np.int64)
    return SequenceDataset(name, x_tr, len_tr, y_tr, x_te, len_te, y_te, classes)


def make_classifier(kind: str, n_channels: int, n_classes: int, *, state_dim: int = 32,
                    init: str = "default", seed: int = 0, dt: float = 1.0):
    """A classifier of ``kind`` in :data:`CLASSIFIERS`, initialized by ``init``.

    nODE/gnODE: two-layer ReLU flow with hidden width N (the paper's form), Elman: tanh;
    ``dt`` = 1 (one Euler step per sample, as discrete-time RNNs).  ``init="default"`` keeps
    PyTorch's initialization (drawn under ``torch.manual_seed(seed)``); ``"critical"`` redraws
    the flow (and gate and input weights) from the ensemble at rho = 1 (:func:`gnode.critical_`,
    relative layer gains and bias spreads as estimated from the default draw).  GRU has no
    critical initialization (ValueError).
    """
    import torch

    from gnode.init import critical_
    from gnode.models import GNODE, GRU, NODE, Elman

    if kind not in CLASSIFIERS:
        raise ValueError(f"kind must be one of {CLASSIFIERS}, got {kind!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    torch.manual_seed(seed)
    if kind == "gru":
        if init == "critical":
            raise ValueError("init='critical' is not defined for the GRU (not a gnODE field)")
        return GRU(state_dim, n_channels, n_classes, initial_state="zero")
    kw = dict(initial_state="zero", dt=dt)
    if kind == "elman":
        model = Elman(state_dim, n_channels, n_classes, **kw)
    else:
        cls = GNODE if kind == "gnode" else NODE
        model = cls(state_dim, n_channels, n_classes, flow_hidden=(state_dim,), **kw)
    if init == "critical":
        critical_(model, 1.0, seed=seed)
    return model


@dataclass(frozen=True)
class ClassificationRow:
    """One (dataset, model, init) row of :func:`classification_table`: means and standard
    deviations over seeds."""

    dataset: str
    model: str
    init: str
    accuracy: float
    accuracy_std: float
    seconds: float
    seconds_std: float
    accuracies: tuple[float, ...]
    n_params: int


def _accuracy(model, x: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=torch.float64)
        lt = torch.as_tensor(lengths)
        out = model(xt, lengths=lt).output
        logits = out[torch.arange(len(y)), lt - 1]
        return float((logits.argmax(-1).numpy() == y).mean())


def classification_table(datasets: Sequence[str | SequenceDataset] = DATASETS, *,
                         models: Sequence[str] = CLASSIFIERS, inits: Sequence[str] = INITS,
                         seeds: Sequence[int] = (0, 1, 2), state_dim: int = 32,
                         epochs: int = 60, batch_size: int = 32, lr: float = 3e-3,
                         weight_decay: float = 1e-2, val_fraction: float = 0.1,
                         progress: bool = False) -> list[ClassificationRow]:
    """Test accuracy and training time of each (dataset, model, init), over seeds.

    Training: :func:`gnode.train` (AdamW, cross-entropy at the last valid sample, the
    parameters with the best validation loss on ``val_fraction`` of the training set,
    gradient norm clipped at 1).  GRU rows exist for ``init="default"`` only.

    Returns
    -------
    list of ClassificationRow
    """
    from gnode._train import train

    rows = []
    for ds in datasets:
        data = ds if isinstance(ds, SequenceDataset) else load_dataset(ds)
        for kind in models:
            for init in inits:
                if kind == "gru" and init == "critical":
                    continue
                accs, secs, n_params = [], [], 0
                for s in seeds:
                    model = make_classifier(kind, data.n_channels, data.n_classes,
                                            state_dim=state_dim, init=init, seed=int(s))
                    n_params = sum(p.numel() for p in model.parameters())
                    t0 = time.perf_counter()
                    train(model, data.x_train, data.y_train, lengths=data.len_train,
                          loss="cross_entropy", epochs=epochs, batch_size=batch_size, lr=lr,
                          weight_decay=weight_decay, val_fraction=val_fraction, seed=int(s),
                          grad_clip=1.0, progress=progress)
                    secs.append(time.perf_counter() - t0)
                    accs.append(_accuracy(model, data.x_test, data.len_test, data.y_test))
                rows.append(ClassificationRow(
                    data.name, kind, init, float(np.mean(accs)), float(np.std(accs)),
                    float(np.mean(secs)), float(np.std(secs)), tuple(accs), n_params))
    return rows


def format_table(rows: Sequence[ClassificationRow]) -> str:
    """A Markdown table of the rows (accuracy in %, mean +- std over seeds; time in s)."""
    lines = ["| data set | model | init | test accuracy (%) | train time (s) | parameters |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.dataset} | {r.model} | {r.init} | {100 * r.accuracy:.1f} +- "
                     f"{100 * r.accuracy_std:.1f} | {r.seconds:.1f} | {r.n_params} |")
    if not rows:
        lines.append("| (no rows) | | | | | |")
    return "\n".join(lines)

