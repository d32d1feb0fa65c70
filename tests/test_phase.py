"""dmft.phase_diagram: parameter paths, closed vs sampled routes, phase boundary, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dmft import Ensemble, phase_diagram
from dmft._phase import set_parameter
from dmft.static import critical_gain, fixed_point


def test_parameter_paths():
    e = Ensemble.gnode(gains=(1.0, 2.0), gate_gain=1.0)
    assert set_parameter(e, "gain", 1.5).gains == (1.5, 3.0)
    assert set_parameter(e, "flow[1].gain", 0.7).gains == (1.0, 0.7)
    assert set_parameter(e, "flow[0].bias_std", 0.3).flow[0].bias_std == 0.3
    assert all(la.bias_std == 0.2 for la in set_parameter(e, "bias_std", 0.2).flow)
    assert set_parameter(e, "gate.bias_mean", -2.0).gate.bias_mean == -2.0
    assert set_parameter(e, "gate.gain", 3.0).gate.gain == 3.0
    assert set_parameter(e, "noise_std", 0.1).noise_std == 0.1


def test_fixed_point_side_is_closed_form():
    # leaky, non-gated, rho < 1: lambda_max = rho - 1 (disk edge, docs/theory.md section 3)
    ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [0.3, 0.9]))
    np.testing.assert_allclose(ds.lyapunov_max.values, [-0.7, -0.1], atol=1e-12)
    assert list(ds.phase.values) == ["fixed point", "fixed point"]


def test_closed_theory_for_chaotic_nongated_uses_stationary():
    pytest.importorskip("dmft._stationary")
    from dmft import stationary
    ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [2.0]), y=("bias_std", [0.0]))
    st = stationary(Ensemble.elman(2.0))
    assert ds.method.item() == "stationary"
    assert ds.lyapunov_max.item() == pytest.approx(st.lyapunov_max, rel=1e-12)


def test_gated_boundary_stays_where_static_puts_it():
    # the gate does not move the fixed point's stability boundary (docs/theory.md section 3):
    # for every gate bias, the phase flips between the two gains bracketing critical_gain,
    # and lambda_max has the matching sign (sampled theory)
    ens = Ensemble.mgru(1.0, gate_gain=1.0, gate_bias_mean=0.0)
    gc = critical_gain(ens)
    ds = phase_diagram(ens, x=("gain", [0.6 * gc, 2.0 * gc]), y=("gate.bias_mean", [-1.0, 1.5]),
                       sampled_kwargs=dict(n_paths=300, lyapunov_iter=8), seed=1)
    assert (ds.method == "sampled").all()
    for mu in (-1.0, 1.5):
        row = ds.sel(gate_bias_mean=mu)
        assert row.phase.values.tolist() == ["fixed point", "chaotic"]
        assert row.lyapunov_max.values[0] < 0 < row.lyapunov_max.values[1]
        np.testing.assert_allclose(row.rho.values, [0.6, 2.0], rtol=1e-9)
    # the mean gate at the fixed point h* = 0 is E[sigmoid(mu_z)] exactly
    fp = fixed_point(set_parameter(set_parameter(ens, "gain", 0.6 * gc), "gate.bias_mean", 1.5))
    assert ds.gate_mean.sel(gain=0.6 * gc, gate_bias_mean=1.5).item() == pytest.approx(
        fp.gate_mean, abs=1e-9)


def test_explosive_region_is_labelled():
    ds = phase_diagram(Ensemble.node(1.0, output="identity"), x=("gain", [0.5, 1.5]))
    assert ds.phase.values.tolist() == ["fixed point", "explosive"]
    assert ds.lyapunov_max.values[1] == math.inf


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(x=("nonsense", [1.0])), ValueError, "unknown parameter"),
    (dict(x=("gain", [])), ValueError, "non-empty"),
    (dict(x=("gain", [1.0, math.inf])), ValueError, "finite"),
    (dict(x=("gain", [1.0]), y=("gain", [1.0])), ValueError, "different"),
    (dict(x=("gate.bias_mean", [1.0])), ValueError, "gate"),
    (dict(x=("flow[3].gain", [1.0])), ValueError, "layer index"),
    (dict(x=("gain", [1.0]), quantities=("magic",)), ValueError, "quantities"),
    (dict(x="gain"), TypeError, "pair"),
])
def test_bad_input(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        phase_diagram(Ensemble.elman(1.0), **kw)


# ---- stores and dask: the points as a resumable sweep (dmft/_phase.py module docstring) ----

def test_stored_diagram_equals_in_process_and_reruns_nothing(tmp_path):
    kw = dict(x=("gain", [0.5, 1.5, 2.0]), y=("bias_std", [0.0, 0.3]))
    ref = phase_diagram(Ensemble.elman(1.0), **kw)
    stored = phase_diagram(Ensemble.elman(1.0), store=tmp_path, **kw)
    xr_testing().assert_identical(stored, ref)      # same seeds, same arithmetic: exact
    (sub,) = tmp_path.iterdir()
    files = {p: p.stat().st_mtime_ns for p in sub.glob("*.npz")}
    assert len(files) == 6
    again = phase_diagram(Ensemble.elman(1.0), store=tmp_path, **kw)
    xr_testing().assert_identical(again, ref)
    assert {p: p.stat().st_mtime_ns for p in sub.glob("*.npz")} == files   # nothing rewritten
    # another diagram on the same store gets its own subdirectory, never these numbers
    other = phase_diagram(Ensemble.elman(1.2), store=tmp_path, **kw)
    assert len(list(tmp_path.iterdir())) == 2
    xr_testing().assert_identical(other, phase_diagram(Ensemble.elman(1.2), **kw))


def xr_testing():
    import xarray.testing
    return xarray.testing


def test_stored_failed_point_is_labelled_like_in_process(tmp_path, monkeypatch):
    import dmft._phase as ph
    from dmft.errors import ConvergenceError

    real = ph.point

    def flaky(ens, **kw):
        if ens.gains[0] == 2.0:
            raise ConvergenceError("no luck here", iterations=3)
        if ens.gains[0] == 3.0:
            raise ZeroDivisionError("a solver's division by zero")
        return real(ens, **kw)

    monkeypatch.setattr(ph, "point", flaky)
    kw = dict(x=("gain", [0.5, 2.0, 3.0]))
    ref = phase_diagram(Ensemble.elman(1.0), **kw)
    stored = phase_diagram(Ensemble.elman(1.0), store=tmp_path, **kw)
    xr_testing().assert_identical(stored, ref)
    assert stored.phase.values.tolist() == ["fixed point", "failed", "failed"]
    assert stored.status.values.tolist()[1:] == [
        "ConvergenceError: no luck here [iterations=3]",
        "ZeroDivisionError: a solver's division by zero"]


def test_stored_other_error_raises_and_keeps_finished_points(tmp_path, monkeypatch):
    import dmft._phase as ph

    real = ph.point

    def broken(ens, **kw):
        if ens.gains[0] == 2.0:
            raise KeyError("a bug, not a solver failure")   # not labelled: a bug
        return real(ens, **kw)

    monkeypatch.setattr(ph, "point", broken)
    with pytest.raises(RuntimeError, match="KeyError.*a rerun retries"):
        phase_diagram(Ensemble.elman(1.0), x=("gain", [0.5, 2.0]), store=tmp_path)
    (sub,) = tmp_path.iterdir()
    assert [p.name for p in sub.glob("*.npz")] == ["task_0_seed0.npz"]   # the finished point
    monkeypatch.setattr(ph, "point", real)                              # fixed: the rerun
    ds = phase_diagram(Ensemble.elman(1.0), x=("gain", [0.5, 2.0]), store=tmp_path)
    assert (ds.status == "ok").all()


def test_store_must_be_a_path():
    with pytest.raises(TypeError, match="store must be a path"):
        phase_diagram(Ensemble.elman(1.0), x=("gain", [0.5]), store=3)


#: a 2 x 2 gated diagram (the sampled theory at every point, about 2 s each here)
_DASK_KW = dict(x=("gain", [0.5, 2.5]), y=("gate.bias_mean", [-1.0, 1.0]),
                sampled_kwargs=dict(n_paths=64, lyapunov_iter=4), seed=3)

_DASK_SCRIPT = f'''
import sys
from distributed import Client, LocalCluster
from dmft import Ensemble, phase_diagram

if __name__ == "__main__":   # dask spawns its worker processes: they import this file
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        phase_diagram(Ensemble.mgru(1.0, gate_gain=1.0), client=client, store=sys.argv[1],
                      **{_DASK_KW!r})
'''


def test_dask_diagram_killed_and_resumed_loses_no_point(tmp_path):
    """A run on a dask LocalCluster (2 worker processes) killed (SIGKILL: driver, scheduler
    and workers, no cleanup) once a point is stored; the rerun on a new cluster computes only
    the missing points (the stored files are not rewritten) and the diagram equals the
    in-process one exactly (same seeds: the same numbers in any process).

    The rerun's cluster has 2 thread workers in this process: the resume logic is the
    driver's (the store), and two more spawned interpreters would cost about 20 s here."""
    distributed = pytest.importorskip("distributed")
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run_diagram.py"
    script.write_text(_DASK_SCRIPT)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(script), str(store)], start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(store.glob("theory_*/*.npz")):       # a point is on disk
            assert proc.poll() is None, "the diagram ended before it could be killed"
            assert time.monotonic() < deadline, "the diagram made no progress"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)                 # the whole session: workers too
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in store.glob("theory_*/*.npz")}
    assert 1 <= len(finished) < 4, "the kill must land mid-run"
    ens = Ensemble.mgru(1.0, gate_gain=1.0)
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        resumed = phase_diagram(ens, client=client, store=store, **_DASK_KW)
    for p, stamp in finished.items():                       # kept, not recomputed
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    assert len(list(store.glob("theory_*/*.npz"))) == 4     # nothing lost
    assert (resumed.status == "ok").all()
    xr_testing().assert_identical(resumed, phase_diagram(ens, **_DASK_KW))


def test_cli_theory_on_a_scheduler_then_resumed_locally(tmp_path):
    """``gnode phase-diagram --scheduler``: the theory points go to the cluster and into the
    store (default ``<out>/.gnode-cache/sweep_store``); the same command without the cluster
    reads them back (the files are not rewritten) and writes the same numbers."""
    distributed = pytest.importorskip("distributed")
    import xarray as xr

    from gnode.cli import main

    argv = ["phase-diagram", "--gain-grid", "0.5,2", "--gate-biases=-1,1", "--n-paths", "32",
            "--sim-n", "0", "--workers", "1", "--out", str(tmp_path), "--json"]
    # thread workers: the scheduler address is what the CLI is given (module test above for
    # worker processes)
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        assert main(argv + ["--scheduler", cluster.scheduler_address]) == 0
    stored = tmp_path.glob(".gnode-cache/sweep_store/theory_*/*.npz")
    stamps = {p: p.stat().st_mtime_ns for p in stored}
    assert len(stamps) == 4
    with xr.open_dataset(tmp_path / "phase_diagram.nc") as f:
        first = f.load()
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    with xr.open_dataset(tmp_path / "phase_diagram.nc") as f:
        xr_testing().assert_equal(f.load(), first)
