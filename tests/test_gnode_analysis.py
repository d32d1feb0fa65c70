"""gnode.analysis: every fixed point of systems with known fixed points is found and classified.

Reference values come from closed forms: the zeros and Jacobians of a cubic bistable system and of
linear systems, and for a 2-D Elman / gnODE with W = 2 I the roots of h = tanh(2 h) (scipy brentq)
with eigenvalues G_i (-1 + 2 sech^2(2 h_i)).  Tolerances: the solver stops at |f| <= 1e-10 and
converges quadratically near regular zeros, so positions and eigenvalues agree to 1e-8.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

import gnode
from gnode.analysis import FixedPoints, classify, find_fixed_points, plot_flow, velocity
from gnode.models import GNODE, Elman

torch.set_num_threads(1)
STARTS = np.random.default_rng(0).uniform(-2.5, 2.5, size=(200, 2))


def _match(points, expected, tol=1e-8):
    """Index of each expected point among ``points`` (asserting a one-to-one match)."""
    idx = []
    for e in expected:
        d = np.linalg.norm(points - e, axis=1)
        assert d.min() < tol, f"fixed point {e} not found; nearest at distance {d.min():.2e}"
        idx.append(int(np.argmin(d)))
    assert len(set(idx)) == len(expected) == len(points), "extra or duplicated points"
    return idx


def test_bistable_cubic():
    """dh/dt = (h1 - h1^3, -h2): stable (+-1, 0) with eig (-1, -2); saddle (0, 0), eig (1, -1)."""
    def f(h):
        return torch.stack([h[..., 0] - h[..., 0] ** 3, -h[..., 1]], dim=-1)

    fp = find_fixed_points(f, starts=STARTS)
    idx = _match(fp.points, np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]))
    assert [fp.kind[i] for i in idx] == ["stable", "stable", "saddle"]
    np.testing.assert_allclose(fp.eigenvalues[idx[0]], [-1.0, -2.0], atol=1e-8)
    np.testing.assert_allclose(fp.eigenvalues[idx[2]], [1.0, -1.0], atol=1e-8)
    assert fp.is_fixed.all() and fp.counts.sum() == len(STARTS) and fp.converged
    assert fp.count("stable") == 2 and fp.count("saddle") == 1 and fp.count("marginal") == 0


LINEAR = {  # A of dh/dt = A (h - c): a single fixed point c, classified by eig(A)
    "stable_node": ([[-1.0, 0.5], [0.0, -3.0]], "stable"),
    "stable_focus": ([[-0.5, 2.0], [-2.0, -0.5]], "stable"),
    "saddle": ([[2.0, 1.0], [0.0, -1.0]], "saddle"),
    "unstable_node": ([[1.0, 0.3], [0.0, 0.5]], "unstable"),
    "center": ([[0.0, 1.0], [-1.0, 0.0]], "marginal"),
}


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_systems(name):
    a, kind = LINEAR[name]
    at = torch.tensor(a, dtype=torch.float64)
    c = torch.tensor([0.3, -0.7], dtype=torch.float64)
    fp = find_fixed_points(lambda h: (h - c) @ at.T, starts=STARTS[:50])
    _match(fp.points, c.numpy()[None])
    assert fp.kind == (kind,)
    expected = np.linalg.eigvals(np.array(a))
    expected = expected[np.argsort(-expected.real, kind="stable")]
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0]), np.sort_complex(expected),
                               atol=1e-10)


def test_line_attractor_is_marginal():
    """A = [[0, 0], [0, -1]] (rotated): a line of fixed points, every one marginal."""
    rot = np.array([[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]])
    a = torch.tensor(rot @ np.diag([0.0, -1.0]) @ rot.T)
    fp = find_fixed_points(lambda h: h @ a.T, starts=STARTS, dedup_tol=1e-3)
    assert len(fp.points) > 50          # starts land on different points of the line
    assert set(fp.kind) == {"marginal"} and fp.is_fixed.all()
    # on the line: the component along the stable direction rot[:, 1] vanishes
    np.testing.assert_allclose(fp.points @ rot[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(fp.eigenvalues.real, np.tile([0.0, -1.0], (len(fp.points), 1)),
                               atol=1e-10)


H_STAR = brentq(lambda h: h - np.tanh(2.0 * h), 0.5, 1.5)        # 0.9575040240...


def _tanh_grid():
    vals = (-H_STAR, 0.0, H_STAR)
    return np.array([[a, b] for a in vals for b in vals])


def _set_flow(model, gate_bias=None):
    with torch.no_grad():
        model.field.flow[0].weight.copy_(2.0 * torch.eye(2, dtype=torch.float64))
        if model.field.flow[0].bias is not None:
            model.field.flow[0].bias.zero_()
        if gate_bias is not None:
            model.field.gate[0].weight.zero_()
            model.field.gate[0].bias.copy_(torch.tensor(gate_bias, dtype=torch.float64))


def _expected_eigs(points, gates):
    lam = gates[None, :] * (-1.0 + 2.0 / np.cosh(2.0 * points) ** 2)
    return lam


def test_elman_nine_fixed_points():
    """tau dh/dt = -h + tanh(2 h): 3^2 fixed points, 4 stable, 4 saddles, 1 unstable."""
    model = Elman(2, 1, 1, bias=False)
    _set_flow(model)
    fp = find_fixed_points(model, starts=400, box=2.0, seed=1)
    expected = _tanh_grid()
    idx = _match(fp.points, expected)
    lam = _expected_eigs(expected, np.ones(2))
    n_unstable = (lam > 0).sum(1)
    want = np.array(["stable", "saddle", "unstable"])[n_unstable]
    assert [fp.kind[i] for i in idx] == list(want)
    for i, j in enumerate(idx):
        np.testing.assert_allclose(np.sort(fp.eigenvalues[j].real), np.sort(lam[i]), atol=1e-8)
    assert (fp.count("stable"), fp.count("saddle"), fp.count("unstable")) == (4, 4, 1)


def test_gate_scales_eigenvalues_and_makes_marginal_points():
    """gnODE with W = 2 I, W_z = 0: same zeros; eigenvalues G_i (-1 + 2 sech^2(2 h_i)).

    Gate biases (-9, 0): G_1 = sigmoid(-9) = 1.2e-4, so the h1 direction relaxes at a rate below
    marginal_tol = 1e-2: the six points with h2 = +-h* become marginal, the three with h2 = 0
    stay unstable (G_2 = 1/2 > 0 along h2).
    """
    model = GNODE(2, 0, 1, flow_hidden=(), output_activation="tanh", bias=False)
    _set_flow(model, gate_bias=[-9.0, 0.0])
    gates = 1.0 / (1.0 + np.exp(-np.array([-9.0, 0.0])))
    fp = find_fixed_points(model, starts=STARTS)
    expected = _tanh_grid()
    idx = _match(fp.points, expected, tol=1e-6)
    lam = _expected_eigs(expected, gates)
    for i, j in enumerate(idx):
        np.testing.assert_allclose(np.sort(fp.eigenvalues[j].real), np.sort(lam[i]),
                                   rtol=1e-7, atol=1e-12)
        want = "unstable" if expected[i, 1] == 0.0 else "marginal"
        assert fp.kind[j] == want, (expected[i], fp.eigenvalues[j])
    assert fp.count("marginal") == 6 and fp.count("unstable") == 3


def test_slow_point_of_a_ghost():
    """dh/dt = (h1^2 + eps, -h2): no zero; the ghost of the saddle-node at (0, 0) is a slow point
    with speed eps (a local minimum of |f|)."""
    eps = 1e-4

    def f(h):
        return torch.stack([h[..., 0] ** 2 + eps, -h[..., 1]], dim=-1)

    fp = find_fixed_points(f, starts=STARTS[:40], slow_tol=1e-3)
    assert len(fp.points) == 1 and not fp.is_fixed[0]
    np.testing.assert_allclose(fp.points[0], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(fp.speed[0], eps, rtol=1e-6)
    assert fp.kind == ("marginal",)      # eigenvalues (2 h1 ~ 0, -1)


def test_classify_thresholds():
    assert classify([-0.02, -1.0]) == "stable"
    assert classify([-0.005, -1.0]) == "marginal"
    assert classify([0.005, -1.0]) == "marginal"
    assert classify([0.02, -1.0]) == "saddle"
    assert classify([0.02, 0.0]) == "unstable"
    assert classify([0.02, 0.0], marginal_tol=0.05) == "marginal"
    assert classify([-0.1 + 3j, -0.1 - 3j]) == "stable"


def test_velocity_matches_model_field():
    model = GNODE(2, 3, 1, flow_hidden=(5,))
    h = np.random.default_rng(0).normal(size=(4, 2))
    x = np.array([0.3, -1.0, 0.5])
    with torch.no_grad():
        ref = model.field(torch.from_numpy(h), torch.from_numpy(np.tile(x, (4, 1)))).numpy()
    np.testing.assert_allclose(velocity(model, h, x), ref, rtol=1e-13, atol=1e-15)


def test_plot_flow_writes_figure(tmp_path):
    model = Elman(2, 1, 1, bias=False)
    _set_flow(model)
    fp = find_fixed_points(model, starts=100, box=2.0)
    out = tmp_path / "flow.png"
    traj = np.random.default_rng(0).normal(size=(3, 10, 2))
    ax = plot_flow(model, fixed_points=fp, trajectories=traj, xlim=(-2, 2), ylim=(-2, 2),
                   out=out, n_grid=15)
    assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["stable (4)", "saddle (4)", "unstable (1)"]
    import matplotlib.pyplot as plt
    plt.close(ax.figure)


def test_plot_flow_keeps_the_callers_backend():
    """Library code never switches the matplotlib backend (it would change a notebook's)."""
    import matplotlib
    import matplotlib.pyplot as plt

    model = Elman(2, 1, 1, bias=False)
    _set_flow(model)
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # any non-interactive backend other than Agg
    try:
        ax = plot_flow(model, n_grid=5)
        assert matplotlib.get_backend() == "svg"
        plt.close(ax.figure)
    finally:
        matplotlib.use(before)


def test_bad_input():
    model3 = Elman(3, 1, 1)
    with pytest.raises(ValueError, match="2-D"):
        plot_flow(model3)
    with pytest.raises(ValueError, match="starts"):
        find_fixed_points(model3, starts=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        find_fixed_points(model3, starts=np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="callable"):
        find_fixed_points(lambda h: -h, starts=10)
    with pytest.raises(ValueError, match="tol"):
        find_fixed_points(model3, tol=-1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        find_fixed_points(model3, x=np.zeros(3))
    with pytest.raises(TypeError):
        find_fixed_points(3.0)
    with pytest.raises(ValueError, match="kind"):
        find_fixed_points(model3, starts=20).count("spiral")


def test_lazy_exports():
    assert gnode.find_fixed_points is find_fixed_points and gnode.FixedPoints is FixedPoints


@pytest.mark.slow
def test_ring_example_fast(tmp_path):
    """docs/examples/flipflop_ring.py --fast runs, writes its figure and reports sane numbers."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "ring.png"
    proc = subprocess.run([sys.executable, os.path.join(root, "docs", "examples",
                                                        "flipflop_ring.py"),
                           "--fast", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.stat().st_size > 10_000 and report["fast"]
    for kind in ("gnode", "node"):
        r = report[kind]
        assert r["n_points"] >= 1 and sum(r["counts"].values()) == r["n_points"]
        # the pulses have radius 2: a trained model beats the untrained MSE ~ 2 (targets' power)
        assert 0 < r["best_val_loss"] < 1.5
        assert 0 <= r["hold"]["angle_error_median_deg"] <= 180
