"""The torch backend of :mod:`simulate`: network integration and Lyapunov spectra on any torch
device, float64 (``backend="torch"`` of :func:`simulate.integrate` and
:func:`simulate.lyapunov_spectrum`; the numba path stays the default).

The same realization (:func:`simulate.sample`'s :class:`~simulate.Network`: its weights are
moved to the device, not drawn again), the same equations and the same step as the numba
kernels (docs/theory.md section 7): the vector field and the tangent map (7.1)-(7.2),

    tau f = G (-lam h + F),   tau J V = diag(G) (-lam V + J_F V) + diag(G (1 - G) r) W_z V,

evaluated on the block Z = [h | V] in one matrix product per weight matrix, ``W^l @ [s^l | D_l
... V]`` (:meth:`TorchNetwork.field`), the classical RK4 step or the Euler map on the whole block
(7.3), and every t_ons the QR step Q R = qr(V) by ``torch.linalg.qr`` with log|R_jj| summed (7.4).
The block is stored transposed, one row per column of Z (``Z[0]`` is the state, ``Z[1:]`` the
k tangent vectors), so that the tangent block is a column-major N x k matrix that the QR reads
without a copy and every product is a BLAS-3 ``torch.mm`` into a preallocated buffer.

Memory: the block, three RK4 buffers, one buffer per layer (and the gate) of the same size, and
the QR's Q (N x k) and R (k x k): O(N k) beyond the weights, allocated once per run; no
trajectory is kept (``integrate(..., record=False)``). The trace of a deeper flow
(``mean_trace``) forms the N x N chain D_{L-1} W^{L-2} ... W^0 like the numba path
(``trace="none"`` avoids it).

phi'(u) is the forward-mode derivative (``torch.autograd.forward_ad``) of the activation's torch
form in the activation table (:mod:`dmft.activations`, resolved by :mod:`gnode`), so that no
activation is described a second time; torch's softplus returns u itself above u = 20, where it
differs from log(1 + e^u) by less than e^-20 (the numba form does not).

The run is the numba path's to round-off: the same schedule (:func:`simulate._qr.run_qr` over
:class:`TorchStepper`, a tangent stepper with the contract of :mod:`simulate._qr`), the same
initial frame and state, the same noise (numpy's ``RandomState`` seeded like the numba kernels'
``np.random.seed``: the same Mersenne-Twister normals), the same trace bookkeeping, and the
divergence policy of :mod:`simulate` (the state is checked after every step, so ``diverged_at``
and ``final_state`` are the numba path's; this costs one device synchronization per step).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch
import torch.autograd.forward_ad as fwad

from ._integrate import (
    Trajectory,
    _check_batch,
    _check_time,
    _divergence_reason,
    _method_code,
    _noise_seeds,
)
from ._lyapunov import NetworkStepper
from ._network import Network

__all__ = ["resolve_device", "TorchNetwork", "TorchStepper", "torch_stepper", "integrate_torch"]

BACKENDS = ("numba", "torch")


def resolve_device(backend: str, device) -> torch.device | None:
    """The torch device of ``backend="torch"`` (None for ``"numba"``).

    ``device=None`` is ``"cuda"`` where torch sees a GPU, else ``"cpu"``; any other value is a
    ``torch.device`` or its name, which must hold float64 tensors.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    if backend == "numba":
        if device is not None:
            raise ValueError(f"device is only used with backend='torch', got device={device!r} "
                             "with backend='numba'")
        return None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be a str or a torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
        torch.zeros(1, dtype=torch.float64, device=dev)
    except (RuntimeError, AssertionError, TypeError, ValueError) as exc:
        raise ValueError(f"device {str(device)!r} cannot hold float64 tensors here: {exc}") \
            from exc
    return dev


@functools.cache
def _load_forward_ad() -> None:
    """torch loads its forward-AD decompositions on the first ``make_dual``, through
    ``torch.jit.script``, which torch itself deprecates (a DeprecationWarning from torch's
    internals, not from this code): load them once here with that warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        x = torch.zeros(1, dtype=torch.float64)
        with fwad.dual_level():
            fwad.make_dual(x, x)


def _values(phi, u: torch.Tensor, ones: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(phi(u), phi'(u)) of an elementwise phi: one forward-mode evaluation with tangent 1."""
    with fwad.dual_level():
        s, d = fwad.unpack_dual(phi(fwad.make_dual(u, ones[: u.shape[0]])))
    return s, (torch.zeros_like(u) if d is None else d)


def _mm(X, wt, out) -> None:
    """out = X @ wt for row-stored X and wt = W.T: W X in BLAS-3, and a single row as W x
    (gemv on W as stored; measured 4x faster than the 1 x N by N x N product at N = 2000)."""
    if X.shape[0] == 1:
        torch.mv(wt.T, X[0], out=out[0])
    else:
        torch.mm(X, wt, out=out)


class _Buffers:
    """The work arrays of :meth:`TorchNetwork.field` (and of the RK4 step when ``rk4``) for
    blocks of c rows."""

    def __init__(self, net: TorchNetwork, c: int, rk4: bool):
        def new(m):
            return torch.empty((c, m), dtype=torch.float64, device=net.device)

        self.y = [new(w.shape[1]) for w in net.wt]  # each layer's output, W^l X
        self.yz = new(net.n) if net.gated else None  # the gate's preactivation, W_z X
        self.k1, self.k2, self.tmp = (new(net.n), new(net.n), new(net.n)) if rk4 else (None,) * 3


class TorchNetwork:
    """A :class:`~simulate.Network` on a torch device (float64): its vector field, tangent
    map, RK4 / Euler step and tr J (docs/theory.md section 7, (7.1)-(7.3)).

    The weights are stored transposed (``wt[l] = W^l.T``, views: BLAS reads them as they are;
    on the CPU they share the Network's memory) for products with row-stored blocks.
    """

    def __init__(self, net: Network, device: torch.device):
        from gnode._activations import torch_activation

        _load_forward_ad()
        def dev(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float64, device=device)

        self.device, self.n = device, net.n
        self.wt = [dev(w[0]).T for w in net.flow_w]
        self.b = [dev(b[0]) for b in net.flow_b]
        self.acts = [torch_activation(layer.activation) for layer in net.ensemble.flow]
        self.gated = bool(net.gated)
        self.wzt = dev(net.gate_w[0]).T if self.gated else None
        self.bz = dev(net.gate_b[0]) if self.gated else None
        self.gate_act = torch_activation("sigmoid")
        self.diag0 = dev(net._diag[0]) if net.depth == 1 else None
        self.gate_diag = dev(net._gate_diag[0]) if self.gated else None
        self.lam, self.inv_tau = float(net.lam), 1.0 / float(net.tau)
        self.ones = torch.ones(int(max(net.widths)), dtype=torch.float64, device=device)

    @property
    def depth(self) -> int:
        return len(self.wt)

    def _flow(self, Z, bufs):
        """The flow's forward pass on the block: (phi_L(u^L), phi_L'(u^L), W^{L-1} X_{L-1}) with
        X_l = [s^l | D_l W^{l-1} X_{l-1}] (rows after the first: the tangents)."""
        X = Z
        for layer in range(self.depth):
            Y = bufs.y[layer]
            _mm(X, self.wt[layer], Y)
            s, d = _values(self.acts[layer], Y[0] + self.b[layer], self.ones)
            if layer == self.depth - 1:
                return s, d, Y
            Y[0] = s
            Y[1:].mul_(d)
            X = Y

    def field(self, Z, out, bufs, *, h_step: float = 0.0, want_tr: bool = False):
        """out = [f(h) | J(h) V] for the block Z = [h | V] (rows), or with ``h_step != 0`` the
        Euler update out = Z + h_step [f | J V] (``out`` may be ``Z``).

        Returns tr J(h) (a 0-dim tensor) for a one-layer flow with ``want_tr``
        (tr J = (1/tau) sum_i [G_i (phi'(u_i) W_ii - lam) + G_i (1 - G_i) r_i (W_z)_ii]),
        else None.
        """
        h, V = Z[0], Z[1:]
        if self.gated:
            _mm(Z, self.wzt, bufs.yz)
        s, d, Y = self._flow(Z, bufs)
        r = s - self.lam * h
        T = Y[1:]  # J_F V, turned into tau J V in place
        if self.gated:
            g, gd = _values(self.gate_act, bufs.yz[0] + self.bz, self.ones)
            dg = gd * r  # G (1 - G) r
            T.mul_(g * d)
            if self.lam:
                T.addcmul_(V, g, value=-self.lam)
            T.addcmul_(bufs.yz[1:], dg)
            f = g * r
        else:
            T.mul_(d)
            if self.lam:
                T.sub_(V, alpha=self.lam)
            f = r
        tr = None
        if want_tr and self.depth == 1:
            core = (d * self.diag0 - self.lam) if not self.gated else (
                g * (d * self.diag0 - self.lam) + dg * self.gate_diag)
            tr = core.sum() * self.inv_tau
        if h_step == 0.0:
            torch.mul(T, self.inv_tau, out=out[1:])
            out[0] = f * self.inv_tau
        else:
            scale = h_step * self.inv_tau
            torch.add(V, T, alpha=scale, out=out[1:])
            out[0] = h + scale * f
        return tr

    def step(self, Z, bufs, method: int, dt: float, want_tr: bool = False):
        """One Euler (``method`` 0) or RK4 (1) step of the block Z in place, in the numba
        kernel's order (stage slopes summed into k1 as they come); returns :meth:`field`'s
        trace at the starting state."""
        if method == 0:
            return self.field(Z, Z, bufs, h_step=dt, want_tr=want_tr)
        k1, k2, tmp = bufs.k1, bufs.k2, bufs.tmp
        tr = self.field(Z, k1, bufs, want_tr=want_tr)
        torch.add(Z, k1, alpha=0.5 * dt, out=tmp)
        self.field(tmp, k2, bufs)
        k1.add_(k2, alpha=2.0)
        torch.add(Z, k2, alpha=0.5 * dt, out=tmp)
        self.field(tmp, k2, bufs)
        k1.add_(k2, alpha=2.0)
        torch.add(Z, k2, alpha=dt, out=tmp)
        self.field(tmp, k2, bufs)
        k1.add_(k2)
        Z.add_(k1, alpha=dt / 6.0)
        return tr

    def trace(self, h: torch.Tensor) -> torch.Tensor:
        """tr J(h) (docs/theory.md (7.2)); deeper flows form the chain
        D_{L-1} W^{L-2} ... D_1 W^0 (O(N^3), as :func:`simulate._network._trace_jacobian`)."""
        x, ds = h, []
        for layer in range(self.depth):
            x, d = _values(self.acts[layer], x @ self.wt[layer] + self.b[layer], self.ones)
            ds.append(d)
        if self.depth == 1:
            diag_f = ds[0] * self.diag0
        else:
            P = ds[0][:, None] * self.wt[0].T
            for layer in range(1, self.depth - 1):
                P = ds[layer][:, None] * (self.wt[layer].T @ P)
            diag_f = ds[-1] * (self.wt[-1] * P).sum(dim=0)  # diag(W^{L-1} P)
        r = x - self.lam * h
        if not self.gated:
            return (diag_f - self.lam).sum() * self.inv_tau
        g, gd = _values(self.gate_act, h @ self.wzt + self.bz, self.ones)
        return (g * (diag_f - self.lam) + gd * r * self.gate_diag).sum() * self.inv_tau

    def state_ok(self, Z, bound2: float) -> bool:
        """|h|^2 finite and <= bound^2 N (one synchronization with the device)."""
        return bool(torch.dot(Z[0], Z[0]) <= bound2 * self.n)  # NaN compares False


def _noise(amp: float, seed: int):
    """The numba kernels' noise stream: ``np.random.seed(seed)``, then N(0, 1) draws in order
    (numba's generator is numpy's legacy Mersenne Twister); None without noise."""
    return np.random.RandomState(int(seed)) if amp > 0.0 else None


def _add_noise(Z, amp: float, rs) -> None:
    if rs is not None:
        xi = torch.from_numpy(rs.standard_normal(Z.shape[1])).to(Z.device)
        Z[0].add_(xi, alpha=amp)


class TorchStepper(NetworkStepper):
    """Tangent stepper of the torch backend (the contract of :mod:`simulate._qr`): the block
    Z = [h | Q] as rows on ``device``, propagated by :meth:`TorchNetwork.step` and
    re-orthonormalized by ``torch.linalg.qr``.

    The schedule, seeds (one per chunk, in call order), trace modes and divergence reason are
    :class:`simulate._lyapunov.NetworkStepper`'s, so that both steppers run the same
    computation; ``tr_acc`` holds the same sums after :meth:`mean_trace`.
    """

    def __init__(self, net: Network, sched, h0, q0, *, device: torch.device, **kwargs):
        super().__init__(net, sched, h0, q0, **kwargs)
        self.device = device
        self.net = TorchNetwork(net, device)
        self._tr = torch.zeros(2, dtype=torch.float64, device=device)  # sum dt tr, first tr

    def _chunk(self, Z, n, accumulate, trace_mode, logsum, bufs) -> int:
        rs = _noise(self.noise_amp, next(self._seeds))
        bound2 = self.bound * self.bound
        ls = torch.zeros(Z.shape[0] - 1, dtype=torch.float64, device=self.device)
        done = n
        for o in range(n):
            if not self._interval(Z, bufs, accumulate, trace_mode, rs, bound2):
                done = o
                break
            if Z.shape[0] > 1:
                self._reorthonormalize(Z, ls if accumulate else None)
        if accumulate:
            logsum += ls.cpu().numpy()
        return done

    def _interval(self, Z, bufs, accumulate, trace_mode, rs, bound2) -> bool:
        """The steps of one t_ons interval; False at the first step that leaves the bound."""
        s, net = self.sched, self.net
        one_layer = net.depth == 1
        for i in range(s.steps):
            want = accumulate and (trace_mode == 2 or (trace_mode == 1 and i == 0))
            tr_pre = net.trace(Z[0]) if want and not one_layer else None
            tr = net.step(Z, bufs, s.code, float(s.dt), want and one_layer)
            if want:
                self._add_trace(tr if one_layer else tr_pre, trace_mode)
            _add_noise(Z, self.noise_amp, rs)
            self.n_iter += 1
            if not net.state_ok(Z, bound2):
                return False
        return True

    def _add_trace(self, tr, trace_mode) -> None:
        """The numba kernel's bookkeeping: mode 2 every step (left sum; the first value kept
        for the trapezoid end correction), mode 1 once per interval with weight t_ons."""
        s, acc = self.sched, self.tr_acc
        if trace_mode == 2:
            self._tr[0] += s.dt * tr
            acc[1] += s.dt
            if acc[3] == 0.0:
                self._tr[1] = tr
                acc[3] = 1.0
        else:
            self._tr[0] += s.dt * s.steps * tr
            acc[1] += s.dt * s.steps

    @staticmethod
    def _reorthonormalize(Z, ls) -> None:
        """Z[1:] <- rows of Q diag(sign R_jj), Q R = qr(Z[1:].T); ls += log|R_jj| (-745 for 0)."""
        Q, R = torch.linalg.qr(Z[1:].T)
        d = R.diagonal()
        if ls is not None:
            ls += torch.where(d != 0, torch.log(d.abs()), -745.0)
        Q.mul_(torch.where(d >= 0, 1.0, -1.0))
        Z[1:].copy_(Q.T)

    def transient(self, n: int) -> int:
        k, N, rk4 = self.sched.k, self.net.n, self.sched.code == 1
        # a copy (torch.tensor copies): the caller's h0 is kept
        Zs = torch.tensor(self.h0, dtype=torch.float64, device=self.device).reshape(1, N)
        done = self._chunk(Zs, n, False, 0, None, _Buffers(self.net, 1, rk4)) if n else 0
        self.Z = torch.empty((1 + k, N), dtype=torch.float64, device=self.device)
        self.Z[0] = Zs[0]
        self.Z[1:] = torch.as_tensor(self.q0.T, dtype=torch.float64).to(self.device)
        self.bufs = _Buffers(self.net, 1 + k, rk4)  # allocated once for the whole run
        return done

    def align(self, n: int) -> int:
        done = self._chunk(self.Z, n, False, 0, None, self.bufs) if n else 0
        self.observation_start = self.final_state
        return done

    def mean_trace(self, T: float, diverged: bool) -> float | None:
        acc = self.tr_acc
        acc[0], acc[2] = self._tr.tolist()
        if self.trace_mode == 2 and acc[3] == 1.0 and not diverged:
            # left sum dt * sum_{n<M} tr_n -> trapezoid rule: + dt/2 (tr_M - tr_0), O(dt^2)
            acc[0] += 0.5 * self.sched.dt * (float(self.net.trace(self.Z[0])) - acc[2])
        return acc[0] / acc[1] if acc[1] > 0 and self.trace_mode > 0 else None

    @property
    def final_state(self) -> np.ndarray:
        return self.Z[0].cpu().numpy().copy()


def torch_stepper(net: Network, sched, h0, q0, *, backend: str, device, **kwargs) -> TorchStepper:
    """The :class:`TorchStepper` of :func:`simulate.lyapunov_spectrum` (``backend`` and
    ``device`` validated by :func:`resolve_device`)."""
    return TorchStepper(net, sched, h0, q0, device=resolve_device(backend, device), **kwargs)


def integrate_torch(net: Network, h0: np.ndarray, t_max: float, dt: float, *, method: str,
                    record_every: int, record: bool, t_transient: float, seed: int | None,
                    bound: float, backend: str, device) -> Trajectory:
    """:func:`simulate.integrate` on a torch device: the numba kernel's loop (record before the
    step, RK4 / Euler step, noise, bound check) on a one-row block; the records go to the host
    as they are taken (none with ``record=False``)."""
    device = resolve_device(backend, device)
    _, h0b, record_every, bound = _check_batch([net], h0[None], record_every, bound)
    n_steps, n_tr = _check_time(t_max, dt, t_transient)
    code = _method_code(method)
    tn = TorchNetwork(net, device)
    n = net.n
    n_rec = n_steps // record_every + 1 if record else 0
    rec = np.zeros((n_rec, n))
    Z = torch.tensor(h0b, dtype=torch.float64, device=device)  # a copy: h0 is kept
    last = Z[0].clone()
    bufs = _Buffers(tn, 1, code == 1)
    amp = float(net.noise_std * math.sqrt(dt / net.tau))
    # the seed of span 0: numba re-seeds every _checks.span_steps steps, so the two noise
    # streams agree over the first span only
    rs = _noise(amp, _noise_seeds(net.noise_std, seed, 1)[0, 0])
    total, m, done, diverged = n_tr + n_steps, 0, n_tr + n_steps, False
    for step in range(total):
        if step >= n_tr and (step - n_tr) % record_every == 0 and m < n_rec:
            rec[m] = Z[0].cpu().numpy()
            m += 1
        last.copy_(Z[0])
        tn.step(Z, bufs, code, float(dt))
        _add_noise(Z, amp, rs)
        if not tn.state_ok(Z, float(bound) ** 2):
            done, diverged = step + 1, True
            break
    final = (last if diverged else Z[0]).cpu().numpy().copy()
    if m < n_rec and not diverged:
        rec[m] = final
        m += 1
    f = net.rhs(final)
    at = done * dt if diverged else math.inf
    reason = _divergence_reason(np.array([diverged]), np.array([at]), bound)
    return Trajectory(
        t=(np.arange(n_rec) * record_every * dt)[:m] if record else np.zeros(0),
        h=rec[:m] if record else None, final=final, diverged=diverged, diverged_at=float(at),
        reason=reason, n_steps=int(done), converged=not diverged,
        residual=float(np.sqrt(np.mean(f * f))), n_iter=int(done),
        message=reason or (f"integrated 1 run(s) for {total} steps of dt={dt:g} ({method}, "
                           f"torch on {device})"))
