"""gnode models: gradients, batching, masks, the discrete mGRU identity, bad input, lazy import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import gnode
from gnode.models import GNODE, GRU, MGRU, NCODE, NODE, Elman

D, N, NOUT = 2, 3, 2

MODELS = {
    "gnode": lambda: GNODE(N, D, NOUT, flow_hidden=(4,), gate_hidden=(), activation="tanh",
                           output_activation="identity", method="rk4", dt=0.5),
    "gnode_deepgate": lambda: GNODE(N, D, NOUT, flow_hidden=(4, 3), gate_hidden=(4,),
                                    activation="softplus", output_activation="tanh"),
    "node_nonleaky": lambda: NODE(N, D, NOUT, flow_hidden=(4,), activation="erf", leak=False,
                                  tau=2.0),
    "mgru": lambda: MGRU(N, D, NOUT, initial_state="input"),
    "elman": lambda: Elman(N, D, NOUT, bias=False, substeps=2),
    "ncode_open": lambda: NCODE(N, D, NOUT, control="open", rank=2, activation="tanh"),
    "ncode_closed": lambda: NCODE(N, D, NOUT, control="closed", activation="sigmoid", gated=True),
    "gru": lambda: GRU(N, D, NOUT),
}


def _randomize(model: torch.nn.Module, seed: int = 0) -> None:
    """Draw every parameter N(0, 0.5^2) so that no gradient is trivially zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradcheck_float64(name):
    """Analytic gradients (inputs and all parameters) equal finite differences (float64)."""
    model = MODELS[name]()
    _randomize(model)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, D, generator=gen, dtype=torch.float64, requires_grad=True)
    names = [k for k, _ in model.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in model.named_parameters())
    lengths = torch.tensor([3, 2])

    def f(x, *ps):
        out = torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (x,),
                                         {"lengths": lengths})
        return out.output, out.final

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_equals_per_sample(name):
    """A padded batch with lengths gives each sequence's own run, states frozen after it."""
    model = MODELS[name]()
    _randomize(model, 3)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 6, D, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([6, 1, 4, 3])
    with torch.no_grad():
        out = model(x, lengths=lengths)
        for i, n in enumerate(lengths.tolist()):
            one = model(x[i:i + 1, :n])
            # float64 round-off only (same operations, different batch layout)
            torch.testing.assert_close(out.states[i, :n], one.states[0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(out.final[i], one.final[0], rtol=1e-12, atol=1e-12)
            assert torch.equal(out.states[i, n:], out.final[i].expand(6 - n, N))
            torch.testing.assert_close(out.output[i, :n], one.output[0], rtol=1e-12, atol=1e-12)


def test_mgru_euler_at_dt_tau_is_the_discrete_gated_update():
    """Euler with dt = tau: h' = (1 - G) h + G tanh(W h + U x + b) (independent recursion)."""
    model = MGRU(5, 2, 1, initial_state="zero", dt=1.0)
    _randomize(model, 4)
    f = model.field
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(3, 7, 2, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        states = model(x).states
        h = torch.zeros(3, 5, dtype=torch.float64)
        for k in range(7):
            xk = x[:, k]
            g = torch.sigmoid(h @ f.gate[0].weight.T + xk @ f.gate_input.weight.T + f.gate[0].bias)
            c = torch.tanh(h @ f.flow[0].weight.T + xk @ f.flow_input.weight.T + f.flow[0].bias)
            h = (1 - g) * h + g * c
            torch.testing.assert_close(states[:, k], h, rtol=1e-13, atol=1e-13)


def test_ncode_at_init_equals_node_with_same_flow():
    """With E_a = P_a = 0 (initialization) the controlled part vanishes: N-CODE = nODE."""
    nc = NCODE(6, 2, 1, control="closed", flow_hidden=(5,), activation="tanh")
    node = NODE(6, 2, 1, flow_hidden=(5,), activation="tanh")
    node.load_state_dict({k: v for k, v in nc.state_dict().items()
                          if not k.startswith(("field.encode", "field.control"))})
    x = torch.randn(2, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(nc(x).states, node(x).states, rtol=1e-14, atol=1e-14)


def test_gru_wrapper_matches_torch_gru():
    model = GRU(4, 3, 2, initial_state="zero")
    x = torch.randn(2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, hn = model.gru(x)
        out = model(x)
    torch.testing.assert_close(out.states, ref)
    torch.testing.assert_close(out.final, hn[0])


# ---------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument():
    m = GNODE(3, 2, 1)
    x = torch.zeros(2, 4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="x must have shape"):
        m(torch.zeros(2, 4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x must have shape"):
        m(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="dtype"):
        m(x.int())   # the dtype rule of forward and train: only floating-point input is cast
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        m(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        m(torch.full((2, 4, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=torch.tensor([5, 1]))
    with pytest.raises(TypeError, match="lengths"):
        m(x, lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="h0 must have shape"):
        m(x, h0=torch.zeros(2, 4, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, match", [
    ({"flow_hidden": (0,)}, r"flow_hidden\[0\]"),
    ({"gate_hidden": (4, 0)}, r"gate_hidden\[1\]"),
    ({"activation": "gelu"}, "activation must be one of"),
    ({"output_activation": "swish"}, "output_activation must be one of"),
    ({"tau": 0.0}, "tau"),
    ({"dt": -1.0}, "dt"),
    ({"method": "heun"}, "method"),
    ({"initial_state": "random"}, "initial_state"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GNODE(3, 2, 1, **kwargs)


def test_zero_state_dim_rejected():
    with pytest.raises(ValueError, match="state_dim"):
        Elman(0, 2, 1)
    with pytest.raises(ValueError, match="output_dim"):
        NODE(3, 2, 0)
    with pytest.raises(TypeError, match="state_dim"):
        MGRU(3.0, 2, 1)


def test_import_gnode_does_not_import_torch():
    """The CLI imports gnode for every command: torch must load lazily (PEP 562)."""
    code = ("import sys, gnode, gnode.cli; assert 'torch' not in sys.modules; "
            "gnode.GNODE; assert 'torch' in sys.modules; print(sorted(gnode.__all__)[:2])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert set(gnode.__all__) <= set(dir(gnode))
    with pytest.raises(AttributeError):
        gnode.does_not_exist  # noqa: B018


def test_submodules_are_reachable_from_a_bare_import_gnode():
    """``import gnode; gnode.tasks.flipflop(...)`` (the lazy loader serves submodules too)."""
    code = ("import sys, gnode; assert 'torch' not in sys.modules; "
            "assert {'analysis', 'init', 'tasks'} <= set(dir(gnode)); "
            "assert callable(gnode.tasks.flipflop) and callable(gnode.init.critical_); "
            "assert gnode.analysis.plot_flow is gnode.plot_flow; "
            "assert gnode.models.GNODE is gnode.GNODE and callable(gnode.solve.unroll); "
            "assert callable(gnode.cli.main); print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_float32_input_is_cast_like_train():
    # one dtype rule for forward and gnode.train (gnode.models.cast_floating): float32 input is
    # cast to the model's float64, so the output is the float64 output of the rounded input
    m = GNODE(3, 2, 1)
    x = torch.randn(2, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x32 = x.float()
    with torch.no_grad():
        out = m(x32).output
        ref = m(x32.double()).output
    assert out.dtype == torch.float64
    assert torch.equal(out, ref)   # the same float64 computation: bit-identical
