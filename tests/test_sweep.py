"""simulate.sweep (the store: dmft/_store.py; the task: simulate/_sweep.py): embedded vs dask
execution, resume, errors."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from simulate import load_sweep, sweep


def _task(params: dict, seed: int) -> dict:
    """Deterministic, cheap: a seeded random number and a function of the parameters."""
    rng = np.random.default_rng(seed)
    log = os.environ.get("SWEEP_TEST_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{params['a']},{params['b']},{seed}\n")
    if params["a"] < 0:
        raise RuntimeError("negative a is not allowed")
    return {"value": params["a"] * 10 + params["b"] + rng.standard_normal(),
            "square": params["a"] ** 2}


GRID = {"a": [0.0, 1.0, 2.0], "b": [0.5, 1.5]}


def _expected(a, b, seed):
    return a * 10 + b + np.random.default_rng(seed).standard_normal()


def test_embedded_values_and_labels(tmp_path):
    ds = sweep(_task, GRID, [3, 4], store=tmp_path / "s", n_workers=0, progress=False)
    assert ds["value"].dims == ("a", "b", "seed")
    for a in GRID["a"]:
        for b in GRID["b"]:
            for s in (3, 4):
                got = float(ds["value"].sel(a=a, b=b, seed=s))
                assert got == _expected(a, b, s)   # same arithmetic, exact
    assert (ds["status"] == "ok").all()


def test_process_pool_equals_serial(tmp_path):
    serial = sweep(_task, GRID, 2, store=tmp_path / "a", n_workers=0, progress=False)
    pooled = sweep(_task, GRID, 2, store=tmp_path / "b", n_workers=2, progress=False)
    assert serial.drop_attrs().equals(pooled.drop_attrs())


def test_dask_localcluster_equals_embedded(tmp_path):
    distributed = pytest.importorskip("distributed")
    # processes=False (threads): two real dask workers in this process; worker processes
    # would spawn two more interpreters on this 2-core machine for no additional coverage
    # of the scheduling code path.
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        viadask = sweep(_task, GRID, 2, store=tmp_path / "d", client=client, progress=False)
    embedded = sweep(_task, GRID, 2, store=tmp_path / "e", n_workers=0, progress=False)
    assert viadask.drop_attrs().equals(embedded.drop_attrs())


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, monkeypatch):
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SWEEP_TEST_LOG", str(log))
    store = tmp_path / "s"
    part = sweep(_task, GRID, 2, store=store, n_workers=0, progress=False, max_tasks=5)
    assert int((part["status"] == "ok").sum()) == 5
    assert int((part["status"] == "pending").sum()) == 12 - 5
    full = sweep(_task, GRID, 2, store=store, n_workers=0, progress=False)
    calls = log.read_text().splitlines()
    assert len(calls) == 12 and len(set(calls)) == 12     # every task ran exactly once
    again = sweep(_task, GRID, 2, store=store, n_workers=0, progress=False)
    assert len(log.read_text().splitlines()) == 12        # nothing recomputed
    ref = sweep(_task, GRID, 2, store=tmp_path / "ref", n_workers=0, progress=False)
    assert full.drop_attrs().equals(ref.drop_attrs())
    assert again.drop_attrs().equals(ref.drop_attrs())
    assert load_sweep(store).drop_attrs().equals(ref.drop_attrs())


def test_failing_task_is_recorded_and_rest_finish(tmp_path):
    grid = {"a": [-1.0, 1.0], "b": [0.0]}
    ds = sweep(_task, grid, 1, store=tmp_path / "s", n_workers=0, progress=False)
    st = ds["status"].sel(a=-1.0, b=0.0, seed=0).item()
    assert "negative a is not allowed" in st
    assert math.isnan(float(ds["value"].sel(a=-1.0, b=0.0, seed=0)))
    assert ds["status"].sel(a=1.0, b=0.0, seed=0).item() == "ok"
    assert float(ds["value"].sel(a=1.0, b=0.0, seed=0)) == _expected(1.0, 0.0, 0)


@pytest.mark.parametrize("grid, seeds, msg", [
    ({}, 1, "non-empty mapping"),
    ({"a": []}, 1, "non-empty 1-D"),
    ({"a": [1.0, math.nan]}, 1, "finite"),
    ({"a": [1.0]}, 0, "seeds"),
    ({"a": [1.0]}, [1, 1], "distinct"),
])
def test_bad_input(tmp_path, grid, seeds, msg):
    with pytest.raises(ValueError, match=msg):
        sweep(_task, grid, seeds, store=tmp_path / "s", n_workers=0, progress=False)


def test_store_of_another_sweep_is_refused(tmp_path):
    sweep(_task, {"a": [1.0], "b": [0.0]}, 1, store=tmp_path / "s", n_workers=0,
          progress=False)
    with pytest.raises(ValueError, match="different sweep"):
        sweep(_task, {"a": [2.0], "b": [0.0]}, 1, store=tmp_path / "s", n_workers=0,
              progress=False)


_KILL_SCRIPT = '''
import os, sys, time
import numpy as np
from simulate import sweep

def task(params, seed):
    with open(os.environ["SWEEP_TEST_LOG"], "a") as fh:     # one line per execution
        fh.write(f"{params['a']},{params['b']},{seed}\\n")
        fh.flush()
        os.fsync(fh.fileno())
    time.sleep(0.15)
    return {"value": params["a"] * 10 + params["b"] + np.random.default_rng(seed).standard_normal()}

if __name__ == "__main__":
    sweep(task, {"a": [0.0, 1.0, 2.0], "b": [0.5, 1.5]}, 2, store=sys.argv[1], n_workers=0,
          progress=False)
'''


def test_sigkilled_sweep_resumes_without_recomputing_or_losing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run_sweep.py"
    script.write_text(_KILL_SCRIPT)
    store = tmp_path / "store"
    log = tmp_path / "calls.log"
    env = dict(os.environ, SWEEP_TEST_LOG=str(log))
    proc = subprocess.Popen([sys.executable, str(script), str(store)], env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list(store.glob("*.npz"))) < 4:       # some tasks are on disk
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)                  # no cleanup handlers run
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {p.name for p in store.glob("*.npz")}
    started = log.read_text().splitlines()
    assert 4 <= len(finished) < 12 and len(started) >= len(finished)
    assert len(started) <= len(finished) + 1                # serial: at most one in flight
    # restart: completes, runs each unfinished task once and no finished one again
    # (in this process, with the script's own task function: saves an interpreter start)
    import importlib.util
    spec = importlib.util.spec_from_file_location("run_sweep", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    os.environ["SWEEP_TEST_LOG"] = str(log)
    try:
        sweep(mod.task, {"a": [0.0, 1.0, 2.0], "b": [0.5, 1.5]}, 2, store=store, n_workers=0,
              progress=False)
    finally:
        del os.environ["SWEEP_TEST_LOG"]
    calls = log.read_text().splitlines()
    rerun = calls[len(started):]
    assert len(set(rerun)) == len(rerun) == 12 - len(finished)
    grid_index = {0.0: 0, 1.0: 1, 2.0: 2, 0.5: 0, 1.5: 1}
    rerun_keys = set()
    for c in rerun:
        a, b, s = (float(x) for x in c.split(","))
        rerun_keys.add(f"task_{grid_index[a]}_{grid_index[b]}_seed{int(s)}.npz")
    assert not rerun_keys & finished                        # no finished task recomputed
    ds = load_sweep(store)
    assert (ds["status"] == "ok").all()                     # nothing lost
    for p in finished:                                      # finished before the kill: kept
        assert (store / p).exists()
    runs = {tuple(float(x) for x in c.split(",")) for c in calls}
    assert len(runs) == 12                                  # every task ran
    for a in (0.0, 1.0, 2.0):
        for b in (0.5, 1.5):
            for s in (0, 1):
                assert float(ds["value"].sel(a=a, b=b, seed=s)) == _expected(a, b, s)


def test_simulation_task_reports_divergence_by_flag_and_time():
    """Divergence policy: an explosive network is a result of the task (flag, time, +inf and
    the EXPLOSIVE phase code), not an error recorded by the sweep; a stable one is not."""
    import simulate
    from dmft import Ensemble, Phase

    boom = simulate.SimulationTask(Ensemble.node((3.0,), "relu", "identity", leak=False), n=30,
                                   t_max=20.0, t_transient=10.0)
    out = boom({}, 0)
    assert out["diverged"] == 1.0 and out["lyapunov_max"] == math.inf
    assert 0 < out["diverged_at"] < 30.0 and out["phase_code"] == Phase.EXPLOSIVE.code
    calm = simulate.SimulationTask(Ensemble.elman(0.5), n=30, t_max=20.0, t_transient=10.0)
    out = calm({}, 0)
    # rho = 0.5: a stable fixed point, lambda_max ~ rho - 1 = -0.5 (docs/theory.md section 3)
    assert out["diverged"] == 0.0 and out["diverged_at"] == math.inf
    assert out["lyapunov_max"] < 0 and out["phase_code"] == Phase.FIXED_POINT.code


def test_the_theory_does_not_import_the_simulation_package():
    """Layering: no module of dmft imports simulate, at module level or inside a function (the
    store that dmft.phase_diagram and simulate.sweep share lives in dmft._store)."""
    import ast
    from pathlib import Path

    import dmft
    bad = []
    for path in Path(dmft.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            bad += [f"{path.name}:{node.lineno} {n}" for n in names
                    if n.split(".")[0] == "simulate"]
    assert not bad
