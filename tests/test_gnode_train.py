"""gnode.train: loss decreases, validation-best selection, identical resume, every model, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as nnf

import gnode
from dmft.errors import ConvergenceError
from gnode import TrainResult, train
from gnode.models import GNODE, GRU, MGRU, NCODE, NODE, Elman
from gnode.tasks import flipflop

torch.set_num_threads(1)


def _data(n=64, n_bins=20, seed=0):
    return flipflop(3, n, variant="3bit", seed=seed, n_bins=n_bins, rate=3.0)


def _gnode(seed=0):
    torch.manual_seed(seed)
    return GNODE(8, 3, 3, flow_hidden=(16,), output_activation="tanh")


def _mse(model, x, y):
    with torch.no_grad():
        return float(((model(torch.as_tensor(x)).output - torch.as_tensor(y)) ** 2).mean())


def test_loss_decreases():
    """A short run beats the best constant predictor (per-channel target mean) by a factor 2."""
    x, y = _data()
    model = _gnode()
    before = _mse(model, x, y)
    res = train(model, x, y, epochs=10, batch_size=8, lr=3e-2, val_fraction=0.25,
                progress=False)
    assert isinstance(res, TrainResult) and res.converged and res.epochs == 10
    assert res.n_iter == 10 * 6               # 48 training samples in batches of 8
    constant = float(((y - y.reshape(-1, 3).mean(0)) ** 2).mean())
    # measured: initial MSE 1.06, constant predictor 0.57, best validation MSE 0.13
    assert res.best_loss < 0.5 * constant < before
    assert res.train_loss[-1] < 0.5 * res.train_loss[0]


def test_selects_best_validation_epoch():
    """The returned model's validation MSE, recomputed here, is min(val_loss) (restore_best)
    or val_loss[-1] (restore_best=False)."""
    x, y = _data()
    xv, yv = _data(16, seed=1)
    model = _gnode()
    res = train(model, x, y, epochs=6, batch_size=8, lr=5e-2, val_data=(xv, yv), progress=False)
    assert res.best_epoch == int(np.argmin(res.val_loss)) + 1
    np.testing.assert_allclose(_mse(model, xv, yv), res.best_loss, rtol=1e-12)
    np.testing.assert_allclose(res.best_loss, res.val_loss.min(), rtol=0)
    model = _gnode()
    res = train(model, x, y, epochs=6, batch_size=8, lr=5e-2, val_data=(xv, yv),
                restore_best=False, progress=False)
    np.testing.assert_allclose(_mse(model, xv, yv), res.val_loss[-1], rtol=1e-12)


def test_resume_continues_identically(tmp_path):
    """2 epochs + checkpoint + 2 resumed epochs == 4 straight epochs, bit for bit."""
    x, y = _data()
    kw = dict(batch_size=8, lr=1e-2, weight_decay=1e-2, val_fraction=0.25, seed=3,
              progress=False, restore_best=False)
    straight = _gnode()
    r4 = train(straight, x, y, epochs=4, **kw)
    ck = tmp_path / "run.pt"
    first = _gnode()
    r2 = train(first, x, y, epochs=2, checkpoint=ck, **kw)
    resumed = _gnode(seed=99)              # different weights: all must come from the checkpoint
    rr = train(resumed, x, y, epochs=4, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(r2.train_loss, r4.train_loss[:2])
    np.testing.assert_array_equal(rr.train_loss, r4.train_loss)
    np.testing.assert_array_equal(rr.val_loss, r4.val_loss)
    assert rr.n_iter == r4.n_iter and rr.best_epoch == r4.best_epoch
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    # resuming a finished run trains nothing and returns the same history
    again = train(_gnode(), x, y, epochs=4, checkpoint=ck, resume=True, **kw)
    np.testing.assert_array_equal(again.val_loss, r4.val_loss)


def test_resume_refuses_other_settings(tmp_path):
    x, y = _data()
    ck = tmp_path / "run.pt"
    train(_gnode(), x, y, epochs=1, batch_size=8, checkpoint=ck, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(_gnode(), x, y, epochs=2, batch_size=8, lr=0.5, checkpoint=ck, resume=True,
              progress=False)
    with pytest.raises(ValueError, match="data"):
        train(_gnode(), x[:40], y[:40], epochs=2, batch_size=8, checkpoint=ck, resume=True,
              progress=False)


def test_seed_determines_split_and_order():
    x, y = _data()
    a = train(_gnode(), x, y, epochs=2, batch_size=8, seed=1, progress=False)
    b = train(_gnode(), x, y, epochs=2, batch_size=8, seed=1, progress=False)
    c = train(_gnode(), x, y, epochs=2, batch_size=8, seed=2, progress=False)
    np.testing.assert_array_equal(a.val_loss, b.val_loss)
    assert not np.array_equal(a.val_loss, c.val_loss)


MODELS = {
    "gnode": lambda: GNODE(3, 3, 3, flow_hidden=(5,)),
    "node": lambda: NODE(3, 3, 3, flow_hidden=(5,), leak=False),
    "mgru": lambda: MGRU(3, 3, 3),
    "elman": lambda: Elman(3, 3, 3),
    "ncode": lambda: NCODE(3, 3, 3, control="closed"),
    "gru": lambda: GRU(3, 3, 3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains(name):
    x, y = _data(16, n_bins=10)
    torch.manual_seed(0)
    model = MODELS[name]()
    before = [p.detach().clone() for p in model.parameters()]
    res = train(model, x, y, epochs=2, batch_size=8, lr=1e-2, val_fraction=0.25,
                progress=False)
    assert np.all(np.isfinite(res.train_loss)) and res.converged
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert any(changed)


def test_cross_entropy_with_lengths():
    """Classify the sign of the first input sample; the loss is the cross-entropy of the readout
    at each sequence's last valid sample (recomputed here with torch)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 1))
    labels = (x[:, 0, 0] > 0).astype(np.int64)
    lengths = rng.integers(2, 7, size=64)
    torch.manual_seed(0)
    model = GRU(4, 1, 2)
    res = train(model, x, labels, lengths=lengths, loss="cross_entropy", epochs=30,
                batch_size=16, lr=3e-2, val_fraction=0, progress=False)
    with torch.no_grad():
        out = model(torch.from_numpy(x), lengths=torch.from_numpy(lengths)).output
        logits = out[torch.arange(64), torch.from_numpy(lengths) - 1]
        ce = float(nnf.cross_entropy(logits, torch.from_numpy(labels)))
        acc = float((logits.argmax(1) == torch.from_numpy(labels)).double().mean())
    np.testing.assert_allclose(ce, res.best_loss, rtol=1e-12)   # val_fraction=0: train set
    assert res.best_loss < 0.5 * np.log(2) and acc > 0.9        # chance: log 2 and 1/2


def test_non_finite_loss_raises():
    x, y = _data(16, n_bins=10)
    torch.manual_seed(0)
    model = NODE(3, 3, 3, flow_hidden=(5,), leak=False, activation="identity")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e10)     # |h| grows ~ (1e20)^t: |h|^2 overflows float64 within 10 steps
    with pytest.raises(ConvergenceError, match="non-finite"):
        train(model, x, y, epochs=1, batch_size=8, progress=False)


def test_bad_input(tmp_path):
    x, y = _data(16, n_bins=10)
    m = _gnode()
    with pytest.raises(ValueError, match="targets"):
        train(m, x, y[:, :, :2], progress=False)
    with pytest.raises(ValueError, match="targets"):
        train(m, x, y[:8], progress=False)
    with pytest.raises(ValueError, match="empty"):
        train(m, x[:0], y[:0], progress=False)
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        train(m, bad, y, progress=False)
    with pytest.raises(ValueError, match="inputs"):
        train(m, x[0], y[0], progress=False)
    with pytest.raises(ValueError, match="val_fraction"):
        train(m, x, y, val_fraction=1.0, progress=False)
    with pytest.raises(ValueError, match="val_fraction"):
        train(m, x[:1], y[:1], val_fraction=0.5, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train(m, x, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(m, x, y, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="loss"):
        train(m, x, y, loss="l1", progress=False)
    with pytest.raises(ValueError, match="checkpoint"):
        train(m, x, y, resume=True, progress=False)
    with pytest.raises(ValueError, match="class labels"):
        train(m, x, y, loss="cross_entropy", progress=False)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        train(lambda z: z, x, y)


def test_progress_bar_runs(capsys):
    x, y = _data(16, n_bins=10)
    train(_gnode(), x, y, epochs=1, batch_size=8, progress=True)
    assert "train" in capsys.readouterr().err


def test_lazy_exports():
    assert gnode.train is train and gnode.flipflop is flipflop
