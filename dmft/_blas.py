"""One BLAS thread while numba's parallel kernels run.

The kernels of the single-site chain (:mod:`dmft._site`) call LAPACK (``np.linalg.inv``,
``solve``, ``dot``) inside a ``prange``.  OpenBLAS would then start its own threads from each of
numba's: the cores are oversubscribed, and once an OpenMP runtime is loaded globally (importing
torch does that) OpenBLAS prints "Detect OpenMP Loop and this application may hang" on every
call: about 3800 lines for one threshold of a small spectrum, a million for a docs run.
:func:`single_threaded_blas` holds every loaded BLAS at one thread for the duration of a block
(threadpoolctl; 0.03 ms per entry); nested and concurrent blocks restore the limit once, when the
outermost leaves.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["single_threaded_blas"]

_STATE: dict = {"controller": None, "depth": 0, "limiter": None}
_LOCK = threading.Lock()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with every BLAS library of the process limited to one thread."""
    with _LOCK:
        if _STATE["depth"] == 0:
            if _STATE["controller"] is None:
                from threadpoolctl import ThreadpoolController
                _STATE["controller"] = ThreadpoolController()
            _STATE["limiter"] = _STATE["controller"].limit(limits=1, user_api="blas")
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0:
                _STATE["limiter"].restore_original_limits()
                _STATE["limiter"] = None
