"""First use: fill numba's on-disk cache (``gnode warmup``) and tell whether it is filled.

Every kernel of :mod:`simulate` and of the sampled DMFT is compiled lazily, on its first call,
for the argument types of that call only (no signatures are compiled eagerly), and cached on
disk (``cache=True``, in ``__pycache__`` next to the source, or under ``NUMBA_CACHE_DIR``).  The
network kernels take the flow's layers as a tuple, so each flow depth is one compilation;
gated and non-gated flows, every activation, both integration methods and any k share it.

:func:`warmup` runs each kernel once on a tiny problem, for one- and two-layer flows, so that
later calls of any size load the compiled code instead of compiling it (seconds instead of tens
of seconds); :func:`cache_is_warm` says whether that has been done (the CLI's first-use notice).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["warmup", "cache_is_warm", "KERNEL_GROUPS"]

#: what :func:`warmup` compiles, in order (name -> what runs)
KERNEL_GROUPS = ("integrate", "integrate (parallel batch)", "lyapunov spectrum",
                 "two trajectories", "lyapunov spectrum, two-layer flow", "sampled DMFT",
                 "spectrum theory", "gradient growth of a gate spread")


#: the kernels each part of the package calls (what :func:`cache_is_warm` looks at); the
#: spectrum theory's kernels (dmft._site) are left out: its chaotic-state sweeps take tens of
#: seconds even compiled, too long for a warmup, which runs it at a stable point only
USES = {"simulate": ("_integrate_span", "_lyap_chunk", "_orthonormal_frame"),
        "sampled": ("heun_linear", "tangent_heun", "euler_linear", "tangent_euler"),
        "driven": ("_growth_kernel",)}


def _dispatchers(uses: tuple[str, ...] = tuple(USES)) -> list:
    from dmft import _driven
    from dmft._sampled import site
    from simulate import _integrate, _lyapunov

    where = {"_integrate_span": _integrate, "_lyap_chunk": _lyapunov,
             "_orthonormal_frame": _lyapunov, "heun_linear": site, "tangent_heun": site,
             "euler_linear": site, "tangent_euler": site, "_growth_kernel": _driven}
    return [getattr(where[name], name) for use in uses for name in USES[use]]


def cache_is_warm(uses: tuple[str, ...] = tuple(USES)) -> bool | None:
    """True when the kernels of ``uses`` (keys of :data:`USES`) have compiled code in the
    on-disk cache for this source; False when some have none (the next call compiles); None
    when it cannot be told."""
    try:
        return all(bool(d._cache._cache_file._load_index()) for d in _dispatchers(uses))
    except Exception:  # noqa: BLE001 - numba internals: no answer rather than an error
        return None


def _groups() -> list[tuple[str, Callable[[], object]]]:
    import numpy as np

    import dmft
    import simulate

    one = simulate.sample(dmft.Ensemble.mgru(1.5, gate_gain=1.0), 8, seed=0)
    two = simulate.sample(dmft.Ensemble.node((1.5, 1.2), hidden="relu", output="tanh"), 8,
                          seed=0)
    h0 = np.zeros(8)
    return [
        ("integrate", lambda: simulate.integrate(one, h0, 0.2, 0.1)),
        ("integrate (parallel batch)",
         lambda: simulate.integrate_batch([one, one], np.zeros((2, 8)), 0.2, 0.1)),
        ("lyapunov spectrum", lambda: simulate.lyapunov_spectrum(
            one, 2, t_max=0.4, dt=0.1, t_ons=0.1, t_transient=0.2, n_history=2)),
        ("two trajectories", lambda: simulate.lyapunov_max_two(
            one, t_max=0.4, dt=0.1, t_ons=0.1, t_transient=0.2)),
        ("lyapunov spectrum, two-layer flow", lambda: (
            simulate.lyapunov_spectrum(two, 2, t_max=0.4, dt=0.1, t_ons=0.1, t_transient=0.2,
                                       n_history=2),
            simulate.integrate(two, h0, 0.2, 0.1))),
        ("sampled DMFT", lambda: [   # the flow's and the Euler map's kernels, both kinds
            dmft.sampled(dmft.Ensemble.mgru(1.5, gate_gain=1.0), n_paths=32, lag_window=2.0,
                         burn_in=1.0, measure=3.0, dt=0.25, max_iter=200, tol=1e6,
                         lyapunov_iter=2, workers=w, seed=0, map_step=m)
            for m in (None, 0.25) for w in (1, 4)]),
        ("spectrum theory", lambda: dmft.spectrum(dmft.Ensemble.elman(0.5), s=[-1.25, -0.75],
                                                  n_paths=16, grid_error=False)),
        ("gradient growth of a gate spread", lambda: dmft.gradient_growth(dmft.driven(
            dmft.Ensemble.elman(0.5).replace(gate=dmft.Gate(0.0, -2.0, 1.0, 0.0)), dt=1.0),
            4)),
    ]


def warmup(*, report: Callable[[str, float], None] | None = None) -> dict[str, float]:
    """Compile (or load) every kernel group once; returns the seconds each took.

    ``report(name, seconds)`` is called after each group (the CLI prints a line).
    """
    out: dict[str, float] = {}
    for name, run in _groups():
        t0 = time.perf_counter()
        run()
        out[name] = time.perf_counter() - t0
        if report is not None:
            report(name, out[name])
    return out
