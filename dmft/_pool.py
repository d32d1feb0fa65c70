"""Local process pools that survive earlier parallel numba use and die with their driver.

A pool started by ``fork`` from a process that has already run a parallel numba kernel aborts
("fork() called from a process already using GNU OpenMP", then BrokenProcessPool): the OpenMP
runtime cannot be forked.  :func:`process_pool` starts its workers with ``spawn`` (a fresh
interpreter, which imports the task's module), so it works whatever ran before.  Each worker,
at start-up, asks the kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``) and
also watches its parent id (every 0.5 s, any POSIX system): a killed driver leaves no worker
behind.  Leaving the ``with`` block by an exception (Ctrl-C included) cancels the queued tasks
and terminates the workers instead of waiting for them.

Used by :func:`simulate.sweep` (and available to :func:`dmft.phase_diagram`).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

__all__ = ["process_pool"]

_PR_SET_PDEATHSIG = 1


def _watch_parent(ppid: int) -> None:   # pragma: no cover - runs in the workers
    import time
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(1)


def _worker_init(ppid: int) -> None:   # pragma: no cover - runs in the workers
    """Die with the driver: PDEATHSIG where the kernel has it, and a parent watchdog thread."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != ppid:         # the driver died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(ppid,), daemon=True).start()


@contextlib.contextmanager
def process_pool(n_workers: int) -> Iterator[ProcessPoolExecutor]:
    """A ``ProcessPoolExecutor`` of ``n_workers`` spawned workers (module docstring)."""
    ex = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(os.getpid(),))
    try:
        yield ex
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        for proc in list(getattr(ex, "_processes", {}).values()):
            proc.terminate()
        raise
    else:
        ex.shutdown(wait=True)
