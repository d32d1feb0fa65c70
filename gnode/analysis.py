"""Fixed points, slow points and flow fields of trained models (Sussillo & Barak 2013).

For a model ``tau dh/dt = G(h, x) (-lam h + F(h, x))`` with velocity f(h, x) = dh/dt, at a constant
input x (zero by default), the fixed and slow points are the minima of the speed

    q(h) = |f(h, x)|^2 / 2

found from many starting states.  Each start is refined by a Levenberg-Marquardt iteration on the
residual f(h) (N equations, N unknowns): steps -(J^T J + mu D)^-1 J^T f with J = df/dh by
autograd, D = diag(J^T J) (Marquardt's scaling, so that badly scaled directions such as a nearly
closed gate still converge) and mu adapted per start.  Near a regular fixed point this is Newton's
method (quadratic convergence), elsewhere a damped descent on q, so starts that are not attracted
to a zero of f end on a local minimum of q with q > 0 (a slow point).  The end points are
de-duplicated and classified by the eigenvalues lambda of J there (:func:`classify`):

==============  =========================================================================
``stable``      every Re lambda < -marginal_tol
``marginal``    no Re lambda > marginal_tol and at least one |Re lambda| <= marginal_tol:
                relaxation along some direction slower than 1/marginal_tol (a point of an
                approximate line / ring attractor)
``saddle``      some Re lambda > marginal_tol and some < -marginal_tol
``unstable``    some Re lambda > marginal_tol and none < -marginal_tol
==============  =========================================================================

``marginal_tol`` is a rate in the units of the field (1/time; with tau = 1 and an input every
dt = 1 the default 1e-2 means "slower than 100 samples", the length of a flip-flop trial).  For
the gated models the gate enters J as diag(G) (-lam I + J_F) + diag(-lam h + F) dG/dh: where the
gate closes (G -> 0) every eigenvalue goes to zero, the gnODE's route to marginal stability.

The eigenvalues are those of the continuous-time field.  A model integrated with Euler steps of
size dt runs the map h -> h + dt f(h), whose multipliers at a fixed point are 1 + dt lambda.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dmft.results import short_repr

__all__ = ["FixedPoints", "find_fixed_points", "classify", "velocity", "plot_flow", "KINDS"]

KINDS = ("stable", "marginal", "saddle", "unstable")


@dataclass(frozen=True)
class FixedPoints:
    """Result of :func:`find_fixed_points`.

    Attributes
    ----------
    points : ndarray, shape (K, N)
        Distinct fixed / slow points, sorted by speed.
    speed : ndarray, shape (K,)
        |f(h, x)| at each point.
    is_fixed : ndarray of bool, shape (K,)
        ``speed <= tol`` (a fixed point to the solver's tolerance); the others are slow points.
    eigenvalues : ndarray of complex, shape (K, N)
        Eigenvalues of df/dh, sorted by decreasing real part.
    kind : tuple of str
        :func:`classify` of each point (``"stable"``, ``"marginal"``, ``"saddle"``,
        ``"unstable"``).
    counts : ndarray of int, shape (K,)
        Number of starts that ended at each point.
    marginal_tol : float
        The classification threshold on |Re lambda|.
    n_starts : int
    converged, residual, n_iter, message
        ``converged``: at least one point was found; ``residual``: the largest speed among the
        returned points; ``n_iter``: the largest number of iterations used by a start.
    """

    points: np.ndarray
    speed: np.ndarray
    is_fixed: np.ndarray
    eigenvalues: np.ndarray
    kind: tuple[str, ...]
    counts: np.ndarray
    marginal_tol: float
    n_starts: int
    converged: bool
    residual: float
    n_iter: int
    message: str

    __repr__ = short_repr   # arrays by shape: printing a result never dumps hundreds of lines

    def count(self, kind: str, *, fixed_only: bool = False) -> int:
        """Number of distinct points of a kind (fixed points only with ``fixed_only``)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        mask = np.array([k == kind for k in self.kind], dtype=bool)
        if fixed_only:
            mask &= self.is_fixed
        return int(mask.sum())

    def select(self, kind: str) -> np.ndarray:
        """The points of one kind, shape (k, N)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return self.points[np.array([k == kind for k in self.kind], dtype=bool)]


def classify(eigenvalues, marginal_tol: float = 1e-2) -> str:
    """Classify a fixed point by the real parts of its Jacobian's eigenvalues (module docstring).

    Examples
    --------
    >>> classify([-1.0, -2.0]), classify([-1.0, 1e-4]), classify([1.0, -1.0]), classify([0.5])
    ('stable', 'marginal', 'saddle', 'unstable')
    """
    re = np.real(np.asarray(eigenvalues))
    pos = int(np.sum(re > marginal_tol))
    neg = int(np.sum(re < -marginal_tol))
    if pos == 0:
        return "stable" if neg == re.size else "marginal"
    return "saddle" if neg > 0 else "unstable"


def _field_function(model, x) -> tuple[Callable, int | None, torch.dtype]:
    """(f(h) -> dh/dt acting on the last axis, state_dim or None, dtype)."""
    field = getattr(model, "field", model)
    if isinstance(field, torch.nn.Module) and hasattr(field, "rhs") and hasattr(field, "drive"):
        n, dtype = field.state_dim, field.dtype
        if x is None:
            drive = None
        else:
            x = torch.as_tensor(x, dtype=dtype)
            if x.shape != (field.input_dim,):
                raise ValueError(f"x must have shape ({field.input_dim},), got {tuple(x.shape)}")
            if not bool(torch.isfinite(x).all()):
                raise ValueError("x contains non-finite values")
            drive = field.drive(x).detach()

        def fn(h):
            return field.rhs(h, drive)

        return fn, n, dtype
    if callable(model):
        if x is not None:
            raise ValueError("x is only used with gnode models; bind it into the callable")
        return model, None, torch.float64
    raise TypeError(f"model must be a gnode model, a GatedField or a callable f(h), got "
                    f"{type(model).__name__}")


def velocity(model, h, x=None) -> np.ndarray:
    """dh/dt = f(h, x) of a model (or callable) at states ``h`` (..., N), as a numpy array."""
    fn, n, dtype = _field_function(model, x)
    h = torch.as_tensor(np.asarray(h, dtype=np.float64)).to(dtype)
    if n is not None and h.shape[-1] != n:
        raise ValueError(f"h must have shape (..., {n}), got {tuple(h.shape)}")
    with torch.no_grad():
        return fn(h).double().numpy()


def _jacobians(fn, h: torch.Tensor) -> torch.Tensor:
    return torch.func.vmap(torch.func.jacrev(fn))(h).detach()


def _levenberg_marquardt(fn, h, *, tol, max_iter, bound):
    """Batched LM on f(h) = 0; returns (h, speed, iterations, alive)."""
    b, n = h.shape
    with torch.no_grad():
        r = fn(h)
    q = 0.5 * (r * r).sum(-1)
    mu = torch.full((b,), 1e-3, dtype=h.dtype)
    iters = torch.zeros(b, dtype=torch.long)
    active = torch.isfinite(q) & (q.sqrt() * math.sqrt(2) > tol)
    alive = torch.isfinite(q)
    for _ in range(max_iter):
        idx = torch.nonzero(active).flatten()
        if idx.numel() == 0:
            break
        hi, ri = h[idx], r[idx]
        jac = _jacobians(fn, hi)
        g = torch.einsum("bji,bj->bi", jac, ri)
        hess = jac.transpose(1, 2) @ jac
        # Marquardt's scaling: damping mu diag(J^T J) (plus a floor for singular directions)
        diag = hess.diagonal(dim1=1, dim2=2)
        damp = diag + 1e-12 * diag.mean(-1, keepdim=True) + 1e-300
        lam = torch.diag_embed(mu[idx, None] * damp)
        step = -torch.linalg.solve(hess + lam, g.unsqueeze(-1)).squeeze(-1)
        hn = hi + step
        with torch.no_grad():
            rn = fn(hn)
        qn = 0.5 * (rn * rn).sum(-1)
        ok = torch.isfinite(qn) & (qn < q[idx])
        iters[idx] += 1
        acc = idx[ok]
        h[acc], r[acc], q[acc] = hn[ok], rn[ok], qn[ok]
        mu[acc] = (mu[acc] / 3.0).clamp_min(1e-12)
        mu[idx[~ok]] *= 4.0
        small_step = step.norm(dim=-1) <= 1e-13 * (1.0 + hi.norm(dim=-1))
        done = (q[idx].sqrt() * math.sqrt(2) <= tol) | (mu[idx] > 1e12) | (ok & small_step)
        escaped = h[idx].norm(dim=-1) > bound
        alive[idx[escaped]] = False
        active[idx[done | escaped]] = False
    speed = (2.0 * q).sqrt()
    return h, speed, iters, alive


def find_fixed_points(model, x=None, *, starts=256, box=3.0, seed: int = 0,
                      tol: float = 1e-10, slow_tol: float = 1e-3, dedup_tol: float = 1e-4,
                      marginal_tol: float = 1e-2, max_iter: int = 200,
                      bound: float = 1e6) -> FixedPoints:
    """Fixed and slow points of ``f(h, x)``: minima of |f|^2 from many starts, classified.

    Parameters
    ----------
    model : SequenceModel, GatedField or callable
        A gnode model (its vector field G (-lam h + F) / tau is used, at input ``x``), or any
        torch function ``f(h)`` acting on the last axis of ``h`` (then ``starts`` must be an
        array, which gives N).
    x : array of shape (D,), optional
        Constant input (default: zero input, the memory period of a flip-flop task).
    starts : int or array of shape (K, N)
        Starting states, or their number drawn uniformly from the box [-box, box]^N.  States
        visited by the model on task trials are good starts (Sussillo & Barak 2013).
    box : float
        Half-width of the box for random starts.
    seed : int
        Seed of the random starts.
    tol : float
        A point with |f| <= tol is a fixed point.
    slow_tol : float
        Points that end with tol < |f| <= slow_tol are kept as slow points; above, discarded.
    dedup_tol : float
        End points closer than this (Euclidean) are one point.
    marginal_tol : float
        Threshold on |Re lambda| of :func:`classify`.
    max_iter : int
        Levenberg-Marquardt iterations per start.
    bound : float
        Starts running beyond |h| > bound are dropped.

    Returns
    -------
    FixedPoints
    """
    for name, v in (("tol", tol), ("slow_tol", slow_tol), ("dedup_tol", dedup_tol),
                    ("marginal_tol", marginal_tol), ("box", box), ("bound", bound)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    if slow_tol < tol:
        raise ValueError(f"slow_tol must be >= tol = {tol}, got {slow_tol}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1, got {max_iter!r}")
    fn, n, dtype = _field_function(model, x)
    if isinstance(starts, int | np.integer) and not isinstance(starts, bool):
        if starts < 1:
            raise ValueError(f"starts must be >= 1, got {starts}")
        if n is None:
            raise ValueError("with a plain callable, starts must be an array of shape (K, N)")
        rng = np.random.default_rng(seed)
        h0 = rng.uniform(-box, box, size=(int(starts), n))
    else:
        h0 = np.asarray(starts, dtype=np.float64)
        if h0.ndim != 2 or h0.shape[0] < 1 or (n is not None and h0.shape[1] != n):
            raise ValueError(f"starts must have shape (K, {n if n else 'N'}), got {h0.shape}")
        if not np.all(np.isfinite(h0)):
            raise ValueError("starts contains non-finite values")
    n = h0.shape[1]
    h = torch.as_tensor(h0.copy()).to(dtype)
    h, speed, iters, alive = _levenberg_marquardt(fn, h, tol=tol, max_iter=max_iter,
                                                  bound=bound)
    h, speed = h.double().numpy(), speed.double().numpy()
    keep = alive.numpy() & np.isfinite(speed) & (speed <= slow_tol)
    cand, cspeed = h[keep], speed[keep]

    order = np.argsort(cspeed, kind="stable")
    points: list[np.ndarray] = []
    pspeed: list[float] = []
    counts: list[int] = []
    for i in order:
        if points:
            d = np.linalg.norm(np.asarray(points) - cand[i], axis=1)
            j = int(np.argmin(d))
            if d[j] <= dedup_tol:
                counts[j] += 1
                continue
        points.append(cand[i])
        pspeed.append(float(cspeed[i]))
        counts.append(1)
    pts = np.asarray(points).reshape(-1, n)
    if len(pts):
        jac = _jacobians(fn, torch.as_tensor(pts).to(dtype)).double().numpy()
        eig = np.linalg.eigvals(jac)
        eig = np.take_along_axis(eig, np.argsort(-eig.real, axis=1, kind="stable"), axis=1)
    else:
        eig = np.zeros((0, n), dtype=complex)
    kinds = tuple(classify(e, marginal_tol) for e in eig)
    sp = np.asarray(pspeed)
    n_fixed = int(np.sum(sp <= tol))
    msg = (f"{len(pts)} distinct points ({n_fixed} fixed, {len(pts) - n_fixed} slow) from "
           f"{h0.shape[0]} starts; " + ", ".join(f"{k}: {kinds.count(k)}" for k in KINDS))
    return FixedPoints(pts, sp, sp <= tol, eig, kinds, np.asarray(counts, dtype=int),
                       float(marginal_tol), int(h0.shape[0]), len(pts) > 0,
                       float(sp.max()) if len(sp) else math.inf, int(iters.max()), msg)


_STYLE = {"stable": dict(marker="o", color="k", mfc="k"),
          "marginal": dict(marker="o", color="tab:green", mfc="tab:green"),
          "saddle": dict(marker="X", color="tab:red", mfc="tab:red"),
          "unstable": dict(marker="o", color="tab:red", mfc="white")}


def plot_flow(model, *, x=None, ax=None, xlim=(-3.0, 3.0), ylim=(-3.0, 3.0), n_grid: int = 41,
              fixed_points: FixedPoints | None = None, trajectories=None, title: str = "",
              out=None):
    """Flow field of a 2-D model with its fixed points and trajectories (matplotlib).

    Streamlines of f(h, x) colored by log10 |f|, fixed/slow points marked by kind (black:
    stable, green: marginal, red cross: saddle, open red: unstable) and trajectories (K, T, 2)
    drawn on top.

    Parameters
    ----------
    model : 2-D gnode model, GatedField or callable f(h)
    x : array of shape (D,), optional
        Constant input.
    ax : matplotlib Axes, optional
        Draw there; by default a new pyplot figure (with the current backend: shown inline in
        a notebook; close it with ``plt.close(ax.figure)``).
    xlim, ylim : (float, float)
    n_grid : int
        Grid points per axis.
    fixed_points : FixedPoints, optional
    trajectories : array of shape (K, T, 2), optional
    title : str
    out : path, optional
        Save the figure there.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt  # the caller's backend, whatever it is (never switched)

    _, n, _ = _field_function(model, x)
    if n is not None and n != 2:
        raise ValueError(f"plot_flow needs a 2-D model, got state_dim = {n}")
    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or n_grid < 3:
        raise ValueError(f"n_grid must be an int >= 3, got {n_grid!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    gx = np.linspace(*xlim, n_grid)
    gy = np.linspace(*ylim, n_grid)
    hx, hy = np.meshgrid(gx, gy)
    v = velocity(model, np.stack([hx, hy], axis=-1), x)
    speed = np.hypot(v[..., 0], v[..., 1])
    lspeed = np.log10(np.maximum(speed, 1e-12))
    im = ax.pcolormesh(gx, gy, lspeed, shading="auto", cmap="Greys", alpha=0.5)
    ax.streamplot(gx, gy, v[..., 0], v[..., 1], color="0.35", density=1.2, linewidth=0.6,
                  arrowsize=0.7)
    ax.figure.colorbar(im, ax=ax, label="log10 |dh/dt|", shrink=0.8)
    if trajectories is not None:
        tr = np.asarray(trajectories, dtype=float)
        if tr.ndim != 3 or tr.shape[-1] != 2:
            raise ValueError(f"trajectories must have shape (K, T, 2), got {tr.shape}")
        for t in tr:
            ax.plot(t[:, 0], t[:, 1], lw=0.8, alpha=0.7)
    if fixed_points is not None:
        if fixed_points.points.shape[1:] != (2,):
            raise ValueError("fixed_points must belong to a 2-D model")
        for kind in KINDS:
            p = fixed_points.select(kind)
            if len(p):
                ax.plot(p[:, 0], p[:, 1], ls="none", ms=5, label=f"{kind} ({len(p)})",
                        **_STYLE[kind])
        ax.legend(loc="upper right", fontsize=7)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("h1")
    ax.set_ylabel("h2")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    if out is not None:
        ax.figure.savefig(out, dpi=120, bbox_inches="tight")
    return ax
