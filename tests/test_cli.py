"""The ``gnode`` command line: one default flow, --version, help, the theory routes, one-line
errors with their exit status, checked and atomic outputs, the .nc's units and provenance."""

from __future__ import annotations

import json
import shlex
import time

import numpy as np
import pytest

import dmft
from dmft import Ensemble
from gnode.cli import main
from gnode.cli._common import atomic_write


def _one_line_error(capsys, prefix: str) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), cap.err
    assert "Traceback" not in cap.err
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from importlib.metadata import version
    assert capsys.readouterr().out.strip() == f"gnode (gnode-dmft) {version('gnode-dmft')}"


@pytest.mark.parametrize("command", ["critical", "theory", "lyapunov", "spectrum",
                                     "phase-diagram"])
def test_help_lists_activations_gate_and_the_default_flow(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in dmft.activations.activations():
        assert name in text
    assert "--layers tanh --gain 2" in text     # one default flow, stated
    for opt, words in (("--gate-gain", "W_z"), ("--gate-bias-mean", "mu_z"),
                       ("--gate-bias-std", "spread")):
        assert opt in text and words in text


def test_theory_routes_gated_and_non_leaky(capsys):
    assert main(["theory", "--gate-gain", "1", "--n-paths", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "sampled"
    # the same numbers as the Python call with the same seed (the CLI adds nothing)
    r = dmft.sampled(Ensemble.mgru(2.0, gate_gain=1.0), n_paths=200, seed=0)
    assert out["lyapunov_max"] == r.lyapunov_max and out["delta0"] == r.delta0
    assert main(["theory", "--non-leaky", "--n-paths", "200", "--t-max", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "two-time" and out["t_max"] == pytest.approx(4.0)
    r2 = dmft.sampled_two_time(Ensemble.elman(2.0, leak=False), 4.0, dt=0.1, n_paths=200)
    assert out["lyapunov_max"] == r2.lyapunov_max


@pytest.mark.slow   # 35 s; the same failure's one-line message is in test_reliability's table
def test_theory_failure_is_one_line_exit_1(capsys):
    # tanh at gain 1000: the quadrature kernel cannot resolve the preactivation variance
    assert main(["theory", "--gain", "1000"]) == 1
    line = _one_line_error(capsys, "gnode theory: error: stationary:")
    assert "unresolved" in line and "--method sampled" in line


@pytest.mark.parametrize("argv, status, fragment", [
    # refused by the validation layer before any work (usage), naming the range
    (["critical", "--gain", "1e200"], 2, "gain must be a finite real number in [0, 1e+100]"),
    (["theory", "--plot", "/nonexistent-dir/x.png"], 2, "does not exist"),
    (["lyapunov", "--n", "0"], 2, "integer >= 1"),
    (["phase-diagram", "--workers", "-1"], 2, "integer >= 1"),
    (["phase-diagram", "--gain-grid", "0.5:3:100000000"], 2, "count must be in"),
    (["lyapunov", "--t", "0"], 2, "number > 0"),
    (["theory", "--layers", "nope"], 2, "activation must be one of"),
    (["theory", "--method", "stationary", "--gate-gain", "1"], 2, "--method sampled"),
])
def test_errors_are_one_line_with_their_status(argv, status, fragment, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:     # argparse's usage errors
        rc = exc.code
    assert rc == status
    assert fragment in _one_line_error(capsys, f"gnode {argv[0]}: error:")


def test_output_directory_checked_before_work(tmp_path, capsys):
    f = tmp_path / "a_file"
    f.write_text("")
    t0 = time.perf_counter()
    assert main(["phase-diagram", "--out", str(f)]) == 2
    assert time.perf_counter() - t0 < 5.0       # refused before any theory point
    assert "is a file" in _one_line_error(capsys, "gnode phase-diagram: error:")


def test_unreachable_scheduler_fails_within_10_s(tmp_path, capsys):
    t0 = time.perf_counter()
    rc = main(["phase-diagram", "--gain-grid", "0.5", "--gate-biases", "0", "--sim-n", "20",
               "--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path)])
    assert rc == 1 and time.perf_counter() - t0 < 10.0
    assert "cannot reach the scheduler" in _one_line_error(capsys, "gnode phase-diagram")
    assert not (tmp_path / "phase_diagram.nc").exists()


def test_atomic_write_leaves_nothing_after_an_interrupt(tmp_path):
    target = tmp_path / "out.nc"

    def writer(tmp):
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), atomic_write(target) as tmp:
        writer(tmp)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target) as tmp:
        writer(tmp)
    assert target.read_bytes() == b"old"     # the previous file survives intact


@pytest.mark.slow   # 33 s: three realizations of N = 300 spectra
def test_lyapunov_prints_error_bars_and_the_transient(capsys):
    argv = ["lyapunov", "--n", "30", "--k", "3", "--t", "20", "--transient", "10",
            "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "transient 10" in text and "+-" in text and "within-trajectory" in text
    assert main([*argv, "--realizations", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [0, 1, 2] and out["t_transient"] == 10.0
    lams = [float(e[0]) for e in out["exponents"]]
    assert out["lambda_max"] == pytest.approx(np.mean(lams), rel=1e-12)
    assert out["lambda_max_sem"] == pytest.approx(np.std(lams, ddof=1) / np.sqrt(3), rel=1e-9)


def test_critical_explains_an_infinite_q_star(capsys):
    assert main(["critical", "--layers", "relu,identity", "--bias-std", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "q*               inf" in text and "no finite fixed point" in text


_PD = ["phase-diagram", "--gain-grid", "0.5,2", "--gate-biases=-1", "--n-paths", "64",
       "--sim-n", "30,60", "--sim-points", "2", "--sim-seeds", "2", "--sim-t", "20",
       "--sim-transient", "10", "--workers", "1", "--json"]


@pytest.mark.slow   # 31 s: a phase diagram run twice (the rerun reproduces the file)
def test_phase_diagram_nc_units_provenance_and_reproduction(tmp_path, monkeypatch, capsys):
    xr = pytest.importorskip("xarray")
    monkeypatch.chdir(tmp_path)
    assert main([*_PD, "--out", "a"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["store"] == "a/.gnode-cache/sweep_store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]   # nothing left in the cwd
    with xr.open_dataset(tmp_path / "a" / "phase_diagram.nc") as ds:
        ds.load()
    for name in [*ds.data_vars, *ds.coords]:
        assert {"units", "long_name"} <= set(ds[name].attrs), name
    # one coordinate naming: the simulated points sit on the theory's coordinates
    assert set(ds["sim_lyapunov_max"].dims) == {"sim_n", "gate_bias_mean", "gain"}
    assert ds["gate_bias_mean"].attrs["parameter_path"] == "gate.bias_mean"
    assert np.isfinite(ds["sim_lyapunov_extrapolated"]).all()
    assert (ds["sim_n_seeds"] == 2).all()
    for key in ("software", "command", "sim_n", "sim_seeds", "sim_t_max", "sim_dt"):
        assert key in ds.attrs, key
    assert ds.attrs["sim_n"] == "30,60" and ds.attrs["sim_t_max"] == 20.0
    # the command in the provenance reproduces the file
    argv = shlex.split(ds.attrs["command"])[1:]
    argv[argv.index("--out") + 1] = "b"
    assert main(argv) == 0
    with xr.open_dataset(tmp_path / "b" / "phase_diagram.nc") as again:
        for v in ("lyapunov_max", "sim_lyapunov_max", "sim_lyapunov_sem",
                  "sim_lyapunov_extrapolated"):
            np.testing.assert_array_equal(again[v].values, ds[v].values)
    assert (tmp_path / "b" / "phase_diagram.png").exists()
