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
