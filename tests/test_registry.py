"""The bad-input registry (issue 18): every public entry point and CLI option refuses bad input.

One parametrized table: (entry point, parameter, bad value) -> the exception type and a message
fragment naming the parameter.  The table is built from a small list of calls, each with the
parameters it validates and their kind; every kind has a fixed list of bad values (bool, NaN,
inf, out of range, a string, None, ...), so that a new parameter gets all of them by one line.
A bad value must be refused at the boundary, before any work: the calls' other arguments are
tiny, and a value that slipped through would show as a wrong (or no) exception, not as a pass.

The CLI half runs ``gnode.cli.main`` in-process: exit status 2 (usage) and exactly one line on
stderr naming the option, no traceback.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dmft
import gnode
import simulate
from dmft import Ensemble, Gate, Layer
from dmft import kernels as K

E = Ensemble.elman(1.5)
EG = Ensemble.mgru(1.5, gate_gain=1.0)
NET = simulate.sample(E, 8, seed=0)
H0 = np.zeros(8)

# bad values per kind (what must be refused), with the kind's allowed range in words
BAD = {
    # a real number > 0
    "pos": [True, math.nan, math.inf, -1.0, 0.0, "1", None, 1j],
    # a real number >= 0
    "nonneg": [True, math.nan, math.inf, -1.0, "1", None],
    # a gate bias: any real number or +inf (a gate fixed at 1), not -inf (the state frozen)
    "bias": [True, math.nan, -math.inf, "1", None],
    # an int >= 1
    "count": [True, 0, -3, 1.5, "2", None, np.float64(2.0)],
    # an int >= 0 (a seed)
    "seed": [True, -1, 1.5, "0", None],
    # a bool
    "flag": ["yes", None, 2.5],
}
# optional parameters: None is allowed, everything else of the kind is not
OPTIONAL = {k: [v for v in vals if v is not None] for k, vals in BAD.items()}


def _E(**kw):
    return lambda v: Ensemble(flow=(Layer(1.5),), **{**kw, **v})


# (entry id, call taking one keyword dict, [(parameter, kind), ...])
CALLS = [
    ("dmft.critical_gain", lambda kw: dmft.critical_gain(E, **kw),
     [("rho", "pos"), ("xtol", "pos")]),
    ("dmft.critical", lambda kw: dmft.critical(E, **kw), [("rho", "pos")]),
    ("dmft.critical_line", lambda kw: dmft.critical_line(E, [0.0, 0.1], **kw), [("rho", "pos")]),
    ("dmft.fixed_point", lambda kw: dmft.fixed_point(E, **kw), [("xtol", "pos")]),
    ("dmft.stationary", lambda kw: dmft.stationary(E, **kw),
     [("n_kernel", "count"), ("n_lags", "count"), ("rtol", "pos"), ("zero_mode_tol", "pos")]),
    ("dmft.two_time", lambda kw: dmft.two_time(E, **{"t_max": 1.0, "dt": 0.1, "q0": 1.0, **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("q0", "nonneg"), ("derivative", "flag")]),
    ("dmft.lyapunov_two_replica",
     lambda kw: dmft.lyapunov_two_replica(E, **{"t_max": 1.0, "dt": 0.1, "q0": 1.0, **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("q0", "nonneg"), ("d0", "pos")]),
    ("dmft.sampled", lambda kw: dmft.sampled(EG, **{"n_paths": 32, "measure": 2.0,
                                                     "burn_in": 1.0, "lag_window": 1.0,
                                                     "max_iter": 1, **kw}),
     [("n_paths", "count"), ("dt", "pos"), ("lag_window", "pos"), ("burn_in", "nonneg"),
      ("measure", "pos"), ("damping", "pos"), ("max_iter", "count"), ("tol", "pos"),
      ("n_average", "count"), ("lyapunov", "flag"), ("lyapunov_iter", "count"),
      ("n_replicas", "count"), ("seed", "seed")]),
    ("dmft.sampled_two_time",
     lambda kw: dmft.sampled_two_time(EG, **{"t_max": 1.0, "n_paths": 8, **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("q0", "pos"), ("n_paths", "count"),
      ("n_replicas", "count"), ("seed", "seed")]),
    ("dmft.spectrum", lambda kw: dmft.spectrum(E, **{"n_paths": 16, **kw}),
     [("window", "pos"), ("spacing", "pos"), ("n_paths", "count"), ("n_replicas", "count"),
      ("calibrate", "flag"), ("n_above", "count"), ("ds_below", "pos"),
      ("grid_error", "flag"), ("seed", "seed"), ("progress", "flag")]),
    ("dmft.phase_diagram", lambda kw: dmft.phase_diagram(E, ("gain", [0.5]), **kw),
     [("seed", "seed"), ("n_workers", "count"), ("progress", "flag")]),
    ("dmft.summarize_exponents", lambda kw: dmft.summarize_exponents([-1.0, 0.5], **kw),
     [("n", "count")]),
    ("dmft.Layer", lambda kw: Layer(**{"gain": 1.0, **kw}),
     [("gain", "nonneg"), ("bias_std", "nonneg"), ("width", "pos")]),
    ("dmft.Gate", lambda kw: Gate(**kw),
     [("gain", "nonneg"), ("bias_mean", "bias"), ("bias_std", "nonneg")]),
    ("dmft.Ensemble", _E(), [("tau", "pos"), ("noise_std", "nonneg"), ("leak", "flag")]),
    ("dmft.Ensemble.elman", lambda kw: Ensemble.elman(**{"gain": 1.0, **kw}),
     [("gain", "nonneg"), ("bias_std", "nonneg")]),
    ("dmft.Ensemble.sample", lambda kw: E.sample(**{"n": 4, "rng": 0, **kw}), [("n", "count")]),
    ("dmft.kernels.second_moment", lambda kw: K.second_moment(**{"activation": "tanh", **kw}),
     [("q", "nonneg")]),
    ("dmft.kernels.dsecond_moment",
     lambda kw: K.dsecond_moment(**{"activation": "tanh", **kw}), [("q", "nonneg")]),
    ("simulate.sample", lambda kw: simulate.sample(E, **{"n": 4, "seed": 0, **kw}),
     [("n", "count"), ("seed", "seed")]),
    ("simulate.random_state", lambda kw: simulate.random_state(**{"n": 4, "seed": 0, **kw}),
     [("n", "count"), ("std", "nonneg")]),
    ("simulate.integrate", lambda kw: simulate.integrate(NET, H0, **{"t_max": 0.2, "dt": 0.1,
                                                                     **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("record_every", "count"), ("record", "flag"),
      ("t_transient", "nonneg"), ("bound", "pos")]),
    ("simulate.lyapunov_spectrum",
     lambda kw: simulate.lyapunov_spectrum(NET, **{"k": 2, "t_max": 2.0, "dt": 0.1,
                                                   "t_transient": 0.0, **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("t_transient", "nonneg"), ("seed", "seed"),
      ("n_history", "count"), ("two_trajectory", "flag"), ("bound", "pos"),
      ("progress", "flag")]),
    ("simulate.lyapunov_max_two",
     lambda kw: simulate.lyapunov_max_two(NET, **{"t_max": 2.0, "dt": 0.1, "t_transient": 0.0,
                                                  **kw}),
     [("t_max", "pos"), ("dt", "pos"), ("t_transient", "nonneg"), ("seed", "seed"),
      ("bound", "pos")]),
    ("simulate.find_fixed_point", lambda kw: simulate.find_fixed_point(NET, H0, **kw),
     [("tol", "pos"), ("max_iter", "count")]),
    ("simulate.autocorrelation",
     lambda kw: simulate.autocorrelation(np.ones((10, 2)), **kw),
     [("dt", "pos"), ("centered", "flag")]),
    ("simulate.SimulationTask", lambda kw: simulate.SimulationTask(E, **kw),
     [("n", "count"), ("t_max", "pos"), ("t_transient", "nonneg"), ("dt", "pos")]),
    ("gnode.gate_bias_for_timescale",
     lambda kw: gnode.gate_bias_for_timescale(**{"timescale": 2.0, **kw}),
     [("timescale", "pos"), ("tau", "pos")]),
    ("gnode.flipflop", lambda kw: gnode.flipflop(**{"n_bits": 1, "n_trials": 2, "seed": 0,
                                                   **kw}),
     [("n_bits", "count"), ("n_trials", "count"), ("seed", "seed"), ("n_bins", "count")]),
    ("gnode.classify", lambda kw: gnode.classify(np.array([-1.0 + 0j]), **kw),
     [("marginal_tol", "nonneg")]),
]

# the optional ones: None allowed (and exercised elsewhere), every other bad value refused
OPTIONAL_PARAMS = {("dmft.summarize_exponents", "n")}
# integral floats kept valid where they were accepted before (behaviour preserved)
INTEGRAL_FLOAT_OK = {("simulate.integrate", "record_every")}


def _cases():
    for entry, call, params in CALLS:
        for name, kind in params:
            values = OPTIONAL[kind] if (entry, name) in OPTIONAL_PARAMS else BAD[kind]
            if (entry, name) in INTEGRAL_FLOAT_OK:
                values = [v for v in values if not isinstance(v, np.floating)]
            for v in values:
                exc = TypeError if (isinstance(v, bool | str | complex) or v is None
                                    or (kind in ("count", "seed") and isinstance(v, float))) \
                    else ValueError
                yield pytest.param(entry, call, name, v, exc, id=f"{entry}-{name}-{v!r}")


# whole-argument cases: (entry id, thunk, exception, fragment)
WHOLE = [
    ("dmft.critical_line(None)", lambda: dmft.critical_line(None, [0.0]), TypeError, "ens"),
    ("dmft.stationary(None)", lambda: dmft.stationary(None), TypeError, "ens"),
    ("dmft.fixed_point('tanh')", lambda: dmft.fixed_point("tanh"), TypeError, "ens"),
    ("dmft.spectral_radius(1)", lambda: dmft.spectral_radius(1), TypeError, "ens"),
    ("dmft.sampled(None)", lambda: dmft.sampled(None), TypeError, "ens"),
    ("dmft.spectrum(None)", lambda: dmft.spectrum(None), TypeError, "ens"),
    ("dmft.two_time scheme", lambda: dmft.two_time(E, 1.0, 0.1, 1.0, scheme="rk9"),
     ValueError, "scheme"),
    ("dmft.two_time size", lambda: dmft.two_time(E, 1e7, 1e-3, 1.0), ValueError, "t_max / dt"),
    ("dmft.sampled_two_time size", lambda: dmft.sampled_two_time(EG, 1e6, dt=0.1),
     ValueError, "grid points"),
    ("dmft.phase_diagram x", lambda: dmft.phase_diagram(E, x="gain"), TypeError, "pair"),
    ("dmft.phase_diagram grid nan", lambda: dmft.phase_diagram(E, x=("gain", [math.nan])),
     ValueError, "finite"),
    ("dmft.phase_diagram grid str", lambda: dmft.phase_diagram(E, x=("gain", ["a"])),
     TypeError, "grid"),
    ("dmft.phase_diagram quantities str",
     lambda: dmft.phase_diagram(E, x=("gain", [1.0]), quantities="rho"), TypeError,
     "quantities"),
    ("dmft.phase_diagram sampled_kwargs", lambda: dmft.phase_diagram(
        E, x=("gain", [1.0]), sampled_kwargs=[1]), TypeError, "sampled_kwargs"),
    ("dmft.Ensemble.sample huge", lambda: E.sample(10**7, 0), MemoryError, "memory"),
    ("dmft.Layer activation", lambda: Layer(1.0, "nope"), ValueError, "nope"),
    ("dmft.Ensemble flow empty", lambda: Ensemble(flow=()), ValueError, "flow"),
    ("dmft.Ensemble.scaled nan", lambda: E.scaled(math.nan), ValueError, "factor"),
    ("dmft.kernels.kernel q<0", lambda: K.kernel("relu", -1.0, 1.0, 0.0), ValueError, "q1"),
    ("dmft.kernels.kernel q'<0", lambda: K.kernel("tanh", 1.0, -1.0, 0.0), ValueError, "q2"),
    ("dmft.kernels.kernel |c|>sqrt(qq')", lambda: K.kernel("tanh", 1.0, 1.0, 2.0), ValueError,
     "c"),
    ("dmft.kernels.kernel q=inf", lambda: K.kernel("relu", math.inf, 1.0, 0.0), ValueError,
     "q1"),
    ("dmft.kernels.kernel q='1'", lambda: K.kernel("tanh", "1", 1.0, 0.0), TypeError, "q1"),
    ("dmft.kernels.dkernel q<0", lambda: K.dkernel("erf", -1.0, 1.0, 0.0), ValueError, "q1"),
    ("dmft.kernels.kernel_pair c nan", lambda: K.kernel_pair("tanh", 1.0, 1.0, math.nan),
     ValueError, "c"),
    ("dmft.kernels.gaussian_mean var<0", lambda: K.gaussian_mean("tanh", 0.0, -1.0),
     ValueError, "var"),
    ("dmft.kernels.gaussian_mean mean nan", lambda: K.gaussian_mean("tanh", math.nan, 1.0),
     ValueError, "mean"),
    ("dmft.kernels.flow_kernel list", lambda: K.flow_kernel([1, 2], 1.0, 1.0, 0.0), TypeError,
     "flow"),
    ("dmft.kernels.flow_variances q<0", lambda: K.flow_variances(E, -1.0), ValueError, "q"),
    ("dmft.kernels.get_activation 3", lambda: K.get_activation(3), TypeError, "activation"),
    ("dmft.kernels.kernel method", lambda: K.kernel("tanh", 1.0, 1.0, 0.0, method="magic"),
     ValueError, "method"),
    ("simulate.kaplan_yorke nan", lambda: simulate.kaplan_yorke(np.array([math.nan, -1.0])),
     ValueError, "exponents"),
    ("simulate.integrate h0 shape", lambda: simulate.integrate(NET, np.zeros(3), 0.2, 0.1),
     ValueError, "h0"),
    ("simulate.integrate h0 nan", lambda: simulate.integrate(NET, np.full(8, math.nan), 0.2,
                                                             0.1), ValueError, "h0"),
    ("simulate.integrate method", lambda: simulate.integrate(NET, H0, 0.2, 0.1, method="rk9"),
     ValueError, "method"),
    ("simulate.integrate net", lambda: simulate.integrate(E, H0, 0.2, 0.1), TypeError, "net"),
    ("simulate.lyapunov_spectrum k=0", lambda: simulate.lyapunov_spectrum(NET, 0, t_max=0.2),
     ValueError, "k"),
    ("simulate.lyapunov_spectrum k>N", lambda: simulate.lyapunov_spectrum(NET, 9, t_max=0.2),
     ValueError, "k"),
    ("simulate.lyapunov_spectrum trace", lambda: simulate.lyapunov_spectrum(
        NET, 2, t_max=2.0, trace="magic"), ValueError, "trace"),
    ("simulate.sample huge", lambda: simulate.sample(E, 10**7, seed=0), MemoryError, "memory"),
    ("simulate.jacobian h shape", lambda: simulate.jacobian(NET, np.zeros(2)), ValueError, "h"),
    ("simulate.population_variance 1d", lambda: simulate.population_variance(np.zeros(3)),
     ValueError, "h"),
    ("simulate.population_variance 4d", lambda: simulate.population_variance(
        np.zeros((2, 2, 2, 2))), ValueError, "h"),
    ("simulate.finite_size_extrapolation", lambda: simulate.finite_size_extrapolation(
        [10], [[1.0]]), ValueError, "ns"),
    ("gnode.classify nan", lambda: gnode.classify(np.array([math.nan + 0j])), ValueError,
     "eigenvalues"),
]


@pytest.mark.parametrize("entry, call, name, value, exc", list(_cases()))
def test_bad_parameter_refused(entry, call, name, value, exc):
    with pytest.raises(exc) as info:
        call({name: value})
    assert name in str(info.value), (entry, str(info.value))


@pytest.mark.parametrize("entry, thunk, exc, fragment", WHOLE, ids=[w[0] for w in WHOLE])
def test_bad_argument_refused(entry, thunk, exc, fragment):
    with pytest.raises(exc, match=fragment):
        thunk()


@pytest.mark.parametrize("call, kwargs", [
    (dmft.critical_gain, {"rho": np.float32(1.0)}),
    (dmft.stationary, {"n_kernel": np.int64(24)}),
    (dmft.two_time, {"t_max": np.float64(1.0), "dt": np.float32(0.125), "q0": np.int32(1)}),
])
def test_numpy_scalars_accepted(call, kwargs):
    """numpy scalars are valid numbers (the probe's 'valid numbers refused')."""
    call(E, **kwargs)


# ------------------------------------------------------------------------------ CLI
# (subcommand, option, bad values): every option given a value it must refuse
CLI = [
    ("critical", "--gain", ["nan", "-1", "abc", "1e200", "inf"], "gain"),
    ("critical", "--rho", ["nan", "-1", "0", "abc", "inf"], "rho"),
    ("critical", "--bias-std", ["-1", "nan", "abc"], "bias"),
    ("critical", "--tau", ["0", "-1", "nan", "abc"], "tau"),
    ("critical", "--layers", ["nope", ",", "tanh,nope"], "activation|--layers"),
    ("critical", "--widths", ["-1", "abc", "1,2"], "width"),
    ("critical", "--gate-gain", ["-1", "nan", "abc"], "gate.gain|--gate-gain|gain"),
    ("critical --gate-gain 1", "--gate-bias-mean", ["nan", "abc", "-inf"],
     "bias_mean|--gate-bias-mean"),
    ("critical --gate-gain 1", "--gate-bias-std", ["-1", "nan"], "bias_std|--gate-bias-std"),
    ("critical", "--gate-bias-mean", ["1"], "--gate-gain"),
    ("critical", "--noise-std", ["-1", "nan"], "noise_std|--noise-std"),
    ("theory", "--gain", ["nan", "-1", "abc"], "gain"),
    ("theory", "--plot", ["/nonexistent-dir-gnode/x.png", "."], "--plot"),
    ("lyapunov", "--n", ["0", "-5", "abc", "1.5", "10000000"], "--n|n must|memory"),
    ("lyapunov", "--k", ["0", "-1", "abc", "100000"], "--k|k must"),
    ("lyapunov", "--t", ["0", "-1", "nan", "inf", "abc"], "--t|t_max"),
    ("lyapunov", "--dt", ["0", "-0.1", "nan", "abc"], "dt"),
    ("lyapunov", "--method", ["rk9"], "--method"),
    ("lyapunov", "--t-ons", ["0", "-1", "nan"], "t_ons|--t-ons"),
    ("lyapunov", "--transient", ["-1", "nan", "abc"], "transient"),
    ("lyapunov", "--seed", ["-1", "abc", "1.5"], "seed"),
    ("lyapunov", "--plot", ["/nonexistent-dir-gnode/x.png", "."], "--plot"),
    ("spectrum", "--dt", ["0", "-1", "nan"], "dt"),
    ("spectrum", "--paths", ["0", "-1", "abc"], "paths"),
    ("spectrum", "--replicas", ["0", "abc"], "replicas"),
    ("spectrum", "--seed", ["-1", "abc"], "seed"),
    ("spectrum", "--plot", ["/nonexistent-dir-gnode/x.png"], "--plot"),
    ("phase-diagram", "--gain-grid", ["0.5:3:100000000", "0.5:3", "a:b:c", "0.5:3:0", "",
                                      "nan,1"], "--gain-grid"),
    ("phase-diagram", "--gate-biases", ["=1:2:0", "=1:inf:3", "=x"], "--gate-biases"),
    ("phase-diagram", "--workers", ["-1", "0", "abc"], "--workers"),
    ("phase-diagram", "--n-paths", ["0", "abc"], "--n-paths"),
    ("phase-diagram", "--sim-n", ["-1", "abc"], "--sim-n"),
    ("phase-diagram", "--sim-points", ["0"], "--sim-points"),
    ("phase-diagram", "--out", ["<a file>"], "--out"),
]


def _cli_cases():
    for cmd, opt, values, fragment in CLI:
        for v in values:
            yield pytest.param(cmd, opt, v, fragment, id=f"{cmd}{opt}={v}")


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    return f


@pytest.mark.parametrize("cmd, opt, value, fragment", list(_cli_cases()))
def test_cli_bad_option(cmd, opt, value, fragment, capsys, a_file):
    import re

    from gnode.cli import main

    if value == "<a file>":
        value = str(a_file)
    argv = cmd.split() + ([f"{opt}{value}"] if value.startswith("=") else [opt, value])
    cmd = cmd.split()[0]
    code = main(argv) if _parses(argv) else _exit_code(main, argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"gnode {cmd}: error:"), err
    assert re.search(fragment, lines[0]), err


def _parses(argv) -> bool:
    import contextlib
    import io

    from gnode.cli import build_parser
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


def _exit_code(main, argv) -> int:
    with pytest.raises(SystemExit) as info:   # argparse's usage errors exit from parse_args
        main(argv)
    return info.value.code


def test_registry_size():
    """The issue's bar: at least 300 bad inputs across the entry points and CLI options."""
    n = len(list(_cases())) + len(WHOLE) + len(list(_cli_cases()))
    assert n >= 300, n
