"""The ``gnode lyapunov`` command."""

import json

from gnode.cli import main


def test_cli_json_and_plot(tmp_path, capsys):
    png = tmp_path / "spec.png"
    rc = main(["lyapunov", "--gain", "2", "--n", "30", "--k", "5", "--t", "20",
               "--transient", "10", "--json", "--plot", str(png), "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["exponents"]) == 5 and out["converged"]
    assert out["exponents"] == sorted(out["exponents"], reverse=True)
    assert png.exists()


def test_cli_bad_k(capsys):
    assert main(["lyapunov", "--n", "10", "--k", "20", "--t", "5", "--no-progress"]) == 2
    assert "k must" in capsys.readouterr().err


def test_cli_explosive_network_is_one_line_and_exit_1(capsys):
    # a non-leaky linear flow of gain 3 grows like e^{~3 t}: rms(h) > 1e6 within the transient
    rc = main(["lyapunov", "--layers", "identity", "--gain", "3", "--non-leaky", "--n", "30",
               "--k", "2", "--t", "20", "--transient", "50", "--no-progress"])
    cap = capsys.readouterr()
    assert rc == 1 and cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gnode lyapunov: error: the state diverged")
    assert "Traceback" not in cap.err
